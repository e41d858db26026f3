"""Error functions of values: rmse and mae (lower is better) and r2 (higher).

``y`` holds the target values; a :class:`Prediction`'s ``values`` the predicted ones. Each
has a batch form over bootstrap resamples, equal to the scorer on every resample.
"""

from __future__ import annotations

import numpy as np

from learnloop.core import Output
from learnloop.metrics._base import INF, Metric, Prediction

__all__ = ["VALUE_METRICS"]


def _rmse(y: np.ndarray, p: Prediction, k: int) -> float:
    return float(np.sqrt(np.mean((np.asarray(p.values, float) - y) ** 2)))


def _mae(y: np.ndarray, p: Prediction, k: int) -> float:
    return float(np.mean(np.abs(np.asarray(p.values, float) - y)))


def _r2(y: np.ndarray, p: Prediction, k: int) -> float:
    y = np.asarray(y, float)
    ss_res = float(np.sum((y - np.asarray(p.values, float)) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else 0.0
    return 1.0 - ss_res / ss_tot


def _r_rmse(y: np.ndarray, p: Prediction, k: int, rows: np.ndarray) -> np.ndarray:
    return np.sqrt(((np.asarray(p.values, float) - y) ** 2)[rows].mean(axis=1))


def _r_mae(y: np.ndarray, p: Prediction, k: int, rows: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(p.values, float) - y)[rows].mean(axis=1)


def _r_r2(y: np.ndarray, p: Prediction, k: int, rows: np.ndarray) -> np.ndarray:
    y = np.asarray(y, float)
    ss_res = ((y - np.asarray(p.values, float)) ** 2)[rows].sum(axis=1)
    drawn = y[rows]
    ss_tot = ((drawn - drawn.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - ss_res / np.where(ss_tot == 0.0, 1.0, ss_tot)
    return np.where(ss_tot == 0.0, np.where(ss_res == 0.0, 1.0, 0.0), r2)


_V = Output.VALUES
VALUE_METRICS: list[Metric] = [
    Metric("rmse", _V, False, 0.0, INF, False, False, _rmse, resampled=_r_rmse),
    Metric("mae", _V, False, 0.0, INF, False, False, _mae, resampled=_r_mae),
    Metric("r2", _V, True, -INF, 1.0, False, False, _r2, resampled=_r_r2),
]
