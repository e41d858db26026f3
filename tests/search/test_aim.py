"""Where the loop aims and where it stops, with a stub candidate of known accuracy.

The stub sees the validation features but not the labels; the generated table has a
feature ``hint`` equal to the label and a feature ``key`` drawn uniformly, so the stub's
accuracy at each step is exact: it predicts ``hint`` and flips the validation rows with the
smallest keys, as many as the step's planned error. On other rows (the test split) it flips
the rows with ``key`` below a chosen share: honest (the same error) or over-fitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import learnloop
from learnloop.core import Output
from learnloop.core.levers import ablated
from learnloop.families import CANDIDATES, Candidate, FitContext

THRESHOLD = 0.80
N_ROWS = 2000  # 400 validation rows and 400 test rows
N_VAL = N_TEST = 400


@dataclass
class Plan:
    curve: list[float]  # validation accuracy after each step
    test_error: float | None = None  # None: honest on the test split; else this share wrong


class _StubModel:
    classes_ = np.array([0, 1])

    def __init__(self, val_keys: np.ndarray, cutoff: float, test_error: float | None) -> None:
        self.val_keys, self.cutoff, self.test_error = val_keys, cutoff, test_error

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        hint, key = X[:, 0].astype(int), X[:, 1]
        if self.test_error is None:
            flip = key <= self.cutoff
        else:
            seen = np.isin(key, self.val_keys)
            flip = np.where(seen, key <= self.cutoff, key < self.test_error)
        label = np.where(flip, 1 - hint, hint)
        return np.c_[1 - label, label].astype(float)


class _Stub(Candidate):
    name = "stub"
    produces = frozenset({Output.CLASSES})
    preprocessing = "tree"

    def __init__(self, plans: list[Plan]) -> None:
        self.plans = plans
        self.fits = 0

    def portfolio(self, task: str, n_rows: int) -> list[dict[str, Any]]:
        return []

    def search_space(self, trial: Any, task: str, n_rows: int) -> dict[str, Any]:
        return {"x": trial.suggest_int("stub.x", 0, 10**6)}

    def fit(self, params, X, y, X_val, ctx: FitContext) -> Any:
        plan = self.plans[min(self.fits, len(self.plans) - 1)]
        self.fits += 1
        keys = np.sort(X_val[:, 1])
        models = {}
        for step, acc in enumerate(plan.curve, start=1):
            wrong = int(round((1 - acc) * len(X_val)))
            cutoff = keys[wrong - 1] if wrong else -math.inf
            models[step] = _StubModel(X_val[:, 1].copy(), cutoff, plan.test_error)
            if ctx.monitor.wants(step):
                pred = ctx.decisions(models[step], X_val)
                if not ctx.monitor(step, pred):
                    break
        return models[max(ctx.monitor.best_step, 1)]


class _Watcher:
    """A reporter that records the aim after each trial and every certificate."""

    def __init__(self) -> None:
        self.aims: list[tuple[int, float | None, float | None]] = []
        self.looks: list[Any] = []

    def on_start(self, info: dict[str, Any]) -> None: ...
    def on_message(self, text: str) -> None: ...

    def on_trial(self, record: Any, loop: Any) -> None:
        self.aims.append((record.number, loop.target, loop.effective_target()))

    def on_look(self, cert: Any) -> None:
        self.looks.append(cert)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, N_ROWS)
    return pd.DataFrame({"hint": y, "key": rng.random(N_ROWS), "y": y})


def _margin(p: float, alpha: float) -> float:
    """The certificate's margin, worked out here: z * se_test + se_val + one test row."""
    se_val = math.sqrt(p * (1 - p) / N_VAL)
    z = float(stats.norm.ppf(1 - alpha))
    return z * se_val * math.sqrt(N_VAL / N_TEST) + se_val + 1 / N_TEST


def _first_step(curve: list[float], aim: float) -> int:
    return next(s for s, acc in enumerate(curve, start=1) if acc >= aim)


def _train(table, monkeypatch, plans, store):
    """The aim alone decides the looks: no refit, no cross-validated look (test_finalist.py)."""
    stub = _Stub(plans)
    monkeypatch.setitem(CANDIDATES, "stub", stub)
    watcher = _Watcher()
    with ablated("refit", "cv_look"):
        result = _run(table, store, watcher)
    return result, stub, watcher


def _run(table, store, watcher):
    return learnloop.train(
        table,
        target="y",
        task="classification",
        threshold=THRESHOLD,
        budget=60,
        out=None,
        store=store,
        candidates=["stub"],
        reporter=watcher,
    )


