"""The experiment store: the same tests on SQLite and on PostgreSQL."""

from __future__ import annotations

import optuna
import pytest
import sqlalchemy as sa

from learnloop.exceptions import StoreError, UsageError
from learnloop.search.trials import trial_dict
from learnloop.store import SCHEMA_VERSION, Store, open_store, resolve_store_url
from learnloop.store.experiments import compare_runs, run_details


def _run(store: Store, **fields: object) -> str:
    defaults = {"task": "classification", "metric": "accuracy", "threshold": 0.9, "data": "a.csv"}
    return store.create_run(**{**defaults, **fields})


def test_runs_are_listed_newest_first_and_filtered(backend_url: str) -> None:
    store = open_store(backend_url)
    first = _run(store, data="/data/cancer.csv", fingerprint="f1")
    second = _run(store, data="/data/diabetes.csv", fingerprint="f2", task="regression")
    store.finish_run(first, "met", result={"test_score": 0.95})
    assert [r["run_id"] for r in store.list_runs()] == [second, first]
    assert [r["run_id"] for r in store.list_runs(status="met")] == [first]
    assert [r["run_id"] for r in store.list_runs(data="diabetes")] == [second]
    assert [r["run_id"] for r in store.list_runs(data="f1")] == [first]
    run = store.get_run(first)
    assert run["status"] == "met" and run["finished"] and run["result"] == {"test_score": 0.95}


def test_unknown_run_is_one_clear_error(backend_url: str) -> None:
    store = open_store(backend_url)
    with pytest.raises(StoreError, match="There is no run 'nope'"):
        store.get_run("nope")
    with pytest.raises(StoreError, match="There is no run 'nope'"):
        store.delete_run("nope")


def test_a_run_is_found_by_the_start_of_its_id(backend_url: str) -> None:
    """A start one id has gives that id, a full id itself, a start several ids share a
    StoreError naming them, and a start none has (``%`` and ``_`` included: LIKE's wildcards
    are escaped) a StoreError; 17 runs, so two ids share their first digit."""
    st = Store(backend_url)
    ids = [st.create_run(task="classification") for _ in range(17)]
    for run_id in ids:
        others = [i for i in ids if i != run_id]
        n = next(n for n in range(1, 13) if not any(o.startswith(run_id[:n]) for o in others))
        assert st.resolve_run_id(run_id[:n]) == run_id
        assert st.resolve_run_id(run_id[:n].upper()) == run_id  # both backends alike
        assert st.resolve_run_id(run_id) == run_id
    first = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) >= 2)
    with pytest.raises(StoreError, match="is the start of") as e:
        st.resolve_run_id(first)
    assert all(i in str(e.value) for i in sorted(i for i in ids if i.startswith(first))[:5])
    for absent in ("%", "_", "zz", ids[0] + "0"):
        with pytest.raises(StoreError, match=f"No run starts with '{absent}'"):
            st.resolve_run_id(absent)
    with pytest.raises(StoreError, match="The run id is empty"):
        st.resolve_run_id("")


def test_an_ambiguous_start_lists_five_ids_and_counts_the_rest(backend_url: str) -> None:
    """Seven ids start with ``abc``, one with ``abd``: ``abc`` names the first five in order
    and says two more, ``ab`` counts eight; ``abd`` and a whole id give that one run."""
    from learnloop.store import runs_table

    st = Store(backend_url)
    ids = [f"abc00000000{i}" for i in range(1, 8)] + ["abd000000001"]
    with st.engine.begin() as conn:
        for run_id in ids:
            conn.execute(runs_table.insert().values(run_id=run_id, created="2026", status="met"))
    with pytest.raises(StoreError) as e:
        st.resolve_run_id("abc")
    assert str(e.value) == (
        "'abc' is the start of 7 runs' ids: abc000000001, abc000000002, abc000000003, "
        "abc000000004, abc000000005 and 2 more; type more of it."
    )
    with pytest.raises(StoreError, match="of 8 runs' ids: .* and 3 more"):
        st.resolve_run_id("ab")
    assert st.resolve_run_id("abd") == "abd000000001"
    assert st.resolve_run_id("abc000000007") == "abc000000007"
    with pytest.raises(StoreError, match="No run starts with 'abe'"):
        st.resolve_run_id("abe")


