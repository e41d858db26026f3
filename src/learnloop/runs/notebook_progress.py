"""Progress in a Jupyter notebook: one HTML block under the cell, updated in place.

It is driven by the same reporter events as the command line's display (``on_start``,
``on_trial``, ``on_look``, ``on_message``) and drawn with IPython's own ``display`` handle
(``display_id``), so it needs no widget library (ipywidgets, tqdm's notebook bar) and its
last state stays in the saved notebook. The bar is the budget spent; a run that meets its
threshold early ends with the bar short of full, which is the time it saved.
"""

from __future__ import annotations

import html
import sys
import time
from typing import Any

from learnloop.certify import Certificate
from learnloop.search import Search
from learnloop.search.trials import TrialRecord

__all__ = ["NotebookReporter", "in_notebook"]

MESSAGES_SHOWN = 6  # the last messages the block keeps (every one is in the store's record)
REFRESH_S = 0.25  # at most this often between trials; an improvement or a look always shows


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython with a kernel attached), without importing
    IPython where it is not already loaded."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.4g}"


class NotebookReporter:
    """The run's progress as an HTML block: budget bar, trials, best score vs threshold
    and aim, the last test look and the latest messages."""

    def __init__(self) -> None:
        self.info: dict[str, Any] = {}
        self.started = time.monotonic()
        self.handle: Any = None
        self.trials = 0
        self.failed = 0
        self.best: float | None = None
        self.aim: float | None = None
        self.last = ""
        self.looks: list[str] = []
        self.messages: list[str] = []
        self.shown_at = 0.0
        self.done: float | None = None  # seconds the run took, once closed

    def on_start(self, info: dict[str, Any]) -> None:
        from IPython.display import HTML, display

        self.info = info  # the clock started with the call: reading the data counts
        self.handle = display(HTML(self.html()), display_id=True)

    def on_trial(self, record: TrialRecord, loop: Search) -> None:
        self.trials = len(loop.trials)
        self.failed = sum(t.status == "failed" for t in loop.trials)
        improved = loop.best is not None and loop.best.trial == record.number
        self.best, self.aim = loop.best_score, loop.target
        self.last = f"{record.candidate} on {record.n_rows} rows: {_fmt(record.score)}"
        self._refresh(force=improved)

    def on_look(self, cert: Certificate) -> None:
        verdict = {True: "met", False: "not met", None: "no threshold"}[cert.met]
        self.looks.append(
            f"test look {cert.look}: {cert.metric} {cert.test_score:.4g} on {cert.n_test} rows, "
            f"{cert.confidence:.0%} bound {cert.test_bound:.4g}: {verdict}"
        )
        self._refresh(force=True)

    def on_message(self, text: str) -> None:
        self.messages.append(text)
        self._refresh(force=True)

    def close(self) -> None:
        if self.handle is not None and self.done is None:
            self.done = time.monotonic() - self.started
            self._refresh(force=True)

    def _refresh(self, *, force: bool) -> None:
        if self.handle is None or (not force and time.monotonic() - self.shown_at < REFRESH_S):
            return
        from IPython.display import HTML

        self.handle.update(HTML(self.html()))
        self.shown_at = time.monotonic()

    def html(self) -> str:
        """The block as it stands (escaped: messages name columns and files)."""
        info = self.info
        budget = float(info.get("budget") or 0.0)
        elapsed = self.done if self.done is not None else time.monotonic() - self.started
        state = f"done in {elapsed:.1f} s" if self.done is not None else f"{elapsed:.1f} s"
        threshold = info.get("threshold")
        lines = [
            f"<progress value='{min(elapsed, budget):.2f}' max='{budget:.2f}' "
            "style='width:16em;vertical-align:middle'></progress> "
            f"<b>{html.escape(state)}</b> of a {budget:g} s budget · {self.trials} trials"
            + (f" ({self.failed} failed)" if self.failed else ""),
            f"best validation {html.escape(str(info.get('metric', '')))} {_fmt(self.best)}"
            f" · threshold {_fmt(threshold)} · aim {_fmt(self.aim)}"
            + (f" · last: {html.escape(self.last)}" if self.last else ""),
            *(html.escape(look) for look in self.looks[-2:]),
            *(
                f"<span style='color:#666'>{html.escape(m)}</span>"
                for m in self.messages[-MESSAGES_SHOWN:]
            ),
        ]
        rows = info.get("rows") or {}
        head = (
            f"learnloop run {html.escape(str(info.get('run_id', '')))}: "
            f"{html.escape(str(info.get('task', '')))} on {rows.get('train', '?')}/"
            f"{rows.get('validation', '?')}/{rows.get('test', '?')} train/validation/test rows"
        )
        body = "<br>".join(lines)
        return (
            "<div class='learnloop-progress' style='font-size:0.9em;line-height:1.5'>"
            f"<div style='color:#444'>{head}</div>{body}</div>"
        )
