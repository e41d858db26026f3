"""Which way a metric improves, and whether a score meets a threshold: shared by the suite
(thresholds) and the systems (their searches), below both so neither imports the other."""

from __future__ import annotations

import math

__all__ = ["LOWER_IS_BETTER", "higher_is_better", "meets"]

LOWER_IS_BETTER = {"rmse", "mae", "log_loss"}


def higher_is_better(metric: str) -> bool:
    """True for scores where more is better (accuracy, r2), False for errors (rmse)."""
    return metric not in LOWER_IS_BETTER


def meets(metric: str, value: float | None, threshold: float | None) -> bool:
    """``value`` is finite and on the good side of ``threshold`` in ``metric``'s direction."""
    if value is None or threshold is None or not math.isfinite(value):
        return False
    return value >= threshold if higher_is_better(metric) else value <= threshold
