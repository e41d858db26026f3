"""Labeled tables: classification (a class per row) and regression (a number per row).

Under ``--task auto`` a target column of labels (text, true/false, or at most
``MAX_CLASSES_FROM_INTEGERS`` distinct whole numbers, not each seen once) is
classification; any other target, regression. Too few rows and a constant target are said
as such before either is chosen.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.pipeline import Pipeline

from learnloop.core import Output, Prediction
from learnloop.data import Schema, check_column, class_values, infer_features, map_distinct
from learnloop.data.features import build_preprocessor
from learnloop.estimators import full_proba
from learnloop.exceptions import DataError
from learnloop.tasks._base import Answer, Part, Task

__all__ = ["Classification", "Regression", "looks_like_classes", "MAX_CLASSES_FROM_INTEGERS"]

MAX_CLASSES_FROM_INTEGERS = 20

_PORTFOLIO = (
    ("lightgbm", 0),
    ("linear", 0),
    ("extra_trees", 0),
    ("lightgbm", 1),
    ("mlp", 0),
    ("random_forest", 0),
    ("knn", 0),
    ("lightgbm", 2),
)


class _Supervised(Task):
    """What classification and regression share: a target column, rows that have one."""

    supervised = True
    feature_kinds: ClassVar[tuple[str, ...]] = ("tree", "dense")
    refits_on_validation = True
    portfolio_order = _PORTFOLIO
    ensembles = True  # probabilities and values average

    def read_schema(self, frame: pd.DataFrame, target: str | None, labels: str | None) -> Schema:
        self.check_options(target, labels)
        assert target is not None
        check_column(frame, target, "target")
        y = frame[target]
        _check_target_has_something_to_learn(y, target)
        classes = self._read_target(y, target)
        features, dropped = infer_features(frame, exclude=(target,))
        return Schema(target, self.name, features, dropped, classes)

    def _read_target(self, y: pd.Series, target: str) -> list[Any]:
        """Check the target column; return its classes (empty for regression)."""
        raise NotImplementedError

    def usable_rows(self, frame: pd.DataFrame, schema: Schema) -> np.ndarray:
        assert schema.target is not None
        return frame[schema.target].notna().to_numpy()

    def baseline(self, X_train: pd.DataFrame, y_train: np.ndarray | None, seed: int) -> Any:
        pipeline = Pipeline(
            [("features", build_preprocessor("tree", X_train)), ("model", self._dummy())]
        )
        return pipeline.fit(X_train, y_train)

    def _dummy(self) -> Any:
        raise NotImplementedError

    def outcomes(self, test: Part, pred: Prediction) -> dict[str, Any]:
        assert test.y is not None
        kind, cast = self._outcome_kind
        out: dict[str, Any] = {
            "split": self.split_fingerprint(test),
            "kind": kind,
            "y": [cast(v) for v in test.y],
            "pred": [cast(v) for v in pred.values],
        }
        if pred.proba is not None:  # AUC and log loss need them for an interval
            out["proba"] = np.round(np.asarray(pred.proba, float), 6).tolist()
        return out

    _outcome_kind: ClassVar[tuple[str, Any]]


class Classification(_Supervised):
    """A class per row; stratified splits; probabilities per class."""

    name = "classification"
    output = Output.CLASSES
    default_metric = "accuracy"
    _outcome_kind = ("labels", int)

    def _read_target(self, y: pd.Series, target: str) -> list[Any]:
        classes = class_values(y)
        if len(classes) < 2:
            raise DataError(
                f"The target column '{target}' has only one class ({classes[0]!r}); "
                "classification needs at least two."
            )
        known = int(y.notna().sum())
        if len(classes) == known and known >= 10:
            raise DataError(
                f"The target column '{target}' has a different value in every row (an "
                "identifier): there is no class to learn from other rows."
            )
        return classes

    def claims_table(self, frame: pd.DataFrame, target: str | None) -> bool:
        """A target of labels (see the module)."""
        return target is not None and looks_like_classes(frame[target])

    def n_outputs(self, schema: Schema) -> int:
        return len(schema.classes)

    def encode(self, frame: pd.DataFrame, schema: Schema, where: str) -> np.ndarray:
        assert schema.target is not None
        y = frame[schema.target]
        lookup = {c: i for i, c in enumerate(schema.classes)}
        codes = map_distinct(
            y, lambda v: lookup.get(v.item() if hasattr(v, "item") else v, -1), missing=-1
        ).astype(int)
        if (codes < 0).any():
            bad = y.iloc[int(np.flatnonzero(codes < 0)[0])]
            raise DataError(
                f"The {where} data has the class {bad!r} in '{schema.target}', "
                "which the training data does not have."
            )
        return codes

    def stratify_by(self, y: np.ndarray | None) -> np.ndarray | None:
        return y

    def subsample(self, y: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        """Every class at least once, so each model of the sample knows all classes."""
        assert y is not None
        missing = np.setdiff1d(np.unique(y), np.unique(y[rows]))
        extra = [int(np.flatnonzero(y == c)[0]) for c in missing]
        return np.sort(np.concatenate([rows, np.asarray(extra, dtype=int)]))

    def predict(self, estimator: Any, X: np.ndarray, n_outputs: int) -> Prediction:
        """Probabilities get a column per class even where the estimator saw fewer classes."""
        proba = full_proba(estimator, X, n_outputs)
        return Prediction(np.argmax(proba, axis=1), proba)

    def answer(self, pipeline: Any, X: pd.DataFrame, schema: Schema) -> Answer:
        proba = self.predict(pipeline, X, len(schema.classes)).proba
        assert proba is not None
        classes = list(schema.classes)
        labels = [classes[i] for i in np.argmax(proba, axis=1).tolist()]
        return Answer(labels, classes, proba)

    def _dummy(self) -> Any:
        return DummyClassifier(strategy="prior")


class Regression(_Supervised):
    """A number per row; random splits."""

    name = "regression"
    output = Output.VALUES
    default_metric = "r2"
    _outcome_kind = ("values", float)

    def claims_table(self, frame: pd.DataFrame, target: str | None) -> bool:
        """Any target (asked after classification declined it)."""
        return target is not None

    def _read_target(self, y: pd.Series, target: str) -> list[Any]:
        if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
            raise DataError(
                f"The target column '{target}' is not numeric, so it cannot be used for regression."
            )
        return []

    def encode(self, frame: pd.DataFrame, schema: Schema, where: str) -> np.ndarray:
        assert schema.target is not None
        values = pd.to_numeric(frame[schema.target], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(values)):
            raise DataError(
                f"The target column '{schema.target}' holds infinite or non-numeric values."
            )
        return values

    def predict(self, estimator: Any, X: np.ndarray, n_outputs: int) -> Prediction:
        return Prediction(np.asarray(estimator.predict(X), dtype=float))

    def answer(self, pipeline: Any, X: pd.DataFrame, schema: Schema) -> Answer:
        values = np.asarray(pipeline.predict(X), dtype=float)
        return Answer([float(v) for v in values])

    def _dummy(self) -> Any:
        return DummyRegressor()


MIN_ROWS = 10  # rows with a target value below which no split can train, validate and test


def _check_target_has_something_to_learn(y: pd.Series, target: str) -> None:
    """DataError, before the kind of target is judged, when the rows are too few to split
    or the target holds one value: either says so, rather than a complaint about classes."""
    known = y.dropna()
    if known.empty:
        raise DataError(f"The target column '{target}' has no values.")
    if len(known) < MIN_ROWS:
        rows = "row has" if len(known) == 1 else "rows have"
        raise DataError(
            f"Only {len(known)} {rows} a value in the target column '{target}'; at least "
            f"{MIN_ROWS} are needed to train, validate and test."
        )
    if known.nunique() == 1:
        value = known.iloc[0]
        value = value.item() if isinstance(value, np.generic) else value
        raise DataError(
            f"The target column '{target}' is constant ({value!r} in all {len(known)} rows "
            "with a value): there is nothing to learn (classes need two values or more, "
            "and so does a regression)."
        )


def looks_like_classes(y: pd.Series) -> bool:
    """Whether a target column holds labels: text, true/false, or few whole numbers."""
    y = y.dropna()
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return True
    values = y.to_numpy(dtype=float)
    integral = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
    # classes come back: whole numbers each seen once (prices in a small table) are values
    # to regress on, not labels
    distinct = y.nunique()
    repeated = distinct < len(y) or distinct <= 2
    return integral and distinct <= MAX_CLASSES_FROM_INTEGERS and repeated
