"""Loading tables, inferring their schema, fingerprinting them and splitting them.

Everything here is a plain function on a pandas DataFrame; nothing here knows about models.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from learnloop.core.extras import require
from learnloop.data import cells
from learnloop.data.freetext import looks_like_free_text, to_free_text
from learnloop.data.tables import as_table
from learnloop.data.textfiles import (
    ENCODING,
    read_text_table,
    refuse_duplicates,
    sniff_delimiter,
)
from learnloop.exceptions import DataError, MissingExtraError, SchemaMismatchError

__all__ = [
    "ColumnSpec",
    "Schema",
    "load_table",
    "infer_features",
    "check_column",
    "class_values",
    "prepare_features",
    "read_features",
    "refuse_unreadable",
    "fingerprint",
    "split_indices",
    "map_distinct",
    "ENCODING",
    "sniff_delimiter",
    "TABLE_SUFFIXES",
    "table_format",
]

_READERS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".feather": "feather",
    ".sql": "sql",
}
TABLE_SUFFIXES = tuple(_READERS)  # the file names read as tables
_ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|guid|key|rownames|index)$|^(id|unnamed: 0)$", re.I)
_DATE_LIKE = re.compile(r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2})?.*)?\s*$")


@dataclass
class ColumnSpec:
    """One input column: its name and how the models see it."""

    name: str
    kind: str  # "numeric" | "categorical" | "datetime" | "text" (free text: data/freetext.py)
    dtype: str
    categories: list[str] = field(default_factory=list)


@dataclass
class Schema:
    """Column roles and types inferred from training data; checked again at prediction time."""

    target: str | None
    task: str
    features: list[ColumnSpec]
    dropped: dict[str, str]
    classes: list[Any] = field(default_factory=list)
    labels: str | None = None  # clustering: a column of known groups, scored, never an input
    options: dict[str, Any] = field(default_factory=dict)  # task-specific (recommendation)
    # cells training read as missing per column (data/cells.py: not readable as its type)
    unreadable: dict[str, int] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.features]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"] = [_plain(c) for c in self.classes]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Schema:
        return cls(
            target=d["target"],
            task=d["task"],
            features=[ColumnSpec(**c) for c in d["features"]],
            dropped=dict(d["dropped"]),
            classes=list(d.get("classes", [])),
            labels=d.get("labels"),
            options=dict(d.get("options") or {}),
            unreadable=dict(d.get("unreadable") or {}),
        )


def _plain(value: Any) -> Any:
    """Turn numpy scalars into plain Python values (for JSON and skops)."""
    return value.item() if isinstance(value, np.generic) else value


def table_format(path: Path) -> str | None:
    """The format :func:`load_table` reads ``path`` as, from its extension (None: unknown)."""
    return _READERS.get(path.suffix.lower())


def load_table(source: Any, text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read CSV, TSV, Parquet, JSON lines, Feather or a ``.sql`` file of one DuckDB query.

    ``text_columns`` are read as text where the format's reader guesses types (CSV, TSV,
    JSON), so ids such as ``00173`` keep their spelling. DataFrames pass through (copied);
    other in-memory tables (pyarrow, polars, numpy) are converted (:mod:`.tables`).
    """
    source = as_table(source)
    fmt = None
    if isinstance(source, pd.DataFrame):
        df = source
        name = "the DataFrame"
    else:
        path = Path(source)
        name = f"'{path}'"
        if not path.exists():
            raise DataError(f"The data file {name} does not exist.")
        if path.is_dir():
            raise DataError(f"The data path {name} is a directory, not a file.")
        fmt = table_format(path)
        if fmt is None:
            raise DataError(
                f"Cannot tell the format of {name} from its extension; use one of "
                f"{', '.join(sorted(_READERS))}."
            )
        try:
            df = _read(path, fmt, {str(c): str for c in text_columns})
        except (DataError, MissingExtraError, MemoryError):
            raise
        except Exception as e:  # every reader has its own exception types
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DataError(f"Could not read {name} as {fmt}: {reason}") from e
    if df.shape[1] == 0:
        raise DataError(f"The data in {name} has no columns.")
    if len(df) == 0:
        raise DataError(f"The data in {name} has no rows.")
    df = df.copy()
    df.columns = [str(c) for c in df.columns]
    refuse_duplicates(list(df.columns), name)
    if fmt is not None:  # where a refused cell is (cells.where)
        df.attrs.update(source=str(source), format=fmt)
    return df


