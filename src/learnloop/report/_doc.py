"""The report as a value: sections of text, tables and figures, rendered later.

Sections are built by the report's own modules (a model's decisions by
:mod:`learnloop.report._decisions`, by what its task's models produce);
:mod:`learnloop.report._html` and :mod:`learnloop.report._markdown` turn the same
:class:`Document` into a page or a
terminal summary. Nothing here knows about runs, models or tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Text", "Table", "Figure", "Section", "Document", "Block", "fmt"]


@dataclass
class Text:
    """A paragraph. ``tone``: "" (plain), "good", "bad" or "note" (how it is coloured)."""

    text: str
    tone: str = ""


@dataclass
class Table:
    """A table of plain values (formatted with :func:`fmt`)."""

    headers: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass
class Figure:
    """An inline SVG plot and a caption saying what it shows (and how points were sampled)."""

    svg: str
    caption: str


Block = Text | Table | Figure


@dataclass
class Section:
    """One titled part of the report."""

    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> Section:
        self.blocks.extend(blocks)
        return self


@dataclass
class Document:
    """A whole report: a title, a one-line verdict and its sections."""

    title: str
    verdict: str
    met: bool | None
    sections: list[Section]
    footer: str = ""


def fmt(value: Any, digits: int = 4) -> str:
    """A value as the report prints it: 4 significant digits, '-' for nothing."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.{digits}g}"
    return str(value)
