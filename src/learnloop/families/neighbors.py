"""k-nearest neighbours: a single step (it stores the training rows)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from learnloop.core import Output
from learnloop.families._base import Candidate, FitContext


class KNeighborsCandidate(Candidate):
    name = "knn"
    produces = frozenset({Output.CLASSES, Output.VALUES})
    preprocessing = "dense"
    patience = (1, 0.0)
    max_rows = 20_000  # prediction cost grows with the rows kept

    def portfolio(self, output: Output, n_rows: int) -> list[dict[str, Any]]:
        return [{"n_neighbors": 15, "weights": "distance"}]

    def search_space(self, trial: Any, output: Output, n_rows: int) -> dict[str, Any]:
        return {
            "n_neighbors": trial.suggest_int(self.key("n_neighbors"), 1, 60, log=True),
            "weights": trial.suggest_categorical(self.key("weights"), ["uniform", "distance"]),
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
        cls = KNeighborsClassifier if classify else KNeighborsRegressor
        k = int(min(params["n_neighbors"], len(X)))
        model = cls(n_neighbors=k, weights=params["weights"], n_jobs=ctx.n_jobs).fit(X, y)
        ctx.monitor(1, ctx.decisions(model, X_val))
        return model
