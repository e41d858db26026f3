"""One driver for every executor: the same seeded search in process and on a Dask cluster
takes the same decisions — the stop rule of each trial, the ensemble chosen, the aim, the
cross-validated look decision and the model sent to a look.

The search is capped by trial counts (``keep_going``), never by the clock, so it is the
same search under any load. The table makes every decision happen within four portfolio
trials: the validation labels are 10% flipped, so the third trial (extra trees) is the
first past the threshold on validation, an ensemble of the first trials is the best model,
the aim stays out of reach, and the 5-fold estimate over training + validation rows says a
test look would pass: the search returns that trial for its look.

The cluster is the ``LEARNLOOP_TEST_DASK_URL`` scheduler when set (``.ci/start-dask``),
else a local cluster of two worker processes (``--cluster local:2``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.datasets import make_classification

import learnloop
from learnloop.certify import LookPolicy
from learnloop.runs.dataset import prepare_dataset
from learnloop.runs.train import problem_of
from learnloop.search import Aim, Hooks, Problem, Search
from learnloop.search.executors import Executor, InProcess
from learnloop.search.look_rule import P_EARLY

distributed = pytest.importorskip("distributed")

THRESHOLD = 0.846
FAMILIES = ["lightgbm", "linear", "extra_trees"]
TRIALS = 4
SRC = str(Path(learnloop.__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def problem() -> Problem:
    X, y = make_classification(3000, 12, n_informative=6, flip_y=0.0, class_sep=1.5,
                               random_state=5)  # fmt: skip
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(12)]).assign(y=y)
    train, val, test = frame.iloc[:1800], frame.iloc[1800:2400].copy(), frame.iloc[2400:]
    flip = np.random.default_rng(5).random(len(val)) < 0.1
    val.loc[flip, "y"] = 1 - val.loc[flip, "y"]
    dataset = prepare_dataset(train, "y", "classification", None, THRESHOLD, 0, val, test)
    return problem_of(dataset, 0)


def _search(
    problem: Problem,
    executor: Executor,
    one_at_a_time: bool = False,
    first_pass: bool = False,
    early: bool = False,
    threshold: float = THRESHOLD,
) -> dict[str, Any]:
    """The seeded search on ``executor``, capped at TRIALS trials: the decisions it took.

    The scenario is the cross-validated look decision, so the look at the first model past
    the threshold (``first_look``) is made already unless ``first_pass``; ``early``: that
    look may spend the smaller share of alpha planned for it (``cheap_first_look``)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    alpha = LookPolicy(0.95, threshold, problem.metric).alpha_at(1)

    def keep_going() -> bool:
        return len(search.trials) < TRIALS and not (one_at_a_time and executor.running)

    aim = Aim(problem.metric, threshold, alpha)
    aim.first_pass_look = first_pass
    if early:
        aim.alpha_early = LookPolicy(0.95, threshold, problem.metric).early_alpha
    search = Search(problem, study, aim, candidates=FAMILIES,
                    executor=executor, hooks=Hooks(keep_going=keep_going))  # fmt: skip
    hit = search.run(time.monotonic() + 600)
    best = search.best
    assert best is not None and hit is not None
    return {
        "trials": {
            t.number: (t.candidate, t.params, t.status, t.stop_reason, t.steps, t.score)
            for t in search.trials
        },
        "best": (best.candidate, best.params, best.score),
        "ensembles": search.pool.built if search.pool is not None else 0,
        "target": search.target,
        "advice": [(a.trial, a.estimate.score, a.probability) for a in search.advisor.advice],
        "hit": (hit.trial, hit.candidate, hit.params, hit.score),
        "early": search.early_look is hit,
        "chance": search.look_call.chance if search.look_call is not None else None,
        "se_test": search.aim.se_test,
        "workers": {t.user_attrs.get("worker") for t in search.book.study.trials},
    }


@pytest.fixture(scope="module")
def in_process(problem: Problem) -> dict[str, Any]:
    return _search(problem, InProcess(n_jobs=1))


