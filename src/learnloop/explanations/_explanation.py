"""Explain a saved pipeline on some rows: what each input column added to each row's score,
and how much the model's score rests on each column overall.

Per row, the score explained is the one the model decides by: for classes the log-odds of
the positive class (two classes) or of the chosen class (more), for values the value. A
pipeline whose last step gives exact contributions (LightGBM's TreeSHAP, ``contributions``)
is explained exactly, its encoded columns summed back into the user's columns; any other
(linear models, k-NN, networks, ensembles) by sampled Shapley values (``_shapley.py``). The
global importance (``_importance.py``) needs the target column in the rows given; without
it only the per-row part is made, and a note says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from learnloop.core import Output
from learnloop.data import Schema, prepare_features
from learnloop.exceptions import UsageError
from learnloop.explanations._columns import grouping, input_of_encoded, input_of_prepared
from learnloop.explanations._importance import Importance, permutation_importance
from learnloop.explanations._shapley import DEFAULT_ORDERS, sampled_contributions

if TYPE_CHECKING:
    from learnloop.tasks import Task

__all__ = ["Explanation", "explain", "check_explainable", "EXACT", "SAMPLED"]

EXACT = "exact (LightGBM TreeSHAP, pred_contrib)"
SAMPLED = "sampled Shapley values"
DEFAULT_ROWS = 1000  # rows explained one by one, at most (the first ones)
# the sampled path predicts orders * (inputs + 1) built rows per row: 1000 rows of a 10-input
# table are 704,000 predictions (a linear model: a few seconds; an ensemble: longer)
IMPORTANCE_ROWS = 5000  # rows shuffled for the global importance, at most (drawn at random)
_EPS = 1e-12  # probabilities are kept this far from 0 and 1 so that log-odds stay finite


@dataclass
class Explanation:
    """Per-row contributions (``contributions``: a row per explained row, a column per
    input; with ``expected`` they add up to ``score``) and the global ``importance``."""

    contributions: pd.DataFrame
    expected: np.ndarray
    score: np.ndarray
    explains: list[str]  # per row: what its score is ("log-odds of 'yes'", "value of 'y'")
    method: str
    importance: Importance | None
    notes: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """The per-row table: ``_row``, ``_explains``, ``_expected``, one column per input
        (its contribution), ``_score`` (the sum); underscored names keep clear of inputs."""
        out = pd.DataFrame({"_row": self.contributions.index, "_explains": self.explains,
                            "_expected": self.expected})  # fmt: skip
        out = pd.concat([out, self.contributions.reset_index(drop=True)], axis=1)
        out["_score"] = self.score
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: method, notes, the importance and its settings, and the rows."""
        imp = self.importance
        return {
            "method": self.method,
            "rows_explained": len(self.contributions),
            "importance": imp.to_records() if imp is not None else None,
            "importance_metric": imp.metric if imp is not None else None,
            "importance_repeats": imp.repeats if imp is not None else None,
            "importance_rows": imp.rows if imp is not None else None,
            "confidence": imp.confidence if imp is not None else None,
            "notes": list(self.notes),
            "rows": self.table().to_dict("records"),
        }


def check_explainable(task: Task) -> None:
    """UsageError, in one sentence, unless the task's models score rows from columns."""
    if not task.inputs_are_columns:
        raise UsageError(
            f"A {task.name} model reads pictures, not table columns, so it cannot be "
            "explained column by column."
        )
    if task.output not in (Output.CLASSES, Output.VALUES):
        raise UsageError(
            f"A {task.name} model produces {task.output.value}, not a class or a value per "
            "row, so learnloop explain cannot explain it."
        )


def _explained_classes(proba: np.ndarray) -> np.ndarray:
    """The class each row's log-odds are of: the second of two, else the chosen one."""
    if proba.shape[1] == 2:
        return np.ones(len(proba), dtype=int)
    return np.argmax(proba, axis=1)


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _exact(pipeline: Any, schema: Schema, X: pd.DataFrame, classes: np.ndarray | None) -> Any:
    """Exact contributions where the last step gives them, summed per input; else None."""
    steps = getattr(pipeline, "steps", None)
    if not steps or len(steps) != 2 or not hasattr(steps[-1][1], "contributions"):
        return None
    preprocessor, model = steps[0][1], steps[1][1]
    if not hasattr(preprocessor, "output_indices_"):
        return None
    try:
        sums = grouping(input_of_encoded(preprocessor, schema), schema.feature_names)
    except ValueError:  # a part that cannot be traced to its column: sample instead
        return None
    raw = model.contributions(np.asarray(preprocessor.transform(X), dtype=float))
    which = classes if classes is not None and raw.shape[1] > 1 else np.zeros(len(X), int)
    per_row = raw[np.arange(len(X)), which]  # (rows, encoded + 1)
    return per_row[:, :-1] @ sums, per_row[:, -1]


