"""A prediction path compiled at load time: JSON bytes to numpy to the model's estimator.

:func:`compile_model` reads a table model's pipeline once and turns its preprocessing into
numpy operations: the ``tree`` column transformer (numbers passed through, categories
coded by an ``OrdinalEncoder``) becomes a float matrix and a dictionary per categorical
column, so a request builds no DataFrame and runs no scikit-learn transformer. The body is
parsed by orjson and checked with whole-column type tests; the estimator after the
transformer (a LightGBM booster, a forest; each member of an ensemble) then predicts on
the very matrix the pipeline would have given it, so the answers are the pipeline's.

The compiled path answers only bodies it is sure of: anything else (a wrong type, a
missing or unknown column, a non-finite number, text in a number column, invalid JSON)
returns ``None`` and the request takes the normal path (:func:`learnloop.serving.rows.
answer_body`), which says what is wrong with the row and column. Models it cannot take
(date or free-text columns, true/false columns, the ``dense`` preprocessing of linear
models, k-NN and networks, pictures, clusters, recommendations) raise :class:`NotCompiled`
and are served by the normal path.
"""

from __future__ import annotations

import copy
import logging
import math
import os
from collections.abc import Callable
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from learnloop.core import Output
from learnloop.data import _category_text
from learnloop.store.model_files import LoadedModel

__all__ = ["INLINE_BYTES", "CompiledModel", "NotCompiled", "compile_model", "compiled_path"]

# A body this small (a few rows) for a model of boosters is answered by the compiled path on
# the event loop: its work (tens of microseconds) costs less than the hop to a worker thread.
INLINE_BYTES = 16 * 1024

_log = logging.getLogger("learnloop.serve")
_NUMBER_TYPES = frozenset({float, int, type(None)})
_TEXT_TYPES = frozenset({str, type(None)})
_CATEGORY_TYPES = frozenset({str, type(None), float, int, bool})


# a body's rows picked apart: the number columns' values, the categorical columns' values
# (a tuple per row each), and how many quotes the body has if its values hold no text
_Picked = tuple[list[Any], list[Any], int | None]


class NotCompiled(Exception):
    """The model has a part the compiled path does not reproduce (the reason is the text)."""


class _Columns:
    """A request's rows as arrays: the numbers as one float matrix (schema order of the
    numeric columns), each categorical column as text (``None`` where missing)."""

    __slots__ = ("n", "numbers", "texts")

    def __init__(self, n: int, numbers: np.ndarray, texts: dict[str, list[Any]]) -> None:
        self.n, self.numbers, self.texts = n, numbers, texts

    def __len__(self) -> int:
        return self.n


class _Encoder:
    """One fitted ``tree`` column transformer as numpy: its blocks in output order."""

    def __init__(self, transformer: Any, numeric: dict[str, int]) -> None:
        from sklearn.compose import ColumnTransformer
        from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

        if type(transformer) is not ColumnTransformer:
            raise NotCompiled(f"its preprocessing is a {type(transformer).__name__}")
        if (getattr(transformer, "_sklearn_output_config", None) or {}).get("transform") not in (
            None,
            "default",
        ):
            raise NotCompiled("its column transformer puts out DataFrames")
        self.blocks: list[tuple[str, Any]] = []
        for _, part, columns in transformer.transformers_:
            if isinstance(part, str) and part == "drop":
                continue
            names = [str(c) for c in columns]
            if (isinstance(part, str) and part == "passthrough") or (
                type(part) is FunctionTransformer and part.func is None
            ):
                if any(n not in numeric for n in names):
                    raise NotCompiled("it passes through a column that is not a number")
                self.blocks.append(("numbers", np.asarray([numeric[n] for n in names])))
            elif type(part) is OrdinalEncoder and _plain_codes(part):
                luts = [_lookup(cats) for cats in part.categories_]
                self.blocks.append(("codes", list(zip(names, luts, strict=True))))
            else:
                raise NotCompiled(f"its preprocessing has a {type(part).__name__}")
        everything = np.arange(len(numeric))
        self.identity = (
            len(self.blocks) == 1
            and self.blocks[0][0] == "numbers"
            and np.array_equal(self.blocks[0][1], everything)
        )

    def __call__(self, cols: _Columns) -> np.ndarray:
        if self.identity:
            return cols.numbers
        parts: list[np.ndarray] = []
        for kind, spec in self.blocks:
            if kind == "numbers":
                parts.append(cols.numbers[:, spec])
            else:
                parts.append(
                    np.array(
                        [list(map(lut.get, cols.texts[name])) for name, lut in spec],
                        dtype=np.float64,
                    ).T.reshape(cols.n, len(spec))
                )
        return np.hstack(parts) if len(parts) > 1 else np.ascontiguousarray(parts[0])