@pytest.fixture(scope="module")
def cluster() -> Iterator[Callable[[], Executor]]:
    """A factory of executors on one cluster (its workers run this tree's learnloop)."""
    from learnloop.search.executors.dask import DaskExecutor

    url = os.environ.get("LEARNLOOP_TEST_DASK_URL")
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC, before]))
    local = None if url else DaskExecutor("local:2", local=True, local_workers=2)
    address = url or local._cluster.scheduler_address  # type: ignore[union-attr]
    made: list[DaskExecutor] = []

    def make() -> Executor:
        made.append(DaskExecutor(address))
        return made[-1]

    try:
        yield make
    finally:
        for executor in [*made, local]:
            if executor is not None:
                executor.close()
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def test_the_in_process_search_takes_every_decision(in_process: dict[str, Any]) -> None:
    """The scenario holds: the decisions compared below are all taken in process."""
    trials = in_process["trials"]
    assert [c for c, *_ in trials.values()] == ["lightgbm", "linear", "extra_trees"]
    assert all(status == "complete" for _, _, status, *_ in trials.values())
    assert in_process["best"][0] == "ensemble" and in_process["ensembles"] >= 1
    assert in_process["target"] is not None and in_process["target"] > in_process["hit"][3]
    (advice,) = in_process["advice"]
    assert advice[0] == 2 and advice[2] >= 0.6  # the look decision: short of the aim, look
    assert in_process["hit"][:2] == (2, "extra_trees")


def test_the_first_model_past_the_threshold_gets_the_first_look(
    problem: Problem, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the first look still to make and the rule that times it off (``look_rule``),
    the third trial, the first past the threshold on validation, is sent to it at once:
    short of the aim, with no estimate asked for and no trial after it."""
    monkeypatch.setenv("LEARNLOOP_ABLATE", "look_rule,cheap_first_look")
    first = _search(problem, InProcess(n_jobs=1), first_pass=True)
    assert first["hit"][:2] == (2, "extra_trees") and len(first["trials"]) == 3
    assert first["hit"][3] >= THRESHOLD and first["target"] > first["hit"][3]
    assert first["advice"] == [] and not first["early"]


def test_an_early_look_at_its_own_share_of_alpha_is_made_at_once(problem: Problem) -> None:
    """``cheap_first_look`` (on by default): at a threshold the first trial passes (0.82),
    that trial goes to the early look at once, short of the aim, its predicted chance at
    the early look's smaller alpha being fair; no estimate is asked for, no trial follows."""
    first = _search(problem, InProcess(n_jobs=1), first_pass=True, early=True, threshold=0.82)
    assert first["hit"][:2] == (0, "lightgbm") and len(first["trials"]) == 1
    assert 0.82 <= first["hit"][3] < first["target"]
    assert first["early"] and first["chance"] >= P_EARLY
    assert first["se_test"] > 0  # the chance knew the test split's noise (the margin came back)
    assert first["advice"] == []


@pytest.mark.slow
@pytest.mark.dask
def test_dask_one_trial_at_a_time_takes_the_same_decisions(
    problem: Problem, in_process: dict[str, Any], cluster: Callable[[], Executor]
) -> None:
    """Same trials in the same order: every decision is the same, number for number."""
    on_dask = _search(problem, cluster(), one_at_a_time=True)
    assert on_dask["trials"] == in_process["trials"]  # configurations, stop rules, scores
    assert on_dask["best"] == in_process["best"]  # the same ensemble, members and weights
    assert on_dask["ensembles"] == in_process["ensembles"]
    assert on_dask["target"] == pytest.approx(in_process["target"], abs=1e-12)
    assert on_dask["advice"] == in_process["advice"]
    assert on_dask["hit"] == in_process["hit"]
    assert all(str(w).startswith("tcp://") for w in on_dask["workers"])  # trained there


@pytest.mark.slow
@pytest.mark.dask
def test_dask_with_every_slot_busy_takes_the_same_decisions(
    problem: Problem, in_process: dict[str, Any], cluster: Callable[[], Executor]
) -> None:
    """Two trials at a time, results in any order: the trials that both ran stopped by the
    same rule at the same score, an ensemble is chosen, the same look decision is taken on
    the same trial, and the search returns it for its look (a fourth trial still running
    then is stopped, or finishes, as the drain finds it)."""
    on_dask = _search(problem, cluster())
    for number, reference in in_process["trials"].items():
        assert on_dask["trials"][number] == reference
    extra = {n: t for n, t in on_dask["trials"].items() if n not in in_process["trials"]}
    assert all(t[2] in ("complete", "pruned", "failed") for t in extra.values()), extra
    assert len(on_dask["trials"]) <= TRIALS
    assert on_dask["best"][0] == "ensemble" and on_dask["ensembles"] >= 1
    assert on_dask["target"] is not None  # set by whichever model first passed the threshold
    assert on_dask["advice"] == in_process["advice"]
    assert on_dask["hit"] == in_process["hit"]
    assert all(str(w).startswith("tcp://") for w in on_dask["workers"])  # trained there
