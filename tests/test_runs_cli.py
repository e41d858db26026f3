"""``learnloop runs ...`` end to end: real runs, the JSON contract, and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from store_backends import learnloop


def _train(data: Path, target: str, store: str, out: Path, *extra: str) -> dict:
    proc = learnloop(
        "train",
        str(data),
        "--target",
        target,
        "--store",
        store,
        "--out",
        str(out),
        "--json",
        *extra,
    )
    assert proc.returncode in (0, 3), proc.stderr
    return json.loads(proc.stdout)


def _json(*args: str) -> dict:
    """A ``--json`` command's answer, run in this process: its JSON contract is what these
    tests read (the command as a subprocess, its exit codes and text: the calls to
    ``learnloop`` beside them), and each fresh interpreter cost a second of imports."""
    from typer.testing import CliRunner

    from learnloop.cli import app

    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


@pytest.mark.slow
def test_list_show_compare_delete(backend_url: str, data_dir: Path, tmp_path: Path) -> None:
    cancer = data_dir / "cancer.csv"
    a = _train(
        cancer,
        "target",
        backend_url,
        tmp_path / "a.skops",
        "--threshold",
        "0.85",
        "--budget",
        "20",
        "--candidates",
        "linear",
    )
    b = _train(
        cancer,
        "target",
        backend_url,
        tmp_path / "b.skops",
        "--threshold",
        "0.85",
        "--budget",
        "20",
        "--candidates",
        "knn",
    )
    c = _train(
        data_dir / "diabetes.csv",
        "target",
        backend_url,
        tmp_path / "c.skops",
        "--budget",
        "2",
        "--candidates",
        "linear",
    )

    runs = _json("runs", "list", "--store", backend_url)["runs"]
    assert [r["run_id"] for r in runs] == [c["run_id"], b["run_id"], a["run_id"]]
    for r in runs:
        assert {"run_id", "created", "status", "task", "metric", "threshold"} <= set(r)
    assert runs[2]["status"] == a["status"] and runs[2]["threshold"] == 0.85
    only = _json("runs", "list", "--store", backend_url, "--data", "diabetes")["runs"]
    assert [r["run_id"] for r in only] == [c["run_id"]]
    by_status = _json("runs", "list", "--store", backend_url, "--status", c["status"])["runs"]
    assert c["run_id"] in [r["run_id"] for r in by_status]

    shown = _json("runs", "show", a["run_id"], "--store", backend_url)
    assert shown["run_id"] == a["run_id"] and shown["task"] == "classification"
    assert shown["command"].startswith("learnloop train") and shown["fingerprint"]
    assert shown["versions"]["scikit-learn"] and shown["seed"] == 0
    assert shown["result"]["certificate"]["n_test"] > 0
    assert shown["model_path"] == a["model_path"]
    assert len(shown["trials"]) >= 1
    for t in shown["trials"]:
        assert t["status"] in ("complete", "pruned", "failed", "running")
        assert {"number", "candidate", "params", "scores", "score", "seconds"} <= set(t)
    done = [t for t in shown["trials"] if t["status"] == "complete"]
    assert done and all(t["scores"] and {"step", "score", "t"} <= set(t["scores"][0]) for t in done)
    text = learnloop("runs", "show", a["run_id"], "--store", backend_url)
    assert text.returncode == 0 and "trials" in text.stdout and "1:" in text.stdout

    cmp = _json("runs", "compare", a["run_id"], b["run_id"], c["run_id"], "--store", backend_url)
    assert [r["run_id"] for r in cmp["runs"]] == [a["run_id"], b["run_id"], c["run_id"]]
    tests = {tuple(t["runs"]): t for t in cmp["tests"]}
    ab = tests[(a["run_id"], b["run_id"])]
    assert ab["name"] == "mcnemar" and 0.0 <= ab["p_value"] <= 1.0
    assert tests[(a["run_id"], c["run_id"])]["p_value"] is None
    interval = cmp["runs"][0]["test_interval"]
    assert interval["low"] <= cmp["runs"][0]["test_score"] <= interval["high"]
    text = learnloop("runs", "compare", a["run_id"], b["run_id"], "--store", backend_url)
    assert text.returncode == 0 and "mcnemar" in text.stdout and "p =" in text.stdout

    d = _train(
        data_dir / "diabetes.csv",
        "target",
        backend_url,
        tmp_path / "d.skops",
        "--budget",
        "2",
        "--candidates",
        "knn",
    )
    cmp = _json("runs", "compare", c["run_id"], d["run_id"], "--store", backend_url)
    assert cmp["tests"][0]["name"] == "wilcoxon" and 0.0 <= cmp["tests"][0]["p_value"] <= 1.0

    assert _json("runs", "delete", b["run_id"], "--store", backend_url) == {"deleted": b["run_id"]}
    left = [r["run_id"] for r in _json("runs", "list", "--store", backend_url)["runs"]]
    assert b["run_id"] not in left and a["run_id"] in left


@pytest.mark.slow
def test_compare_gives_intervals_for_auc_silhouette_and_known_groups(
    backend_url: str, data_dir: Path, tmp_path: Path
) -> None:
    """The '95% interval' was '-' for roc_auc, ndcg@10 and adjusted_rand runs."""
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True).frame.rename(columns={"target": "species"})
    iris.to_csv(tmp_path / "iris.csv", index=False)
    iris.drop(columns="species").to_csv(tmp_path / "unlabeled.csv", index=False)
    common = ("--store", backend_url, "--budget", "2", "--json")
    auc = _train(data_dir / "cancer.csv", "target", backend_url, tmp_path / "a.skops",
                 "--metric", "roc_auc", "--budget", "2", "--candidates", "linear")  # fmt: skip
    runs = [auc["run_id"]]
    for data, extra in (("unlabeled.csv", ()), ("iris.csv", ("--labels", "species"))):
        proc = learnloop("train", str(tmp_path / data), "--out", str(tmp_path / f"{data}.skops"),
                         "--candidates", "kmeans", *common, *extra)  # fmt: skip
        assert proc.returncode in (0, 3), proc.stderr
        runs.append(json.loads(proc.stdout)["run_id"])
    cmp = _json("runs", "compare", *runs, "--store", backend_url)
    assert [r["metric"] for r in cmp["runs"]] == ["roc_auc", "silhouette", "adjusted_rand"]
    for run in cmp["runs"]:
        interval = run["test_interval"]
        assert interval is not None, run["metric"]
        assert interval["low"] <= run["test_score"] <= interval["high"], run
        assert interval["high"] - interval["low"] < 1.0  # 30 test rows: wide, not the range


@pytest.mark.parametrize(
    "args",
    [
        ("runs", "show", "nope"),
        ("runs", "delete", "nope"),
        ("runs", "compare", "nope", "nada"),
        ("worker", "nope"),
    ],
)
def test_unknown_run_exits_2_with_one_line(backend_url: str, args: tuple[str, ...]) -> None:
    proc = learnloop(*args, "--store", backend_url)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "No run starts with 'nope'" in proc.stderr


@pytest.mark.parametrize(
    "store", ["mysql://u:p@h/db", "/no/such/folder/x.db", "postgresql://u:pw@127.0.0.1:1/db"]
)
def test_bad_store_url_exits_2_with_one_line(store: str, data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.skops"
    train = ("train", str(data_dir / "cancer.csv"), "--target", "target", "--out", str(out))
    for args in (("runs", "list"), train):
        proc = learnloop(*args, "--store", store, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("error: ") and proc.stderr.strip().count("\n") == 0
        assert list(tmp_path.iterdir()) == []  # no model file, no store file (no run row)
    assert not Path("/no/such/folder").exists()


def test_newer_store_exits_2(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from learnloop.store import open_store

    url = f"sqlite:///{tmp_path / 'new.db'}"
    with open_store(url).engine.begin() as conn:
        conn.execute(sa.text("UPDATE learnloop_version SET schema_version = 7"))
    proc = learnloop("runs", "list", "--store", url)
    assert proc.returncode == 2 and "newer learnloop" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0


def test_export_without_mlflow_names_the_extra(backend_url: str, tmp_path: Path) -> None:
    from learnloop.store import open_store

    # a user without the extra: `import mlflow` fails as it does when it is not installed
    hide = tmp_path / "no_mlflow" / "mlflow"
    hide.mkdir(parents=True)
    (hide / "__init__.py").write_text("raise ImportError(\"No module named 'mlflow'\")\n")
    run_id = open_store(backend_url).create_run(task="classification")
    proc = learnloop(
        "runs",
        "export",
        run_id,
        "--mlflow",
        "file:///tmp/x",
        "--store",
        backend_url,
        pythonpath=hide.parent,
    )
    assert proc.returncode == 2 and "learnloop[mlflow]" in proc.stderr


def test_export_to_mlflow(backend_url: str, tmp_path: Path) -> None:
    mlflow = pytest.importorskip("mlflow")
    from learnloop.store import open_store
    from learnloop.store.mlflow_export import export_mlflow

    store = open_store(backend_url)
    run_id = store.create_run(task="classification", metric="accuracy", threshold=0.9)
    study = store.study(run_id)
    trial = study.ask()
    trial.suggest_float("linear.C", 0.1, 10.0)
    trial.set_user_attr("candidate", "linear")
    trial.set_user_attr("score", 0.93)
    trial.set_user_attr("curve", [[1, 0.9, 0.1], [2, 0.93, 0.2]])
    study.tell(trial, 0.07)
    store.finish_run(run_id, "met", result={"test_score": 0.92, "test_bound": 0.9})
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = export_mlflow(store, run_id, uri)
    assert out["n_trials"] == 1
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["learnloop"])
    assert len(runs) == 2
    parent = runs[runs.run_id == out["mlflow_run_id"]].iloc[0]
    assert parent["metrics.test_score"] == 0.92 and parent["tags.learnloop.run_id"] == run_id
    child = runs[runs.run_id != out["mlflow_run_id"]].iloc[0]
    history = mlflow.MlflowClient().get_metric_history(child.run_id, "accuracy")
    assert [(m.step, m.value) for m in history] == [(1, 0.9), (2, 0.93)]


def test_an_unknown_status_filter_is_refused(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 's.db'}"
    bad = learnloop("runs", "list", "--status", "bogus", "--store", store, "--json")
    assert bad.returncode == 2 and json.loads(bad.stdout)["status"] == "error"  # --json
    assert bad.stderr.strip().splitlines() == [
        "error: There is no run status 'bogus'; the statuses are running, met, not_met, "
        "interrupted, failed."
    ]
    none = learnloop("runs", "list", "--status", "met", "--store", store, "--json")
    assert json.loads(none.stdout) == {"runs": []}


# ------------------------------------------------------------------ run-id prefixes
def _runs_sharing_a_first_character(url: str) -> list[str]:
    """17 recorded runs: their random 12-hex-digit ids cannot all start differently."""
    from learnloop.store import open_store

    st = open_store(url)
    return [st.create_run(task="classification", metric="accuracy") for _ in range(17)]


def _unique_prefix(run_id: str, ids: list[str]) -> str:
    """The shortest start of ``run_id`` that no other id shares."""
    others = [i for i in ids if i != run_id]
    return next(
        run_id[:n] for n in range(1, 13) if not any(o.startswith(run_id[:n]) for o in others)
    )


def test_runs_show_takes_a_unique_prefix_and_refuses_ambiguous_or_unknown_ones(
    tmp_path: Path,
) -> None:
    """SQLite: a unique start of an id shows that run (its full id in the JSON); a start
    several ids share exits 2 naming them; a start no id has exits 2; one line each."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    ids = _runs_sharing_a_first_character(url)
    target = ids[5]
    shown = _json("runs", "show", _unique_prefix(target, ids), "--store", url)
    assert shown["run_id"] == target

    first = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) >= 2)
    sharing = sorted(i for i in ids if i.startswith(first))
    proc = learnloop("runs", "show", first, "--store", url)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert f"'{first}' is the start of {len(sharing)} runs' ids" in proc.stderr
    assert all(i in proc.stderr for i in sharing[:5])

    absent = next(a + b for a in "0123456789abcdef" for b in "0123456789abcdef"
                  if not any(i.startswith(a + b) for i in ids))  # fmt: skip
    proc = learnloop("runs", "show", absent, "--store", url)
    assert proc.returncode == 2 and f"No run starts with '{absent}'" in proc.stderr


