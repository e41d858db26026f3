"""The monitor's figures as Prometheus gauges on ``GET /metrics`` (a server with ``--record``).

Per model (labels ``role``: champion or challenger, and ``version``): the live score
(``learnloop_live_score``), the anytime-valid interval around it (``..._lower_bound``,
``..._upper_bound``), the threshold, the labels seen, the predictions recorded, the alarm
(1 once the bound is on the wrong side of the threshold), the estimate before labels
(``learnloop_live_estimate``), and each input column's PSI (``learnloop_drift_psi``, with a
``column`` label). A figure that is not known (no labels yet, no bound for the metric) is
left out rather than written as NaN, as Prometheus exporters do.

The gauges are read from the figures the monitor keeps (:func:`~learnloop.serving.monitor.figures`),
recomputed before a scrape only when older than ``MAX_AGE_S``: a scrape every few seconds
costs at most one store query per ``MAX_AGE_S``. Should the store be unreachable, the last
figures are shown and the scrape does not fail.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from learnloop.serving.state import Serving

__all__ = ["MAX_AGE_S", "LiveFigures"]

MAX_AGE_S = 10.0
_log = logging.getLogger("learnloop.serve")
_GAUGES = (  # name, help, the figure's key in the monitor's object
    ("learnloop_live_score", "Live score on the labelled predictions.", "live_score"),
    ("learnloop_live_threshold", "The threshold the model was certified to.", "threshold"),
    ("learnloop_live_labels", "Labels received for recorded predictions.", "labels_seen"),
    ("learnloop_live_predictions_recorded", "Predictions recorded.", "predictions_recorded"),
)


class LiveFigures:
    """A Prometheus collector of the monitor's kept figures, refreshed before a scrape."""

    def __init__(self, serving: Serving, max_age: float = MAX_AGE_S) -> None:
        self.serving, self.max_age = serving, max_age

    async def refresh(self) -> None:
        """Recompute the figures if they are older than ``max_age`` (a recording server)."""
        from learnloop.serving.monitor import figures

        if self.serving.recorder is None or self.serving.current is None:
            return
        try:
            await figures(self.serving, self.max_age)
        except Exception as e:  # the store is down: the last figures stay, the scrape works
            _log.warning("live figures not refreshed for /metrics: %s", e)

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import GaugeMetricFamily

        kept = self.serving.figures
        if kept is None:
            return
        models = [("champion", kept[1])]
        if kept[1].get("challenger"):
            models.append(("challenger", kept[1]["challenger"]))
        keys = ["role", "version"]
        for name, doc, key in _GAUGES:
            gauge = GaugeMetricFamily(name, doc, labels=keys)
            for role, body in models:
                _add(gauge, [role, str(body.get("version"))], body.get(key))
            yield gauge
        lower = GaugeMetricFamily(
            "learnloop_live_lower_bound", "Lower end of the live score's anytime-valid "
            "confidence interval.", labels=keys,
        )  # fmt: skip
        upper = GaugeMetricFamily(
            "learnloop_live_upper_bound", "Upper end of the live score's anytime-valid "
            "confidence interval.", labels=keys,
        )  # fmt: skip
        alarm = GaugeMetricFamily(
            "learnloop_live_alarm", "1 once the live bound is on the wrong side of the "
            "threshold (the claim no longer holds), else 0.", labels=keys,
        )  # fmt: skip
        estimate = GaugeMetricFamily(
            "learnloop_live_estimate", "Estimated score before labels (mean top-class "
            "probability; an estimate).", labels=keys,
        )  # fmt: skip
        psi = GaugeMetricFamily(
            "learnloop_drift_psi", "Population stability index of an input column over the "
            "newest recorded rows (above 0.2: drifted).", labels=[*keys, "column"],
        )  # fmt: skip
        for role, body in models:
            labels = [role, str(body.get("version"))]
            interval = body.get("interval") or (None, None)
            _add(lower, labels, interval[0])
            _add(upper, labels, interval[1])
            _add(alarm, labels, 0.0 if body.get("claim_holds", True) else 1.0)
            _add(estimate, labels, (body.get("estimate") or {}).get("value"))
            for column, d in sorted((body.get("drift") or {}).items()):
                _add(psi, [*labels, column], d.get("psi"))
        yield from (lower, upper, alarm, estimate, psi)


def _add(gauge: Any, labels: list[str], value: Any) -> None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        gauge.add_metric(labels, float(value))
