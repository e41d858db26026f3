"""Small scikit-learn-compatible estimators that learnloop's candidates produce.

They exist so that every model file holds only scikit-learn, LightGBM and these types,
which the artifact loader trusts by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClusterMixin,
    RegressorMixin,
    TransformerMixin,
)

from learnloop.exceptions import NotFittedError

__all__ = [
    "PassThrough",
    "EnsembleClassifier",
    "EnsembleRegressor",
    "weighted_mean",
    "InteractionEncoder",
    "InteractionMatrix",
    "Recommender",
    "BoosterClassifier",
    "FaceEmbedding",
    "ImageFeatures",
    "OpenSetIdentifier",
    "BoosterRegressor",
    "HDBSCANClusterer",
    "ScaledTargetRegressor",
]


def _check_fitted(est: Any, attr: str) -> None:
    if not hasattr(est, attr):
        raise NotFittedError(f"This {type(est).__name__} is not fitted yet; call fit first.")


def _train_default(X: np.ndarray, y: np.ndarray, objective: dict[str, Any]) -> Any:
    import lightgbm as lgb

    params = {**objective, "verbosity": -1, "deterministic": True, "seed": 0}
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=100)


# Below this many rows a booster predicts in one thread: a team of OpenMP threads costs more
# than it saves there, and its idle threads would spin on cores that a server's request
# parsing needs (a 20-row prediction beside a busy core: 3x slower with a team of two).
ONE_THREAD_ROWS = 2000


def _booster_predict(booster: Any, X: np.ndarray, best_iteration: int) -> np.ndarray:
    """The booster's raw predictions for ``X``, in one thread for small batches."""
    threads = {"num_threads": 1} if len(X) < ONE_THREAD_ROWS else {}
    return booster.predict(X, num_iteration=best_iteration, **threads)


class BoosterClassifier(ClassifierMixin, BaseEstimator):
    """A trained LightGBM booster used as a classifier over classes 0..k-1."""

    def __init__(self, n_classes: int = 2) -> None:
        self.n_classes = n_classes

    def fit(self, X: np.ndarray, y: np.ndarray) -> BoosterClassifier:
        """Train a default booster (the loop normally builds one step by step instead)."""
        objective = (
            {"objective": "binary"}
            if self.n_classes <= 2
            else {"objective": "multiclass", "num_class": self.n_classes}
        )
        booster = _train_default(X, y, objective)
        return self.set_booster(booster, booster.current_iteration())

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "booster_")

    def set_booster(self, booster: Any, best_iteration: int) -> BoosterClassifier:
        self.booster_ = booster
        self.best_iteration_ = int(best_iteration)
        self.classes_ = np.arange(self.n_classes)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        _check_fitted(self, "booster_")
        raw = _booster_predict(self.booster_, X, self.best_iteration_)
        if raw.ndim == 1:
            return np.column_stack([1.0 - raw, raw])
        return raw

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.argmax(self.predict_proba(X), axis=1)


