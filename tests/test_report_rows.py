"""The report diagnoses the saved model on rows it never learned from (issue 22, item 2).

A model refitted on training + validation rows has seen the validation split: its report
once drew an accuracy of 1 on those rows beside a certified test score of 0.94. Its
confusion matrix, curves, calibration, importance and candidate table are drawn on the test
split (after the certificate's look) and each section says so; a model trained on the
training split alone is still shown on the validation split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.metrics import roc_auc_score

from learnloop import train
from learnloop.core.levers import ablated
from learnloop.report import build_run_report, report_run
from learnloop.report._doc import Document, Figure, Section, Table, Text
from learnloop.runs.dataset import prepare_dataset
from learnloop.store.model_files import load_model

pytestmark = pytest.mark.slow

THRESHOLD = 0.9  # on 569 rows it makes the test split larger than the validation split


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run whose certified model was refitted, one (refit lever off) whose was not."""
    d = tmp_path_factory.mktemp("rows")
    frame = load_breast_cancer(as_frame=True).frame
    frame.to_csv(d / "cancer.csv", index=False)
    store = str(d / "store.db")

    def run(name: str) -> Any:
        return train(d / "cancer.csv", "target", threshold=THRESHOLD, budget=20, seed=0,
                     store=store, out=d / f"{name}.skops",
                     candidates=["lightgbm", "linear"])  # fmt: skip

    refit = run("refit")
    with ablated("refit"):
        plain = run("plain")
    assert refit.refit and not plain.refit
    sizes = refit.splits
    assert sizes["validation"] != sizes["test"], sizes  # so the row counts tell them apart
    return {"dir": d, "store": store, "frame": frame, "refit": refit, "plain": plain}


def _doc(runs: dict[str, Any], name: str) -> Document:
    return build_run_report(runs[name].run_id, store=runs["store"])


def _section(doc: Document, start: str) -> Section:
    return next(s for s in doc.sections if s.title.startswith(start))


def _notes(section: Section) -> str:
    return " ".join(b.text for b in section.blocks if isinstance(b, Text))


def _tables(section: Section) -> list[Table]:
    return [b for b in section.blocks if isinstance(b, Table)]


def _model_sections(doc: Document) -> list[Section]:
    starts = ("The model's decisions", "The model: which inputs", "Statistics: the top")
    return [_section(doc, s) for s in starts]


def _per_class_accuracy(section: Section) -> tuple[int, float]:
    """Rows of the per-class table and the accuracy its recalls and supports give."""
    table = next(t for t in _tables(section) if t.headers[:2] == ["class", "rows"])
    support = np.array([r[1] for r in table.rows], dtype=float)
    recall = np.array([r[3] for r in table.rows], dtype=float)
    return int(support.sum()), float((recall * support).sum() / support.sum())


def _saved_row(section: Section) -> dict[str, Any]:
    table = next(t for t in _tables(section) if t.headers[0] == "model")
    return dict(zip(table.headers, table.rows[0], strict=True))


def _test_auc(runs: dict[str, Any], name: str) -> float:
    """The saved model's ROC AUC on the run's test split, rebuilt here independently."""
    ds = prepare_dataset(runs["frame"], "target", "classification", None, THRESHOLD, 0)
    model = load_model(runs["dir"] / f"{name}.skops")
    pred = ds.task.predict(model.pipeline, ds.test.X, ds.n_outputs)
    assert pred.proba is not None
    return float(roc_auc_score(ds.test.y, pred.proba[:, 1]))


