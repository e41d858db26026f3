"""Recommenders: id maps, the interaction matrix and a ranker of items for users.

A recommender's model file holds only numpy arrays: id maps, the training user-item matrix
as its CSR arrays, and factors or an item-item similarity as arrays. The scipy matrices are
rebuilt from them when needed (scipy types are not on the trusted list).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from learnloop.estimators.common import check_fitted

__all__ = [
    "interaction_matrix",
    "InteractionEncoder",
    "InteractionMatrix",
    "Recommender",
    "has_leading_zeros",
    "id_keys",
    "item_values",
]


def id_keys(values: Any) -> np.ndarray:
    """User ids as text keys: 3, 3.0 and "3" are one user (as categories are matched)."""
    series = pd.Series(values, dtype=object)
    text = series.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    return text.to_numpy(dtype=str)


_LEADING_ZERO = re.compile(r"^\s*[+-]?0\d")


def has_leading_zeros(values: Any) -> bool:
    """Whether any text value is a number spelled with a leading zero (``00173``)."""
    distinct = pd.unique(np.asarray(values, dtype=object).ravel())
    return any(isinstance(v, str) and _LEADING_ZERO.match(v) for v in distinct)


def item_values(values: Any) -> np.ndarray:
    """Item ids as int64 where they are whole numbers, else as text."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f" and len(arr) and np.all(np.isfinite(arr)):
        if np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
    if arr.dtype.kind in "OU" and has_leading_zeros(arr):
        return id_keys(arr)  # codes such as 0038 are text: 38 would answer a different id
    if arr.dtype.kind == "O":
        numeric = pd.to_numeric(pd.Series(arr), errors="coerce")
        if numeric.notna().all() and np.all(numeric == np.round(numeric)):
            return numeric.to_numpy().astype(np.int64)
    return id_keys(arr)


@dataclass
class InteractionMatrix:
    """Training interactions as a users x items CSR matrix of weights, with both id maps.

    What the ``interactions`` preprocessing hands a recommender family as its ``X``.
    """

    matrix: Any  # scipy.sparse.csr_matrix, float32
    users: np.ndarray  # text key of each row
    items: np.ndarray  # id of each column (int64 or text)

    def __len__(self) -> int:
        return int(self.matrix.nnz)


def interaction_matrix(X: Any) -> InteractionMatrix:
    """``X`` as the interaction matrix a recommendation family learns from (ValueError if not)."""
    if not isinstance(X, InteractionMatrix):
        raise ValueError("A recommendation family learns from an interaction matrix.")
    return X


