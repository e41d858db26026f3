"""A recommender whose scores are a user's training row times an item-item weight matrix.

``scores(u) = x_u @ W``, with ``W`` an items x items matrix whose diagonal is zero (an item
never recommends itself): the form of EASE (Steck 2019) and of the other linear item-item
models. ``W`` is held in one of two exact forms, whichever is smaller:

* **dense**: ``weights_``, items x items (where items are no more than users);
* **low rank**: ``W = left_ @ right_.T - diag(diagonal_)``, both items x r (EASE solved
  through the users x users system when users are fewer than items: ``r`` is the number of
  training users). ``diagonal_`` removes the product's own diagonal, so ``W``'s is zero.

Everything is a numpy array (the model file's trusted types); the training matrix is kept
as in :class:`~learnloop.estimators.Recommender`, which this class extends.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from learnloop.estimators.common import check_fitted
from learnloop.estimators.recommendation import InteractionMatrix, Recommender, _top

__all__ = ["ItemWeightsRecommender"]


class ItemWeightsRecommender(Recommender):
    """Ranks items by ``x_u @ W`` for an item-item weight matrix ``W`` with a zero diagonal.

    Built by :meth:`set_dense` or :meth:`set_low_rank` (a family's fit), never by ``fit``.
    """

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "popularity_") and (
            hasattr(self, "weights_") or hasattr(self, "left_")
        )

    def fit(self, X: InteractionMatrix, y: Any = None) -> ItemWeightsRecommender:
        raise ValueError(
            "ItemWeightsRecommender is built by a family (set_dense or set_low_rank), not fit."
        )

    # -- building
    def set_dense(self, X: InteractionMatrix, weights: np.ndarray) -> ItemWeightsRecommender:
        """``W`` given whole (items x items; kept as given when float32), diagonal zero."""
        n = len(X.items)
        w = np.asarray(weights, dtype=np.float32)
        if w.shape != (n, n):
            raise ValueError(f"The item weights must be {n} x {n}; got {w.shape}.")
        self.set_matrix(X)
        self.kind = "item_weights"
        if np.any(np.diagonal(w)):
            w = w.copy()  # never write into the caller's array
            np.fill_diagonal(w, 0.0)
        self.weights_ = w
        return self

    def set_low_rank(
        self, X: InteractionMatrix, left: np.ndarray, right: np.ndarray
    ) -> ItemWeightsRecommender:
        """``W = left @ right.T`` with its diagonal removed (both items x r)."""
        n = len(X.items)
        left = np.asarray(left, dtype=np.float32)
        right = np.asarray(right, dtype=np.float32)
        if left.shape != right.shape or left.ndim != 2 or left.shape[0] != n:
            raise ValueError(
                f"The low-rank item weights must be two {n} x r arrays; got "
                f"{left.shape} and {right.shape}."
            )
        self.set_matrix(X)
        self.kind = "item_weights"
        self.left_, self.right_ = left, right
        self.diagonal_ = np.einsum("ij,ij->i", left, right).astype(np.float32)
        return self

    # -- the weights, row by row
    def weight_rows(self, items: np.ndarray) -> np.ndarray:
        """Rows ``items`` of ``W`` (dense, len(items) x items), diagonal zero."""
        check_fitted(self, "popularity_")
        items = np.asarray(items, dtype=np.int64)
        if hasattr(self, "weights_"):
            return np.array(self.weights_[items], dtype=np.float32)
        rows = self.left_[items] @ self.right_.T
        rows[np.arange(len(items)), items] = 0.0
        return rows

    def _times_weights(self, rows: Any) -> np.ndarray:
        """Sparse user rows times ``W`` (dense users x items)."""
        if hasattr(self, "weights_"):
            return np.asarray(rows @ self.weights_, dtype=np.float32)
        out = np.asarray(rows @ self.left_, dtype=np.float32) @ self.right_.T
        diag = np.asarray(rows.multiply(self.diagonal_[None, :]).todense(), dtype=np.float32)
        return np.asarray(out - diag, dtype=np.float32)

    # -- scoring
    def scores(self, users: np.ndarray) -> np.ndarray:
        """Dense scores (users x items); unknown users (-1) get the popularity scores."""
        check_fitted(self, "popularity_")
        users = np.asarray(users, dtype=np.int64)
        known = users >= 0
        out = np.tile(self.popularity_.astype(np.float32), (len(users), 1))
        if known.any():
            out[known] = self._times_weights(self.seen()[users[known]])
        return out

    def similar_items(self, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(item indices, weights) of the items that item index ``item`` most points to."""
        sims = self.weight_rows(np.array([item]))[0].astype(float)
        sims[item] = -np.inf
        return _top(sims, k)

    def audience(self, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(user indices, scores) of the users scoring item index ``item`` highest; users who
        had it in training are left out."""
        check_fitted(self, "popularity_")
        seen = self.seen()
        if hasattr(self, "weights_"):
            column = self.weights_[:, item]
        else:
            column = self.left_ @ self.right_[item]
            column[item] = 0.0
        scores = np.asarray(seen @ column, dtype=float).ravel()
        scores[seen[:, item].tocoo().row] = -np.inf
        return _top(scores, k)