def _read(path: Path, fmt: str, text: dict[str, type]) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise DataError(f"The data file '{path}' is empty.")
    if fmt in ("csv", "tsv"):
        return read_text_table(path, fmt, text)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        refuse_duplicates(pq.read_schema(path).names, f"'{path}'")  # pandas stops unclearly
        return pd.read_parquet(path)
    if fmt == "feather":
        return pd.read_feather(path)
    if fmt == "sql":  # one DuckDB query; it may read files: FROM 'data/*.parquet'
        duckdb = require("duckdb", "sql", "A SQL source (.sql)")
        query = path.read_text()
        return duckdb.connect().sql(query).df()
    dtype: Any = text or True
    if fmt == "jsonl":
        return pd.read_json(path, lines=True, dtype=dtype)
    if _first_char(path) == "[":  # one JSON array: of records (objects), or of rows (arrays)
        orient = "records" if _holds_records(path) else "values"
        return pd.read_json(path, orient=orient, dtype=dtype)
    try:
        return pd.read_json(path, lines=True, dtype=dtype)
    except ValueError:
        return pd.read_json(path, dtype=dtype)


def _first_char(path: Path) -> str:
    """The first character of a text file that is not white space (or a BOM)."""
    with path.open("r", encoding="utf-8-sig", errors="replace") as fh:
        while chunk := fh.read(4096):
            stripped = chunk.lstrip()
            if stripped:
                return stripped[0]
    return ""


def _holds_records(path: Path) -> bool:
    """Whether a file holding one JSON array starts with an object (``[{...``): an array of
    records, one row each, which pandas' default orientation reads as one column per row."""
    with path.open("r", encoding="utf-8-sig", errors="replace") as fh:
        head = fh.read(4096).lstrip()[1:].lstrip()
    return head.startswith("{")


def infer_features(
    df: pd.DataFrame, exclude: tuple[str | None, ...] = ()
) -> tuple[list[ColumnSpec], dict[str, str]]:
    """Decide how the models see each column but ``exclude``; drop identifiers and constants.

    Returns the input columns and the dropped ones with the reason for each. Raises
    DataError when no usable column is left.
    """
    features: list[ColumnSpec] = []
    dropped: dict[str, str] = {}
    n = len(df)
    for name in df.columns:
        if name in exclude:
            continue
        reason, spec = _classify_column(df[name], n)
        if spec is None:
            dropped[name] = reason
        else:
            features.append(spec)
    text = [f.name for f in features if f.kind == "text"]
    if text:  # free text is read by skrub (estimators/text.py): say so before any trial
        require("skrub", "text", f"The free-text column '{text[0]}'")
    if not features:
        kept = [c for c in df.columns if c not in exclude]
        detail = f" ({_column_list(dropped)})" if dropped else ""
        raise DataError(
            "No usable input column is left after dropping identifiers and constants"
            + (detail if kept else " (the table has no column besides the target)")
            + "."
        )
    return features, dropped


def check_column(df: pd.DataFrame, column: str, role: str) -> None:
    """Raise DataError if ``column`` (the ``role``: target, labels) is not in ``df``."""
    if column not in df.columns:
        raise DataError(
            f"The {role} column '{column}' is not in the data; columns are: "
            f"{_column_list(df.columns)}."
        )


def class_values(y: pd.Series) -> list[Any]:
    """The distinct non-missing values of ``y`` as plain Python values, sorted."""
    return sorted((_plain(v) for v in y.dropna().unique()), key=_sort_key)


def _sort_key(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, int | float | bool | np.number) else (1, str(v))


def _column_list(names: Any) -> str:
    names = [str(n) for n in names]
    return ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")


def _classify_column(col: pd.Series, n: int) -> tuple[str, ColumnSpec | None]:
    name = str(col.name)
    non_null = col.dropna()
    if len(non_null) == 0:
        return "all values missing", None
    nunique = non_null.nunique()
    if nunique <= 1:
        return "constant", None
    dtype = str(col.dtype)
    if pd.api.types.is_datetime64_any_dtype(col):
        return "", ColumnSpec(name, "datetime", dtype)
    if pd.api.types.is_bool_dtype(col):
        return "", ColumnSpec(name, "categorical", dtype)
    if pd.api.types.is_numeric_dtype(col):
        values = non_null.to_numpy(dtype=float)
        integral = bool(np.all(values == np.round(values)))
        all_unique = nunique == len(non_null) and n >= 20
        if integral and all_unique and (_ID_NAME.search(name) or _is_sequence(values)):
            return "identifier (unique integer per row)", None
        if integral and 3 <= nunique <= 10 and values.min() >= 0 and _ID_NAME.search(name) is None:
            return "", ColumnSpec(name, "categorical", dtype)  # low-cardinality codes
        return "", ColumnSpec(name, "numeric", dtype)
    text = non_null.astype(str)
    if _looks_like_dates(text):
        return "", ColumnSpec(name, "datetime", dtype)
    if _numeric_share(text) >= 0.99 and len(text) >= 1:
        return "", ColumnSpec(name, "numeric", dtype)  # numbers stored as text
    return _classify_words(text, nunique, dtype)