def _sampled(
    pipeline: Any, task: Task, schema: Schema, X: pd.DataFrame, background: pd.DataFrame,
    classes: np.ndarray | None, orders: int, seed: int,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Sampled Shapley contributions of each input to each row's explained score."""
    n = task.n_outputs(schema)

    def score(rows: pd.DataFrame, which: np.ndarray) -> np.ndarray:
        pred = task.predict(pipeline, rows, n)
        if pred.proba is None or classes is None:
            return np.asarray(pred.values, dtype=float)
        return _log_odds(pred.proba[np.arange(len(rows)), classes[which]])

    owners = input_of_prepared(schema)
    position = {c: j for j, c in enumerate(schema.feature_names)}
    owner = [position[owners[c]] for c in X.columns]
    return sampled_contributions(score, X, background, owner, orders=orders, seed=seed)


def _importance(
    pipeline: Any, task: Task, schema: Schema, metric_name: str, data: pd.DataFrame,
    X: pd.DataFrame, repeats: int, seed: int,
) -> Importance:  # fmt: skip
    """Permutation importance on the rows of ``data`` that have a target value."""
    from learnloop.tasks import Part

    metric = task.metric(metric_name)
    usable = np.flatnonzero(task.usable_rows(data, schema))
    if len(usable) > IMPORTANCE_ROWS:
        usable = np.sort(np.random.default_rng(seed).choice(usable, IMPORTANCE_ROWS, False))
    part = Part(X.iloc[usable], task.encode(data.iloc[usable], schema, "given"))
    part = task.finish({"given": part}, metric)["given"]
    n, sign = task.n_outputs(schema), 1.0 if metric.greater_is_better else -1.0

    def score(X_: pd.DataFrame, y_: np.ndarray) -> float:
        return sign * metric.score(y_, task.predict(pipeline, X_, n), n)

    owners = input_of_prepared(schema)
    groups = {c: [p for p in X.columns if owners[p] == c] for c in schema.feature_names}
    assert part.y is not None
    return permutation_importance(
        score, part.X, part.y, groups, metric=metric.name, repeats=repeats, seed=seed
    )


def explain(  # noqa: PLR0913 -- the model, the rows, and the three knobs of the estimates
    pipeline: Any,
    task: Task,
    schema: Schema,
    metric: str,
    data: pd.DataFrame,
    *,
    rows: int = DEFAULT_ROWS,
    repeats: int = 20,
    orders: int = DEFAULT_ORDERS,
    seed: int = 0,
) -> Explanation:
    """Explain ``pipeline`` (of ``task``, trained on ``schema``, chosen by ``metric``) on
    the table ``data``: the first ``rows`` rows one by one, and the importance of each
    input on all rows (at most ``IMPORTANCE_ROWS``) with ``repeats`` shuffles, where
    ``data`` has the target column. UsageError for a task that cannot be explained;
    SchemaMismatchError if ``data`` lacks a column the model was trained on."""
    check_explainable(task)
    if rows < 1 or repeats < 2 or orders < 2:
        raise UsageError(
            f"rows must be at least 1, repeats and orders at least 2; got rows={rows}, "
            f"repeats={repeats}, orders={orders}."
        )
    if data.empty:
        raise UsageError("The data to explain has no rows.")
    X = prepare_features(data, schema)
    shown = X.iloc[:rows]
    proba = task.predict(pipeline, shown, task.n_outputs(schema)).proba
    classes = _explained_classes(proba) if proba is not None else None
    found = _exact(pipeline, schema, shown, classes)
    method = EXACT if found is not None else f"{SAMPLED} ({orders} column orders per row)"
    if found is None:
        background = X.sample(min(len(X), (orders + 1) // 2), random_state=seed)
        found = _sampled(pipeline, task, schema, shown, background, classes, orders, seed)
    contributions, expected = found
    notes = []
    if len(X) > rows:
        notes.append(f"The first {rows} of {len(X)} rows are explained one by one.")
    importance = None
    labelled = schema.target is not None and schema.target in data.columns
    if labelled and int(task.usable_rows(data, schema).sum()) >= 2:
        importance = _importance(pipeline, task, schema, metric, data, X, repeats, seed)
    else:
        why = "fewer than 2 rows with a value in its" if labelled else "no"
        notes.append(
            f"The data has {why} target column '{schema.target}', so the global importance "
            "(the drop in the model's score when a column is shuffled) is left out."
        )
    return Explanation(
        pd.DataFrame(contributions, index=shown.index, columns=schema.feature_names),
        expected,
        expected + contributions.sum(axis=1),
        _explains(schema, classes, proba, method == EXACT, len(shown)),
        method,
        importance,
        notes,
    )


def _explains(
    schema: Schema, classes: np.ndarray | None, proba: np.ndarray | None, exact: bool, n: int
) -> list[str]:
    """What each row's score is, in words."""
    if classes is None or proba is None:
        return [f"value of '{schema.target}'"] * n
    names = [str(c) for c in schema.classes]
    kind = "raw score" if exact and proba.shape[1] > 2 else "log-odds"
    return [f"{kind} of '{names[k]}'" for k in classes]
