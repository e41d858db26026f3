"""Reading CSV and TSV files as people write them: the delimiter sniffed, the encoding given
or detected, the header checked for repeated names, and numbers with a locale's separators
read as numbers.
"""

from __future__ import annotations

import contextvars
import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from learnloop.data.numbers import read_separated_numbers
from learnloop.exceptions import DataError

__all__ = ["ENCODING", "read_text_table", "detect_encoding", "refuse_duplicates", "sniff_delimiter"]

# the text encoding of CSV and TSV files (``--encoding``); None: UTF-8, else detected
ENCODING: contextvars.ContextVar[str | None] = contextvars.ContextVar("encoding", default=None)


def refuse_duplicates(names: Sequence[Any], where: str) -> None:
    """DataError naming the first column name given twice and both positions (from 1)."""
    seen: dict[str, int] = {}
    for position, label in enumerate(names, start=1):
        if label is None or (isinstance(label, float) and np.isnan(label)):
            continue  # a column without a name: pandas names it "Unnamed: N"
        if str(label) in seen:
            raise DataError(
                f"The data in {where} has two columns named '{label}' (columns "
                f"{seen[str(label)]} and {position}); rename one."
            )
        seen[str(label)] = position


def read_text_table(path: Path, fmt: str, text: dict[str, type]) -> pd.DataFrame:
    """A CSV or TSV file in the encoding given (``ENCODING``), else UTF-8, else the one
    detected; a note says which encoding was used when it is not UTF-8."""
    sep = sniff_delimiter(path) if fmt == "csv" else "\t"
    given = ENCODING.get()
    notes: list[str] = []
    try:
        frame = pd.read_csv(
            path, sep=sep, low_memory=False, dtype=text or None, encoding=given or "utf-8"
        )
        encoding = given or "utf-8"
    except UnicodeDecodeError as e:
        if given is not None:
            raise DataError(
                f"The file '{path}' is not {given} (byte {e.start} does not decode); "
                "give its encoding with --encoding."
            ) from e
        encoding = detect_encoding(path)
        frame = pd.read_csv(path, sep=sep, low_memory=False, dtype=text or None, encoding=encoding)
        notes.append(
            f"Read '{path.name}' as {encoding}, not UTF-8 (detected); give --encoding if "
            "that is wrong."
        )
    # pandas renames a second 'balance' to 'balance.1': the header as written is checked
    header = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, encoding=encoding)
    refuse_duplicates(list(header.iloc[0]), f"'{path}'")
    notes += read_separated_numbers(frame, sep, keep=text)
    if fmt == "csv":
        frame.attrs["delimiter"] = sep
    frame.attrs["encoding"] = encoding
    frame.attrs["notes"] = notes
    return frame


def detect_encoding(path: Path) -> str:
    """The text encoding of a file that is not UTF-8, by charset-normalizer (DataError naming
    ``--encoding`` when it cannot tell)."""
    from charset_normalizer import from_path

    matches = list(from_path(path))
    if not matches or matches[0].encoding in ("utf_8", "ascii"):
        raise DataError(
            f"The file '{path}' is not UTF-8 and its encoding cannot be told; give it with "
            "--encoding (for example --encoding latin-1)."
        )
    best = matches[0]
    # short Western text scores the same in several code pages (cp1250 reads ñ as ń);
    # among equals, Windows' Western code page, the one most spreadsheets wrote, wins
    for m in matches:
        if (m.chaos, m.coherence) == (best.chaos, best.coherence) and (
            "cp1252" in m.could_be_from_charset
        ):
            return "cp1252"
    return str(best.encoding)


DELIMITERS = ",;\t|"
SNIFF_BYTES = 64 * 1024


def sniff_delimiter(path: Path) -> str:
    """The field delimiter of a CSV file: comma, semicolon, tab or bar (comma if unsure).

    Spreadsheets in much of Europe write semicolons, since the comma is their decimal mark.
    """
    with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        sample = fh.read(SNIFF_BYTES)
    lines = sample.splitlines()
    if len(sample) == SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut short
    head = "\n".join(lines[:200])
    try:
        return csv.Sniffer().sniff(head, delimiters=DELIMITERS).delimiter
    except csv.Error:
        pass
    # the sniffer gives up on quoted or ragged files: take the delimiter that splits the
    # header into the most fields and the same number on most lines
    best, best_fields = ",", 1
    for sep in DELIMITERS:
        counts = [len(row) for row in csv.reader(lines[:200], delimiter=sep)]
        if not counts:
            continue
        fields = counts[0]
        if fields > best_fields and counts.count(fields) >= 0.9 * len(counts):
            best, best_fields = sep, fields
    return best
