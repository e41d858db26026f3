"""Progress display: a live rich panel on a terminal, plain lines otherwise (both on stderr);
in a Jupyter notebook an HTML block (:mod:`learnloop.runs.notebook_progress`).

:func:`reporter_for` is the choice ``learnloop.train(progress=...)`` makes: by default a
display only where someone watches (a notebook, a terminal), silence in scripts, tests,
pipelines and workers whose stderr is not a terminal.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table

from learnloop.certify import Certificate
from learnloop.exceptions import UsageError
from learnloop.search import Search
from learnloop.search.trials import TrialRecord

__all__ = ["make_reporter", "reporter_for", "PlainReporter", "LiveReporter", "SilentReporter"]


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


class PlainReporter:
    """One line per improvement or look, and a heartbeat every few seconds."""

    HEARTBEAT_S = 5.0

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.budget = 0.0
        self.best: float | None = None
        self.last_line = 0.0
        self.started = time.monotonic()

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
        self.last_line = time.monotonic()

    def on_start(self, info: dict[str, Any]) -> None:
        self.budget = info["budget"]
        self.started = time.monotonic()
        rows = info["rows"]
        thr = info["threshold"]
        goal = f"{info['metric']} vs threshold {thr:g}" if thr is not None else info["metric"]
        baseline = info.get("baseline_score")
        # clustering's trivial model needs the chosen model's cluster count: known at the end
        trivial = "" if baseline is None else f"; trivial model scores {_fmt(baseline)} on test"
        self._print(
            f"run {info['run_id']}: {info['task']} on {rows['train']}/{rows['validation']}/"
            f"{rows['test']} train/validation/test rows, {goal}, budget {self.budget:g}s"
            f"{trivial}"
        )

    def on_trial(self, record: TrialRecord, loop: Search) -> None:
        elapsed = time.monotonic() - self.started
        improved = loop.best is not None and loop.best.trial == record.number
        if improved or time.monotonic() - self.last_line > self.HEARTBEAT_S:
            self._print(
                f"[{elapsed:6.1f}s/{self.budget:g}s] trial {record.number} {record.candidate} "
                f"({record.n_rows} rows, {record.steps} steps, {record.status}): "
                f"{_fmt(record.score)}; best {_fmt(loop.best_score)}; aim {_fmt(loop.target)}"
            )

    def on_look(self, cert: Certificate) -> None:
        verdict = {True: "met", False: "not met", None: "no threshold"}[cert.met]
        self._print(
            f"test look {cert.look}: {cert.metric} {cert.test_score:.4g} on {cert.n_test} rows, "
            f"{cert.confidence:.0%} bound {cert.test_bound:.4g} ({cert.method}, "
            f"alpha {cert.alpha_used:.3g}): {verdict}"
        )

    def on_message(self, text: str) -> None:
        self._print(text)

    def close(self) -> None:
        pass


class LiveReporter(PlainReporter):
    """A live table: elapsed vs budget, trials, best score vs threshold and aim."""

    def __init__(self, console: Console) -> None:
        super().__init__(console.file)  # type: ignore[arg-type]
        self.console = console
        self.live: Live | None = None
        self.info: dict[str, Any] = {}
        self.loop: Search | None = None

    def _print(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False)

    def on_start(self, info: dict[str, Any]) -> None:
        super().on_start(info)
        self.info = info
        self.live = Live(
            self._table(), console=self.console, refresh_per_second=4, get_renderable=self._table
        )
        self.live.start()

    def on_trial(self, record: TrialRecord, loop: Search) -> None:
        self.loop = loop

    def _table(self) -> Table:
        t = Table(show_header=False, box=None)
        elapsed = time.monotonic() - self.started
        t.add_row("elapsed", f"{elapsed:.1f}s of {self.budget:g}s")
        t.add_row("budget", ProgressBar(total=self.budget or None, completed=elapsed, width=30))
        loop = self.loop
        if loop is not None:
            done = len(loop.trials)
            t.add_row("trials", f"{done} ({sum(r.status == 'failed' for r in loop.trials)} failed)")
            last = loop.trials[-1]
            t.add_row("last", f"{last.candidate} on {last.n_rows} rows: {_fmt(last.score)}")
            t.add_row("best validation", _fmt(loop.best_score))
            t.add_row("threshold / aim", f"{_fmt(loop.threshold)} / {_fmt(loop.target)}")
        return t

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def make_reporter(stream: TextIO | None = None) -> PlainReporter:
    """A live display if stderr is a terminal, plain lines otherwise."""
    stream = stream or sys.stderr
    if stream.isatty():
        return LiveReporter(Console(file=stream, stderr=True))
    return PlainReporter(stream)


class SilentReporter:
    """Takes every event and shows nothing (``progress=False``, or no one watching)."""

    def on_start(self, info: dict[str, Any]) -> None: ...
    def on_trial(self, record: TrialRecord, loop: Search) -> None: ...
    def on_look(self, cert: Certificate) -> None: ...
    def on_message(self, text: str) -> None: ...
    def close(self) -> None: ...


def reporter_for(progress: bool | str = "auto") -> Any:
    """The display ``learnloop.train`` draws for ``progress``: ``"auto"`` an HTML block in a
    notebook, a live panel where stderr is a terminal, nothing otherwise; ``True`` the same
    but plain lines rather than nothing; ``False`` nothing. UsageError (a ValueError) for
    anything else."""
    from learnloop.runs.notebook_progress import NotebookReporter, in_notebook

    if progress not in (True, False, "auto"):
        raise UsageError(f"progress must be True, False or 'auto'; got {progress!r}.")
    if progress is False:
        return SilentReporter()
    if in_notebook():
        return NotebookReporter()
    if sys.stderr.isatty():
        return LiveReporter(Console(file=sys.stderr, stderr=True))
    return PlainReporter(sys.stderr) if progress is True else SilentReporter()
