"""The clustering metrics over a batch of bootstrap resamples at once.

Each function takes what a clustering scorer takes (``y``: the encoded inputs, or the known
group codes with -1 for unknown; the predicted clusters) and ``rows``, a resamples x draws
array of row indices, and returns one score per resample, equal (to rounding) to the
metric's scorer on that resample's rows, degenerate cases included. A resample is the rows'
draw counts, so Calinski-Harabasz and Davies-Bouldin come from count-weighted cluster sums
and the adjusted Rand index and NMI from per-resample contingency tables: a 2,000-row
certificate's thousand resamples took 20-50 s one by one under load, and take well under a
second here. The signature is ``Metric.resampled``'s; ``learnloop.certify.bounds`` looks them
up by metric name (``CLUSTER_RESAMPLED``), and takes the jackknife of the table scores from
``leave_one_out``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from learnloop.metrics._base import Prediction

__all__ = ["CLUSTER_RESAMPLED", "TABLE_SCORES", "leave_one_out"]


def _counts(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """How often each code in ``range(n_codes)`` occurs in each row of ``codes``."""
    offsets = np.arange(len(codes), dtype=np.int64)[:, None] * n_codes
    counts = np.bincount((codes + offsets).ravel(), minlength=len(codes) * n_codes)
    return counts.reshape(len(codes), n_codes)


def _clusters(p: Prediction) -> tuple[np.ndarray, int]:
    _, codes = np.unique(np.asarray(p.values).astype(int).ravel(), return_inverse=True)
    return codes, int(codes.max(initial=-1)) + 1


def _spread(
    y: np.ndarray, p: Prediction, rows: np.ndarray, root: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per resample and cluster: the drawn rows' count, centre, and their summed squared
    (``root``: plain) distance to that centre. Each cluster is worked in a frame centred on
    its own mean, where the expanded square loses no digits; memory is resamples x rows,
    its passes in place."""
    X = np.asarray(y, dtype=float)
    X = X.reshape(len(X), -1)
    codes, k = _clusters(p)
    order = np.argsort(codes, kind="stable")  # rows by cluster: each cluster's weights a slice
    place = np.empty_like(order)
    place[order] = np.arange(len(order))
    ends = np.cumsum(np.bincount(codes, minlength=k))
    weights = _counts(place[rows], len(X)).astype(float)
    sizes = np.zeros((len(rows), k))
    centres = np.zeros((len(rows), k, X.shape[1]))
    spread = np.zeros((len(rows), k))
    for c in range(k):
        start = ends[c - 1] if c else 0
        members, w = order[start : ends[c]], weights[:, start : ends[c]]
        home = X[members].mean(axis=0)
        part = X[members] - home
        sizes[:, c] = w.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.nan_to_num((w @ part) / sizes[:, c, None])  # B x d, in the frame
        square = shift @ part.T  # |part - shift|^2 expanded, worked in place
        square *= -2.0
        square += (part**2).sum(axis=1)[None, :]
        square += (shift**2).sum(axis=1)[:, None]
        np.maximum(square, 0.0, out=square)
        if root:
            np.sqrt(square, out=square)
        square *= w
        spread[:, c] = square.sum(axis=1)
        centres[:, c] = shift + home
    return sizes, centres, spread


def _r_calinski_harabasz(y: np.ndarray, p: Prediction, k_: int, rows: np.ndarray) -> np.ndarray:
    n = rows.shape[1]
    sizes, centres, spread = _spread(y, p, rows, root=False)
    n_labels = (sizes > 0).sum(axis=1)
    mean = (sizes[:, :, None] * centres).sum(axis=1) / n
    extra = (sizes * ((centres - mean[:, None, :]) ** 2).sum(axis=2)).sum(axis=1)
    intra = spread.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ch = np.where(intra == 0.0, 1.0, extra * (n - n_labels) / (intra * (n_labels - 1.0)))
    return np.where((n_labels < 2) | (n_labels >= n), 0.0, ch)


