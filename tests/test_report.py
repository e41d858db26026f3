"""``learnloop report``: reports of real runs hold the runs' own numbers; bad input is one
line and exit 2 with no file; every report opens in headless Chromium without an error."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from learnloop import train
from learnloop.report import report_compare, report_run
from learnloop.report._doc import fmt
from store_backends import learnloop

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Real runs in one store: classification, regression, not met, clustering, a rival."""
    d = tmp_path_factory.mktemp("report")
    cancer = load_breast_cancer(as_frame=True).frame
    cancer.insert(0, "row_id", np.arange(len(cancer)))  # dropped: an identifier
    cancer.assign(batch="b1").to_csv(d / "cancer.csv", index=False)  # dropped: a constant
    load_diabetes(as_frame=True).frame.to_csv(d / "diabetes.csv", index=False)
    load_iris(as_frame=True).frame.drop(columns="target").to_csv(d / "iris.csv", index=False)
    store = str(d / "store.db")

    def run(name: str, data: str, target: str | None, **kw: Any) -> Any:
        return train(d / data, target, store=store, out=d / f"{name}.skops", seed=0, **kw)

    out = {"dir": d, "store": store}
    out["classification"] = run("cls", "cancer.csv", "target", threshold=0.85, budget=15,
                                candidates=["lightgbm", "linear", "extra_trees"])  # fmt: skip
    out["rival"] = run("rival", "cancer.csv", "target", threshold=0.85, budget=5,
                       candidates=["knn"])  # fmt: skip
    out["regression"] = run("reg", "diabetes.csv", "target", threshold=0.3, budget=4,
                            candidates=["linear", "lightgbm"])  # fmt: skip
    # 114 test rows cannot certify 0.999 even with a perfect score: the run ends not met
    out["failed"] = run("failed", "cancer.csv", "target", threshold=0.999, budget=3,
                        candidates=["linear"])  # fmt: skip
    out["clustering"] = run("clu", "iris.csv", None, budget=5, candidates=["kmeans"])
    return out


def _write(runs: dict[str, Any], name: str, fmt_: str = "html") -> str:
    path = runs["dir"] / f"{name}.{fmt_}"
    report_run(runs[name].run_id, path, fmt_, store=runs["store"])
    return path.read_text()


def _certificate_numbers(result: Any) -> list[str]:
    return [result.run_id, fmt(result.test_score), fmt(result.test_bound)]


def test_classification_report(runs: dict[str, Any]) -> None:
    r = runs["classification"]
    page = _write(runs, "classification")
    for text in _certificate_numbers(r) + [fmt(r.baseline_score), r.best_candidate]:
        assert text in page
    assert "MET" in page.split("</div>")[0] or "NOT MET" in page
    for dropped in ("row_id", "batch"):
        assert f"&#x27;{dropped}&#x27;" in page  # named with its reason in the data section
    for title in ("The loop", "The search", "The data", "Confusion matrix", "ROC curve",
                  "Precision-recall", "Calibration", "Permutation importance",
                  "Statistics: the top candidates", "p train~validation"):  # fmt: skip
        assert title in page, title
    assert page.count("<svg") >= 8
    # nothing is fetched: no scripts, no style sheets, no links out of the page
    assert not re.search(r'<script|<link|url\((?!#)|(src|href)="(?!#|data:)', page)
    md = _write(runs, "classification", "md")
    assert all(t in md for t in _certificate_numbers(r)) and "<svg" not in md


def test_regression_report(runs: dict[str, Any]) -> None:
    r = runs["regression"]
    page = _write(runs, "regression")
    for text in _certificate_numbers(r):
        assert text in page
    for title in ("Predicted against actual", "Residuals", "Permutation importance", "wilcoxon"):
        assert title in page, title


def test_importance_is_left_out_with_a_note_where_it_would_take_too_long(
    runs: dict[str, Any], monkeypatch
) -> None:
    """A 752-input table took 78 s of shuffling; past the limit the report says so instead."""
    from learnloop.report import _decisions as _report

    monkeypatch.setattr(_report, "IMPORTANCE_MAX_SECONDS", 0.0)
    md = _write(runs, "regression", "md")
    assert "Permutation importance is left out: shuffling each of the 10 inputs twice" in md
    assert "Residuals" in md


def test_a_run_whose_model_file_was_overwritten_leaves_the_other_model_out(
    runs: dict[str, Any], tmp_path: Path
) -> None:
    """Two runs wrote the same --out: the first run's report must not show the second's
    model as its own (a tester's report compared one run's trial with another's model)."""
    d, store, out = runs["dir"], str(tmp_path / "s.db"), tmp_path / "shared.skops"
    first = train(
        d / "diabetes.csv", "target", store=store, out=out, budget=2, candidates=["linear"]
    )
    second = train(d / "diabetes.csv", "target", store=store, out=out, budget=2, candidates=["knn"])
    page = tmp_path / "first.md"
    report_run(first.run_id, page, "md", store=store)
    text = page.read_text()
    assert f"now holds run {second.run_id}'s model" in text
    assert "Residuals" not in text  # the model's own plots are left out