class BoosterRegressor(RegressorMixin, BaseEstimator):
    """A trained LightGBM booster used as a regressor."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> BoosterRegressor:
        """Train a default booster (the loop normally builds one step by step instead)."""
        booster = _train_default(X, y, {"objective": "regression"})
        return self.set_booster(booster, booster.current_iteration())

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "booster_")

    def set_booster(self, booster: Any, best_iteration: int) -> BoosterRegressor:
        self.booster_ = booster
        self.best_iteration_ = int(best_iteration)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        _check_fitted(self, "booster_")
        return _booster_predict(self.booster_, X, self.best_iteration_)


class ScaledTargetRegressor(RegressorMixin, BaseEstimator):
    """Wraps a regressor that was trained on a standardized target; predicts in target units."""

    def __init__(self, regressor: Any = None, y_mean: float = 0.0, y_scale: float = 1.0) -> None:
        self.regressor = regressor
        self.y_mean = y_mean
        self.y_scale = y_scale

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "fitted_")

    def fit(self, X: np.ndarray, y: np.ndarray) -> ScaledTargetRegressor:
        self.regressor.fit(X, (y - self.y_mean) / self.y_scale)
        self.fitted_ = True
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.regressor.predict(X)) * self.y_scale + self.y_mean


class PassThrough(TransformerMixin, BaseEstimator):
    """The identity step: rows go through unchanged (an ensemble's members encode their own).

    ``FunctionTransformer`` would do the same, but model files refuse it (it can hold any
    function); this one holds nothing.
    """

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def fit(self, X: Any, y: Any = None) -> PassThrough:
        return self

    def transform(self, X: Any) -> Any:
        return X


def full_proba(estimator: Any, X: Any, n_classes: int) -> np.ndarray:
    """``estimator``'s class probabilities with a column for each of ``n_classes`` classes,
    zero for classes it never saw in training (its ``classes_`` are class codes)."""
    proba = np.asarray(estimator.predict_proba(X), dtype=float)
    seen = getattr(estimator, "classes_", None)
    if seen is not None and n_classes > proba.shape[1]:
        full = np.zeros((len(proba), n_classes))
        full[:, np.asarray(seen, dtype=int)] = proba
        proba = full
    return proba


def weighted_mean(parts: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """``sum_i weights[i] * parts[i]`` with the weights normalised to sum to one."""
    w = np.asarray(weights, dtype=float)
    return np.tensordot(w / w.sum(), np.stack([np.asarray(p, dtype=float) for p in parts]), 1)


class _Ensemble(BaseEstimator):
    """Fitted member pipelines (each its own preprocessor + estimator) and their weights.

    Built from members that are already fitted (like ``cv="prefit"``): ``fit`` only checks
    them and normalises the weights, so ``X`` and ``y`` are ignored.
    """

    def __init__(self, members: list[Any] | None = None, weights: list[float] | None = None):
        self.members = members
        self.weights = weights

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "weights_")

    def fit(self, X: Any = None, y: Any = None) -> _Ensemble:
        members, weights = list(self.members or []), list(self.weights or [])
        if not members or len(weights) != len(members):
            raise ValueError(
                f"The 'weights' parameter of {type(self).__name__} must have one entry per "
                f"member; got {len(weights)} weights for {len(members)} members instead."
            )
        w = np.asarray(weights, dtype=float)
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(
                f"The 'weights' parameter of {type(self).__name__} must be non-negative with "
                f"a positive sum; got {weights!r} instead."
            )
        self.weights_ = w / w.sum()
        return self


class EnsembleClassifier(ClassifierMixin, _Ensemble):
    """The weighted average of member pipelines' class probabilities over classes 0..k-1."""

    def __init__(
        self,
        members: list[Any] | None = None,
        weights: list[float] | None = None,
        n_classes: int = 2,
    ) -> None:
        super().__init__(members, weights)
        self.n_classes = n_classes

    def fit(self, X: Any = None, y: Any = None) -> EnsembleClassifier:
        super().fit(X, y)
        self.classes_ = np.arange(self.n_classes)
        return self

    def _member_proba(self, member: Any, X: Any) -> np.ndarray:
        """A member's probabilities with a column per class, even for classes it never saw."""
        return full_proba(member, X, self.n_classes)

    def predict_proba(self, X: Any) -> np.ndarray:
        _check_fitted(self, "weights_")
        return weighted_mean([self._member_proba(m, X) for m in self.members or []], self.weights_)

    def predict(self, X: Any) -> np.ndarray:
        return np.argmax(self.predict_proba(X), axis=1)


class EnsembleRegressor(RegressorMixin, _Ensemble):
    """The weighted average of member pipelines' predicted values."""

    def predict(self, X: Any) -> np.ndarray:
        _check_fitted(self, "weights_")
        return weighted_mean([m.predict(X) for m in self.members or []], self.weights_)


class HDBSCANClusterer(ClusterMixin, BaseEstimator):
    """scikit-learn's HDBSCAN with a ``predict`` for new rows.

    ``fit`` runs :class:`sklearn.cluster.HDBSCAN` and keeps its training labels in
    ``labels_`` (-1 marks noise). ``predict`` gives a new row the cluster of its nearest
    non-noise training point (Euclidean distance, one neighbour), so it never returns
    -1. When HDBSCAN finds only noise, everything is one cluster: every row, in training
    and after, gets label 0.

    The nearest-point rule keeps the non-noise training rows inside ``assigner_`` (a fitted
    :class:`~sklearn.neighbors.KNeighborsClassifier`), so a model file holds them.
    """

    def __init__(
        self,
        min_cluster_size: int = 5,
        min_samples: int | None = None,
        cluster_selection_epsilon: float = 0.0,
        n_jobs: int | None = None,
    ) -> None:
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.cluster_selection_epsilon = cluster_selection_epsilon
        self.n_jobs = n_jobs

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "assigner_")

    def fit(self, X: np.ndarray, y: Any = None) -> HDBSCANClusterer:
        """Cluster ``X`` (``y`` is ignored) and prepare the nearest-point assigner."""
        from sklearn.cluster import HDBSCAN

        X = np.asarray(X, dtype=float)
        min_cluster_size = int(max(2, min(self.min_cluster_size, len(X))))
        min_samples = None if self.min_samples is None else int(min(self.min_samples, len(X)))
        model = HDBSCAN(
            min_cluster_size=min_cluster_size,
            min_samples=min_samples,
            cluster_selection_epsilon=float(self.cluster_selection_epsilon),
            n_jobs=self.n_jobs,
            copy=True,  # never write into the caller's array
        )
        labels = np.asarray(model.fit_predict(X), dtype=int) if len(X) > 1 else np.zeros(1, int)
        return self.set_labels(X, labels)

    def set_labels(self, X: np.ndarray, labels: np.ndarray) -> HDBSCANClusterer:
        """Fit the assigner from training rows and their labels (-1 = noise)."""
        from sklearn.neighbors import KNeighborsClassifier

        X = np.asarray(X, dtype=float)
        labels = np.asarray(labels, dtype=int)
        clustered = labels >= 0
        if not clustered.any():  # only noise: one cluster holding everything
            labels = np.zeros(len(labels), dtype=int)
            points, point_labels = X[:1], labels[:1]
        else:
            points, point_labels = X[clustered], labels[clustered]
        self.labels_ = labels
        self.n_clusters_ = int(len(np.unique(point_labels)))
        self.n_features_in_ = int(X.shape[1])
        self.assigner_ = KNeighborsClassifier(
            n_neighbors=1, algorithm="brute", n_jobs=self.n_jobs
        ).fit(points, point_labels)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The cluster of each row's nearest non-noise training point."""
        _check_fitted(self, "assigner_")
        return np.asarray(self.assigner_.predict(np.asarray(X, dtype=float)), dtype=int)