def test_compare_and_delete_take_prefixes(tmp_path: Path) -> None:
    """compare names runs by their full ids when given starts, refuses the same run given
    twice (a start and its full id), and delete removes the one run a start names."""
    from learnloop.store import open_store

    url = f"sqlite:///{tmp_path / 'store.db'}"
    ids = _runs_sharing_a_first_character(url)
    a, b = ids[0], ids[1]
    out = _json("runs", "compare", _unique_prefix(a, ids), _unique_prefix(b, ids), "--store", url)
    assert [r["run_id"] for r in out["runs"]] == [a, b]
    proc = learnloop("runs", "compare", _unique_prefix(a, ids), a, "--store", url)
    assert proc.returncode == 2 and "only once" in proc.stderr

    deleted = _json("runs", "delete", _unique_prefix(b, ids), "--store", url)
    assert deleted == {"deleted": b}
    assert b not in {r["run_id"] for r in open_store(url).list_runs()}
    assert len(open_store(url).list_runs()) == len(ids) - 1


def _three_runs(url: str) -> None:
    """Finished runs ``abc000000001``, ``abc000000002`` and ``abd000000001``."""
    from learnloop.store import open_store, runs_table

    st = open_store(url)
    with st.engine.begin() as conn:
        for run_id in ("abc000000001", "abc000000002", "abd000000001"):
            conn.execute(
                runs_table.insert().values(
                    run_id=run_id, created="2026-01-01", status="met", task="classification"
                )
            )


