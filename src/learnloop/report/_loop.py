"""The loop's history: error against time and steps, where and why each trial stopped,
and the search's score against cost by model family."""

from __future__ import annotations

from typing import Any

import numpy as np

from learnloop.metrics import get_metric
from learnloop.report import plots
from learnloop.report._doc import Figure, Section, Table, Text
from learnloop.report._inputs import ReportInputs

__all__ = ["loop_sections", "STOP_REASONS", "thin"]

MAX_CURVE_POINTS = 150  # points per trial's learning curve in a plot
MAX_MARKS = 40  # stop reasons written on the plot at most (the table lists all)
STOP_REASONS = {
    "target": "passed the aim on validation",
    "plateau": "its learning curve went flat",
    "behind": "behind the median of its finished peers at the same step (pruned)",
    "rung time": "a trial on a sample used its share of the budget",
    "budget": "the budget ran out",
    "converged": "the model finished its own training",
    "error": "failed",
}


def thin(points: list[Any], limit: int = MAX_CURVE_POINTS) -> list[Any]:
    """At most ``limit`` points, evenly spaced, first and last kept."""
    if len(points) <= limit:
        return points
    idx = np.unique(np.linspace(0, len(points) - 1, limit).round().astype(int))
    return [points[i] for i in idx]


def loop_sections(inputs: ReportInputs) -> list[Section]:
    """The loop's section (curves by time and step, why each trial stopped) and the search's
    (score against cost by family), or a note where no trials are recorded."""
    trials = inputs.trials
    loop = Section("The loop: error against time and steps")
    if not trials:
        loop.add(Text("No trials are recorded for this report (see the notes).", "note"))
        return [loop]
    metric = get_metric(inputs.field("metric"))
    families = sorted({_family(t) for t in trials})
    color = {f: plots.PALETTE[i % len(plots.PALETTE)] for i, f in enumerate(families)}
    loop.add(*_curve_figures(inputs, metric.name, color), _stop_reasons(), _trial_table(trials))
    return [loop, _search_section(trials, families, metric)]


def _family(trial: dict[str, Any]) -> str:
    return trial["candidate"] or "?"


def _reference_lines(inputs: ReportInputs) -> list[tuple[float, str, str]]:
    """The threshold and the aim, as horizontal lines on the curves."""
    refs = []
    if inputs.field("threshold") is not None:
        refs.append((inputs.field("threshold"), "threshold", "--"))
    if inputs.result.get("aim") is not None:
        refs.append((inputs.result["aim"], "aim", ":"))
    return refs


def _curve_figures(inputs: ReportInputs, metric_name: str, color: dict[str, str]) -> list[Figure]:
    """Every trial's validation curve against seconds and against steps, each ending in a dot
    that says why the trial stopped."""
    by_time, by_step, colors, marks_t, marks_s = [], [], [], [], []
    for t in inputs.trials:
        pts = thin(t["scores"])
        if not pts:
            continue
        fam = _family(t)
        by_time.append((fam, [p["t"] for p in pts], [p["score"] for p in pts]))
        by_step.append((fam, [max(p["step"], 1) for p in pts], [p["score"] for p in pts]))
        colors.append(color[fam])
        last = pts[-1]
        label = f"#{t['number']} {t['stop_reason'] or ''}"
        marks_t.append((last["t"], last["score"], label))
        marks_s.append((max(last["step"], 1), last["score"], label))
    if len(marks_t) > MAX_MARKS:  # too many to read: the dots stay, the words are in the table
        marks_t = [(x, y, "") for x, y, _ in marks_t]
        marks_s = [(x, y, "") for x, y, _ in marks_s]
    note = (
        f"Each line is one trial's validation {metric_name}, coloured by model family "
        f"(at most {MAX_CURVE_POINTS} points per trial, evenly spaced); the dot marks where "
        "it stopped and why."
    )
    refs = _reference_lines(inputs)
    axes = [
        (by_time, "seconds since the search started", marks_t, False),
        (by_step, "training step (log scale)", marks_s, True),
    ]
    return [
        Figure(
            plots.lines(
                lines, xlabel, metric_name, hlines=refs, marks=marks, colors=colors, logx=logx
            ),
            note,
        )
        for lines, xlabel, marks, logx in axes
    ]


def _stop_reasons() -> Text:
    return Text(
        "Why trials stop: " + "; ".join(f"{k} — {v}" for k, v in STOP_REASONS.items()) + "."
    )


_TRIAL_COLUMNS = {
    "#": "number",
    "family": "candidate",
    "status": "status",
    "rung": "rung",
    "rows": "n_rows",
    "steps": "steps",
    "best step": "best_step",
    "score": "score",
    "stopped": "stop_reason",
    "seconds": "seconds",
}


def _trial_table(trials: list[dict[str, Any]]) -> Table:
    return Table(
        list(_TRIAL_COLUMNS),
        [[t[key] for key in _TRIAL_COLUMNS.values()] for t in trials],
        f"{len(trials)} trials, in the order they started.",
    )


def _search_section(trials: list[dict[str, Any]], families: list[str], metric: Any) -> Section:
    """Each trial's best validation score against its cost, and each family's totals."""
    groups: dict[str, tuple[list[float], list[float]]] = {}
    for t in trials:
        if t["score"] is not None and t["seconds"]:
            xs, ys = groups.setdefault(_family(t), ([], []))
            xs.append(t["seconds"])
            ys.append(t["score"])
    rows = []
    for fam in families:
        mine = [t for t in trials if _family(t) == fam]
        scored = [t["score"] for t in mine if t["score"] is not None]
        best = (max if metric.greater_is_better else min)(scored) if scored else None
        rows.append([fam, len(mine), best, sum(t["seconds"] or 0 for t in mine)])
    search = Section("The search: score against cost")
    search.add(
        Figure(
            plots.scatter_groups(
                groups, "seconds the trial took (log scale)", metric.name, logx=True
            ),
            "Each point is one trial: its best validation score against what it cost.",
        ),
        Table(["family", "trials", f"best {metric.name}", "seconds in all"], rows),
    )
    return search
