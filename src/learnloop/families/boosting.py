"""LightGBM gradient-boosted trees: one boosting round is one step."""

from __future__ import annotations

import math
from typing import Any, Literal

import lightgbm as lgb
import numpy as np

from learnloop.core import Output, Prediction
from learnloop.estimators import BoosterClassifier, BoosterRegressor
from learnloop.families._base import Candidate, FitContext

MAX_ROUNDS = 5000
# Up to this many training rows a booster trains in one thread. Two threads are 1.6x faster on
# an idle 2-core machine (0.10 s against 0.17 s for 100 rounds on 10k rows), but with two
# other busy processes the same 50 rounds took 8-16 s instead of 0.13-0.32 s: every OpenMP
# barrier waits for a descheduled thread, and a small fit has thousands of them.
ONE_THREAD_FIT_ROWS = 10_000


def leaves_for(n_rows: int) -> int:
    """Leaves of the first tree configuration: about one per thousand training rows, from 31
    to 255 (a power of two less one). Large tables need larger trees: on flights (196k rows)
    31 leaves took 653 rounds to its best validation score, 255 leaves 97 rounds to a better
    one; on tables of 17-32k rows 31 leaves did as well or better."""
    power = round(math.log2(max(n_rows, 1) / 1000)) if n_rows > 1000 else 0
    return int(min(max(2**power - 1, 31), 255))


class LightGBMCandidate(Candidate):
    name = "lightgbm"
    produces = frozenset({Output.CLASSES, Output.VALUES})
    preprocessing = "tree"
    patience = (30, 0.25)

    def portfolio(self, output: Output, n_rows: int) -> list[dict[str, Any]]:
        small = n_rows < 2000
        return [
            {
                "learning_rate": 0.1,
                "num_leaves": 15 if small else leaves_for(n_rows),
                "min_child_samples": 10 if small else 20,
                "feature_fraction": 0.9,
                "bagging_fraction": 1.0,
                "lambda_l2": 0.1,
            },
            {
                "learning_rate": 0.05,
                "num_leaves": 63,
                "min_child_samples": 5 if small else 20,
                "feature_fraction": 0.6,
                "bagging_fraction": 0.8,
                "lambda_l2": 1.0,
            },
            {
                "learning_rate": 0.2,
                "num_leaves": 7,
                "min_child_samples": 20,
                "feature_fraction": 0.8,
                "bagging_fraction": 0.9,
                "lambda_l2": 3.0,
            },
        ]

    def search_space(self, trial: Any, output: Output, n_rows: int) -> dict[str, Any]:
        k = self.key
        return {
            "learning_rate": trial.suggest_float(k("learning_rate"), 0.01, 0.3, log=True),
            "num_leaves": trial.suggest_int(k("num_leaves"), 4, 256, log=True),
            "min_child_samples": trial.suggest_int(k("min_child_samples"), 2, 100, log=True),
            "feature_fraction": trial.suggest_float(k("feature_fraction"), 0.4, 1.0),
            "bagging_fraction": trial.suggest_float(k("bagging_fraction"), 0.5, 1.0),
            "lambda_l2": trial.suggest_float(k("lambda_l2"), 1e-3, 10.0, log=True),
        }

    def fit(
        self,
        params: dict[str, Any],
        X: np.ndarray,
        y: np.ndarray | None,
        X_val: np.ndarray,
        ctx: FitContext,
    ) -> Any:
        y = self.targets(y)
        classify = self.check_output(ctx.output) is Output.CLASSES
        lgb_params: dict[str, Any] = {
            **params,
            "bagging_freq": 1 if params.get("bagging_fraction", 1.0) < 1.0 else 0,
            "verbosity": -1,
            "seed": ctx.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 1 if len(X) <= ONE_THREAD_FIT_ROWS else ctx.n_jobs,
            "metric": "None",
        }
        if classify:
            if ctx.n_classes > 2:
                lgb_params.update(objective="multiclass", num_class=ctx.n_classes)
            else:
                lgb_params.update(objective="binary")
        else:
            lgb_params.update(objective="regression")
        cat: list[int] | Literal["auto"] = ctx.categorical or "auto"
        train_set = lgb.Dataset(X, y, categorical_feature=cat, params=lgb_params)
        # The validation labels are never used by LightGBM here: only its predictions are read.
        valid_set = lgb.Dataset(X_val, np.zeros(len(X_val)), reference=train_set, params=lgb_params)
        # lgb.train's own loop, less its evaluation after every round: the validation
        # predictions are fetched only at the steps the monitor scores (2 ms a round on 65k rows)
        booster = lgb.Booster(params=lgb_params, train_set=train_set)
        booster.add_valid(valid_set, "valid")
        latest: list[np.ndarray] = []

        def capture(preds: np.ndarray, _: Any) -> tuple[str, float, bool]:
            # a copy: LightGBM hands a view of its buffer, rewritten by the next evaluation
            # (a monitor that kept a multiclass prediction saw it change under it)
            latest.append(np.array(preds, dtype=float))
            return "learnloop", 0.0, True

        for step in range(1, MAX_ROUNDS + 1):
            booster.update()
            if not ctx.monitor.wants(step):
                continue
            booster.eval_valid(capture)
            if not ctx.monitor(step, _as_prediction(latest.pop(), classify)):
                break
        # a prediction-only copy, as lgb.train returns: the training data is released
        booster.model_from_string(booster.model_to_string()).free_dataset()
        best = max(ctx.monitor.best_step, 1)
        if classify:
            return BoosterClassifier(n_classes=max(ctx.n_classes, 2)).set_booster(booster, best)
        return BoosterRegressor().set_booster(booster, best)


def _as_prediction(preds: np.ndarray, classify: bool) -> Prediction:
    """LightGBM's raw validation predictions as classes with probabilities, or values."""
    preds = np.asarray(preds, dtype=float)
    if not classify:
        return Prediction(preds)
    if preds.ndim == 1:
        proba = np.column_stack([1.0 - preds, preds])
    else:
        proba = preds
    return Prediction(np.argmax(proba, axis=1), proba)
