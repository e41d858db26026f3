"""Many machines: what a Dask cluster costs and buys, measured on this machine.

``python -m bench.cluster overhead [--slots 1,10,100] [--trial-s 0.5] [--budget 20]``
    A simulated cluster: Dask workers (threads in this process) whose trials only sleep a
    trial's length, so the owner's own work per result (the schedule, ``ask`` and ``tell``
    in the store, Dask's submit and wait) is all there is to measure; the ideal is
    ``slots / trial_s`` results a second.

``python -m bench.cluster time [--rows 1000000 | --data flights] [--threshold 0.9] [--budget 180]``
    Time to threshold on generated rows (``bench.suite.generated``) or a suite data set at
    its own metric and threshold (``--data flights``), one run each: the
    in-process loop, ``--cluster local:2``, and the PostgreSQL workers path (the owner plus
    one ``learnloop worker``; needs ``--postgres URL`` or $LEARNLOOP_TEST_POSTGRES_URL).

``python -m bench.cluster ship [--rows 1000000] [--workers 2]``
    Seconds to start a local cluster and to broadcast one run's training and validation
    parts to its workers (what every run on a cluster pays once).

All print one JSON object per line; ``bench/CLUSTER_RESULTS.md`` says what they teach.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["overhead", "time_to_threshold"]


# ---------------------------------------------------------------- simulated cluster
def _sleeper_family(trial_s: float) -> Any:
    from sklearn.dummy import DummyClassifier

    from learnloop.families import CANDIDATES, Candidate

    class Sleeper(Candidate):
        """A family whose trial sleeps ``trial_s`` in five steps, at a constant score."""

        name = "sleeper"
        preprocessing = "dense"
        patience: ClassVar[tuple[int, float]] = (100, 1.0)

        def portfolio(self, task: str, n_rows: int) -> list[dict[str, Any]]:
            return []

        def search_space(self, trial: Any, task: str, n_rows: int) -> dict[str, Any]:
            return {"x": trial.suggest_float(self.key("x"), 0.0, 1.0)}

        def fit(self, params: dict[str, Any], X: Any, y: Any, X_val: Any, ctx: Any) -> Any:
            est = DummyClassifier(strategy="most_frequent").fit(X, y)
            for step in range(1, 6):
                time.sleep(trial_s / 5)
                if not ctx.monitor(step, ctx.decisions(est, X_val)):
                    break
            return est

    CANDIDATES["sleeper"] = Sleeper()
    return CANDIDATES["sleeper"]


class _Timed:
    """Wall time the owner spends in one function of an object or module, summed."""

    def __init__(self, obj: Any, name: str) -> None:
        self.seconds, self.calls = 0.0, 0
        inner = getattr(obj, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1

        setattr(obj, name, timed)


def overhead(slots: int, trial_s: float, budget: float, store: str) -> dict[str, Any]:
    """Results per second and the owner's seconds per result with ``slots`` sleeping trials."""
    import distributed
    import optuna
    from sklearn.datasets import load_breast_cancer

    from learnloop.certify import look_alpha
    from learnloop.runs.dataset import prepare_dataset
    from learnloop.runs.train import _sampler, problem_of
    from learnloop.search import Aim, Search, driver
    from learnloop.search.executors.dask import DaskExecutor
    from learnloop.store import open_store

    _sleeper_family(trial_s)
    dataset = prepare_dataset(
        load_breast_cancer(as_frame=True).frame, "target", "auto", None, None, 0
    )
    problem = problem_of(dataset, 0)
    st = open_store(store)
    run_id = st.create_run(task="classification")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = st.study(run_id, _sampler(0))
    aim = Aim(problem.metric, None, look_alpha(0.05, 1, 1))
    workers = max(1, min(slots, 10))
    row: dict[str, Any] = {"slots": slots, "trial_s": trial_s, "budget_s": budget}
    if slots == 0:  # the in-process loop: one trial at a time, no Dask
        row["slots"], row["executor"] = 1, "in process"
        loop = Search(problem, study, aim, candidates=["sleeper"])
        start = time.monotonic()
        loop.run(start + budget)
        wall = time.monotonic() - start
        owner_s = wall - sum(t.seconds for t in loop.trials)
    else:
        cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=slots // workers,
            processes=False,
            dashboard_address=None,
            silence_logs=50,
            worker_dashboard_address=None,
        )
        executor = DaskExecutor(cluster.scheduler_address)
        loop = Search(problem, study, aim, candidates=["sleeper"], executor=executor)
        take, fill = _Timed(driver, "_take"), _Timed(driver, "_fill")  # the driver's own work
        ask, tell = _Timed(loop.book, "ask"), _Timed(loop.book, "tell")
        start = time.monotonic()
        loop.run(start + budget)
        wall = time.monotonic() - start
        executor.close()
        cluster.close()
        owner_s = take.seconds + fill.seconds
        row["executor"] = f"dask: {workers} workers x {slots // workers} threads"
        n = max(tell.calls, 1)
        row["ask_ms"] = round(1000 * ask.seconds / n, 2)  # the sampler reads the study
        row["tell_ms"] = round(1000 * tell.seconds / n, 2)  # one commit per user attribute
    done = [t for t in loop.trials if t.status in ("complete", "pruned")]
    row.update(
        results=len(done),
        results_per_s=round(len(done) / wall, 2),
        ideal_per_s=round(row["slots"] / trial_s, 2),
        owner_ms_per_result=round(1000 * owner_s / max(len(done), 1), 2),
        busy=round(len(done) / wall / (row["slots"] / trial_s), 3),
    )
    return row


