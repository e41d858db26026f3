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

Reading events and holding out each user's latest ones live in ``tasks/_events.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from learnloop.core import Output, Prediction
from learnloop.data import ColumnSpec, Schema, check_column
from learnloop.estimators import InteractionEncoder, Recommender, id_keys
from learnloop.exceptions import DataError, UsageError
from learnloop.metrics import Metric, ranking_per_user
from learnloop.tasks._base import Answer, Part, Task
from learnloop.tasks._events import (
    DEFAULT_EVENT_WEIGHTS,
    HOLDOUT_SHARE,
    MIN_USER_EVENTS,
    OPTION_NAMES,
    hold_out,
    id_kind,
    id_spelling,
    item_value,
    parse_event_weights,
    read_interactions,
    user_value,
    whole,
)

__all__ = [
    "Recommendation",
    "DEFAULT_EVENT_WEIGHTS",
    "MIN_USER_EVENTS",
    "HOLDOUT_SHARE",
    "parse_event_weights",
    "recommender_of",
]


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
    # the final pick keeps EASE at Steck's lambda (the first guess) unless another model
    # beats it beyond the validation users' noise: 335 MovieLens users preferred lambda
    # ~100 by 1.04 paired standard errors, and the test users lambda 500
    # (bench/RECOMMEND_RESULTS.md)
    first_guess = ("ease", 0)
    # EASE and RP3beta first: closed-form or one-pass models that are cheap and strong on
    # sparse interactions (Dacrema et al. 2019); the factor models after them
    portfolio_order = (
        ("ease", 0),
        ("rp3beta", 0),
        ("popularity", 0),
        ("ease", 1),
        ("rp3beta", 1),
        ("ease", 2),
        ("rp3beta", 2),
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
        id is spelled with a leading zero (``00173``); else as numbers, as before. Training
        reads the events, so this is where a missing ``recommend`` extra (implicit) is said."""
        from learnloop.core.extras import require
        from learnloop.data import load_table

        require("implicit", "recommend", "Recommendation")

        opts = options or {}
        ids = [str(opts[r]) for r in ("user", "item") if opts.get(r) is not None]
        return id_spelling(load_table(data, ids), ids), target

    def read_inputs(self, data: Any, schema: Schema) -> pd.DataFrame:
        """Users to recommend for: a table with the user column (read as the model reads it)."""
        from learnloop.data import load_table

        user = schema.options["user"]
        return id_spelling(load_table(data, [user]), [user])

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
                "user_kind": id_kind(frame[user]),
                "item_kind": id_kind(frame[item]),
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

    # ---------------------------------------------------------------- examples
    def interactions(self, frame: pd.DataFrame, schema: Schema) -> tuple[pd.DataFrame, int]:
        """The usable interactions (user key, item id, weight, time) and rows left out."""
        return read_interactions(frame, schema.options)

    def encode(self, frame: pd.DataFrame, schema: Schema, where: str) -> np.ndarray:
        """Each row's user as a code (what a training sample is drawn by)."""
        return pd.factorize(id_keys(frame[schema.options["user"]].to_numpy()))[0]

    def split(
        self, frame: pd.DataFrame, schema: Schema, seed: int
    ) -> tuple[dict[str, Part], int, list[str]]:
        """Each evaluated user's latest (or random) interactions held out; see the module."""
        table, dropped = self.interactions(frame, schema)
        parts, notes = hold_out(table, dropped, schema.options, seed)
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
        given = [user_value(k, schema.options) for k in id_keys(X[user].to_numpy())]
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
    def row_scores(self, metric: Metric, y: np.ndarray, pred: Prediction) -> np.ndarray | None:
        """Each evaluated user's value of the ranking metric (their mean is its score)."""
        base = metric.name.partition("@")[0]
        return ranking_per_user(base, y, pred, int(metric.k or 10))

    def outcomes(self, test: Part, pred: Prediction) -> dict[str, Any]:
        """Per-user values of the run's metric, for ``runs compare`` to pair users up."""
        assert test.y is not None
        metric = self.metric(test.metric or self.default_metric)
        scores = self.row_scores(metric, test.y, pred)
        assert scores is not None
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

    # ---------------------------------------------------------- serving shapes
    def user_key(self, schema: Schema, user: Any) -> str:
        """The text key of a user id given on the command line or over HTTP.

        UsageError when the model's users are whole numbers and ``user`` is not one.
        """
        if isinstance(user, bool) or user is None:
            raise UsageError(f"The user must be an id like the ones in '{schema.options['user']}'.")
        if schema.options.get("user_kind") == "integer":
            number = whole(user)
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
        if schema.options.get("item_kind") == "integer" and whole(item) is None:
            raise UsageError(
                f"The model's items ('{schema.options['item']}') are whole numbers; "
                f"{item!r} is not one."
            )
        value = whole(item) if schema.options.get("item_kind") == "integer" else str(item)
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
            "user": user_value(key, schema.options),
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
            "item": item_value(item, schema.options),
            "items": [_plain(v) for v in model.items_[idx]],
            "scores": [float(s) for s in sims],
        }

    def audience(self, pipeline: Any, schema: Schema, item: Any, k: int) -> dict[str, Any]:
        """The ``k`` users most likely to want ``item`` (users who had it left out)."""
        _check_k(k)
        encoder, model = pipeline.steps[0][1], pipeline.steps[-1][1]
        idx, scores = model.audience(self.item_index(pipeline, schema, item), k)
        users = [user_value(u, schema.options) for u in encoder.users_[idx]]
        item_id = item_value(item, schema.options)
        return {"item": item_id, "users": users, "scores": [float(s) for s in scores]}


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


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
