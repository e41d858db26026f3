"""Events read as interactions, and each evaluated user's latest ones held out.

The reading and splitting half of the recommendation task (see its module for the policy):
``--event`` kinds become weights, ``--weight`` multiplies them, ``like_threshold`` turns
ratings into likes; ids are kept as the data spells them (``00173`` stays text).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from learnloop.estimators import has_leading_zeros, id_keys, item_values
from learnloop.exceptions import DataError, UsageError
from learnloop.tasks._base import Part

__all__ = [
    "DEFAULT_EVENT_WEIGHTS",
    "HOLDOUT_SHARE",
    "MIN_USER_EVENTS",
    "OPTION_NAMES",
    "hold_out",
    "id_kind",
    "id_spelling",
    "item_value",
    "parse_event_weights",
    "read_interactions",
    "user_value",
    "whole",
]

MIN_USER_EVENTS = 5  # fewer interactions: the user stays in training only
HOLDOUT_SHARE = 0.2  # of each evaluated user's interactions (latest first), at least one
WEIGHT_COLUMN = "__weight__"

# A purchase says more than a cart, a cart more than a like, a like more than a view.
DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "click": 1.0,
    "pageview": 1.0,
    "detail": 1.0,
    "like": 2.0,
    "favorite": 2.0,
    "wishlist": 2.0,
    "rating": 2.0,
    "cart": 3.0,
    "addtocart": 3.0,
    "add_to_cart": 3.0,
    "purchase": 5.0,
    "buy": 5.0,
    "order": 5.0,
    "transaction": 5.0,
}
OPTION_NAMES = ("user", "item", "time", "event", "weight", "event_weights", "like_threshold")


def parse_event_weights(value: str | dict[str, float] | None) -> dict[str, float]:
    """``view=1,cart=3,purchase=5`` (or a dict) over the defaults; UsageError if malformed."""
    weights = dict(DEFAULT_EVENT_WEIGHTS)
    if value is None:
        return weights
    items: list[tuple[str, Any]]
    if isinstance(value, dict):
        items = list(value.items())
    else:
        items = []
        for part in str(value).split(","):
            if not part.strip():
                continue
            name, sep, number = part.partition("=")
            if not sep:
                raise UsageError(
                    f"The event weight '{part.strip()}' has no '='; write e.g. "
                    "--event-weights view=1,cart=3,purchase=5."
                )
            items.append((name, number))
    for name, number in items:
        try:
            w = float(number)
        except (TypeError, ValueError):
            w = math.nan
        if not math.isfinite(w) or w < 0:
            raise UsageError(
                f"The weight of the event '{str(name).strip()}' must be a number >= 0; "
                f"got {number!r}."
            )
        weights[str(name).strip().lower()] = w
    return weights


def read_interactions(frame: pd.DataFrame, o: dict[str, Any]) -> tuple[pd.DataFrame, int]:
    """The usable interactions (user key, item id, weight, time) of ``frame`` read with the
    schema's options ``o``, and how many rows were left out."""
    out = pd.DataFrame(index=frame.index)
    keep = frame[o["user"]].notna().to_numpy() & frame[o["item"]].notna().to_numpy()
    weight = np.ones(len(frame))
    if o.get("event"):
        spelled = frame[o["event"]].astype(str).str.strip()
        kinds = spelled.str.lower()
        known = o["event_weights"]
        present = frame[o["event"]].notna()
        unknown = sorted(set(kinds[present]) - set(known))
        if unknown:
            first = spelled[present & (kinds == unknown[0])].iloc[0]  # as the data spells it
            raise UsageError(
                f"The event kind '{first}' in '{o['event']}' has no weight; give one "
                f"with --event-weights {first}=1 (known: {', '.join(sorted(known))})."
            )
        weight = weight * kinds.map(known).fillna(0.0).to_numpy(dtype=float)
    if o.get("weight"):
        w = pd.to_numeric(frame[o["weight"]], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(w[np.isfinite(w) | keep]).any():
            raise DataError(f"The weight column '{o['weight']}' holds no numbers.")
        if o.get("like_threshold") is not None:
            w = np.where(w >= o["like_threshold"], 1.0, 0.0)
        weight = weight * w
    keep &= np.isfinite(weight) & (weight > 0)
    if o.get("time"):
        out["time"] = times(frame[o["time"]], o["time"])
        keep &= out["time"].notna().to_numpy()
    out["weight"] = weight
    table = out[keep].reset_index(drop=True)
    kept = frame[keep]  # ids are read from present values only (no NaN turns ints to text)
    table["user"] = id_keys(kept[o["user"]].to_numpy())
    table["item"] = item_values(kept[o["item"]].to_numpy())
    if len(table) == 0:
        like = o.get("like_threshold")
        if like is not None and o.get("weight"):
            rated = pd.to_numeric(frame[o["weight"]], errors="coerce")
            raise DataError(
                f"--like-threshold {like:g} left out every rating of '{o['weight']}' (the "
                f"highest is {rated.max():g}); choose a threshold the ratings reach."
            )
        raise DataError("No usable interaction is left (every row lacks a user, item or weight).")
    return table, int(len(frame) - len(table))


def hold_out(
    table: pd.DataFrame, dropped: int, o: dict[str, Any], seed: int
) -> tuple[dict[str, Part], list[str]]:
    """Each evaluated user's latest (or random) interactions of ``table`` held out: the
    ``train``, ``validation`` and ``test`` parts, and sentences for the run to say."""
    rng = np.random.default_rng(seed)
    table["tie"] = rng.random(len(table))
    by_time = "time" in table.columns
    table = table.sort_values(["user", "time", "tie"] if by_time else ["user", "tie"])
    table = table.reset_index(drop=True)
    position = table.groupby("user", sort=False).cumcount().to_numpy()
    count = table.groupby("user", sort=False)["item"].transform("size").to_numpy()
    n_hold = np.maximum(1, np.round(HOLDOUT_SHARE * count)).astype(int)
    eligible = count >= MIN_USER_EVENTS
    held = eligible & (position >= count - n_hold)
    train = table[~held]
    seen = set(zip(train["user"], train["item"], strict=True))
    targets: dict[str, list[Any]] = {}
    for user, item in zip(table["user"][held], table["item"][held], strict=True):
        if (user, item) not in seen:
            targets.setdefault(user, []).append(item)
    evaluated = np.array(sorted(targets), dtype=str)
    if len(evaluated) < 2:
        raise DataError(
            f"Only {len(evaluated)} user{'' if len(evaluated) == 1 else 's'} "
            f"{'has' if len(evaluated) == 1 else 'have'} at least {MIN_USER_EVENTS} "
            "interactions with new items to hold out; recommending needs at least two such "
            "users."
        )
    back = held & ~np.isin(table["user"].to_numpy(), evaluated)
    train = table[~held | back]  # held-out rows of users not evaluated go back to training
    order = rng.permutation(evaluated)
    n_test = (len(order) + 1) // 2
    groups = {"test": np.sort(order[:n_test]), "validation": np.sort(order[n_test:])}
    train_X = pd.DataFrame(
        {
            o["user"]: train["user"].to_numpy(),
            o["item"]: train["item"].to_numpy(),
            WEIGHT_COLUMN: train["weight"].to_numpy(dtype=float),
        }
    )
    parts = {"train": Part(train_X, pd.factorize(train_X[o["user"]])[0])}
    for name, users in groups.items():
        y = np.empty(len(users), dtype=object)
        y[:] = [np.unique(np.asarray(targets[u])) for u in users]
        parts[name] = Part(pd.DataFrame({o["user"]: users}), y)
    n_users = table["user"].nunique()
    few = int(n_users - eligible_users(table, eligible))
    how = f"latest (by '{o['time']}')" if by_time else "random"
    notes = [
        f"{len(table)} interactions of {n_users} users and {table['item'].nunique()} items; "
        f"each evaluated user's {how} {HOLDOUT_SHARE:.0%} of interactions held out: "
        f"{len(groups['validation'])} validation users, {len(groups['test'])} test users.",
    ]
    if few:
        notes.append(
            f"{few} users with fewer than {MIN_USER_EVENTS} interactions stay in training only."
        )
    if dropped:
        notes.append(f"{dropped} rows without a user, item, time or positive weight were left out.")
    return parts, notes


def eligible_users(table: pd.DataFrame, eligible: np.ndarray) -> int:
    return int(table["user"][eligible].nunique())


def id_spelling(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``frame`` with each id column read as text turned into numbers unless some id is
    spelled with a leading zero or is not a number."""
    for c in columns:
        if c not in frame.columns or pd.api.types.is_numeric_dtype(frame[c]):
            continue
        present = frame[c].dropna()
        if has_leading_zeros(present.to_numpy()):
            continue
        numbers = pd.to_numeric(present, errors="coerce")
        if numbers.notna().all():
            frame[c] = pd.to_numeric(frame[c])
    return frame


def id_kind(col: pd.Series) -> str:
    values = item_values(col.dropna().to_numpy())
    return "integer" if values.dtype.kind in "iu" else "text"


def whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return None


def times(col: pd.Series, name: str) -> pd.Series:
    """Times as numbers for ordering; DataError naming the first value that does not parse."""
    if pd.api.types.is_bool_dtype(col):
        raise DataError(f"The time column '{name}' holds true/false values, not times.")
    if pd.api.types.is_numeric_dtype(col):
        return col.astype(float)
    if pd.api.types.is_datetime64_any_dtype(col):
        stamps = col
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stamps = pd.to_datetime(col, errors="coerce", format="mixed", utc=True)
    bad = stamps.isna() & col.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"The time column '{name}' does not parse as dates or numbers: row {row} holds "
            f"{col.iloc[row]!r}."
        )
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert(None)
    values = stamps.astype("datetime64[ns]").astype("int64").astype(float)
    return values.where(stamps.notna())


def user_value(key: str, o: dict[str, Any]) -> Any:
    """A user id as the training data spells it: a whole number where the users were whole
    numbers and the key is one (a new user given as text stays text)."""
    if o.get("user_kind") == "integer":
        number = whole(key)
        return key if number is None else number
    return key


def item_value(item: Any, o: dict[str, Any]) -> Any:
    """An item id as the training data spells it (a whole number or text)."""
    if o.get("item_kind") == "integer":
        return whole(item)
    return str(item)