def _plain_codes(encoder: Any) -> bool:
    """An encoder that codes categories 0..k-1 and both unknown and missing as NaN."""
    nan = lambda v: isinstance(v, float) and math.isnan(v)  # noqa: E731
    return (
        encoder.handle_unknown == "use_encoded_value"
        and nan(encoder.unknown_value)
        and nan(encoder.encoded_missing_value)
        and getattr(encoder, "infrequent_categories_", None) is None
        and encoder.max_categories is None
        and encoder.min_frequency is None
    )


def _lookup(categories: Any) -> dict[str, float]:
    """Category text to its code; a NaN category (missing in training) codes nothing."""
    lut: dict[str, float] = {}
    for i, cat in enumerate(categories):
        if isinstance(cat, str):
            lut[cat] = float(i)
        elif not (isinstance(cat, float) and math.isnan(cat)):
            raise NotCompiled("a categorical column learned a category that is not text")
    return lut


class _Member:
    """A ``Pipeline(transformer, estimator)`` answering on :class:`_Columns` instead."""

    def __init__(self, pipeline: Any, numeric: dict[str, int]) -> None:
        from sklearn.pipeline import Pipeline

        if type(pipeline) is not Pipeline or len(pipeline.steps) != 2:
            raise NotCompiled(f"its model is a {type(pipeline).__name__}, not a two-step pipeline")
        self.encode = _Encoder(pipeline.steps[0][1], numeric)
        self.estimator = pipeline.steps[1][1]
        if hasattr(self.estimator, "classes_"):
            self.classes_ = self.estimator.classes_

    def predict_proba(self, cols: _Columns) -> Any:
        return self.estimator.predict_proba(self.encode(cols))

    def predict(self, cols: _Columns) -> Any:
        return self.estimator.predict(self.encode(cols))


def _top(pipeline: Any, numeric: dict[str, int]) -> Any:
    """The model's pipeline with each member pipeline replaced by a :class:`_Member`
    (an ensemble's members, and theirs, each in turn)."""
    from sklearn.pipeline import Pipeline

    from learnloop.estimators import EnsembleClassifier, EnsembleRegressor, PassThrough

    ensembles = (EnsembleClassifier, EnsembleRegressor)
    if (
        type(pipeline) is Pipeline
        and len(pipeline.steps) == 2
        and type(pipeline.steps[0][1]) is PassThrough
        and type(pipeline.steps[1][1]) in ensembles
    ):
        pipeline = pipeline.steps[1][1]  # the loop's ensemble: its members encode their own
    if type(pipeline) in ensembles:
        ensemble = copy.copy(pipeline)
        ensemble.members = [_top(m, numeric) for m in pipeline.members or []]
        return ensemble
    return _Member(pipeline, numeric)


def _boosters_only(top: Any) -> bool:
    """Whether every estimator is a LightGBM booster: a few rows then take tens of
    microseconds, little enough to answer on the event loop (a forest can take
    milliseconds, which would hold up every other request)."""
    from learnloop.estimators import BoosterClassifier, BoosterRegressor

    if isinstance(top, _Member):
        return type(top.estimator) in (BoosterClassifier, BoosterRegressor)
    return all(_boosters_only(m) for m in top.members)