class InteractionEncoder(TransformerMixin, BaseEstimator):
    """Id maps of the training interactions; users -> row indices afterwards.

    ``fit`` reads a frame whose first two columns are the user and the item (and an optional
    third, the weight). ``transform`` of such a frame gives an :class:`InteractionMatrix`
    over the fitted users and items (unknown ones left out); of a frame with only the user
    column, each user's row index (-1 for a user not seen in training).
    """

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "users_")

    def fit(self, X: pd.DataFrame, y: Any = None) -> InteractionEncoder:
        columns = list(X.columns)
        if len(columns) < 2:
            raise ValueError("InteractionEncoder.fit needs a user and an item column.")
        self.user_column_ = str(columns[0])
        self.item_column_ = str(columns[1])
        self.users_ = np.unique(id_keys(X[self.user_column_]))
        self.items_ = np.unique(item_values(X[self.item_column_].to_numpy()))
        return self

    def user_index(self, users: Any) -> np.ndarray:
        """Row index of each user (-1 where unknown)."""
        check_fitted(self, "users_")
        index = pd.Index(self.users_)
        return np.asarray(index.get_indexer(id_keys(users)), dtype=np.int64)

    def item_index(self, items: Any) -> np.ndarray:
        """Column index of each item (-1 where unknown)."""
        check_fitted(self, "items_")
        keys = item_values(np.asarray(items))
        if keys.dtype.kind != self.items_.dtype.kind:
            keys = keys.astype(self.items_.dtype) if self.items_.dtype.kind == "U" else keys
        index = pd.Index(self.items_)
        try:
            return np.asarray(index.get_indexer(keys), dtype=np.int64)
        except (TypeError, ValueError):
            return np.full(len(keys), -1, dtype=np.int64)

    def transform(self, X: pd.DataFrame) -> Any:
        check_fitted(self, "users_")
        if self.item_column_ not in X.columns:
            return self.user_index(X[self.user_column_])
        from scipy.sparse import csr_matrix

        rows = self.user_index(X[self.user_column_])
        cols = self.item_index(X[self.item_column_].to_numpy())
        if X.shape[1] > 2:
            weights = np.asarray(X.iloc[:, 2], dtype=np.float32)
        else:
            weights = np.ones(len(X), dtype=np.float32)
        keep = (rows >= 0) & (cols >= 0)
        matrix = csr_matrix(
            (weights[keep], (rows[keep], cols[keep])),
            shape=(len(self.users_), len(self.items_)),
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        return InteractionMatrix(matrix, self.users_, self.items_)


SCORE_CELLS = 4_000_000  # users x items scores held at once (16 MB of float32)


class Recommender(BaseEstimator):
    """Ranks items for users from one of three scorings, over the training matrix.

    * ``popularity``: every user gets the items with the most weight overall;
    * ``factors``: user . item dot products of latent factors (ALS, BPR);
    * ``neighbours``: a user's training row times an item-item similarity (item k-NN).

    Items a user interacted with in training are left out of their ranking (unless asked
    otherwise); users not seen in training (index -1) get the popular items.
    """

    def __init__(self, kind: str = "popularity", k: int = 10) -> None:
        self.kind = kind
        self.k = k

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "popularity_")

    # -- building
    def fit(self, X: InteractionMatrix, y: Any = None) -> Recommender:
        """Popularity from the training matrix (the other kinds are set by their families)."""
        return self.set_matrix(X)

    def set_matrix(self, X: InteractionMatrix, popularity: np.ndarray | None = None) -> Recommender:
        m = X.matrix.tocsr()
        self.items_ = np.asarray(X.items)
        self.n_users_ = int(m.shape[0])
        self.seen_indptr_ = np.asarray(m.indptr, dtype=np.int64)
        self.seen_indices_ = np.asarray(m.indices, dtype=np.int32)
        self.seen_data_ = np.asarray(m.data, dtype=np.float32)
        if popularity is None:
            popularity = np.asarray(m.sum(axis=0), dtype=float).ravel()
        self.popularity_ = np.asarray(popularity, dtype=float)
        return self

    def set_factors(
        self, X: InteractionMatrix, users: np.ndarray, items: np.ndarray
    ) -> Recommender:
        self.set_matrix(X)
        self.kind = "factors"
        self.user_factors_ = np.asarray(users, dtype=np.float32)
        self.item_factors_ = np.asarray(items, dtype=np.float32)
        return self

    def set_similarity(self, X: InteractionMatrix, similarity: Any) -> Recommender:
        self.set_matrix(X)
        self.kind = "neighbours"
        s = similarity.tocsr()
        self.sim_indptr_ = np.asarray(s.indptr, dtype=np.int64)
        self.sim_indices_ = np.asarray(s.indices, dtype=np.int32)
        self.sim_data_ = np.asarray(s.data, dtype=np.float32)
        return self

    # -- matrices rebuilt from arrays
    def seen(self) -> Any:
        from scipy.sparse import csr_matrix

        check_fitted(self, "popularity_")
        shape = (self.n_users_, len(self.items_))
        return csr_matrix((self.seen_data_, self.seen_indices_, self.seen_indptr_), shape=shape)

    def similarity(self) -> Any:
        from scipy.sparse import csr_matrix

        n = len(self.items_)
        return csr_matrix((self.sim_data_, self.sim_indices_, self.sim_indptr_), shape=(n, n))

    # -- scoring
    def scores(self, users: np.ndarray) -> np.ndarray:
        """Dense scores (users x items); unknown users (-1) get the popularity scores."""
        check_fitted(self, "popularity_")
        users = np.asarray(users, dtype=np.int64)
        known = users >= 0
        out = np.tile(self.popularity_.astype(np.float32), (len(users), 1))
        if known.any() and self.kind != "popularity":
            rows = users[known]
            if self.kind == "factors":
                out[known] = self.user_factors_[rows] @ self.item_factors_.T
            else:
                out[known] = np.asarray((self.seen()[rows] @ self.similarity()).todense())
        return out

    def rank(
        self, users: np.ndarray, k: int | None = None, include_seen: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """(item indices, scores) of each user's top ``k``, best first.

        Seen items get -inf and come last (only if fewer than k unseen items are left).
        """
        users = np.asarray(users, dtype=np.int64)
        k = int(min(k or self.k, len(self.items_)))
        top = np.zeros((len(users), k), dtype=np.int64)
        best = np.zeros((len(users), k), dtype=np.float32)
        seen = None if include_seen else self.seen()
        step = max(1, SCORE_CELLS // max(len(self.items_), 1))
        for start in range(0, len(users), step):
            batch = users[start : start + step]
            s = self.scores(batch)
            if seen is not None:
                known = np.flatnonzero(batch >= 0)
                sub = seen[batch[known]].tocoo()
                s[known[sub.row], sub.col] = -np.inf
            part = np.argpartition(-s, k - 1, axis=1)[:, :k] if k < s.shape[1] else None
            if part is None:
                part = np.tile(np.arange(s.shape[1]), (len(batch), 1))
            vals = np.take_along_axis(s, part, axis=1)
            order = np.argsort(-vals, axis=1, kind="stable")
            top[start : start + len(batch)] = np.take_along_axis(part, order, axis=1)
            best[start : start + len(batch)] = np.take_along_axis(vals, order, axis=1)
        return top, best

    def predict(self, X: np.ndarray, k: int | None = None) -> np.ndarray:
        """Each user's top ``k`` item ids (a users x k array), best first."""
        top, _ = self.rank(np.asarray(X), k)
        return self.items_[top]

    def similar_items(self, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(item indices, similarities) of the items most like item index ``item``."""
        check_fitted(self, "popularity_")
        if self.kind == "factors":
            f = self.item_factors_
            norms = np.linalg.norm(f, axis=1) + 1e-12
            sims = (f @ f[item]) / (norms * norms[item])
        elif self.kind == "neighbours":
            sims = np.asarray(self.similarity()[item].todense(), dtype=float).ravel()
        else:  # co-occurrence cosine over the training matrix
            cols = self.seen().tocsc()
            col = cols[:, item]
            co = np.asarray((cols.T @ col).todense(), dtype=float).ravel()
            norms = np.sqrt(np.asarray(cols.multiply(cols).sum(axis=0), dtype=float).ravel())
            sims = co / (norms * (norms[item] + 1e-12) + 1e-12)
        sims = np.asarray(sims, dtype=float).copy()
        sims[item] = -np.inf
        return _top(sims, k)

    def audience(self, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(user indices, scores) of the users most likely to want item index ``item``.

        Users who already interacted with it in training are left out.
        """
        check_fitted(self, "popularity_")
        seen = self.seen()
        if self.kind == "factors":
            scores = self.user_factors_ @ self.item_factors_[item]
        elif self.kind == "neighbours":
            column = self.similarity()[:, item]
            scores = np.asarray((seen @ column).todense(), dtype=float).ravel()
        else:  # the most active users first
            scores = np.asarray(seen.sum(axis=1), dtype=float).ravel()
        scores = np.asarray(scores, dtype=float).copy()
        already = seen[:, item].tocoo().row
        scores[already] = -np.inf
        return _top(scores, k)


def _top(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    finite = np.flatnonzero(np.isfinite(scores))
    k = int(min(k, len(finite)))
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    order = finite[np.argsort(-scores[finite], kind="stable")[:k]]
    return order, scores[order]
