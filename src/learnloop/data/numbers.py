"""Numbers written as text with a locale's separators: ``1.234,56`` (decimal commas, as much
of Europe writes them, often in semicolon files) and ``1,234.56`` (thousands commas).

pandas reads such a column as text, which then became a category or a dropped identifier;
here each text column is checked on its own and, when nearly all its cells are numbers in
one of the two styles, read as numbers.
"""

from __future__ import annotations

import re
from collections.abc import Container

import pandas as pd

__all__ = ["read_separated_numbers"]

_GROUPS = "[.\u00a0\u202f ]"  # a dot, or a (no-break, narrow) space between thousands
_DECIMAL_COMMA = re.compile(rf"^[+-]?(\d{{1,3}}({_GROUPS}\d{{3}})+|\d+)(,\d+)?$")
_THOUSANDS_COMMA = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")
_SEPARATED = re.compile(r"[,.\u00a0\u202f ]")
MIN_SHARE = 0.99  # of a column's cells; the others stay as written (missing in training)


def read_separated_numbers(
    frame: pd.DataFrame,
    delimiter: str,
    keep: Container[str] = (),
    styles: dict[str, str | None] | None = None,
) -> list[str]:
    """Convert, in place, each text column of ``frame`` (but ``keep``) whose cells are
    numbers with decimal commas or thousands separators; returns one note per column.

    A column that fits both styles (``1,234`` only) is read with decimal commas in a
    semicolon file and as thousands otherwise. ``styles`` remembers each column's style
    (None: not such numbers) across the chunks of one file: the first chunk with text in
    a column decides, as the whole file would, so a later chunk with a few odd cells
    reads them as unreadable rather than turning its whole column to text.
    """
    notes = []
    decided = {} if styles is None else styles
    for name in frame.columns:
        col = frame[name]
        if name in keep or pd.api.types.is_numeric_dtype(col) or col.dropna().empty:
            continue
        if not (pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col)):
            continue
        known = name in decided
        if not known:
            decided[name] = _style(col.dropna().astype(str).str.strip(), delimiter)
        style = decided[name]
        if style is None:
            continue
        frame[name] = _convert(col, style)
        if known:
            continue  # said once, by the chunk that decided
        example = "1.234,56" if style == "decimal comma" else "1,234.56"
        notes.append(f"Read the column '{name}' as numbers with {style}s (like {example}).")
    return notes


def _style(text: pd.Series, delimiter: str) -> str | None:
    """'decimal comma', 'thousands comma' or None (not numbers with separators)."""
    counts = text.value_counts(sort=False)
    values = pd.Series(counts.index, dtype=object).astype(str)
    weights = counts.to_numpy()
    total = weights.sum()
    if not values.str.contains(_SEPARATED).any():
        return None  # plain numbers or plain text: pandas' reading stands
    if delimiter != ";" and not values.str.contains(",", regex=False).any():
        return None  # decimal points and no comma: plain numbers with some text among them
    euro = weights[values.str.match(_DECIMAL_COMMA).to_numpy()].sum() >= MIN_SHARE * total
    english = weights[values.str.match(_THOUSANDS_COMMA).to_numpy()].sum() >= MIN_SHARE * total
    if euro and english:
        return "decimal comma" if delimiter == ";" else "thousands comma"
    if euro:
        return "decimal comma"
    return "thousands comma" if english else None


def _convert(col: pd.Series, style: str) -> pd.Series:
    """The column's numbers as floats; a cell that is no number in ``style`` stays as
    written, so training reads it as missing and prediction refuses it, as for any column."""
    text = col.astype(str).str.strip()
    if style == "decimal comma":
        plain = text.str.replace(_GROUPS, "", regex=True).str.replace(",", ".", regex=False)
        fits = text.str.match(_DECIMAL_COMMA)
    else:
        plain = text.str.replace(",", "", regex=False)
        fits = text.str.match(_THOUSANDS_COMMA)
    numbers = pd.to_numeric(plain.where(fits & col.notna()), errors="coerce")
    if bool((fits | col.isna()).all()):
        return numbers.astype("float64")
    out = col.astype(object).copy()
    out[fits & col.notna()] = numbers[fits & col.notna()]
    return out
