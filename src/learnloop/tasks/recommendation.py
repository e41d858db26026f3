"""Interactions (views, carts, purchases, likes, ratings): rank items for users.

**Rows.** The training part's rows are interactions: a frame of user, item and weight. The
validation and test parts have one row per *evaluated user* (a frame of the user column);
their ``y`` is an object array holding each user's held-out items. A prediction is each
user's top-k items (a users x k array of item ids, best first), and a ranking metric
averages a per-user value, so the certificate's bootstrap over test rows is a bootstrap
over test users.

**Split.** With a time column each evaluated user's latest interactions are held out
(``HOLDOUT_SHARE`` of them, at least one), so nothing held out is earlier than that user's
training interactions; without one a random share of each user's interactions is held out.
Evaluated users are split at random between validation and test, so the two never share a
user or an interaction. Users with fewer than ``MIN_USER_EVENTS`` interactions stay in
training only. Held-out items the user already had in training are not counted (a ranking
leaves seen items out, so they could never be hit).

**Weights.** ``--event`` kinds map to weights (:data:`DEFAULT_EVENT_WEIGHTS`, overridable);
``--weight`` multiplies them; ``like_threshold`` turns ratings into likes (rows below it are
left out, the rest weigh 1).

**Default metric.** ndcg@10: it rewards putting held-out items near the top of a ten-item
list (the part a person reads), it is defined for every user with a held-out item, and it
is smooth enough to tell close models apart, where hit_rate@10 is all-or-nothing.

**Baseline.** The most popular items (by training weight), the same list for every user.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from learnloop.core import Output, Prediction
from learnloop.data import ColumnSpec, Schema, check_column
from learnloop.estimators import (
    InteractionEncoder,
    Recommender,
    has_leading_zeros,
    id_keys,
    item_values,
)
from learnloop.exceptions import DataError, UsageError
from learnloop.metrics import Metric, ranking_per_user
from learnloop.tasks._base import Answer, Part, Task

__all__ = [
    "Recommendation",
    "DEFAULT_EVENT_WEIGHTS",
    "MIN_USER_EVENTS",
    "HOLDOUT_SHARE",
    "parse_event_weights",
    "recommender_of",
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


@dataclass
class RankingAnswer(Answer):
    """Each user's items, with the user column as given and whether training knew the user."""

    columns: dict[str, list[Any]] = field(default_factory=dict)


def recommender_of(model: Any) -> Recommendation:
    """The recommendation task of a loaded model; UsageError if it is not a recommender."""
    task = model.task_kind
    if not isinstance(task, Recommendation):
        raise UsageError(
            f"The model is {a_or_an(model.task)} {model.task} model, not a recommender; train "
            "one with "
            "--task recommendation --user COL --item COL."
        )
    return task