def test_trials_live_in_the_optuna_study_and_delete_removes_both(backend_url: str) -> None:
    store = open_store(backend_url)
    run_id = _run(store)
    study = store.study(run_id)
    trial = study.ask()
    trial.suggest_categorical("family", ["linear"])
    trial.suggest_float("linear.C", 1e-3, 1e3, log=True)
    for key, value in (("candidate", "linear"), ("score", 0.9), ("curve", [[1, 0.8, 0.1]])):
        trial.set_user_attr(key, value)
    study.tell(trial, 0.1)
    study.ask()  # left running, as by a killed process
    trials = store.trials(run_id)
    assert [t.state for t in trials] == [
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.RUNNING,
    ]
    d = trial_dict(trials[0])
    assert d["number"] == 0 and d["candidate"] == "linear" and d["status"] == "complete"
    assert set(d["params"]) == {"C"} and d["score"] == 0.9
    assert d["scores"] == [{"step": 1, "score": 0.8, "t": 0.1}]
    assert store.fail_running_trials(run_id) == [1]
    details = run_details(store, run_id)
    assert [t["status"] for t in details["trials"]] == ["complete", "failed"]
    assert details["trials"][1]["stop_reason"] == "interrupted"
    store.delete_run(run_id)
    assert store.list_runs() == []
    assert store.trials(run_id) == []
    assert run_id not in [s.study_name for s in optuna.get_all_study_summaries(store.url)]


def test_store_from_a_newer_learnloop_is_refused(backend_url: str) -> None:
    store = open_store(backend_url)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE learnloop_version SET schema_version = 99"))
    with pytest.raises(StoreError, match="newer learnloop.*schema 99.*upgrade learnloop"):
        open_store(backend_url)


def test_schema_1_store_is_migrated(backend_url: str) -> None:
    engine = sa.create_engine(resolve_store_url(backend_url))
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE learnloop_runs (run_id VARCHAR(32) PRIMARY KEY, created VARCHAR(40) "
                "NOT NULL, finished VARCHAR(40), status VARCHAR(16) NOT NULL, task VARCHAR(32), "
                "metric VARCHAR(32), threshold FLOAT, budget_s FLOAT, seed INTEGER, "
                "confidence FLOAT, data TEXT, fingerprint VARCHAR(64), command TEXT, "
                "versions TEXT, result TEXT, model_path TEXT)"
            )
        )
        conn.execute(sa.text("CREATE TABLE learnloop_version (schema_version INTEGER NOT NULL)"))
        conn.execute(sa.text("INSERT INTO learnloop_version VALUES (1)"))
        conn.execute(
            sa.text(
                "INSERT INTO learnloop_runs (run_id, created, status) "
                "VALUES ('old', '2020-01-01T00:00:00+00:00', 'met')"
            )
        )
    engine.dispose()
    store = open_store(backend_url)
    with store.engine.begin() as conn:
        version = conn.execute(sa.text("SELECT schema_version FROM learnloop_version")).scalar()
    assert version == SCHEMA_VERSION
    assert store.get_run("old")["options"] is None
    store.update_run("old", options={"seed": 1})
    assert store.get_run("old")["options"] == {"seed": 1}
    assert store.claim("old", "k") and not store.claim("old", "k")  # schema 3: claims
    store.begin_look("old", 1, 3, 0.03, {"trial": 0})  # schema 4: the looks
    assert [look["alpha"] for look in store.looks("old")] == [0.03]


def _claimer(args: tuple[str, str, int]) -> list[str]:
    """One process claiming the same 40 configurations as its rivals, at the same moment."""
    url, run_id, i = args
    store = open_store(url)
    return [k for k in (f"config-{j}" for j in range(40)) if store.claim(run_id, k, f"p{i}")]


def test_a_configuration_is_claimed_by_exactly_one_process(backend_url: str) -> None:
    import multiprocessing

    store = open_store(backend_url)
    run_id, other = _run(store), _run(store)
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        won = pool.map(_claimer, [(backend_url, run_id, i) for i in range(3)], chunksize=1)
    taken = [k for keys in won for k in keys]
    assert sorted(taken) == sorted(f"config-{j}" for j in range(40))  # each once, none lost
    assert store.claim(other, "config-0")  # claims are per run
    store.release(run_id, ["config-3", "config-4"])  # interrupted: may run again
    assert store.claim(run_id, "config-3") and not store.claim(run_id, "config-5")
    store.delete_run(run_id)
    assert store.claim(run_id, "config-5")  # a deleted run's claims go with it


def _finished(store: Store, task: str, split: str, y: list, pred: list, **fields: object) -> str:
    metric = "accuracy" if task == "classification" else "rmse"
    run_id = _run(store, task=task, metric=metric, **fields)
    kind = "labels" if task == "classification" else "values"
    store.finish_run(run_id, "met", result={"test_score": 0.9}, model_path="m.skops")
    store.update_run(run_id, outcomes={"split": split, "kind": kind, "y": y, "pred": pred})
    return run_id


def test_compare_uses_mcnemar_on_a_shared_classification_split(backend_url: str) -> None:
    store = open_store(backend_url)
    y = [0, 1] * 50
    good = _finished(store, "classification", "s1", y, y)  # all right
    bad = _finished(store, "classification", "s1", y, [1 - v for v in y[:40]] + y[40:])
    other = _finished(store, "classification", "s2", y, y)
    out = compare_runs(store, [good, bad, other])
    assert [r["run_id"] for r in out["runs"]] == [good, bad, other]
    assert out["runs"][0]["test_interval"]["low"] == 1.0
    first, *rest = out["tests"]
    assert first["name"] == "mcnemar" and first["table"] == [[60, 40], [0, 0]]
    assert first["p_value"] < 1e-6
    assert all(t["name"] is None and "share a test split" in t["reason"] for t in rest)