def test_not_met_report_says_why_at_the_top(runs: dict[str, Any]) -> None:
    r = runs["failed"]
    assert r.status == "not_met"
    page = _write(runs, "failed")
    verdict = page.split('<div class="verdict bad">')[1].split("</div>")[0]
    assert verdict.startswith("NOT MET: accuracy at least 0.999 was not certified.")
    assert "Not certifiable with 114 test rows" in verdict
    assert fmt(r.test_score) in page and r.run_id in page


def test_clustering_report(runs: dict[str, Any]) -> None:
    r = runs["clustering"]
    page = _write(runs, "clustering")
    for text in _certificate_numbers(r):
        assert text in page
    for title in ("Cluster sizes", "Profiles", "PC 1", "silhouette"):
        assert title in page, title


def test_compare_report(runs: dict[str, Any]) -> None:
    from learnloop.store import open_store
    from learnloop.store.experiments import compare_runs

    a, b = runs["classification"], runs["rival"]
    path = runs["dir"] / "compare.html"
    report_compare([a.run_id, b.run_id], path, store=runs["store"])
    page = path.read_text()
    test = compare_runs(open_store(runs["store"]), [a.run_id, b.run_id])["tests"][0]
    assert test["name"] == "mcnemar"
    for text in (a.run_id, b.run_id, fmt(a.test_bound), fmt(b.test_bound), fmt(test["p_value"]),
                 "Learning curves overlaid"):  # fmt: skip
        assert text in page, text


def test_report_takes_the_start_of_a_run_id(runs: dict[str, Any]) -> None:
    """``learnloop report 3fa9`` reports the one run whose id starts so, named in full."""
    from learnloop.store import open_store

    ids = [r["run_id"] for r in open_store(runs["store"]).list_runs()]
    run_id = runs["regression"].run_id
    others = [i for i in ids if i != run_id]
    prefix = next(run_id[:n] for n in range(1, 13)
                  if not any(o.startswith(run_id[:n]) for o in others))  # fmt: skip
    out = runs["dir"] / "prefix.md"
    proc = learnloop("report", prefix, "--out", str(out), "--store", runs["store"])
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert f"run {run_id}" in page and fmt(runs["regression"].test_bound) in page