RUN_COMMANDS = {  # every command that takes a run id, with the arguments around it
    "runs show": lambda run, data: ["runs", "show", run],
    "runs compare": lambda run, data: ["runs", "compare", run, "abd000000001"],
    "runs delete": lambda run, data: ["runs", "delete", run],
    "runs export": lambda run, data: ["runs", "export", run, "--mlflow", "file:///nowhere"],
    "report": lambda run, data: ["report", run, "--out", "r.md"],
    "worker": lambda run, data: ["worker", run],
    "train --resume": lambda run, data: ["train", data, "--resume", run],
}


@pytest.mark.parametrize("command", list(RUN_COMMANDS))
def test_every_command_taking_a_run_resolves_its_start_alike(
    backend_url: str, data_dir: Path, tmp_path: Path, command: str
) -> None:
    """SQLite and PostgreSQL: a start no id has and a start two ids share are one line,
    exit 2, from every command that takes a run id (the second naming both ids)."""
    _three_runs(backend_url)
    args = RUN_COMMANDS[command]
    data = str(data_dir / "cancer.csv")
    for start, said in (
        ("zz", "error: No run starts with 'zz' in the store"),
        ("abc", "error: 'abc' is the start of 2 runs' ids: abc000000001, abc000000002; "
                "type more of it."),
    ):  # fmt: skip
        proc = learnloop(*args(start, data), "--store", backend_url, cwd=tmp_path)
        assert proc.returncode == 2, (command, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(said), (command, lines)


def test_worker_and_resume_find_the_run_a_start_names(
    backend_url: str, data_dir: Path, tmp_path: Path
) -> None:
    """``abd`` is run abd000000001 (finished): the worker and the resume name it in full."""
    _three_runs(backend_url)
    worker = learnloop("worker", "abd", "--store", backend_url, cwd=tmp_path)
    assert worker.returncode == 2 and worker.stderr.strip() == (
        "error: Run 'abd000000001' is already finished (met); nothing to join."
    )
    resume = learnloop("train", str(data_dir / "cancer.csv"), "--resume", "ABD",
                       "--store", backend_url, cwd=tmp_path)  # fmt: skip
    assert resume.returncode == 2 and resume.stderr.strip() == (
        "error: Run 'abd000000001' already finished (met); start a new run instead."
    )
    shown = learnloop("runs", "show", "abd0", "--store", backend_url, "--json", cwd=tmp_path)
    assert json.loads(shown.stdout)["run_id"] == "abd000000001"
