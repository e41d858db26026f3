"""The report's "In production" section: the model's recorded predictions and their feedback.

Shown when the store holds predictions of this model (``learnloop serve --record``): the
live score after each label with its anytime-valid interval (the confidence sequence
``learnloop monitor`` watches) against the threshold, when the alarm fired, the estimate
before labels, and drift per input column over the newest recorded rows. A model with
nothing recorded gets no section; the store is only read (no table is made in it).
"""

from __future__ import annotations

import time
from typing import Any

from learnloop.exceptions import LearnloopError
from learnloop.report import plots
from learnloop.report._doc import Figure, Section, Table, Text, fmt
from learnloop.report._inputs import ReportInputs

__all__ = ["monitor_section"]


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def monitor_section(inputs: ReportInputs, store_url: str | None) -> Section | None:
    """The section, or None when the store holds no prediction of the report's model."""
    from learnloop.runs.live import monitor, series
    from learnloop.store import open_store
    from learnloop.store.predictions import PredictionLog, model_digest

    model = inputs.model
    if model is None:
        return None
    try:
        log = PredictionLog.existing(open_store(store_url))
        if log is None or log.count(model_digest(model.metadata)) == 0:
            return None
        live = monitor(model, log)
        seen = series(model, log, live["confidence"])
    except LearnloopError as e:
        return Section("In production", [Text(f"Recorded predictions not read: {e}", "note")])
    section = Section("In production")
    status = {"holds": "the claim holds", "alarm": "ALARM: the claim no longer holds"}
    tone = {"holds": "good", "alarm": "bad"}.get(live["status"], "note")
    section.add(
        Text(
            f"{live['predictions_recorded']} predictions of this model are recorded in the "
            f"store, {live['labels_seen']} with their true label: "
            f"{status.get(live['status'], live['status'].replace('_', ' '))}.",
            tone,
        )
    )
    if seen["score"]:
        section.add(_plot(live, seen))
    section.add(_figures(live, seen))
    if live["drift"]:
        section.add(_drift(live))
    return section


def _plot(live: dict[str, Any], seen: dict[str, Any]) -> Figure:
    n = len(seen["score"])
    xs = list(range(1, n + 1))
    series = [
        ("live score", xs, seen["score"]),
        ("interval (anytime-valid)", xs, seen["low"]),
        ("interval (anytime-valid)", xs, seen["high"]),
    ]
    hlines = [] if live["threshold"] is None else [(live["threshold"], "threshold", "--")]
    marks = []
    alarm = seen["alarm"]
    if alarm is not None:
        bound = seen["high"] if live["bound_side"] == "upper" else seen["low"]
        marks.append((alarm + 1, bound[alarm], f"alarm after {alarm + 1} labels"))
    svg = plots.lines(
        series, "labels received (in the order they arrived)", live["metric"],
        hlines=hlines, marks=marks, colors=["#1f77b4", "#9aa7b5", "#9aa7b5"],
    )  # fmt: skip
    caption = (
        f"The live {live['metric']} after each label, and its {live['confidence']:.0%} "
        "confidence sequence (Howard et al. 2021; running intersection): the band may be "
        "looked at after every label without inflating the false-alarm rate. The alarm fires when "
        f"the {live['bound_side']} end crosses the threshold."
    )
    return Figure(svg, caption)


def _figures(live: dict[str, Any], seen: dict[str, Any]) -> Table:
    alarm = seen["alarm"]
    interval = live["interval"] or [None, None]
    ends = f"{fmt(interval[0])} to {fmt(interval[1])}"
    if None not in interval and interval[0] > interval[1]:
        ends += " (the ends have crossed: the labels are not one stationary stream)"
    estimate = live["estimate"]
    received = seen["received"]
    rows: list[list[Any]] = [
        ["metric", live["metric"]],
        ["threshold", fmt(live["threshold"])],
        ["live score", fmt(live["live_score"])],
        [f"interval ({live['confidence']:.0%}, anytime-valid)", ends],
        ["labels seen", str(live["labels_seen"])],
        ["first label / last label",
         f"{_when(received[0])} / {_when(received[-1])}" if received else "-"],
        ["alarm", "none" if alarm is None else
         f"after {alarm + 1} labels, at {_when(received[alarm])}"],
        ["estimate before labels", "-" if estimate is None else
         f"{fmt(estimate['value'])} (mean top-class probability of {estimate['rows']} rows)"],
        ["certified on the test rows", f"{fmt(live['certified']['test_score'])} "
         f"(bound {fmt(live['certified']['test_bound'])})"],
    ]  # fmt: skip
    return Table(["", "value"], rows, "What `learnloop monitor` shows for this model.")


def _drift(live: dict[str, Any], most: int = 12) -> Table:
    ranked = sorted(live["drift"].items(), key=lambda kv: -kv[1]["psi"])
    rows = [
        [name, fmt(d["psi"], 3), fmt(d.get("ks"), 3), fmt(d.get("ks_p_value"), 3),
         "DRIFTED" if d["drifted"] else "ok"]
        for name, d in ranked[:most]
    ]  # fmt: skip
    rest = ranked[most:]
    more = ""
    if rest:
        drifted = sum(d["drifted"] for _, d in rest)
        more = f" The {len(rest)} columns of lower PSI are left out ({drifted} of them drifted)."
    return Table(
        ["column", "PSI", "KS", "KS p-value", ""],
        rows,
        f"Drift of each input column over the newest {live['drift_rows']} recorded rows "
        f"against the training rows, highest PSI first (above 0.2 is drifted, as Evidently "
        f"reports it).{more}",
    )
