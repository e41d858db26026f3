"""Error functions of clusters: against the rows themselves, or against known groups.

Predictions are integer cluster labels, scored either against the rows themselves
(``Metric.reference == "inputs"``: silhouette, Davies-Bouldin, Calinski-Harabasz, computed on
the encoded, scaled input rows) or against known group codes (``"targets"``: adjusted Rand,
NMI). The noise label -1 (HDBSCAN) counts as one more cluster for the internal metrics: noise
rows are scored like any other group, so a model that calls much of the data noise pays for
it. A labelling is degenerate when it has fewer than 2 distinct labels or as many labels as
rows; internal metrics then return their worst value instead of raising. adjusted_rand and
nmi ignore rows whose known group code is -1 (unknown).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn import metrics as skm

from learnloop.core import Output
from learnloop.metrics._base import INF, Metric, Prediction

__all__ = ["CLUSTER_METRICS", "SILHOUETTE_MAX_ROWS"]

SILHOUETTE_MAX_ROWS = 2000


def _labels(p: Prediction) -> np.ndarray:
    return np.asarray(p.values).astype(int, copy=False).ravel()


def _inputs(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if len(X) != len(labels):
        raise ValueError(
            f"A clustering metric got {len(X)} input rows for {len(labels)} predicted labels."
        )
    return X


def _degenerate(labels: np.ndarray) -> bool:
    n_labels = len(np.unique(labels))
    return n_labels < 2 or n_labels >= len(labels)


def _silhouette_rows(X: np.ndarray, p: Prediction, k: int) -> np.ndarray:
    """Silhouette of each row, on a seeded sample of SILHOUETTE_MAX_ROWS rows when larger."""
    labels = _labels(p)
    X = _inputs(X, labels)
    if len(labels) > SILHOUETTE_MAX_ROWS:
        rows = np.random.default_rng(0).choice(len(labels), SILHOUETTE_MAX_ROWS, replace=False)
        rows.sort()
        X, labels = X[rows], labels[rows]
    if _degenerate(labels):
        return np.full(len(labels), -1.0)
    return np.asarray(skm.silhouette_samples(X, labels), dtype=float)


def _silhouette(X: np.ndarray, p: Prediction, k: int) -> float:
    values = _silhouette_rows(X, p, k)
    return float(np.mean(values)) if len(values) else -1.0


def _davies_bouldin(X: np.ndarray, p: Prediction, k: int) -> float:
    labels = _labels(p)
    X = _inputs(X, labels)
    if _degenerate(labels):
        return math.inf
    return float(skm.davies_bouldin_score(X, labels))


def _calinski_harabasz(X: np.ndarray, p: Prediction, k: int) -> float:
    labels = _labels(p)
    X = _inputs(X, labels)
    if _degenerate(labels):
        return 0.0
    return float(skm.calinski_harabasz_score(X, labels))


def _known(y: np.ndarray, p: Prediction) -> tuple[np.ndarray, np.ndarray]:
    """Known group codes and the predicted labels of the rows whose group is known."""
    codes = np.asarray(y).ravel()
    labels = _labels(p)
    known = codes >= 0
    return codes[known].astype(int), labels[known]


def _adjusted_rand(y: np.ndarray, p: Prediction, k: int) -> float:
    codes, labels = _known(y, p)
    if len(codes) == 0:  # no row with a known group: nothing to agree with
        return -0.5
    return float(skm.adjusted_rand_score(codes, labels))


def _nmi(y: np.ndarray, p: Prediction, k: int) -> float:
    codes, labels = _known(y, p)
    if len(codes) == 0:
        return 0.0
    return float(skm.normalized_mutual_info_score(codes, labels))


_K = Output.CLUSTERS
CLUSTER_METRICS: list[Metric] = [
    Metric(
        "silhouette",
        _K,
        True,
        -1.0,
        1.0,
        False,
        False,
        _silhouette,
        per_row=_silhouette_rows,
        reference="inputs",
    ),
    Metric(
        "davies_bouldin",
        _K,
        False,
        0.0,
        INF,
        False,
        False,
        _davies_bouldin,
        reference="inputs",
    ),
    Metric(
        "calinski_harabasz",
        _K,
        True,
        0.0,
        INF,
        False,
        False,
        _calinski_harabasz,
        reference="inputs",
    ),
    Metric("adjusted_rand", _K, True, -0.5, 1.0, False, False, _adjusted_rand),
    Metric("nmi", _K, True, 0.0, 1.0, False, False, _nmi),
]