# --------------------------------------------------------------------- recommendation
#
# A recommender's model file holds only numpy arrays: id maps, the training user-item
# matrix as its CSR arrays, and factors or an item-item similarity as arrays. The scipy
# matrices are rebuilt from them when needed (scipy types are not on the trusted list).


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
        _check_fitted(self, "users_")
        index = pd.Index(self.users_)
        return np.asarray(index.get_indexer(id_keys(users)), dtype=np.int64)

    def item_index(self, items: Any) -> np.ndarray:
        """Column index of each item (-1 where unknown)."""
        _check_fitted(self, "items_")
        keys = item_values(np.asarray(items))
        if keys.dtype.kind != self.items_.dtype.kind:
            keys = keys.astype(self.items_.dtype) if self.items_.dtype.kind == "U" else keys
        index = pd.Index(self.items_)
        try:
            return np.asarray(index.get_indexer(keys), dtype=np.int64)
        except (TypeError, ValueError):
            return np.full(len(keys), -1, dtype=np.int64)

    def transform(self, X: pd.DataFrame) -> Any:
        _check_fitted(self, "users_")
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

        _check_fitted(self, "popularity_")
        shape = (self.n_users_, len(self.items_))
        return csr_matrix((self.seen_data_, self.seen_indices_, self.seen_indptr_), shape=shape)

    def similarity(self) -> Any:
        from scipy.sparse import csr_matrix

        n = len(self.items_)
        return csr_matrix((self.sim_data_, self.sim_indices_, self.sim_indptr_), shape=(n, n))

    # -- scoring
    def scores(self, users: np.ndarray) -> np.ndarray:
        """Dense scores (users x items); unknown users (-1) get the popularity scores."""
        _check_fitted(self, "popularity_")
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
        _check_fitted(self, "popularity_")
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
        _check_fitted(self, "popularity_")
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


