"""EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019).

An item-item weight matrix ``B`` fitted in closed form to reproduce each user's row from
their other items: with ``P = (X^T X + lambda I)^-1``, ``B = I - P diag(1 / diag(P))``, so
``diag(B) = 0``. One solve is the whole fit: one step for the monitor; ``lambda`` (``l2``)
is what the search tunes (log-uniform, 10 to 5000).

**Two exact routes to the same B**, whichever solves the smaller system (k = min(users, items)):

* items <= users: the items x items Gram matrix, inverted (``scipy.linalg.inv``);
* users < items: the Woodbury identity, ``P = (I - X^T (X X^T + lambda I)^-1 X) / lambda``,
  which needs only a users x users solve (``scipy.linalg.cho_factor``/``cho_solve``); ``B``
  is then kept as a low-rank product (items x users, twice) rather than items x items.
  On MovieLens (671 users, 7,754 items) that is a fraction of a second instead of ~20 s.

**Memory.** About ``12 k^2 + 16 items k`` bytes at the peak of a fit (:func:`ease_bytes`):
the k x k system in float64, the kept weights in float32. Above :data:`MAX_BYTES` (5 GB:
a dense route up to ~20,000 items) the family refuses with one sentence naming the need,
before allocating anything; the trial is recorded as failed with that sentence and the
search goes on with the other families.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from learnloop.core import Output
from learnloop.estimators import interaction_matrix
from learnloop.estimators.item_weights import ItemWeightsRecommender
from learnloop.families._base import Candidate, FitContext

__all__ = ["EASECandidate", "MAX_BYTES", "ease_bytes", "ease_weights"]

MAX_BYTES = 5_000_000_000


def ease_bytes(users: int, items: int) -> int:
    """Peak bytes of an EASE fit on a users x items matrix (see the module)."""
    k = min(users, items)
    if items <= users:
        return 12 * items * items  # float64 Gram inverted in place, float32 weights kept
    return 16 * k * k + 16 * items * k  # system + its inverse; float64 product, 2 x float32


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


def ease_weights(matrix: Any, l2: float) -> tuple[str, np.ndarray, np.ndarray | None]:
    """EASE's weights of a users x items sparse matrix: ``("dense", B, None)`` or
    ``("low_rank", left, right)`` with ``B = left @ right.T`` off the diagonal."""
    import scipy.linalg as sl

    X = matrix.tocsr().astype(np.float64)
    users, items = X.shape
    if items <= users:
        gram = (X.T @ X).toarray()
        gram[np.diag_indices(items)] += l2
        P = sl.inv(gram, overwrite_a=True, check_finite=False)
        P /= -np.diag(P).copy()[None, :]  # B = I - P diag(1/diag P): off-diagonal -P_ij/P_jj
        np.fill_diagonal(P, 0.0)
        return "dense", P.astype(np.float32), None
    system = (X @ X.T).toarray()
    system[np.diag_indices(users)] += l2
    inverse = sl.cho_solve(sl.cho_factor(system, overwrite_a=True), np.eye(users))
    left = np.asarray(X.T @ inverse)  # items x users: X^T (X X^T + l2 I)^-1
    diag_p = (1.0 - np.asarray(X.T.multiply(left).sum(axis=1)).ravel()) / l2
    right = X.T.multiply(1.0 / (l2 * diag_p)[:, None]).toarray()  # row j: x_j / (l2 P_jj)
    return "low_rank", left.astype(np.float32), right.astype(np.float32)


class EASECandidate(Candidate):
    """EASE: the closed-form item-item model, its L2 penalty searched."""

    name = "ease"
    produces = frozenset({Output.RANKINGS})
    preprocessing = "interactions"

    def portfolio(self, output: Output, n_rows: int) -> list[dict[str, Any]]:
        self.check_output(output)
        # Steck's own value on MovieLens-20M first, then a weaker and a stronger penalty
        return [{"l2": 500.0}, {"l2": 150.0}, {"l2": 1500.0}]

    def search_space(self, trial: Any, output: Output, n_rows: int) -> dict[str, Any]:
        return {"l2": trial.suggest_float(self.key("l2"), 10.0, 5000.0, log=True)}

    def fit(
        self,
        params: dict[str, Any],
        X: Any,
        y: np.ndarray | None,
        X_val: np.ndarray,
        ctx: FitContext,
    ) -> Any:
        X = interaction_matrix(X)
        users, items = X.matrix.shape
        need = ease_bytes(users, items)
        if need > MAX_BYTES:
            raise ValueError(
                f"EASE on {users:,} users x {items:,} items would need about {_gb(need)} "
                f"(limit {_gb(MAX_BYTES)}); it is skipped here, the other families go on."
            )
        l2 = float(params["l2"])
        if not l2 > 0:
            raise ValueError(f"The 'l2' parameter of ease must be > 0. Got {l2!r} instead.")
        route, a, b = ease_weights(X.matrix, l2)
        model = ItemWeightsRecommender()
        if route == "dense":
            model.set_dense(X, a)
        else:
            assert b is not None
            model.set_low_rank(X, a, b)
        ctx.monitor(1, ctx.decisions(model, X_val))
        return model