class Recommendation(Task):
    """Items ranked for users from their interactions; scored per held-out user."""

    name = "recommendation"
    output = Output.RANKINGS
    feature_kinds = ("interactions",)
    supervised = False
    default_metric = "ndcg@10"
    held_out = "users"
    # a sample of users leaves most validation users cold (scored by popularity), which
    # hides the differences between models: only very large tables train on samples
    min_sample_rows = 1_000_000
    portfolio_order = (
        ("popularity", 0),
        ("item_knn", 0),
        ("als", 0),
        ("bpr", 0),
        ("item_knn", 1),
        ("als", 1),
        ("bpr", 1),
        ("als", 2),
        ("item_knn", 2),
    )

    def claims_source(self, data: Any, options: dict[str, Any] | None) -> bool:
        """Events named by ``--user`` and ``--item``."""
        return options is not None and all(options.get(r) is not None for r in ("user", "item"))

    # ------------------------------------------------------------------ schema
    def read_data(
        self, data: Any, target: str | None, options: dict[str, Any] | None = None
    ) -> tuple[pd.DataFrame, str | None]:
        """The events, with the user and item columns read as text and kept so where any
        id is spelled with a leading zero (``00173``); else as numbers, as before."""
        from learnloop.data import load_table

        opts = options or {}
        ids = [str(opts[r]) for r in ("user", "item") if opts.get(r) is not None]
        return _id_spelling(load_table(data, ids), ids), target

    def read_inputs(self, data: Any, schema: Schema) -> pd.DataFrame:
        """Users to recommend for: a table with the user column (read as the model reads it)."""
        from learnloop.data import load_table

        user = schema.options["user"]
        return _id_spelling(load_table(data, [user]), [user])

    def read_schema(self, frame: pd.DataFrame, target: str | None, labels: str | None) -> Schema:
        return self.read(frame, target, labels, None)

    def check_options(self, target: str | None, labels: str | None) -> None:
        if target is not None:
            raise UsageError(
                "Recommendation learns from interactions without a target column; drop "
                "--target and name the columns with --user and --item."
            )
        if labels is not None:
            raise UsageError("--labels is for clustering; recommendation does not take it.")

    def read(
        self,
        frame: pd.DataFrame,
        target: str | None,
        labels: str | None,
        options: dict[str, Any] | None = None,
    ) -> Schema:
        self.check_options(target, labels)
        opts = {k: v for k, v in (options or {}).items() if v is not None}
        unknown = sorted(set(opts) - set(OPTION_NAMES))
        if unknown:
            raise UsageError(f"Recommendation does not take the option '{unknown[0]}'.")
        user, item = opts.get("user"), opts.get("item")
        if user is None or item is None:
            raise UsageError(
                "Recommendation needs the columns of who interacted with what: "
                "--user COL and --item COL."
            )
        if user == item:
            raise UsageError(f"--user and --item name the same column '{user}'.")
        for role in ("user", "item", "time", "event", "weight"):
            if role in opts:
                check_column(frame, str(opts[role]), role)
        weights = parse_event_weights(opts.get("event_weights"))
        like = opts.get("like_threshold")
        if like is not None and "weight" not in opts:
            raise UsageError("--like-threshold turns ratings into likes; name them with --weight.")
        schema = Schema(
            None,
            self.name,
            [ColumnSpec(str(user), "categorical", str(frame[user].dtype))],
            {},
            options={
                "user": str(user),
                "item": str(item),
                "time": opts.get("time"),
                "event": opts.get("event"),
                "weight": opts.get("weight"),
                "event_weights": weights,
                "like_threshold": None if like is None else float(like),
                "user_kind": _id_kind(frame[user]),
                "item_kind": _id_kind(frame[item]),
                "k": 10,
            },
        )
        table, _ = self.interactions(frame, schema)
        if table["user"].nunique() < 2:
            raise DataError(
                f"The events have {table['user'].nunique()} user; recommending needs at least two."
            )
        if table["item"].nunique() < 2:
            raise DataError(
                f"The events have {table['item'].nunique()} item; recommending needs at least two."
            )
        return schema

    def choose_metric(self, name: str | None, schema: Schema) -> Metric:
        metric = self.metric(name or self.default_metric)
        schema.options["k"] = int(metric.k or 10)  # what a saved model's predict returns
        return metric

    def n_outputs(self, schema: Schema) -> int:
        """How many items each user's ranking holds (the metric's k)."""
        return int(schema.options.get("k", 10))

    # ---------------------------------------------------------------- examples
    def interactions(self, frame: pd.DataFrame, schema: Schema) -> tuple[pd.DataFrame, int]:
        """The usable interactions (user key, item id, weight, time) and rows left out."""
        o = schema.options
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
            out["time"] = _times(frame[o["time"]], o["time"])
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
            raise DataError(
                "No usable interaction is left (every row lacks a user, item or weight)."
            )
        return table, int(len(frame) - len(table))

    def encode(self, frame: pd.DataFrame, schema: Schema, where: str) -> np.ndarray:
        """Each row's user as a code (what a training sample is drawn by)."""
        return pd.factorize(id_keys(frame[schema.options["user"]].to_numpy()))[0]

    def split(
        self, frame: pd.DataFrame, schema: Schema, seed: int
    ) -> tuple[dict[str, Part], int, list[str]]:
        """Each evaluated user's latest (or random) interactions held out; see the module."""
        table, dropped = self.interactions(frame, schema)
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
        o = schema.options
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
            notes.append(
                f"{dropped} rows without a user, item, time or positive weight were left out."
            )
        return parts, dropped, notes

    def finish(self, parts: dict[str, Part], metric: Metric) -> dict[str, Part]:
        """The held-out parts remember their metric: outcomes keep its per-user values."""
        return {
            name: part if name == "train" else Part(part.X, part.y, metric.name)
            for name, part in parts.items()
        }

    def subsample(self, y: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        """About as many interactions as ``rows`` holds, drawn as whole users."""
        assert y is not None
        codes = np.asarray(y, dtype=np.int64)
        counts = np.bincount(codes)
        order = np.random.default_rng(len(rows)).permutation(np.flatnonzero(counts))
        take = int(np.searchsorted(np.cumsum(counts[order]), len(rows))) + 1
        return np.flatnonzero(np.isin(codes, order[:take]))

    # --------------------------------------------------------------- decisions
    def predict(self, estimator: Any, X: Any, n_outputs: int) -> Prediction:
        model, users = _model_and_users(estimator, X)
        return Prediction(model.predict(users, k=n_outputs or None))

    def answer(self, pipeline: Any, X: pd.DataFrame, schema: Schema) -> Answer:
        values = self.predict(pipeline, X, self.n_outputs(schema)).values
        user = schema.options["user"]
        known = pipeline.steps[0][1].user_index(X[user]) >= 0
        given = [_user_value(k, schema) for k in id_keys(X[user].to_numpy())]
        columns = {user: given, "known_user": known.tolist()}
        return RankingAnswer([[_plain(v) for v in row] for row in values], columns=columns)

    def answer_frame(self, answer: Answer, index: pd.Index) -> pd.DataFrame:
        """One row per input row: ``prediction`` (the items, best first, space-separated),
        the user as given, ``known_user`` (false: not in training, the popular items) and
        ``item_1``..``item_k``."""
        out = pd.DataFrame(index=index)
        out["prediction"] = [" ".join(str(v) for v in row) for row in answer.predictions]
        for name, values in getattr(answer, "columns", {}).items():
            out[name] = values
        width = max((len(r) for r in answer.predictions), default=0)
        for j in range(width):
            out[f"item_{j + 1}"] = [r[j] if j < len(r) else None for r in answer.predictions]
        return out

    # ---------------------------------------------------------------- baseline
    def baseline(self, X_train: pd.DataFrame, y_train: np.ndarray | None, seed: int) -> Any:
        """The most popular items (by training weight) for everyone."""
        pipeline = Pipeline(
            [("features", InteractionEncoder()), ("model", Recommender("popularity"))]
        )
        return pipeline.fit(X_train)

    # ---------------------------------------------------------------- outcomes
    def outcomes(self, test: Part, pred: Prediction) -> dict[str, Any]:
        """Per-user values of the run's metric, for ``runs compare`` to pair users up."""
        assert test.y is not None
        metric = self.metric(test.metric or self.default_metric)
        base = metric.name.partition("@")[0]
        scores = ranking_per_user(base, test.y, pred, int(metric.k or 10))
        return {
            "split": self.split_fingerprint(test),
            "kind": "scores",
            "y": [],
            "pred": [[_plain(v) for v in row] for row in np.asarray(pred.values)],
            "scores": [float(v) for v in scores],
        }

    def split_fingerprint(self, test: Part) -> str:
        from learnloop.data import fingerprint

        frame = test.X
        if test.y is not None:
            held = [" ".join(sorted(str(v) for v in row)) for row in test.y]
            frame = frame.assign(__held_out__=held)
        return fingerprint(frame)

    def report_sections(
        self, pipeline: Any, part: Part, schema: Schema, metric: Metric, seed: int
    ) -> list[Any]:
        """Per-user scores and the catalogue's coverage on the evaluated users."""
        from learnloop.tasks._report import recommendation_sections

        return recommendation_sections(self, pipeline, part, schema, metric, seed)

    # ---------------------------------------------------------- serving shapes
    def user_key(self, schema: Schema, user: Any) -> str:
        """The text key of a user id given on the command line or over HTTP.

        UsageError when the model's users are whole numbers and ``user`` is not one.
        """
        if isinstance(user, bool) or user is None:
            raise UsageError(f"The user must be an id like the ones in '{schema.options['user']}'.")
        if schema.options.get("user_kind") == "integer":
            number = _whole(user)
            if number is None:
                raise UsageError(
                    f"The model's users ('{schema.options['user']}') are whole numbers; "
                    f"{user!r} is not one."
                )
            return str(number)
        return str(id_keys([user])[0])

    def item_index(self, pipeline: Any, schema: Schema, item: Any) -> int:
        """The column of an item id; UsageError if the model never saw it."""
        encoder = pipeline.steps[0][1]
        if schema.options.get("item_kind") == "integer" and _whole(item) is None:
            raise UsageError(
                f"The model's items ('{schema.options['item']}') are whole numbers; "
                f"{item!r} is not one."
            )
        value = _whole(item) if schema.options.get("item_kind") == "integer" else str(item)
        index = int(encoder.item_index([value])[0])
        if index < 0:
            raise UsageError(f"The item {item!r} is not in the model's training data.")
        return index

    def recommend(
        self, pipeline: Any, schema: Schema, user: Any, k: int, include_seen: bool = False
    ) -> dict[str, Any]:
        """A user's top ``k`` items; an unknown user gets the popular items (and is told)."""
        _check_k(k)
        key = self.user_key(schema, user)
        encoder, model = pipeline.steps[0][1], pipeline.steps[-1][1]
        index = int(encoder.user_index([key])[0])
        top, scores = model.rank(np.array([index]), k, include_seen=include_seen)
        keep = np.isfinite(scores[0])
        items = [_plain(v) for v in model.items_[top[0][keep]]]
        body: dict[str, Any] = {
            "user": _user_value(key, schema),
            "known_user": index >= 0,
            "items": items,
            "scores": [float(s) for s in scores[0][keep]],
        }
        if index < 0:
            body["note"] = (
                f"The user {user!r} is not in the training data; these are the most popular items."
            )
        return body

    def similar(self, pipeline: Any, schema: Schema, item: Any, k: int) -> dict[str, Any]:
        """The ``k`` items most like ``item``."""
        _check_k(k)
        model = pipeline.steps[-1][1]
        idx, sims = model.similar_items(self.item_index(pipeline, schema, item), k)
        return {
            "item": _item_value(item, schema),
            "items": [_plain(v) for v in model.items_[idx]],
            "scores": [float(s) for s in sims],
        }

    def audience(self, pipeline: Any, schema: Schema, item: Any, k: int) -> dict[str, Any]:
        """The ``k`` users most likely to want ``item`` (users who had it left out)."""
        _check_k(k)
        encoder, model = pipeline.steps[0][1], pipeline.steps[-1][1]
        idx, scores = model.audience(self.item_index(pipeline, schema, item), k)
        users = [_user_value(u, schema) for u in encoder.users_[idx]]
        item_id = _item_value(item, schema)
        return {"item": item_id, "users": users, "scores": [float(s) for s in scores]}


def eligible_users(table: pd.DataFrame, eligible: np.ndarray) -> int:
    return int(table["user"][eligible].nunique())


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise UsageError(f"k must be a positive whole number of items; got {k!r}.")


def _model_and_users(estimator: Any, X: Any) -> tuple[Any, np.ndarray]:
    if isinstance(estimator, Pipeline):
        users = estimator[:-1].transform(X)
        return estimator.steps[-1][1], np.asarray(users)
    return estimator, np.asarray(X)


def a_or_an(word: str) -> str:
    """The article before ``word`` (an image, a faces)."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def _id_spelling(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
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


def _id_kind(col: pd.Series) -> str:
    values = item_values(col.dropna().to_numpy())
    return "integer" if values.dtype.kind in "iu" else "text"


def _whole(value: Any) -> int | None:
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


def _user_value(key: str, schema: Schema) -> Any:
    """A user id as the training data spells it: a whole number where the users were whole
    numbers and the key is one (a new user given as text stays text)."""
    if schema.options.get("user_kind") == "integer":
        number = _whole(key)
        return key if number is None else number
    return key


def _item_value(item: Any, schema: Schema) -> Any:
    if schema.options.get("item_kind") == "integer":
        return _whole(item)
    return str(item)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _times(col: pd.Series, name: str) -> pd.Series:
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