def test_a_refitted_models_diagnostics_are_drawn_on_its_test_rows(runs: dict[str, Any]) -> None:
    r = runs["refit"]
    n_train, n_val, n_test = (r.splits[k] for k in ("train", "validation", "test"))
    doc = _doc(runs, "refit")
    for section in _model_sections(doc):
        assert f"the {n_test} test rows, which the model never saw" in _notes(section), (
            section.title
        )
    decisions = _section(doc, "The model's decisions")
    rows, accuracy = _per_class_accuracy(decisions)
    assert rows == n_test != n_val
    assert accuracy == pytest.approx(r.test_score, abs=1e-12)  # the certificate's own score
    roc = next(b for b in decisions.blocks if isinstance(b, Figure) and "ROC" in b.caption)
    assert f"AUC {_test_auc(runs, 'refit'):.3f}" in roc.svg
    importance = _section(doc, "The model: which inputs")
    assert f"all {n_test} of these rows" in importance.blocks[1].caption  # type: ignore[union-attr]
    stats = _section(doc, "Statistics: the top candidates on the test split")
    saved = _saved_row(stats)
    assert saved["rows learned from"] == n_train + n_val
    assert saved["accuracy on these rows"] == r.test_score  # not the 1.0 of its own rows
    caption = next(t.caption for t in _tables(stats) if t.headers[0] == "model")
    assert caption.startswith(f"On the {n_test} rows of the test split.")
    assert "would carry no certificate" in caption
    verdict = dict(_tables(doc.sections[0])[0].rows)
    assert verdict["rows the model learned from"].startswith(f"{n_train + n_val} (training +")


def test_a_model_trained_on_the_training_split_is_still_shown_on_validation(
    runs: dict[str, Any],
) -> None:
    r = runs["plain"]
    n_train, n_val = r.splits["train"], r.splits["validation"]
    doc = _doc(runs, "plain")
    for section in _model_sections(doc):
        assert f"the {n_val} validation rows, which the model never trained on" in _notes(section)
        assert "test rows" not in _notes(section)
    rows, _ = _per_class_accuracy(_section(doc, "The model's decisions"))
    assert rows == n_val
    saved = _saved_row(_section(doc, "Statistics: the top candidates on the validation split"))
    assert saved["rows learned from"] <= n_train
    assert saved["accuracy on these rows"] == pytest.approx(r.validation_score, abs=1e-12)
    verdict = dict(_tables(doc.sections[0])[0].rows)
    assert verdict["rows the model learned from"].endswith("of the training split")


def test_both_reports_render(runs: dict[str, Any]) -> None:
    for name, fmt_ in (("refit", "html"), ("plain", "md")):
        path = Path(runs["dir"]) / f"{name}.{fmt_}"
        report_run(runs[name].run_id, path, fmt_, store=runs["store"])
        text = path.read_text()
        assert "which the model never" in text and runs[name].run_id in text


def test_a_refitted_regression_is_diagnosed_on_its_test_rows(tmp_path: Path) -> None:
    """Residuals and the candidate table of a refitted regression come from the test split."""
    frame = load_diabetes(as_frame=True).frame
    frame.to_csv(tmp_path / "diabetes.csv", index=False)
    store, out = str(tmp_path / "s.db"), tmp_path / "reg.skops"
    r = train(tmp_path / "diabetes.csv", "target", metric="r2", threshold=0.3, budget=5, seed=0,
              store=store, out=out, candidates=["linear"])  # fmt: skip
    assert r.refit
    n_test = r.splits["test"]
    doc = build_run_report(r.run_id, store=store)
    for section in (_section(doc, "The model's decisions"), _section(doc, "Statistics")):
        assert f"the {n_test} test rows, which the model never saw" in _notes(section)
    ds = prepare_dataset(frame, "target", "regression", "r2", 0.3, 0)
    pred = ds.task.predict(load_model(out).pipeline, ds.test.X, 0).values
    residuals = np.asarray(ds.test.y, dtype=float) - pred
    table = next(t for t in _tables(_section(doc, "The model's decisions")))
    assert table.rows[0][0] == pytest.approx(float(residuals.mean()), abs=1e-9)
    assert _saved_row(_section(doc, "Statistics"))["r2 on these rows"] == r.test_score