def _classify_words(text: pd.Series, nunique: int, dtype: str) -> tuple[str, ColumnSpec | None]:
    """A column of strings that are no numbers or dates: free text, an identifier or a
    category (``text``: its non-missing values as strings, ``nunique`` distinct)."""
    name = str(text.name)
    if _ID_NAME.search(name) is None and looks_like_free_text(text, nunique):
        return "", ColumnSpec(name, "text", dtype)  # reviews, descriptions, posts
    if nunique == len(text) and len(text) >= 20:
        return "identifier (unique text per row)", None
    if _ID_NAME.search(name) and nunique > 0.9 * len(text):
        return "identifier (name and near-unique values)", None
    return "", ColumnSpec(name, "categorical", dtype)


def _numeric_share(text: pd.Series) -> float:
    """The share of rows whose text reads as a number (each distinct text parsed once)."""
    counts = text.value_counts(sort=False)
    parsed = pd.to_numeric(pd.Series(counts.index, dtype=object), errors="coerce")
    return float(counts.to_numpy()[parsed.notna().to_numpy()].sum() / max(len(text), 1))


def _is_sequence(values: np.ndarray) -> bool:
    s = np.sort(values)
    return bool(np.all(np.diff(s) == 1))


def _looks_like_dates(text: pd.Series) -> bool:
    sample = text.head(200)
    if sample.str.match(_DATE_LIKE).mean() < 0.95:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed", utc=True)
    return bool(parsed.notna().mean() >= 0.95)


DATETIME_PARTS = ("year", "month", "day", "day_of_week", "hour")


def prepare_features(df: pd.DataFrame, schema: Schema, *, strict: bool = False) -> pd.DataFrame:
    """Select and type the schema's feature columns; expand datetimes into numeric parts.

    Categories come out as text of dtype object, free text as pandas' string dtype
    (``freetext.TEXT_DTYPE``): the preprocessing encodes each its own way.

    A missing column raises SchemaMismatchError. A cell its column cannot read (see
    ``data/cells.py``) is missing, or with ``strict`` refused, naming its column and place.
    """
    X, masks = read_features(df, schema)
    if strict:
        refuse_unreadable(df, schema, masks)
    return X


def read_features(df: pd.DataFrame, schema: Schema) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The features of ``df`` as :func:`prepare_features` makes them, and per typed column a
    row mask of its unreadable cells (read as missing)."""
    missing = [c for c in schema.feature_names if c not in df.columns]
    if missing:
        raise SchemaMismatchError(
            f"The data is missing the column{'s' if len(missing) > 1 else ''} "
            f"{_column_list(missing)} that the model was trained on."
        )
    out: dict[str, Any] = {}
    masks: dict[str, np.ndarray] = {}
    for spec in schema.features:
        col = df[spec.name]
        if spec.kind == "numeric":
            out[spec.name], masks[spec.name] = _to_numeric(col)
        elif spec.kind == "categorical" and spec.dtype in ("bool", "boolean"):
            out[spec.name], masks[spec.name] = _to_truth_text(col)
        elif spec.kind == "categorical":
            out[spec.name] = _to_category_text(col)
        elif spec.kind == "text":
            out[spec.name] = to_free_text(col)
        else:
            stamps, masks[spec.name] = _to_datetime(col)
            for part in DATETIME_PARTS:
                out[f"{spec.name}__{part}"] = getattr(stamps.dt, part).astype("float64")
    return pd.DataFrame(out, index=df.index), masks


def refuse_unreadable(df: pd.DataFrame, schema: Schema, masks: dict[str, np.ndarray]) -> None:
    """SchemaMismatchError naming the first unreadable cell of ``masks`` (from
    :func:`read_features`), its column and its place in the file; nothing if none."""
    cells.refuse(df, masks, _kinds(schema))


def _kinds(schema: Schema) -> dict[str, str]:
    """Each typed column's kind as ``cells.EXPECTED`` names it."""
    return {
        c.name: "truth" if c.dtype in ("bool", "boolean") and c.kind == "categorical" else c.kind
        for c in schema.features
    }


