"""Linear models: logistic regression advanced by solver iterations; ridge solved exactly."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge

from learnloop.core import Output
from learnloop.families._base import Candidate, FitContext

ITERATIONS_PER_STEP = 10
MAX_STEPS = 50


class LinearCandidate(Candidate):
    name = "linear"
    produces = frozenset({Output.CLASSES, Output.VALUES})
    preprocessing = "dense"
    patience = (3, 0.5)

    def portfolio(self, output: Output, n_rows: int) -> list[dict[str, Any]]:
        return [{"C": 1.0}] if self._classifies(output) else [{"alpha": 1.0}]

    def search_space(self, trial: Any, output: Output, n_rows: int) -> dict[str, Any]:
        if self._classifies(output):
            return {"C": trial.suggest_float(self.key("C"), 1e-3, 1e3, log=True)}
        return {"alpha": trial.suggest_float(self.key("alpha"), 1e-3, 1e3, log=True)}

    def fit(
        self,
        params: dict[str, Any],
        X: np.ndarray,
        y: np.ndarray | None,
        X_val: np.ndarray,
        ctx: FitContext,
    ) -> Any:
        y = self.targets(y)
        if not self._classifies(ctx.output):
            model = Ridge(alpha=params["alpha"]).fit(X, y)  # closed form: one step
            ctx.monitor(1, ctx.decisions(model, X_val))
            return model
        model = LogisticRegression(
            C=params["C"], warm_start=True, max_iter=ITERATIONS_PER_STEP, random_state=ctx.seed
        )
        best_model = None
        for step in range(1, MAX_STEPS + 1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X, y)
            converged = int(np.max(model.n_iter_)) < ITERATIONS_PER_STEP
            go_on = ctx.monitor(step, ctx.decisions(model, X_val))
            if ctx.monitor.best_step == step:
                best_model = _snapshot(model)
            if converged or not go_on:
                break
        return best_model if best_model is not None else model

    def _classifies(self, output: Output) -> bool:
        """Logistic regression for classes, ridge for values (ValueError for anything else)."""
        return self.check_output(output) is Output.CLASSES


def _snapshot(model: LogisticRegression) -> LogisticRegression:
    """A copy of the current weights (the loop keeps the best step, not the last)."""
    from sklearn.base import clone

    copy = clone(model)
    for attr in ("coef_", "intercept_", "classes_", "n_iter_", "n_features_in_"):
        if hasattr(model, attr):
            value = getattr(model, attr)
            setattr(copy, attr, value.copy() if hasattr(value, "copy") else value)
    return copy
