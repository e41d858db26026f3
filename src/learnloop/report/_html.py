"""A :class:`~learnloop.report._doc.Document` as one self-contained HTML page.

No script, no font, no image is fetched: styles are inline, plots are inline SVG. The
page reads on a laptop screen and prints on A4 (sections do not split figures). Every piece
of text may come from the data, so each goes through :func:`_text`: HTML-escaped, with
control characters (ESC, NUL, bidirectional overrides) written as visible escapes.
"""

from __future__ import annotations

import html

from learnloop.core.printable import printable
from learnloop.report._doc import Block, Document, Figure, Table, Text, fmt

__all__ = ["render_html"]

_CSS = """
:root { --ink:#1d2330; --muted:#5b6475; --line:#d9dde5; --good:#137333; --bad:#b3261e;
        --note:#7a5b00; --bg:#fff; --band:#f5f7fa; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: var(--bg); margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 24px; margin: 0 0 8px; }
h2 { font-size: 19px; margin: 32px 0 8px; padding-top: 8px; border-top: 2px solid var(--line); }
.verdict { font-size: 18px; padding: 12px 16px; border-radius: 6px; margin: 12px 0 16px;
           background: var(--band); border-left: 6px solid var(--muted); }
.verdict.good { border-color: var(--good); } .verdict.bad { border-color: var(--bad); }
nav { font-size: 13px; color: var(--muted); } nav a { color: var(--muted); margin-right: 12px; }
p.good { color: var(--good); } p.bad { color: var(--bad); font-weight: 600; }
p.note { color: var(--note); font-size: 13px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; max-width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left;
         vertical-align: top; }
th { background: var(--band); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: bottom; text-align: left; color: var(--muted); font-size: 12px;
          padding-top: 4px; }
figure { margin: 8px 0 20px; break-inside: avoid; }
figure svg { width: 100%; max-width: 760px; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 12px; max-width: 760px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
@media print { main { max-width: none; padding: 0; } nav { display: none; }
  h2 { break-after: avoid; } table, figure { break-inside: avoid; } }
"""


def _text(text: str) -> str:
    """``text`` safe inside an element or an attribute value."""
    return html.escape(printable(text))


def _block(block: Block) -> str:
    if isinstance(block, Text):
        cls = f' class="{block.tone}"' if block.tone else ""
        return f"<p{cls}>{_text(block.text)}</p>"
    if isinstance(block, Table):
        head = "".join(f"<th>{_text(h)}</th>" for h in block.headers)
        rows = []
        for row in block.rows:
            cells = []
            for v in row:
                num = isinstance(v, int | float) and not isinstance(v, bool)
                cls = ' class="num"' if num else ""
                cells.append(f"<td{cls}>{_text(fmt(v))}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        cap = f"<caption>{_text(block.caption)}</caption>" if block.caption else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    if isinstance(block, Figure):
        # matplotlib's SVG escapes markup in labels (column and class names), not controls
        caption = f"<figcaption>{_text(block.caption)}</figcaption>"
        return f"<figure>{printable(block.svg)}{caption}</figure>"
    raise TypeError(f"Unknown report block {type(block).__name__}")


def _anchor(i: int) -> str:
    return f"s{i}"


def render_html(doc: Document) -> str:
    """The whole page as one string."""
    tone = "" if doc.met is None else ("good" if doc.met else "bad")
    nav = "".join(
        f'<a href="#{_anchor(i)}">{_text(s.title)}</a>' for i, s in enumerate(doc.sections)
    )
    body = []
    for i, section in enumerate(doc.sections):
        body.append(f'<section id="{_anchor(i)}"><h2>{_text(section.title)}</h2>')
        body.extend(_block(b) for b in section.blocks)
        body.append("</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_text(doc.title)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{_text(doc.title)}</h1>"
        f'<div class="verdict {tone}">{_text(doc.verdict)}</div>'
        f"<nav>{nav}</nav>{''.join(body)}"
        f"<footer>{_text(doc.footer)}</footer></main></body></html>\n"
    )