def _to_numeric(col: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """The column as floats, and the mask of its unreadable cells (text that is no number,
    infinite values): those are missing, a value the models know how to take."""
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        converted = col.astype("float64")
        bad = np.zeros(len(col), dtype=bool)
    else:
        converted = pd.to_numeric(col, errors="coerce").astype("float64")
        said_missing = col.astype(str).str.strip().str.lower().isin(cells.MISSING_MARKERS)
        bad = (converted.isna() & col.notna() & ~said_missing).to_numpy()
    infinite = np.isinf(converted.to_numpy())
    if infinite.any():
        converted = converted.mask(infinite)
    return converted, bad | infinite


def _to_category_text(col: pd.Series) -> pd.Series:
    """The column as text (missing stays NaN), converting each distinct value once."""
    return pd.Series(
        map_distinct(col, _category_text), index=col.index, dtype=object, name=col.name
    )


# kinds of column (pandas' ``infer_dtype``) whose equal values convert alike: for these,
# converting each distinct value is the same as converting every row (not so for a mix of
# booleans and numbers, where True and 1 are one distinct value but convert differently)
_DISTINCT_SAFE = {"string", "integer", "floating", "mixed-integer-float", "boolean", "empty"}


def map_distinct(
    col: pd.Series, convert: Callable[[Any], Any], missing: Any = np.nan
) -> np.ndarray:
    """``convert`` of each row of ``col`` (``missing`` where the row is missing), applied once
    per distinct value. Converting hundreds of thousands of rows one by one in Python took
    most of the time of reading a large table."""
    if pd.api.types.infer_dtype(col, skipna=True) in _DISTINCT_SAFE:
        codes, uniques = pd.factorize(col, use_na_sentinel=True)
        converted = _objects([convert(v) for v in np.asarray(uniques, object)] + [missing])
        return converted[codes]  # code -1, a missing row, takes the last: ``missing``
    gone = col.isna().to_numpy()
    values = col.astype(object).to_numpy()
    return _objects([missing if m else convert(v) for v, m in zip(values, gone, strict=True)])


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


_TRUTHS = {
    **dict.fromkeys(("true", "t", "yes", "y", "1", "1.0"), "True"),
    **dict.fromkeys(("false", "f", "no", "n", "0", "0.0"), "False"),
}


def _to_truth_text(col: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """A column learned as true/false: the usual spellings (any case, 1/0, yes/no) read as
    its two categories; anything else is unreadable (its mask)."""
    text = map_distinct(col, lambda v: _TRUTHS.get(str(v).strip().lower()))
    unreadable = col.notna().to_numpy() & pd.isna(text)
    return pd.Series(text, index=col.index, dtype=object, name=col.name), unreadable


def _category_text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))  # 3.0 read from JSON matches the code 3
    return str(v)


def _to_datetime(col: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parse to naive UTC timestamps (offsets, even mixed ones, are converted to UTC), and
    the mask of cells that are no date."""
    if pd.api.types.is_datetime64_any_dtype(col):
        if getattr(col.dt, "tz", None) is not None:
            return col.dt.tz_convert("UTC").dt.tz_localize(None), np.zeros(len(col), bool)
        return col, np.zeros(len(col), dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(col, errors="coerce", format="mixed", utc=True)
    bad = (parsed.isna() & col.notna()).to_numpy()
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    return parsed, bad


def fingerprint(df: pd.DataFrame) -> str:
    """A stable SHA-256 of the table's columns, types and values (first 16 hex digits)."""
    h = hashlib.sha256()
    h.update("|".join(f"{c}:{df[c].dtype}" for c in df.columns).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def split_sizes(n: int, test_share: float = 0.2) -> tuple[int, int]:
    """Rows for (validation, test): a fifth each by default (the test share can be larger,
    see ``certify.split_share_for``), capped so large tables stay fast to score."""
    n_test = min(max(int(round(test_share * n)), 1), 100_000)
    n_val = min(max(int(round(0.2 * n)), 1), 50_000)
    if n - n_test - n_val < 2:
        raise DataError(f"The data has only {n} usable rows; at least 10 are needed to learn.")
    return n_val, n_test


def split_indices(
    y: np.ndarray, seed: int, *, stratify: bool = False, test_share: float = 0.2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded train / validation / test row indices of ``len(y)`` rows.

    With ``stratify`` the split keeps the share of each value of ``y`` (classes) where
    every class has enough rows; otherwise rows are split at random.
    """
    from sklearn.model_selection import train_test_split

    n = len(y)
    if n < 10:
        raise DataError(f"The data has only {n} usable rows; at least 10 are needed to learn.")
    n_val, n_test = split_sizes(n, test_share)
    idx = np.arange(n)
    strat = y if stratify and _can_stratify(y, n_test, n_val) else None
    rest, test = train_test_split(idx, test_size=n_test, random_state=seed, stratify=strat)
    strat_rest = y[rest] if strat is not None else None
    train, val = train_test_split(rest, test_size=n_val, random_state=seed + 1, stratify=strat_rest)
    return np.sort(train), np.sort(val), np.sort(test)


def _can_stratify(y: np.ndarray, n_test: int, n_val: int) -> bool:
    _, counts = np.unique(y, return_counts=True)
    return bool(counts.min() >= 3 and n_test >= len(counts) and n_val >= len(counts))
