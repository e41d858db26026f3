"""Recommendation families: popularity, item-item neighbours, ALS and BPR (``implicit``).

Each learns from an :class:`~learnloop.estimators.InteractionMatrix` (``X``; ``y`` is
unused) and hands the monitor each validation user's top-k items after a step: one step
for popularity and for item neighbours (their fit has no iterations), one ALS sweep or one
BPR epoch a step for the factor models, trained by repeated ``fit`` calls of one iteration
each (implicit keeps its factors between calls). The model kept is the one of the
monitor's best step. What is saved is a :class:`~learnloop.estimators.Recommender` holding
numpy arrays only; implicit's own classes never reach a model file.

implicit runs its own threads (``num_threads``), so OpenBLAS is held to one thread around
every fit (``threadpool_limits(1, "blas")``), as implicit asks.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from learnloop.core import Output
from learnloop.estimators import InteractionMatrix, Recommender, interaction_matrix
from learnloop.families._base import Candidate, FitContext

__all__ = ["PopularityCandidate", "ItemKNNCandidate", "ALSCandidate", "BPRCandidate"]

BM25_K1, BM25_B = 100.0, 0.8


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """OpenBLAS on one thread, and implicit's notes on its input formats silenced."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*expects CSR input.*")
        yield


def _bm25(matrix: Any) -> Any:
    """BM25-weighted users x items matrix (implicit weighs the rows of items x users)."""
    from implicit.nearest_neighbours import bm25_weight

    return bm25_weight(matrix.T.tocsr(), K1=BM25_K1, B=BM25_B).T.tocsr().astype(np.float32)


class _Family(Candidate):
    produces = frozenset({Output.RANKINGS})
    preprocessing = "interactions"


class PopularityCandidate(_Family):
    """The most popular items for everyone (one step): by summed weight or by users."""

    name = "popularity"

    def portfolio(self, output: Output, n_rows: int) -> list[dict[str, Any]]:
        return [{"weighting": "weight"}, {"weighting": "users"}]

    def search_space(self, trial: Any, output: Output, n_rows: int) -> dict[str, Any]:
        return {"weighting": trial.suggest_categorical(self.key("weighting"), ["weight", "users"])}

    def fit(
        self,
        params: dict[str, Any],
        X: Any,
        y: np.ndarray | None,
        X_val: np.ndarray,
        ctx: FitContext,
    ) -> Any:
        data = interaction_matrix(X)
        m = data.matrix
        if params.get("weighting") == "users":
            popularity = np.asarray((m > 0).sum(axis=0), dtype=float).ravel()
        else:
            popularity = np.asarray(m.sum(axis=0), dtype=float).ravel()
        model = Recommender("popularity").set_matrix(data, popularity)
        ctx.monitor(1, ctx.decisions(model, X_val))
        return model


class ItemKNNCandidate(_Family):
    """Item-item nearest neighbours (cosine or BM25 weighting); one step."""

    name = "item_knn"

    def portfolio(self, output: Output, n_rows: int) -> list[dict[str, Any]]:
        return [
            {"weighting": "bm25", "neighbours": 100},
            {"weighting": "cosine", "neighbours": 50},
            {"weighting": "bm25", "neighbours": 400},
        ]

    def search_space(self, trial: Any, output: Output, n_rows: int) -> dict[str, Any]:
        return {
            "weighting": trial.suggest_categorical(self.key("weighting"), ["bm25", "cosine"]),
            "neighbours": trial.suggest_int(self.key("neighbours"), 10, 1000, log=True),
        }

    def fit(
        self,
        params: dict[str, Any],
        X: Any,
        y: np.ndarray | None,
        X_val: np.ndarray,
        ctx: FitContext,
    ) -> Any:
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

        data = interaction_matrix(X)
        k = int(params["neighbours"])
        threads = max(1, int(ctx.n_jobs or 1))
        if params["weighting"] == "bm25":
            knn: Any = BM25Recommender(K=k, K1=BM25_K1, B=BM25_B, num_threads=threads)
        else:
            knn = CosineRecommender(K=k, num_threads=threads)
        with _one_blas_thread():
            knn.fit(data.matrix, show_progress=False)
        model = Recommender("neighbours").set_similarity(data, knn.similarity)
        ctx.monitor(1, ctx.decisions(model, X_val))
        return model