def test_compare_uses_wilcoxon_on_a_shared_regression_split(backend_url: str) -> None:
    store = open_store(backend_url)
    y = [float(i) for i in range(60)]
    near = _finished(store, "regression", "s", y, [v + 0.1 for v in y])
    far = _finished(
        store, "regression", "s", y, [v + (1.0 if i % 3 else -2.0) for i, v in enumerate(y)]
    )
    same = _finished(store, "regression", "s", y, [v + 0.1 for v in y])
    out = compare_runs(store, [near, far, same])
    tests = {tuple(t["runs"]): t for t in out["tests"]}
    assert tests[(near, far)]["name"] == "wilcoxon" and tests[(near, far)]["p_value"] < 1e-6
    assert tests[(near, same)]["p_value"] == 1.0


def test_compare_needs_two_distinct_known_runs(backend_url: str) -> None:
    store = open_store(backend_url)
    run_id = _run(store)
    with pytest.raises(UsageError, match="at least two"):
        compare_runs(store, [run_id])
    with pytest.raises(StoreError, match="No run starts with 'zzz'"):
        compare_runs(store, [run_id, "zzz"])


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:p@h/db", "is not supported"),
        ("/no/such/folder/store.db", "folder of the store file"),
        ("postgresql://u:secret@127.0.0.1:1/db", "Cannot open the store"),
    ],
)
def test_bad_store_urls_are_one_clear_error(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as info:
        open_store(url)
    assert "secret" not in str(info.value) and "\n" not in str(info.value)


def test_store_url_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_STORE", "runs.db")
    assert resolve_store_url(None).startswith("sqlite:///") and resolve_store_url(None).endswith(
        "runs.db"
    )
    assert resolve_store_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert resolve_store_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"


def _writer(args: tuple[str, int]) -> tuple[str, int, int]:
    """One writer process: opens the (maybe fresh) store, writes a run and five trials."""
    import os

    url, i = args
    store = open_store(url)  # every writer sets the store up at the same moment
    run_id = _run(store, seed=i)
    study = store.study(run_id)
    for _ in range(5):
        trial = study.ask()
        trial.set_user_attr("candidate", "linear")
        study.tell(trial, float(i))
    return run_id, i, os.getpid()


def test_many_writers_at_once_lose_nothing(backend_url: str) -> None:
    """Processes opening a fresh store together, then writing runs and trials at once."""
    import multiprocessing
    import os

    with multiprocessing.get_context("spawn").Pool(4) as pool:
        made = pool.map(_writer, [(backend_url, i) for i in range(4)], chunksize=1)
    assert os.getpid() not in {pid for _, _, pid in made}  # real processes, not threads
    store = open_store(backend_url)
    assert {r["run_id"] for r in store.list_runs()} == {run_id for run_id, _, _ in made}
    for run_id, _, _ in made:
        trials = store.trials(run_id)
        assert [t.number for t in trials] == list(range(5))
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)


def test_optuna_dashboard_can_open_the_store(backend_url: str) -> None:
    """optuna-dashboard reads the store through Optuna's own storage API."""
    store = open_store(backend_url)
    run_id = _run(store)
    study = store.study(run_id)
    study.tell(study.ask(), 0.5)
    summaries = optuna.get_all_study_summaries(backend_url)
    assert [s.study_name for s in summaries] == [run_id]
    loaded = optuna.load_study(study_name=run_id, storage=backend_url)
    assert loaded.best_value == 0.5
    dashboard = pytest.importorskip("optuna_dashboard")
    app = dashboard.wsgi(backend_url)
    status: list[str] = []
    body = b"".join(
        app(
            {
                "REQUEST_METHOD": "GET",
                "PATH_INFO": "/api/studies",
                "SERVER_NAME": "x",
                "SERVER_PORT": "80",
                "wsgi.url_scheme": "http",
                "QUERY_STRING": "",
            },
            lambda s, h, e=None: status.append(s),
        )
    )
    assert status == ["200 OK"] and run_id.encode() in body


def test_a_broken_store_is_one_store_error_without_retries(
    backend_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Only a lost connection is retried: a missing table is told at once, naming the store."""
    import logging

    store = open_store(backend_url)
    run_id = _run(store)
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE learnloop_runs"))
    caplog.set_level(logging.DEBUG, logger="learnloop.store")
    with pytest.raises(StoreError, match=r"^The store .* failed: .*learnloop_runs") as info:
        store.get_run(run_id)
    assert "\n" not in str(info.value)
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]
