"""A generator of shop events (views, carts, purchases) with a known structure, for tests.

Every item belongs to one of ``n_groups`` groups; every user has a favourite group and
draws most of their events from it (the rest from the whole shop, by popularity). Within a
group, items are drawn by a skewed popularity. So a model that learns who likes which group
beats the most popular items, by a margin the tests can count on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["shop_events"]


def shop_events(
    n_users: int = 300,
    n_items: int = 120,
    n_groups: int = 6,
    events: tuple[int, int] = (8, 30),
    loyalty: float = 0.85,
    seed: int = 0,
) -> pd.DataFrame:
    """Columns ``user`` (text ids), ``item`` (integers), ``event``, ``time`` (ISO strings)."""
    rng = np.random.default_rng(seed)
    group = np.arange(n_items) % n_groups
    popularity = 1.0 / (rng.permutation(n_items) + 5.0)
    overall = popularity / popularity.sum()
    start = pd.Timestamp("2024-01-01")
    rows: list[tuple[str, int, str, pd.Timestamp]] = []
    for u in range(n_users):
        favourite = int(rng.integers(n_groups))
        mine = np.flatnonzero(group == favourite)
        p_mine = popularity[mine] / popularity[mine].sum()
        n = int(rng.integers(events[0], events[1] + 1))
        when = start + pd.Timedelta(seconds=int(rng.integers(0, 30 * 86400)))
        for _ in range(n):
            if rng.random() < loyalty:
                item = int(rng.choice(mine, p=p_mine))
            else:
                item = int(rng.choice(n_items, p=overall))
            kind = rng.choice(["view", "cart", "purchase"], p=[0.7, 0.2, 0.1])
            when = when + pd.Timedelta(seconds=int(rng.integers(60, 86400)))
            rows.append((f"u{u:04d}", item, str(kind), when))
    frame = pd.DataFrame(rows, columns=["user", "item", "event", "time"])
    frame["time"] = frame["time"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