# ---------------------------------------------------------------- shipping the data
def ship(rows: int, workers: int) -> dict[str, Any]:
    """Seconds to start a local cluster, connect, and broadcast a run's data to its workers."""
    import pickle

    from bench.suite import generated
    from learnloop.runs.dataset import prepare_dataset
    from learnloop.runs.train import problem_of
    from learnloop.search.executors.dask import DaskExecutor

    problem = problem_of(prepare_dataset(generated(rows), "target", "auto", None, 0.9, 0), 0)
    start = time.monotonic()
    executor = DaskExecutor(f"local:{workers}", local=True, local_workers=workers)
    started = time.monotonic()
    executor.begin(problem, lambda: False)  # the broadcast to every worker
    shipped = time.monotonic()
    executor.close()
    return {
        "rows": rows,
        "workers": workers,
        "data_mb": round(len(pickle.dumps(problem)) / 2**20, 1),
        "start_s": round(started - start, 2),
        "broadcast_s": round(shipped - started, 2),
    }


# ---------------------------------------------------------------- time to threshold
def _learnloop(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "learnloop", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def time_to_threshold(
    rows: int,
    threshold: float,
    budget: float,
    postgres: str | None,
    folder: Path,
    dataset: str | None = None,
) -> list[dict[str, Any]]:
    """One run per way of running the loop, on the same table: generated rows, or a suite
    data set by name (``flights``) at its suite metric and threshold."""
    from bench.suite import SUITE, TARGET, generated

    metric: list[str] = []
    if dataset is not None:
        chosen = SUITE[dataset]
        data = folder / f"{dataset}.parquet"
        frame = chosen.load()
        frame.to_parquet(data, index=False)
        rows = len(frame)
        threshold = chosen.threshold if chosen.threshold is not None else threshold
        metric = ["--metric", chosen.metric]
    else:
        data = folder / f"generated_{rows}.parquet"
        if not data.exists():
            generated(rows).to_parquet(data, index=False)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    common = ["--target", TARGET, *metric, "--threshold", str(threshold), "--budget", str(budget)]
    ways: list[tuple[str, list[str], str | None]] = [
        ("in process", [], None),
        ("--cluster local:2", ["--cluster", "local:2"], None),
    ]
    if postgres:
        ways.append(("PostgreSQL: owner + 1 learnloop worker", [], postgres))
    out = []
    for name, extra, pg in ways:
        store = pg or f"sqlite:///{folder / f'{uuid.uuid4().hex[:8]}.db'}"
        model = str(folder / "model.skops")
        start = time.monotonic()
        owner = _learnloop(
            "train", str(data), *common, *extra, "--store", store, "--out", model, "--json",
            env=env,
        )  # fmt: skip
        worker = None
        if pg:
            from learnloop.store import open_store

            st = open_store(pg)
            known = {r["run_id"] for r in st.list_runs()}
            while owner.poll() is None:
                new = [r for r in st.list_runs() if r["run_id"] not in known]
                if new:
                    worker = _learnloop("worker", new[0]["run_id"], "--store", pg, env=env)
                    break
                time.sleep(0.2)
        stdout, stderr = owner.communicate(timeout=3 * budget + 300)
        if worker is not None:
            worker.communicate(timeout=60)
        wall = time.monotonic() - start
        try:
            result = json.loads(stdout)
        except json.JSONDecodeError:
            result = {"error": stderr.strip().splitlines()[-1:]}
        row = {
            "way": name,
            "data": dataset or "generated",
            "rows": rows,
            "threshold": threshold,
            "budget_s": budget,
            "status": result.get("status"),
            "time_to_threshold_s": result.get("time_to_threshold_s"),
            "elapsed_s": result.get("elapsed_s"),
            "wall_s": round(wall, 2),
            "n_trials": result.get("n_trials"),
            "test_score": result.get("test_score"),
            "test_bound": result.get("test_bound"),
            "best_candidate": result.get("best_candidate"),
            "error": result.get("error"),
        }
        print(json.dumps(row), flush=True)
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    o = sub.add_parser("overhead", help="a simulated cluster of sleeping trials")
    o.add_argument("--slots", default="0,1,10,100", help="0: the in-process loop")
    o.add_argument("--trial-s", type=float, default=0.5)
    o.add_argument("--budget", type=float, default=20.0)
    s = sub.add_parser("ship", help="start a local cluster and broadcast a run's data")
    s.add_argument("--rows", type=int, default=1_000_000)
    s.add_argument("--workers", type=int, default=2)
    t = sub.add_parser("time", help="time to threshold: in process, local:2, PostgreSQL workers")
    t.add_argument("--rows", type=int, default=1_000_000)
    t.add_argument("--threshold", type=float, default=0.90)
    t.add_argument("--budget", type=float, default=180.0)
    t.add_argument("--postgres", default=os.environ.get("LEARNLOOP_TEST_POSTGRES_URL"))
    t.add_argument("--data", default=None, help="a suite data set (flights) instead of --rows")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.what == "overhead":
            for slots in (int(s) for s in args.slots.split(",")):
                store = f"sqlite:///{Path(tmp) / f'overhead-{slots}.db'}"
                print(json.dumps(overhead(slots, args.trial_s, args.budget, store)), flush=True)
        elif args.what == "ship":
            print(json.dumps(ship(args.rows, args.workers)), flush=True)
        else:
            time_to_threshold(
                args.rows, args.threshold, args.budget, args.postgres, Path(tmp), args.data
            )


if __name__ == "__main__":
    main()