# ------------------------------------------------------------------------ pictures
class ImageFeatures(TransformerMixin, BaseEstimator):
    """Features of the pictures named in ``column``: ``pixels`` (grey levels, scaled to
    0..1) or ``hog`` (scikit-image's histogram of oriented gradients), each picture resized
    to ``side`` x ``side`` first. Stateless: it keeps no pictures, only its settings."""

    def __init__(self, column: str = "image", extractor: str = "hog", side: int = 64) -> None:
        self.column = column
        self.extractor = extractor
        self.side = side

    def fit(self, X: Any, y: Any = None) -> ImageFeatures:
        if self.extractor not in ("pixels", "hog"):
            raise ValueError(
                f"The 'extractor' parameter of ImageFeatures must be 'pixels' or 'hog'. "
                f"Got {self.extractor!r} instead."
            )
        self.n_features_out_ = self.transform(X.iloc[:1]).shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        from learnloop.vision import gray

        paths = X[self.column].tolist()
        rows = [self._one(gray(p, self.side)) for p in paths]
        if not rows:
            return np.zeros((0, getattr(self, "n_features_out_", 0)))
        return np.vstack(rows)

    def _one(self, g: np.ndarray) -> np.ndarray:
        if self.extractor == "pixels":
            return g.ravel().astype(np.float32) / 255.0
        from skimage.feature import hog

        return np.asarray(
            hog(g, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2)),
            dtype=np.float32,
        )


class FaceEmbedding(TransformerMixin, BaseEstimator):
    """The SFace embedding (128 numbers, L2-normalised) of the largest face in each picture
    named in ``column``; a picture without a face gives a row of zeros."""

    def __init__(self, column: str = "image") -> None:
        self.column = column

    def fit(self, X: Any, y: Any = None) -> FaceEmbedding:
        self.n_features_out_ = 128
        return self

    def transform(self, X: Any) -> np.ndarray:
        from learnloop.vision import picture_faces

        out = np.zeros((len(X), 128))
        for i, path in enumerate(X[self.column].tolist()):
            faces = picture_faces(path)
            if faces:
                out[i] = faces[0].embedding
        return out


class OpenSetIdentifier(ClassifierMixin, BaseEstimator):
    """Who is who among the people on file, and "unknown" past a distance threshold.

    ``classifier`` names the person; the distance is the cosine distance from the face to
    the nearest face on file (``gallery_``) of that person. ``threshold_`` is learned on
    validation faces (see ``learnloop.tasks.images.Faces.finish_model``).
    """

    def __init__(self, classifier: Any = None, threshold: float = 0.637) -> None:
        self.classifier = classifier
        self.threshold = threshold

    def fit(self, X: np.ndarray, y: np.ndarray) -> OpenSetIdentifier:
        from sklearn.base import clone
        from sklearn.neighbors import KNeighborsClassifier

        base = self.classifier if self.classifier is not None else KNeighborsClassifier(1)
        return self.set_gallery(clone(base).fit(X, y), X, y, float(self.threshold))

    def set_gallery(
        self, fitted: Any, X: np.ndarray, y: np.ndarray, threshold: float
    ) -> OpenSetIdentifier:
        """Use an already fitted classifier with the faces ``X`` of people ``y`` on file."""
        self.classifier_ = fitted
        self.classes_ = np.asarray(fitted.classes_)
        self.gallery_ = np.asarray(X, dtype=np.float64)
        self.gallery_labels_ = np.asarray(y)
        self.threshold_ = float(threshold)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        _check_fitted(self, "classifier_")
        return np.asarray(self.classifier_.predict_proba(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])

    def distances(self, X: np.ndarray, people: np.ndarray) -> np.ndarray:
        """Cosine distance from each face to the nearest face on file of ``people[i]``."""
        _check_fitted(self, "gallery_")
        d = 1.0 - np.asarray(X, dtype=np.float64) @ self.gallery_.T
        same = self.gallery_labels_[None, :] == np.asarray(people)[:, None]
        return np.where(same, d, np.inf).min(axis=1)
