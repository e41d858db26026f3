"""A :class:`~learnloop.report._doc.Document` as Markdown: the terminal summary.

Figures become one line naming what the HTML report plots. Every piece of text may come
from the data (a column named ``<script>``, a class label with an ESC in it), so each is
escaped: control characters are written as escapes (``\\x1b``), ``<``, ``>`` and ``&`` as
HTML entities (no ``<`` is left in the file for any viewer to take as a tag), and the
characters that would start a link, code, emphasis or a table cell are backslashed, so a
viewer shows the text as it is and never renders it.
"""

from __future__ import annotations

import re

from learnloop.core.printable import printable
from learnloop.report._doc import Document, Figure, Table, Text, fmt

__all__ = ["render_markdown", "escape"]

# backslash, code, emphasis, links and images, table cells; an underscore only where it
# could open or close emphasis (not inside a word: mean_radius)
_SPECIAL = re.compile(r"[\\`*\[\]|!]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# what would make a paragraph's first line a heading, a list item or a rule
_BLOCK_START = re.compile(r"^(\s*)([#+\-=]|\d+)([.)]?)")


def escape(text: str) -> str:
    """``text`` as Markdown shows it literally, on one line."""
    text = printable(text, newlines=False)
    text = _SPECIAL.sub(lambda m: "\\" + m.group(), text)
    return re.sub("[&<>]", lambda m: _ENTITIES[m.group()], text)


def _paragraph(text: str) -> str:
    """``text`` escaped, and shown as a paragraph even if it starts like another block."""

    def plain(m: re.Match[str]) -> str:
        lead, mark, dot = m.groups()
        if mark.isdigit():  # "1." or "1)" starts a list; "1.5" and "12" do not
            return m.group() if not dot else f"{lead}{mark}\\{dot}"
        return f"{lead}\\{mark}{dot}"

    return _BLOCK_START.sub(plain, escape(text))


def _cell(value: object) -> str:
    return escape(fmt(value))


def render_markdown(doc: Document) -> str:
    """The whole report as Markdown text."""
    out = [f"# {escape(doc.title)}", "", f"**{escape(doc.verdict)}**", ""]
    for section in doc.sections:
        out += [f"## {escape(section.title)}", ""]
        for block in section.blocks:
            if isinstance(block, Text):
                text = _paragraph(block.text)
                out += [f"_{text}_" if block.tone == "note" else text, ""]
            elif isinstance(block, Table):
                out.append("| " + " | ".join(escape(h) for h in block.headers) + " |")
                out.append("|" + "---|" * len(block.headers))
                out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in block.rows]
                out += ([f"_{escape(block.caption)}_"] if block.caption else []) + [""]
            elif isinstance(block, Figure):
                out += [f"(plot in the HTML report: {escape(block.caption)})", ""]
    if doc.footer:
        out += ["---", _paragraph(doc.footer)]
    return "\n".join(out).rstrip() + "\n"
