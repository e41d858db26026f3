"""A report shown inside a notebook: the HTML page in an iframe's ``srcdoc``.

The page is the one ``learnloop report`` writes (its styles are for a whole page: ``body``,
``h1``, ``table``); inside an iframe they style the report only, never the notebook around
it, and the notebook's styles do not reach the report. ``srcdoc`` keeps it one value in
the notebook file: nothing is written to disk, nothing is fetched.
"""

from __future__ import annotations

import html

__all__ = ["InlineReport"]

FRAME_HEIGHT_PX = 640  # the report scrolls inside the frame; the notebook stays readable


class InlineReport:
    """A rendered report: a notebook shows it (``_repr_html_``); :attr:`html` is the page."""

    def __init__(self, page: str, title: str, height: int = FRAME_HEIGHT_PX) -> None:
        self.html = page
        self.title = title
        self.height = height

    def __repr__(self) -> str:
        return f"<InlineReport {self.title!r} ({len(self.html)} characters of HTML)>"

    def _repr_html_(self) -> str:
        # srcdoc is an attribute: the page is escaped once (quotes too) and the browser
        # un-escapes it; a sandbox without allow-scripts keeps the page inert
        return (
            f"<iframe title='{html.escape(self.title)}' srcdoc=\"{html.escape(self.html)}\" "
            f"sandbox='allow-same-origin allow-popups' "
            f"style='width:100%;height:{self.height}px;border:1px solid #d9dde5;"
            "border-radius:4px'></iframe>"
        )