def test_report_of_a_model_file_alone_says_what_is_missing(runs: dict[str, Any]) -> None:
    d = runs["dir"]
    model = d / "cls.skops"
    empty = str(d / "empty.db")
    out = d / "model-only.html"
    proc = learnloop("report", str(model), "--out", str(out), "--store", empty)
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert "not in the store" in page and "Pass --data FILE" in page
    assert fmt(runs["classification"].test_bound) in page
    proc = learnloop("report", str(model), "--out", str(out), "--store", empty,
                     "--data", str(d / "cancer.csv"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Confusion matrix" in out.read_text()


def test_train_writes_its_report(runs: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "run.md"
    proc = learnloop("train", str(runs["dir"] / "diabetes.csv"), "--target", "target",
                     "--budget", "3", "--candidates", "linear", "--store", str(tmp_path / "s.db"),
                     "--out", str(tmp_path / "m.skops"), "--report", str(out))  # fmt: skip
    assert proc.returncode in (0, 3), proc.stderr
    assert "## The loop" in out.read_text()


def test_the_format_follows_the_extension_unless_given(
    runs: dict[str, Any], tmp_path: Path
) -> None:
    # --out r.md wrote HTML; train --report r.md wrote Markdown
    run_id, store = runs["clustering"].run_id, runs["store"]
    for name, extra, head in (("r.md", [], "# learnloop report"),
                              ("r.html", [], "<!DOCTYPE html>"),
                              ("r.txt", ["--format", "md"], "# learnloop report")):  # fmt: skip
        proc = learnloop("report", run_id, "--out", name, *extra, "--store", store, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / name).read_text().startswith(head), name
    proc = learnloop("train", str(runs["dir"] / "iris.csv"), "--budget", "1", "--report",
                     "tr.pdf", "--store", "s.db", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2 and "does not end in .html or .md" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "s.db").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["nosuchrun"], "No run starts with 'nosuchrun'"),
        (["missing/model.skops"], "The model file 'missing/model.skops' does not exist"),
        (["RUN", "--out", "no/such/folder/r.html"], "does not exist"),
        (["RUN", "--out", "."], "is a directory"),
        (["RUN", "--format", "pdf"], "Unknown report format 'pdf'"),
        (["RUN", "--out", "r.pdf"], "'r.pdf' does not end in .html or .md"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    runs: dict[str, Any], tmp_path: Path, args: list[str], message: str
) -> None:
    args = [runs["classification"].run_id if a == "RUN" else a for a in args]
    if "--out" not in args:
        args += ["--out", "r.html"]
    proc = learnloop("report", *args, "--store", runs["store"], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())  # no file, not even a temporary one


def test_compare_report_of_an_unknown_run_is_exit_2(runs: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "c.html"
    proc = learnloop("runs", "compare", runs["classification"].run_id, "nosuchrun",
                     "--store", runs["store"], "--report", str(out))  # fmt: skip
    assert proc.returncode == 2 and "nosuchrun" in proc.stderr
    assert not out.exists()


def _chromium() -> Any:
    in_ci = os.environ.get("CI", "").lower() == "true"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if in_ci:
            pytest.fail("CI=true but the playwright package is missing: pip install -e .[dev]")
        pytest.skip("the browser test needs the playwright package (dev extra)")
    if not (shutil.which("chromium") or Path(CHROMIUM).exists()):
        if in_ci:
            pytest.fail("CI=true but chromium is not installed (.ci/install-chromium)")
        pytest.skip("the browser test needs chromium (apt-get install chromium)")
    return sync_playwright


@pytest.mark.browser
def test_reports_open_in_chromium_without_errors(runs: dict[str, Any]) -> None:
    sync_playwright = _chromium()
    names = ["classification", "regression", "failed", "clustering"]
    pages = [runs["dir"] / f"{n}.html" for n in names]
    for name, path in zip(names, pages, strict=True):
        if not path.exists():
            report_run(runs[name].run_id, path, store=runs["store"])
    compare = runs["dir"] / "compare.html"
    if not compare.exists():
        report_compare([runs["classification"].run_id, runs["rival"].run_id], compare,
                       store=runs["store"])  # fmt: skip
    executable = shutil.which("chromium") or CHROMIUM
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu", "--disable-quic"]
        )
        try:
            for path in [*pages, compare]:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                problems: list[str] = []
                page.on("console", lambda m, p=problems: m.type == "error" and p.append(m.text))
                page.on("pageerror", lambda e, p=problems: p.append(str(e)))
                page.on("requestfailed", lambda r, p=problems: p.append(f"request {r.url}"))
                page.goto(path.as_uri(), wait_until="load")
                broken = page.evaluate(
                    "[...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
                    ".length + [...document.querySelectorAll('figure svg')]"
                    ".filter(s => s.getBoundingClientRect().width < 50).length"
                )
                n_plots = page.evaluate("document.querySelectorAll('figure svg').length")
                page.screenshot(path=str(path.with_suffix(".png")), full_page=True)
                page.close()
                assert not problems, f"{path.name}: {problems}"
                assert broken == 0, f"{path.name}: {broken} broken images or plots"
                assert n_plots >= 1 and path.with_suffix(".png").stat().st_size > 10_000
        finally:
            browser.close()


def test_bench_rank_report(tmp_path: Path) -> None:
    """`make bench` also writes the systems ranked across data sets (Friedman, CD diagram)."""
    import json

    from bench.report import write_rank_report

    saved = Path(__file__).parents[1] / "bench" / "RESULTS.jsonl"
    rows = [json.loads(line) for line in saved.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("kind") != "scaling"]
    page = write_rank_report(rows, tmp_path / "bench.html", "Benchmark").read_text()
    assert "Friedman&#x27;s test: p = " in page and "critical difference" in page
    assert page.count("<svg") == 2


def test_recommendation_report_rebuilds_the_split_from_the_runs_options(tmp_path: Path) -> None:
    # the rebuild once left out --user/--item/--time/--event: no data, model or statistics
    from shop_events import shop_events

    shop_events(n_users=120, n_items=40, seed=3).to_csv(tmp_path / "events.csv", index=False)
    result = train(tmp_path / "events.csv", task="recommendation", user="user", item="item",
                   time="time", event="event", budget=3, candidates=["popularity", "item_knn"],
                   store=str(tmp_path / "s.db"), out=tmp_path / "m.skops")  # fmt: skip
    out = tmp_path / "r.md"
    report_run(result.run_id, out, "md", store=str(tmp_path / "s.db"))
    page = out.read_text()
    assert "could not be read again" not in page and "No data to rebuild" not in page
    assert "## The model's recommendations" in page and "distinct items recommended" in page
    assert "| saved model (" in page  # the statistics section scores it on validation
