"""A confidence sequence for a bounded mean: a bound that may be looked at after every label.

A fixed-sample bound checked after each of many labels raises false alarms far more often
than its level says (each look is another chance). A confidence sequence is a bound
``(low_t, high_t)`` for every ``t`` at once: the chance that the true mean ever leaves it,
over the whole stream, is at most ``1 - confidence`` (Ville's inequality). Watching it
continuously is therefore as honest as one look.

The sequence is Waudby-Smith & Ramdas (2023, JRSS-B, "Estimating means of bounded random
variables by betting"), Theorem 2: the *predictable plug-in empirical Bernstein* (PrPl-EB)
confidence sequence, for observations in ``[0, 1]`` with a common conditional mean. It is
closed form (cumulative sums), adapts to the variance (tight for accuracies near 1), and is
what their ``confseq`` package computes as ``betting.empirical_bernstein_cs``. That package
builds from source only with Boost and CMake, so it is written here (about 30 lines).

Each bound returned is one-sided at ``confidence`` (``log(1/alpha)``), so the alarm side
(the upper bound of an accuracy, the lower bound of an error) keeps its promise alone; the
pair is a two-sided sequence at ``2 * confidence - 1``. The running intersection (the
tightest bound so far) is as valid as the sequence and never widens again.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mean_sequence", "running_bounds"]

_LAMBDA_CAP = 0.5  # the paper's c: bets never exceed half the capital's range


def mean_sequence(
    values: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The estimate and one-sided bounds at ``confidence`` of the mean of ``values`` (each
    in [0, 1]) after each of them: three arrays of ``len(values)`` (estimate, low, high).

    ``low[t]`` and ``high[t]`` hold, with probability ``confidence`` each, for every ``t``
    at once (Waudby-Smith & Ramdas 2023, Theorem 2, with ``log(1/alpha)`` per side).
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError("values must be one-dimensional.")
    if x.size and (np.nanmin(x) < 0.0 or np.nanmax(x) > 1.0 or np.isnan(x).any()):
        raise ValueError("values must lie in [0, 1] (scale a bounded quantity first).")
    if not 0.5 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0.5 and 1; got {confidence}.")
    n = x.size
    if n == 0:
        empty = np.empty(0)
        return empty, empty, empty
    alpha = 1.0 - confidence
    t = np.arange(1, n + 1, dtype=float)
    # predictable plug-ins: the estimate and variance of the first t - 1 values, with a
    # prior of one observation at 1/2 (mean) and 1/4 (variance), as in the paper
    mu_hat = (0.5 + np.cumsum(x)) / (t + 1)
    mu_prev = np.concatenate(([0.5], mu_hat[:-1]))
    sq = (x - mu_prev) ** 2
    var_hat = (0.25 + np.cumsum((x - mu_hat) ** 2)) / (t + 1)
    var_prev = np.concatenate(([0.25], var_hat[:-1]))
    lam = np.minimum(np.sqrt(2 * np.log(1 / alpha) / (var_prev * t * np.log1p(t))), _LAMBDA_CAP)
    psi = (-np.log1p(-lam) - lam) / 4.0  # psi_E(lambda) of the paper
    weights = np.cumsum(lam)
    centre = np.cumsum(lam * x) / weights
    margin = (np.log(1 / alpha) + np.cumsum(4.0 * sq * psi)) / weights
    low = np.clip(centre - margin, 0.0, 1.0)
    high = np.clip(centre + margin, 0.0, 1.0)
    estimate = np.cumsum(x) / t
    return estimate, low, high


def running_bounds(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The running intersection of a confidence sequence: the highest low and the lowest
    high so far (valid wherever the sequence is, and never wider than before)."""
    return np.maximum.accumulate(low), np.minimum.accumulate(high)