# exact multiples of 1/400: 0.80 at step 10, 0.97 and flat from step 27
RISING = [min(280 + 4 * s, 388) / N_VAL for s in range(1, 61)]


def test_the_loop_aims_past_the_threshold_and_stops_there(table, monkeypatch, store_url) -> None:
    result, stub, watcher = _train(table, monkeypatch, [Plan(RISING)], store_url)
    crossed = _first_step(RISING, THRESHOLD)
    assert crossed == 10
    aim = THRESHOLD + _margin(RISING[crossed - 1], 0.05 * 0.6)  # set at the first crossing
    assert result.aim == pytest.approx(aim, abs=1e-9)
    assert result.to_dict()["aim"] == pytest.approx(aim, abs=1e-9)
    reached = _first_step(RISING, aim)
    assert reached > crossed + 3  # the margin is several steps of this curve
    (trial,) = result.trials  # stopped, certified: no trial started after the stop
    assert stub.fits == 1
    assert trial.stop_reason == "target"
    assert trial.steps == max(2 * reached, reached + 10)  # trained on past the aim, then stopped
    assert trial.best_step == 27 and trial.score == pytest.approx(0.97)
    assert result.status == "met" and len(watcher.looks) == 1
    assert watcher.looks[0].look == 1 and watcher.looks[0].alpha_used == pytest.approx(0.03)


def test_a_failed_look_raises_the_aim_and_adds_an_allowance(table, monkeypatch, store_url) -> None:
    overfit = Plan(RISING, test_error=0.18)  # about 0.82 on test: the bound falls short
    flat = Plan([0.75] * 40)  # below the threshold: stops on its plateau
    ramp = Plan([min(320 + 2 * s, 400) / N_VAL for s in range(1, 61)])
    result, stub, watcher = _train(table, monkeypatch, [overfit, flat, ramp], store_url)
    first, second = watcher.looks
    assert not first.met and second.met and result.status == "met"
    assert second.look == 2 and second.alpha_used == pytest.approx(0.05 * 0.25)
    margin = _margin(RISING[9], 0.03)
    raised = THRESHOLD + margin + (THRESHOLD - first.test_bound)  # aim past by the shortfall
    assert result.aim == pytest.approx(raised, abs=1e-9)
    assert [t.number for t in result.trials] == [0, 1, 2] and stub.fits == 3
    # trial 1 is the first after the look: no allowance yet; trial 2 is compared with one
    # other, so its aim grows by se_val * sqrt(2 ln 2) (the winner's curse)
    se_val = math.sqrt(0.8 * 0.2 / N_VAL)
    allowance = se_val * math.sqrt(2 * math.log(2))
    assert watcher.aims[1][2] == pytest.approx(raised, abs=1e-9)
    assert watcher.aims[2][2] == pytest.approx(raised + allowance, abs=1e-9)
    assert result.trials[1].stop_reason == "plateau"
    last = result.trials[2]
    reached = _first_step(ramp.curve, raised + allowance)
    assert reached > _first_step(ramp.curve, raised)  # the allowance moves the stop
    assert last.stop_reason == "target"
    assert last.steps == max(2 * reached, reached + 10)


def test_after_a_failed_look_only_a_strictly_better_validation_score_is_looked_at() -> None:
    """A twin of the model that failed (the same validation score, as k-means with the same
    k at another rung gives) would spend alpha to say the same: penguins spent look 2 so."""
    from learnloop.metrics import get_metric
    from learnloop.search.aim import Aim

    aim = Aim(get_metric("adjusted_rand"), 0.5, 0.03)
    aim.margin, aim.target = 0.13, 0.63
    assert aim.passed(0.7202, 3)
    aim.raise_by(0.0003, 3, looked_score=0.7202)
    assert aim.current(3) == pytest.approx(0.6303)
    assert not aim.passed(0.7202, 3)  # past the raised aim, but no better than what failed
    assert aim.passed(0.7203, 3)
    aim.raise_by(0.01, 5, looked_score=0.70)  # a worse model's failure keeps the best mark
    assert aim.looked_best == 0.7202
    rmse = Aim(get_metric("rmse"), 4.0, 0.03)
    rmse.margin, rmse.target = 0.2, 3.8
    rmse.raise_by(0.05, 2, looked_score=3.6)
    assert not rmse.passed(3.6, 2) and rmse.passed(3.59, 2)