class _FactorFamily(_Family):
    """Latent factors trained one implicit iteration a step."""

    max_steps: int
    patience = (5, 0.25)

    def _model(self, params: dict[str, Any], ctx: FitContext) -> Any:
        raise NotImplementedError

    def _confidence(self, params: dict[str, Any], data: InteractionMatrix) -> Any:
        return data.matrix

    def fit(
        self,
        params: dict[str, Any],
        X: Any,
        y: np.ndarray | None,
        X_val: np.ndarray,
        ctx: FitContext,
    ) -> Any:
        data = interaction_matrix(X)
        weighted = self._confidence(params, data)
        best: Recommender | None = None
        last_model: Recommender | None = None
        with _one_blas_thread():
            model = self._model(params, ctx)  # implicit checks the BLAS threads here
            for step in range(1, self.max_steps + 1):
                started = time.monotonic()
                model.fit(weighted, show_progress=False)
                cost = time.monotonic() - started
                last = step >= self.max_steps or 1.2 * cost > ctx.monitor.seconds_left()
                if not (last or ctx.monitor.wants(step)):
                    continue
                last_model = Recommender("factors").set_factors(
                    data, model.user_factors.copy(), model.item_factors.copy()
                )
                go_on = ctx.monitor(step, ctx.decisions(last_model, X_val))
                if ctx.monitor.best_step == step:
                    best = last_model
                if last or not go_on:
                    break
        result = best if best is not None else last_model
        assert result is not None
        return result


class ALSCandidate(_FactorFamily):
    """Implicit-feedback ALS (Hu, Koren, Volinsky): factors, regularization, alpha searched."""

    name = "als"
    max_steps = 50

    def portfolio(self, output: Output, n_rows: int) -> list[dict[str, Any]]:
        return [
            {"factors": 64, "regularization": 0.05, "alpha": 2.0, "weighting": "bm25"},
            {"factors": 128, "regularization": 0.01, "alpha": 1.0, "weighting": "none"},
            {"factors": 32, "regularization": 0.1, "alpha": 10.0, "weighting": "bm25"},
        ]

    def search_space(self, trial: Any, output: Output, n_rows: int) -> dict[str, Any]:
        return {
            "factors": trial.suggest_int(self.key("factors"), 16, 256, log=True),
            "regularization": trial.suggest_float(self.key("regularization"), 1e-3, 1.0, log=True),
            "alpha": trial.suggest_float(self.key("alpha"), 0.5, 100.0, log=True),
            "weighting": trial.suggest_categorical(self.key("weighting"), ["bm25", "none"]),
        }

    def _confidence(self, params: dict[str, Any], data: InteractionMatrix) -> Any:
        return _bm25(data.matrix) if params.get("weighting") == "bm25" else data.matrix

    def _model(self, params: dict[str, Any], ctx: FitContext) -> Any:
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(
            factors=int(params["factors"]),
            regularization=float(params["regularization"]),
            alpha=float(params["alpha"]),
            iterations=1,
            calculate_training_loss=False,
            num_threads=max(1, int(ctx.n_jobs or 1)),
            random_state=np.random.default_rng(ctx.seed),
        )


class BPRCandidate(_FactorFamily):
    """Bayesian personalized ranking by SGD: factors, learning rate, regularization searched."""

    name = "bpr"
    max_steps = 200
    patience = (10, 0.25)

    def portfolio(self, output: Output, n_rows: int) -> list[dict[str, Any]]:
        return [
            {"factors": 64, "learning_rate": 0.05, "regularization": 0.01},
            {"factors": 128, "learning_rate": 0.02, "regularization": 0.001},
        ]

    def search_space(self, trial: Any, output: Output, n_rows: int) -> dict[str, Any]:
        return {
            "factors": trial.suggest_int(self.key("factors"), 16, 256, log=True),
            "learning_rate": trial.suggest_float(self.key("learning_rate"), 1e-3, 0.2, log=True),
            "regularization": trial.suggest_float(self.key("regularization"), 1e-4, 0.1, log=True),
        }

    def _model(self, params: dict[str, Any], ctx: FitContext) -> Any:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(
            factors=int(params["factors"]),
            learning_rate=float(params["learning_rate"]),
            regularization=float(params["regularization"]),
            iterations=1,
            num_threads=max(1, int(ctx.n_jobs or 1)),
            random_state=np.random.default_rng(ctx.seed),
        )