def _r_davies_bouldin(y: np.ndarray, p: Prediction, k_: int, rows: np.ndarray) -> np.ndarray:
    n = rows.shape[1]
    sizes, centres, spread = _spread(y, p, rows, root=True)
    present = sizes > 0
    n_labels = present.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        intra = np.where(present, spread / sizes, 0.0)
    apart = np.sqrt(((centres[:, :, None, :] - centres[:, None, :, :]) ** 2).sum(axis=3))
    both = present[:, :, None] & present[:, None, :]
    all_intra_zero = np.where(present, np.isclose(intra, 0.0), True).all(axis=1)
    all_apart_zero = np.where(both, np.isclose(apart, 0.0), True).all(axis=(1, 2))
    apart = np.where(both & (apart > 0), apart, np.inf)
    ratio = np.where(both, (intra[:, :, None] + intra[:, None, :]) / apart, -np.inf)
    worst = np.where(present, ratio.max(axis=2), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        db = np.where(all_intra_zero | all_apart_zero, 0.0, worst.sum(axis=1) / n_labels)
    return np.where((n_labels < 2) | (n_labels >= n), np.inf, db)


def _tables(y: np.ndarray, p: Prediction, rows: np.ndarray) -> np.ndarray:
    """Per resample: the (known group x cluster) counts of the drawn rows with a known group."""
    groups = np.asarray(y).astype(np.int64).ravel()
    clusters, k = _clusters(p)
    g = int(groups.max(initial=-1)) + 1
    cell = np.where(groups >= 0, groups * max(k, 1) + clusters, g * max(k, 1))  # unknown: last
    drawn = _counts(cell[rows], g * max(k, 1) + 1)[:, :-1]
    return drawn.reshape(len(rows), g, max(k, 1)).astype(float)


def _ari_of(table: np.ndarray) -> np.ndarray:
    """scikit-learn's pair-confusion form (in floats: 100k rows overflow 64-bit integers)."""
    n = table.sum(axis=(1, 2))
    n_c, n_k = table.sum(axis=2), table.sum(axis=1)
    squares = (table**2).sum(axis=(1, 2))
    tp = squares - n
    fp = np.einsum("bgk,bk->b", table, n_k) - squares
    fn = np.einsum("bgk,bg->b", table, n_c) - squares
    tn = n**2 - fp - fn - squares
    with np.errstate(divide="ignore", invalid="ignore"):
        ari = 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))
    ari = np.where((fn == 0) & (fp == 0), 1.0, ari)
    return np.where(n == 0, -0.5, ari)


def _entropy(counts: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        share = counts / n[:, None]
        return -np.where(counts > 0, share * np.log(np.where(counts > 0, share, 1.0)), 0.0).sum(
            axis=1
        )


def _nmi_of(table: np.ndarray) -> np.ndarray:
    """Arithmetic-mean normalisation, scikit-learn's default and its limit cases."""
    n = table.sum(axis=(1, 2))
    a, b = table.sum(axis=2), table.sum(axis=1)
    classes, clusters = (a > 0).sum(axis=1), (b > 0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        outer = a[:, :, None] * b[:, None, :]
        terms = np.where(
            table > 0,
            table / n[:, None, None] * np.log(np.where(table > 0, table, 1.0) * n[:, None, None]
                                               / np.where(outer > 0, outer, 1.0)),
            0.0,
        )  # fmt: skip
    terms = np.where(np.abs(terms) < np.finfo(float).eps, 0.0, terms)
    mi = np.clip(terms.sum(axis=(1, 2)), 0.0, None)
    mi = np.where((classes == 1) | (clusters == 1), 0.0, mi)
    normalizer = np.maximum((_entropy(a, n) + _entropy(b, n)) / 2, np.finfo(float).eps)
    nmi = np.where(mi == 0, 0.0, mi / normalizer)
    nmi = np.where((classes == clusters) & (classes <= 1), 1.0, nmi)
    return np.where(n == 0, 0.0, nmi)


def _r_adjusted_rand(y: np.ndarray, p: Prediction, k_: int, rows: np.ndarray) -> np.ndarray:
    return _ari_of(_tables(y, p, rows))


def _r_nmi(y: np.ndarray, p: Prediction, k_: int, rows: np.ndarray) -> np.ndarray:
    return _nmi_of(_tables(y, p, rows))


TABLE_SCORES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "adjusted_rand": _ari_of,
    "nmi": _nmi_of,
}
TABLE_CELLS = 4_000_000  # table cells held at once by ``leave_one_out``


def leave_one_out(name: str, y: np.ndarray, p: Prediction) -> tuple[float, np.ndarray, np.ndarray]:
    """For a score of the (known group x cluster) table (``TABLE_SCORES``): the score, and,
    for each cell holding rows, the score without one of its rows and how many rows it
    holds (rows leaving the same cell leave the same table: one score per cell, not row)."""
    score_of = TABLE_SCORES[name]
    table = _tables(y, p, np.arange(len(np.asarray(y).ravel()))[None, :])[0]
    cells = np.argwhere(table > 0)
    step = max(1, TABLE_CELLS // max(table.size, 1))
    without = []
    for start in range(0, len(cells), step):
        part = cells[start : start + step]
        tables = np.repeat(table[None], len(part), axis=0)
        tables[np.arange(len(part)), part[:, 0], part[:, 1]] -= 1
        without.append(score_of(tables))
    left = np.concatenate(without) if without else np.zeros(0)
    return float(score_of(table[None])[0]), left, table[cells[:, 0], cells[:, 1]]


Batch = Callable[[np.ndarray, Prediction, int, np.ndarray], np.ndarray]
CLUSTER_RESAMPLED: dict[str, Batch] = {
    "calinski_harabasz": _r_calinski_harabasz,
    "davies_bouldin": _r_davies_bouldin,
    "adjusted_rand": _r_adjusted_rand,
    "nmi": _r_nmi,
}
