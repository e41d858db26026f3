"""A :class:`~learnloop.report._doc.Document` as Markdown: the terminal summary.

Figures become one line naming what the HTML report plots.
"""

from __future__ import annotations

from learnloop.report._doc import Document, Figure, Table, Text, fmt

__all__ = ["render_markdown"]


def _cell(value: object) -> str:
    return fmt(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(doc: Document) -> str:
    """The whole report as Markdown text."""
    out = [f"# {doc.title}", "", f"**{doc.verdict}**", ""]
    for section in doc.sections:
        out += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Text):
                out += [f"_{block.text}_" if block.tone == "note" else block.text, ""]
            elif isinstance(block, Table):
                out.append("| " + " | ".join(block.headers) + " |")
                out.append("|" + "---|" * len(block.headers))
                out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in block.rows]
                out += ([f"_{block.caption}_"] if block.caption else []) + [""]
            elif isinstance(block, Figure):
                out += [f"(plot in the HTML report: {block.caption})", ""]
    if doc.footer:
        out += ["---", doc.footer]
    return "\n".join(out).rstrip() + "\n"