def _getter(positions: list[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """A function taking a row (a dict or a list) to the tuple of its values at
    ``positions`` (``itemgetter`` gives a bare value for one position)."""
    if len(positions) == 1:
        only = positions[0]
        return lambda row: (row[only],)
    if not positions:
        return lambda row: ()
    return itemgetter(*positions)


class CompiledModel:
    """The compiled path of one model: :meth:`answer` takes a request body's bytes."""

    def __init__(self, model: LoadedModel, max_rows: int) -> None:
        try:
            import orjson  # noqa: F401 -- the serve extra's; parses every body here
        except ImportError:
            raise NotCompiled("orjson is not installed") from None
        task = model.task_kind
        if task.output not in (Output.CLASSES, Output.VALUES):
            raise NotCompiled("it does not answer classes or values")
        numeric: list[str] = []
        categorical: list[str] = []
        for spec in model.schema.features:
            if spec.kind == "numeric":
                numeric.append(spec.name)
            elif spec.kind == "categorical" and spec.dtype not in ("bool", "boolean"):
                categorical.append(spec.name)
            else:
                what = "true/false" if spec.kind == "categorical" else spec.kind
                raise NotCompiled(f"the column '{spec.name}' is a {what} column")
        self.model, self.task, self.max_rows = model, task, max_rows
        self.numeric, self.categorical = numeric, categorical
        self.width = len(numeric) + len(categorical)
        self.features = frozenset(numeric + categorical)
        self.allowed = self.features | frozenset(model.schema.dropped)
        self.top = _top(model.pipeline, {n: i for i, n in enumerate(numeric)})
        self.inline = _boosters_only(self.top)
        self._numbers_of = _getter(numeric)
        self._categories_of = _getter(categorical)

    def answer(self, body: bytes) -> dict[str, Any] | None:
        """The response body for ``body``, or ``None`` when the normal path must answer
        (to say what is wrong, or to take what this path does not)."""
        cols = self.columns(body)
        if cols is None:
            return None
        from learnloop.serving.rows import response_body

        answer = self.task.answer(self.top, cols, self.model.schema)
        return response_body(answer, arrays=True)

    def answer_rows(self, rows: list[Any]) -> Any | None:
        """The model's :class:`~learnloop.tasks.Answer` on row objects (the rows of the
        Open Inference Protocol's tensors), or ``None`` unless every row and value is valid."""
        picked = self._records(rows)
        if picked is None:
            return None
        numbers, categories, _ = picked
        if any(type(v) is float and v != v for v in chain.from_iterable(numbers)):
            return None  # NaN (binary tensors can carry it) is refused by the normal path
        cols = self._arrays(len(numbers), numbers, categories, plain=False)
        return None if cols is None else self.task.answer(self.top, cols, self.model.schema)

    def answer_table(self, table: Any) -> Any | None:
        """The model's Answer on a pyarrow Table whose columns were checked by
        :func:`learnloop.serving.arrow.check_table`, or ``None`` where a value needs the
        normal path's checks (NaN, an infinity, a column type this path does not read)."""
        cols = self.table_columns(table)
        return None if cols is None else self.task.answer(self.top, cols, self.model.schema)

    def table_columns(self, table: Any) -> _Columns | None:
        """A pyarrow Table's columns straight into the float matrix and category texts."""
        import pyarrow as pa
        import pyarrow.compute as pc

        n = table.num_rows
        if not 0 < n <= self.max_rows:
            return None
        matrix = np.empty((n, len(self.numeric)), dtype=np.float64)
        for j, name in enumerate(self.numeric):
            col = table.column(name)
            kind = col.type
            if pa.types.is_null(kind):
                matrix[:, j] = np.nan
                continue
            if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
                return None
            if pa.types.is_floating(kind) and pc.all(pc.is_finite(col)).as_py() is False:
                return None  # NaN or an infinity: the normal path names the row
            matrix[:, j] = col.to_numpy()  # nulls come as NaN, which the model imputes
        texts: dict[str, list[Any]] = {}
        for name in self.categorical:
            values = _arrow_texts(table.column(name))
            if values is None:
                return None
            texts[name] = values
        return _Columns(n, matrix, texts)

    # -- parsing and checking

    def columns(self, body: bytes) -> _Columns | None:
        """The body's rows as arrays, or ``None`` unless every row and value is valid."""
        import orjson

        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if type(payload) is not dict or len(payload) != 1:
            return None
        key, rows = next(iter(payload.items()))
        if key in ("records", "dataframe_records"):
            picked = self._records(rows)
        elif key == "dataframe_split":
            picked = self._split(rows)
        else:
            return None
        if picked is None:
            return None
        numbers, categories, quotes = picked
        return self._arrays(len(numbers), numbers, categories, self._plain(body, quotes))

    def _plain(self, body: bytes, quotes: int | None) -> bool:
        """Whether the body's values can hold no text and no true/false, so they need no
        type test one by one: a numbers-only model, no ``true``/``false`` in the body, and
        no quote beyond the two each of its keys and column names needs (``quotes``; every
        string has two, and text among the values would add two more)."""
        return (
            quotes is not None
            and not self.categorical
            and b"true" not in body
            and b"false" not in body
            and body.count(b'"') == quotes
        )

    def _records(self, rows: Any) -> _Picked | None:
        if type(rows) is not list or not 0 < len(rows) <= self.max_rows:
            return None
        if set(map(type, rows)) != {dict}:
            return None
        exact = set(map(len, rows)) == {self.width}
        if not exact and not all(r.keys() <= self.allowed for r in rows):
            return None
        try:  # rows of the right length hold exactly the features, or miss one
            numbers, categories = map(self._numbers_of, rows), map(self._categories_of, rows)
            picked = list(numbers), list(categories)
        except KeyError:
            return None
        return *picked, (2 + 2 * len(rows) * self.width if exact else None)

    def _split(self, split: Any) -> _Picked | None:
        if type(split) is not dict or not split.keys() <= {"columns", "data", "index"}:
            return None
        columns, data = split.get("columns"), split.get("data")
        if type(columns) is not list or type(data) is not list:
            return None
        if set(map(type, columns)) != {str} or len(set(columns)) != len(columns):
            return None
        if not self.features <= set(columns) <= self.allowed:
            return None
        if not 0 < len(data) <= self.max_rows or set(map(type, data)) != {list}:
            return None
        if set(map(len, data)) != {len(columns)}:
            return None
        quotes = None if "index" in split else 2 + 2 * len(split) + 2 * len(columns)
        if not self.categorical and columns == self.numeric:
            return data, [()] * len(data), quotes  # the rows are the number matrix already
        where = {c: i for i, c in enumerate(columns)}
        numbers_of = _getter([where[c] for c in self.numeric])
        categories_of = _getter([where[c] for c in self.categorical])
        return list(map(numbers_of, data)), list(map(categories_of, data)), quotes

    def _arrays(
        self, n: int, numbers: list[Any], categories: list[Any], plain: bool
    ) -> _Columns | None:
        if not plain and not set(map(type, chain.from_iterable(numbers))) <= _NUMBER_TYPES:
            return None
        try:  # a plain body's values are numbers, nulls, lists or objects (refused here)
            matrix = np.array(numbers, dtype=np.float64)
        except (ValueError, TypeError):
            return None
        if matrix.shape != (n, len(self.numeric)) or np.isinf(matrix).any():
            return None
        texts: dict[str, list[Any]] = {}
        for name, values in zip(self.categorical, zip(*categories, strict=True), strict=True):
            kinds = set(map(type, values))
            if kinds <= _TEXT_TYPES:
                texts[name] = list(values)
                continue
            if not kinds <= _CATEGORY_TYPES:
                return None
            if any(type(v) is float and not math.isfinite(v) for v in values):
                return None
            texts[name] = [None if v is None else _category_text(v) for v in values]
        return _Columns(n, matrix, texts)


def _arrow_texts(col: Any) -> list[Any] | None:
    """A categorical Arrow column as text (``None`` where null), as the JSON path reads
    its values; ``None`` for a type it does not take or a non-finite number."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = col.type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_null(kind):
        return [None] * len(col)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return list(col.to_pylist())
    if pa.types.is_floating(kind) and pc.all(pc.is_finite(col)).as_py() is False:
        return None
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return [None if v is None else _category_text(v) for v in col.to_pylist()]
    return None


def compile_model(model: LoadedModel, max_rows: int) -> CompiledModel:
    """The compiled path for ``model``, or NotCompiled saying which part it cannot take."""
    return CompiledModel(model, max_rows)


def compiled_path(model: LoadedModel, max_rows: int) -> CompiledModel | None:
    """The compiled path the app serves ``model`` with, or ``None`` (logged, with the
    reason) where the model does not compile or ``LEARNLOOP_SERVE_COMPILED=0`` turns it off."""
    if os.environ.get("LEARNLOOP_SERVE_COMPILED", "1").strip().lower() in ("0", "false", "no"):
        _log.info("the compiled prediction path is off (LEARNLOOP_SERVE_COMPILED)")
        return None
    try:
        return compile_model(model, max_rows)
    except NotCompiled as e:
        _log.info("predictions take the normal path: the model does not compile (%s)", e)
        return None
