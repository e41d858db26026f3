"""How a run's :class:`~learnloop.runs.result.Result` shows itself in a notebook and a shell.

Three views of the one value, each read from its fields (nothing is looked up again):
the leaderboard (the finished trials, best validation score first, as a DataFrame), a
short one-line ``repr`` and the HTML a notebook shows (the verdict, the certificate and the
top of the leaderboard). The full record stays ``Result.to_dict()`` and the report.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from learnloop.metrics import get_metric

if TYPE_CHECKING:
    from learnloop.runs.result import Result

__all__ = ["leaderboard", "short_repr", "result_html", "LEADERBOARD_ROWS"]

LEADERBOARD_ROWS = 10  # trials the notebook view shows; leaderboard() returns them all
COLUMNS = ["trial", "candidate", "score", "status", "rows", "steps", "seconds", "params"]


def leaderboard(result: Result, top: int | None = None) -> pd.DataFrame:
    """The trials that have a validation score, best first (the run's metric decides which
    way is better), then the others; ``top`` keeps the first rows only."""
    rows = [
        {
            "trial": t.number,
            "candidate": t.candidate,
            "score": t.score,
            "status": t.status,
            "rows": t.n_rows,
            "steps": t.steps,
            "seconds": round(t.seconds, 3),
            "params": dict(t.params),
        }
        for t in result.trials
    ]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if not frame.empty:
        better_high = get_metric(result.metric).greater_is_better
        frame = frame.sort_values(
            ["score", "trial"], ascending=[not better_high, True], na_position="last"
        )
    frame = frame.reset_index(drop=True)
    return frame if top is None else frame.head(top)


def _num(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.4g}"


def short_repr(result: Result) -> str:
    """One line: status, metric, test score and bound, the model, the trials, the run."""
    threshold = "" if result.threshold is None else f" threshold={result.threshold:g}"
    return (
        f"<Result {result.status} {result.metric}{threshold} "
        f"test={_num(result.test_score)} bound={_num(result.test_bound)} "
        f"({result.confidence:.0%}) model={result.best_candidate} "
        f"trials={len(result.trials)} run={result.run_id}>"
    )


def _verdict(result: Result) -> str:
    cert = result.certificate
    if result.threshold is None:
        return f"Best model certified at {result.metric} {_num(result.test_bound)} (no threshold)."
    side = "at least" if get_metric(result.metric).greater_is_better else "at most"
    word = "Met" if result.met else "Not met"
    looks = f" after {cert.look} look(s)" if cert is not None else ""
    return (
        f"{word}: {result.metric} {side} {result.threshold:g} asked; the test bound is "
        f"{_num(result.test_bound)} at {result.confidence:.0%} confidence{looks}."
    )


def _facts(result: Result) -> list[tuple[str, Any]]:
    cert = result.certificate
    return [
        ("task", result.task),
        ("metric", result.metric),
        ("threshold", result.threshold),
        ("validation score", _num(result.validation_score)),
        ("test score", _num(result.test_score)),
        (f"test bound ({result.confidence:.0%})", _num(result.test_bound)),
        ("test rows", cert.n_test if cert is not None else None),
        ("bound method", cert.method if cert is not None else None),
        ("baseline score", _num(result.baseline_score)),
        ("model", result.best_candidate),
        ("trials", len(result.trials)),
        ("elapsed (s)", f"{result.elapsed_s:.1f}"),
        ("run id", result.run_id),
        ("model file", result.model_path),
    ]


def result_html(result: Result, top: int = LEADERBOARD_ROWS) -> str:
    """The notebook view: the verdict, the certificate's facts and the top trials."""
    good = result.met and result.certificate is not None
    colour = "#1a7f37" if good else "#b35900"
    facts = "".join(
        f"<tr><th style='text-align:left'>{html.escape(name)}</th>"
        f"<td style='text-align:left'>{html.escape('–' if value is None else str(value))}</td></tr>"
        for name, value in _facts(result)
    )
    board = leaderboard(result, top)
    shown = board.assign(params=board["params"].map(_params_text))
    table = shown.to_html(
        index=False, na_rep="–", float_format=lambda v: f"{v:.4g}", border=0, justify="left"
    )
    return (
        "<div class='learnloop-result'>"
        f"<p style='font-weight:bold;color:{colour}'>{html.escape(_verdict(result))}</p>"
        f"<table class='learnloop-certificate'>{facts}</table>"
        f"<p>Leaderboard: the top {len(board)} of {len(result.trials)} trials by validation "
        f"{html.escape(result.metric)} (<code>result.leaderboard()</code> has them all).</p>"
        f"{table}</div>"
    )


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )
