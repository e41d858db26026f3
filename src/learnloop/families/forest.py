"""Random forests and extra trees: a step adds trees (the forest doubles each step)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from learnloop.core import Output
from learnloop.families._base import Candidate, FitContext

FIRST_TREES = 16
MAX_TREES = 256


class _ForestCandidate(Candidate):
    produces = frozenset({Output.CLASSES, Output.VALUES})
    preprocessing = "tree"
    patience = (64, 1.0)
    classifier: Any
    regressor: Any

    def portfolio(self, output: Output, n_rows: int) -> list[dict[str, Any]]:
        return [{"max_features": 0.5, "min_samples_leaf": 1}]

    def search_space(self, trial: Any, output: Output, n_rows: int) -> dict[str, Any]:
        return {
            "max_features": trial.suggest_float(self.key("max_features"), 0.1, 1.0),
            "min_samples_leaf": trial.suggest_int(self.key("min_samples_leaf"), 1, 30, log=True),
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
        cls = self.classifier if classify else self.regressor
        model = cls(
            n_estimators=FIRST_TREES,
            warm_start=True,
            n_jobs=ctx.n_jobs,
            random_state=ctx.seed,
            **params,
        )
        trees, last_cost = FIRST_TREES, 0.0
        while True:
            started = time.monotonic()
            model.set_params(n_estimators=trees)
            model.fit(X, y)
            last_cost = time.monotonic() - started
            go_on = ctx.monitor(trees, ctx.decisions(model, X_val))
            # the next step doubles the forest, so it costs about what all steps so far cost
            if not go_on or trees >= MAX_TREES or 1.2 * last_cost > ctx.monitor.seconds_left():
                break
            trees *= 2
        best = ctx.monitor.best_step
        if best < trees:  # the forest is additive: keep the trees up to the best step
            model.estimators_ = model.estimators_[:best]
            model.set_params(n_estimators=best)
        return model


class RandomForestCandidate(_ForestCandidate):
    name = "random_forest"
    classifier = RandomForestClassifier
    regressor = RandomForestRegressor

    def portfolio(self, output: Output, n_rows: int) -> list[dict[str, Any]]:
        return [{"max_features": 0.4, "min_samples_leaf": 2}]


class ExtraTreesCandidate(_ForestCandidate):
    name = "extra_trees"
    classifier = ExtraTreesClassifier
    regressor = ExtraTreesRegressor
