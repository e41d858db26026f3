"""Per-row contributions of any model: Shapley values estimated by sampling permutations.

For one row ``x``, a background row ``b`` (drawn from the data given) and an order of the
input columns, the columns are switched one by one from ``b``'s values to ``x``'s; each
column is credited with the change in the model's score its switch made (Strumbelj and
Kononenko 2014; the "interventional" Shapley value that SHAP's samplers estimate). Each
order is used with its reverse (antithetic pairs: the variance falls, the cost does not
rise), and pair k starts from background row k for every explained row, so every row has
the same expected value (the mean score of the background rows). Over one pass the credits
telescope to ``f(x) - f(b)``, so the averaged credits plus that expected value add up to
``f(x)`` exactly, as exact contributions do; only how the total is shared is estimated.

SHAP is not a dependency (it would add numba and llvmlite for one sampler); this sampler
needs only the model's predictions on a few thousand built rows per explained row.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = ["sampled_contributions", "DEFAULT_ORDERS"]

DEFAULT_ORDERS = 64  # column orders per row: 32 antithetic pairs, one per background row
ROWS_PER_BATCH = 20000  # built rows predicted in one call, at most


def _ranks(rng: np.random.Generator, orders: int, groups: int) -> np.ndarray:
    """(orders, groups): each order's position of each column; order 2k+1 reverses 2k."""
    half = np.array([rng.permutation(groups) for _ in range((orders + 1) // 2)])
    perms = np.empty((2 * len(half), groups), dtype=int)
    perms[0::2], perms[1::2] = half, half[:, ::-1]
    return np.argsort(perms[:orders], axis=1)


def _built_rows(
    X: pd.DataFrame, background: pd.DataFrame, picks: np.ndarray, on: np.ndarray, owner: list[int]
) -> pd.DataFrame:
    """Built rows, ``on.shape[1]`` per row of ``X``: the prepared column j of a built row is
    its explained row's where ``on[:, owner[j]]``, else the picked background row's."""
    per_row = len(on) // len(X)
    out = {}
    for j, name in enumerate(X.columns):
        mine = np.repeat(X[name].to_numpy(), per_row)
        theirs = background[name].to_numpy()[picks]
        out[name] = np.where(on[:, owner[j]], mine, theirs)
    return pd.DataFrame(out).astype(X.dtypes.to_dict())


def _plan(
    rng: np.random.Generator, rows: int, orders: int, groups: int, n_background: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of ``rows`` rows: its orders' ranks (rows, orders, groups), which column
    holds the row's value at each step (rows * orders * (groups + 1), groups) and the
    background row of each built row."""
    ranks = np.stack([_ranks(rng, orders, groups) for _ in range(rows)])
    pairs = np.arange((orders + 1) // 2) % n_background  # pair k starts from background row k
    chosen = np.tile(pairs.repeat(2), (rows, 1))
    steps = np.arange(groups + 1)
    on = ranks[:, :, None, :] < steps[None, None, :, None]  # (rows, orders, step, groups)
    picks = np.repeat(chosen[:, :orders].ravel(), groups + 1)
    return ranks, on.reshape(-1, groups), picks


def _credits(values: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Each column's mean gain over the orders, from the scores ``values`` (orders, step)."""
    orders, groups = ranks.shape
    gains = np.diff(values, axis=1)  # the gain of the column switched in at each step
    credit = np.zeros(groups)
    np.add.at(credit, np.argsort(ranks, axis=1).ravel(), gains.ravel())
    return credit / orders


def sampled_contributions(  # noqa: PLR0913 -- the rows, their background, and the sampler's two knobs
    score: Callable[[pd.DataFrame, np.ndarray], np.ndarray],
    X: pd.DataFrame,
    background: pd.DataFrame,
    owner: list[int],
    *,
    orders: int = DEFAULT_ORDERS,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Estimated contributions of each input column to ``score`` for each row of ``X``.

    ``score(rows, which)`` is the model's score of each built row (``which[k]`` is the
    position in ``X`` of the explained row built row k comes from, to pick that row's
    class); ``owner[j]`` is the input column (0, 1, ...) prepared column ``j`` belongs to:
    the parts of one input move together. Returns ``(contributions, expected)``, shaped
    (rows, inputs) and (rows,): ``expected + contributions.sum(axis=1)`` equals the score
    of each row itself, exactly.
    """
    rng = np.random.default_rng(seed)
    groups = max(owner) + 1
    per_row = orders * (groups + 1)
    batch = max(1, ROWS_PER_BATCH // per_row)
    contributions = np.zeros((len(X), groups))
    expected = np.zeros(len(X))
    for start in range(0, len(X), batch):
        chunk = X.iloc[start : start + batch]
        ranks, on, picks = _plan(rng, len(chunk), orders, groups, len(background))
        which = np.repeat(np.arange(start, start + len(chunk)), per_row)
        values = score(_built_rows(chunk, background, picks, on, owner), which)
        values = np.asarray(values, dtype=float).reshape(len(chunk), orders, groups + 1)
        for k in range(len(chunk)):
            contributions[start + k] = _credits(values[k], ranks[k])
            expected[start + k] = values[k, :, 0].mean()
    return contributions, expected
