"""RP3beta: item-item random walks with a popularity penalty (Paudel et al. 2017).

A three-step walk user -> item -> user -> item on the interaction graph gives each item pair
``(i, j)`` the probability of reaching ``j`` from ``i`` in two steps, each transition raised
to the power ``alpha``; dividing by ``j``'s popularity to the power ``beta`` keeps the
popular items from winning every list. As in Dacrema et al.'s RecSys 2019 reference code:

    P_ui = row-normalised interactions (a user's weights sum to one)
    P_iu = row-normalised binary transposed interactions (an item's users share one)
    W = (P_iu^alpha @ P_ui^alpha) * popularity_j^-beta, diagonal zero, each row's top-K kept

and a user's scores are their training row times ``W`` (the ``neighbours`` kind of
:class:`~learnloop.estimators.Recommender`: a sparse similarity held as CSR arrays). One
step: the fit has no iterations. ``W`` is built a block of rows at a time
(:data:`BLOCK_CELLS` dense cells at once), so memory is that block plus the K-sparse result.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from learnloop.core import Output
from learnloop.estimators import Recommender, interaction_matrix
from learnloop.families._base import Candidate, FitContext

__all__ = ["RP3betaCandidate", "rp3beta_similarity", "BLOCK_CELLS"]

BLOCK_CELLS = 8_000_000  # dense cells of W computed at once (64 MB of float64)


def _top_k(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(columns, values) of each row's ``k`` largest positive entries (rows x k, 0 padded)."""
    k = min(k, block.shape[1])
    cols = np.argpartition(-block, k - 1, axis=1)[:, :k] if k < block.shape[1] else None
    if cols is None:
        cols = np.tile(np.arange(block.shape[1]), (block.shape[0], 1))
    return cols, np.take_along_axis(block, cols, axis=1)


def rp3beta_similarity(matrix: Any, alpha: float, beta: float, neighbours: int) -> Any:
    """RP3beta's item x item weights of a users x items sparse matrix (CSR, K per row)."""
    from scipy.sparse import csr_matrix
    from sklearn.preprocessing import normalize

    X = matrix.tocsr().astype(np.float64)
    binary = X.copy()
    binary.data[:] = 1.0
    p_ui = normalize(X, norm="l1", axis=1)
    p_iu = normalize(binary.T.tocsr(), norm="l1", axis=1)
    if alpha != 1.0:
        p_ui, p_iu = p_ui.power(alpha), p_iu.power(alpha)
    popularity = np.asarray(binary.sum(axis=0), dtype=float).ravel()
    penalty = np.zeros_like(popularity)
    penalty[popularity > 0] = popularity[popularity > 0] ** -beta
    n = X.shape[1]
    step = max(1, BLOCK_CELLS // max(n, 1))
    rows, cols, vals = [], [], []
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = (p_iu[start:stop] @ p_ui).toarray() * penalty[None, :]
        block[np.arange(stop - start), np.arange(start, stop)] = 0.0
        top, values = _top_k(block, neighbours)
        keep = values > 0
        rows.append(np.broadcast_to(np.arange(start, stop)[:, None], top.shape)[keep])
        cols.append(top[keep])
        vals.append(values[keep])
    return csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n, n),
        dtype=np.float32,
    )


class RP3betaCandidate(Candidate):
    """RP3beta: walk exponent ``alpha``, popularity penalty ``beta``, top-K neighbours."""

    name = "rp3beta"
    produces = frozenset({Output.RANKINGS})
    preprocessing = "interactions"

    def portfolio(self, output: Output, n_rows: int) -> list[dict[str, Any]]:
        self.check_output(output)
        return [
            {"alpha": 0.8, "beta": 0.3, "neighbours": 200},
            {"alpha": 1.0, "beta": 0.5, "neighbours": 50},
            {"alpha": 0.5, "beta": 0.2, "neighbours": 500},
        ]

    def search_space(self, trial: Any, output: Output, n_rows: int) -> dict[str, Any]:
        return {
            "alpha": trial.suggest_float(self.key("alpha"), 0.1, 2.0),
            "beta": trial.suggest_float(self.key("beta"), 0.0, 1.0),
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
        X = interaction_matrix(X)
        alpha, beta = float(params["alpha"]), float(params["beta"])
        neighbours = int(params["neighbours"])
        if not (alpha > 0 and beta >= 0 and neighbours >= 1):
            raise ValueError(
                "The RP3beta parameters must be alpha > 0, beta >= 0 and neighbours >= 1. "
                f"Got alpha={alpha!r}, beta={beta!r}, neighbours={neighbours!r} instead."
            )
        similarity = rp3beta_similarity(X.matrix, alpha, beta, neighbours)
        model = Recommender("neighbours").set_similarity(X, similarity)
        ctx.monitor(1, ctx.decisions(model, X_val))
        return model
