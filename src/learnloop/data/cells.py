"""Unreadable cells: one rule for a cell its column's type cannot read, at training and at
prediction.

A numeric column holding ``98109-2907`` (a ZIP+4 among ZIP codes), ``unknown`` or ``inf``, a
true/false column holding ``maybe``, a date column holding ``soon``: training reads each
such cell as missing (a value every model takes) and says per column how many it read so;
``learnloop predict`` reads them the same way and flags the rows (the output column
``_unreadable`` names their columns). Refusing them is asked for (``--strict``; the HTTP
server always refuses), and the refusal names where the cell is: the line of the file,
counting from 1 with the header, as an editor shows it. Empty cells and the usual words
for no value (``MISSING_MARKERS``: NA, n/a, null...) are missing values, not unreadable.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from learnloop.exceptions import SchemaMismatchError

__all__ = [
    "MISSING_MARKERS",
    "UNREADABLE_COLUMN",
    "EXPECTED",
    "counts",
    "training_notes",
    "flags",
    "prediction_note",
    "Tally",
    "refuse",
    "where",
]

# text that says "no value" (pandas' CSV reader's list, lower-cased): missing, not unreadable,
# whichever format brought it (JSON and Parquet keep it as text)
MISSING_MARKERS = frozenset(
    {"", "#n/a", "#n/a n/a", "#na", "-1.#ind", "-1.#qnan", "-nan", "1.#ind", "1.#qnan",
     "<na>", "n/a", "na", "null", "nan", "none"}
)  # fmt: skip
UNREADABLE_COLUMN = "_unreadable"  # predict's output column naming a row's unreadable cells
# what a column of each kind must hold, as the messages say it
EXPECTED = {
    "numeric": "be numeric",
    "finite": "hold finite numbers",
    "truth": "be true or false",
    "datetime": "hold dates",
}


def counts(masks: Mapping[str, np.ndarray]) -> dict[str, int]:
    """Cells read as missing per column (columns without any are left out)."""
    return {name: int(mask.sum()) for name, mask in masks.items() if mask.any()}


def training_notes(frame: pd.DataFrame, masks: Mapping[str, np.ndarray]) -> list[str]:
    """One sentence per column with unreadable cells, with the first such value."""
    notes = []
    for name, mask in masks.items():
        n = int(mask.sum())
        if n == 0:
            continue
        first = _plain(frame[name].to_numpy()[np.flatnonzero(mask)[0]])
        cells = "cell" if n == 1 else "cells"
        notes.append(
            f"Read {n} {cells} of the column '{name}' as missing: not readable as its type "
            f"(the first: {first!r}); prediction reads such cells the same way."
        )
    return notes


def flags(masks: Mapping[str, np.ndarray], n_rows: int) -> list[str]:
    """Per row, the names of its unreadable columns joined by ';' ('' where none)."""
    out = [""] * n_rows
    for name, mask in masks.items():
        for i in np.flatnonzero(mask):
            out[i] = f"{out[i]};{name}" if out[i] else name
    return out


def prediction_note(masks: Mapping[str, np.ndarray]) -> str:
    """What ``learnloop predict`` says of the unreadable cells it read as missing."""
    return Tally().add(masks).note() or ""


@dataclass
class Tally:
    """Unreadable cells counted over the chunks of one file, for one note at the end
    (columns in the schema's order, as the masks of the first chunk give it)."""

    cells: dict[str, int] = field(default_factory=dict)
    rows: int = 0

    def add(self, masks: Mapping[str, np.ndarray]) -> Tally:
        for name, mask in masks.items():
            self.cells[name] = self.cells.get(name, 0) + int(mask.sum())
        if counts(masks):
            self.rows += int(np.logical_or.reduce([m for m in masks.values() if m.any()]).sum())
        return self

    def note(self) -> str | None:
        """The note, or None where every cell was read."""
        found = {c: n for c, n in self.cells.items() if n}
        if not found:
            return None
        total, rows = sum(found.values()), self.rows
        each = ", ".join(f"'{c}': {n}" for c, n in found.items())
        return (
            f"Read {total} {'cell' if total == 1 else 'cells'} as missing, as training does "
            f"({each}); {'its row is' if rows == 1 else f'their {rows} rows are'} flagged in "
            f"the column {UNREADABLE_COLUMN} (--strict refuses them)."
        )


def refuse(frame: pd.DataFrame, masks: Mapping[str, np.ndarray], kinds: Mapping[str, str]) -> None:
    """SchemaMismatchError for the first unreadable cell (the earliest row; among its
    columns, the first of the schema), naming its column, its place and its value."""
    bad = {name: np.flatnonzero(mask) for name, mask in masks.items() if mask.any()}
    if not bad:
        return
    name = min(bad, key=lambda c: bad[c][0])  # dicts keep the schema's order on ties
    position = int(bad[name][0])
    value = _plain(frame[name].iloc[position])
    kind = kinds[name]
    if kind == "numeric" and _infinite(value):
        kind = "finite"
    raise SchemaMismatchError(
        f"The column '{name}' must {EXPECTED[kind]}, but "
        f"{where(frame, frame.index[position])} holds {value!r}."
    )


def where(frame: pd.DataFrame, label: Any) -> str:
    """The place of the row ``label`` of ``frame`` as its reader shows it: 'line 965 of
    'houses.csv'' for a text file (from 1, the header included), 'row 3' for a DataFrame."""
    source, fmt = frame.attrs.get("source"), frame.attrs.get("format")
    if source is None or not isinstance(label, int | np.integer):
        return f"row {label!r}"
    name = Path(source).name
    if fmt in ("csv", "tsv"):
        sep = "\t" if fmt == "tsv" else frame.attrs.get("delimiter", ",")
        line = _csv_line(Path(source), int(label), sep, frame.attrs.get("encoding", "utf-8"))
        if line is not None:
            return f"line {line} of '{name}'"
    if fmt == "jsonl":
        return f"line {int(label) + 1} of '{name}'"
    return f"row {int(label) + 1} of '{name}' (counting from 1)"


def _csv_line(path: Path, record: int, sep: str, encoding: str) -> int | None:
    """The line (from 1) on which data record ``record`` (from 0, after the header) starts;
    quoted line breaks make records and lines differ, and blank lines are skipped as pandas
    skips them. Read only to name a refused cell."""
    try:
        with path.open("r", encoding=encoding, newline="") as fh:
            reader = csv.reader(fh, delimiter=sep)
            ended, seen = 0, -1  # the line the last record ended on; records read (header: -1)
            for row in reader:
                if row:
                    if seen == record:
                        return ended + 1
                    seen += 1
                ended = reader.line_num
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return None


def _infinite(value: Any) -> bool:
    """Whether ``value`` reads as an infinite number (``inf``, ``-Infinity``, ``1e400``)."""
    try:
        return bool(np.isinf(float(value)))
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
