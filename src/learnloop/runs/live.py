"""The model in production: feedback checked against the model, and the live error watched.

* :func:`check_labels` reads true labels (or values) sent for recorded predictions: each
  must be one of the model's classes (a classifier) or a finite number (a regressor);
  :class:`LabelProblem` names the row and the value that is not.
* :func:`monitor` puts together what ``learnloop monitor`` and ``GET /monitor`` show: the
  live score on the labelled predictions, its anytime-valid bound
  (:mod:`learnloop.certify.sequence`) against the model's threshold, the predictions
  recorded, drift per input column (:mod:`learnloop.data.drift`), and, for classifiers
  scored by accuracy, an estimate before labels arrive: the mean top-class probability
  of the recorded predictions (as NannyML's CBPE estimates accuracy; right where the
  probabilities are calibrated), labelled as an estimate.

The bound is given for metrics that are a share of rows judged right (``proportion``:
accuracy), the mean of a 0/1 value per label. Other metrics (AUC, F1, r2, rmse, ...) are
not the mean of a bounded per-row value: their live score is reported without a bound,
and they raise no alarm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from learnloop.certify.sequence import mean_sequence, running_bounds
from learnloop.core import Output, Prediction
from learnloop.data import read_features
from learnloop.data.drift import column_drift
from learnloop.exceptions import DataError
from learnloop.metrics import get_metric
from learnloop.store.model_files import LoadedModel
from learnloop.store.predictions import PredictionLog, model_digest

__all__ = [
    "LabelProblem", "check_labels", "monitor", "series", "DRIFT_WINDOW", "HOLDS", "ALARM",
]  # fmt: skip

DRIFT_WINDOW = 5000  # newest recorded rows drift and the estimate are computed on
HOLDS, ALARM = "holds", "alarm"
_MAX_NAMED = 5


class LabelProblem(DataError):
    """Feedback that cannot be taken: the row (0-based) and the value, named."""

    def __init__(self, message: str, row: int | None = None) -> None:
        super().__init__(message)
        self.row = row


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_labels(
    model: LoadedModel, labels: list[tuple[str, Any]], *, text: bool = False
) -> list[tuple[str, Any]]:
    """``(prediction_id, label)`` pairs with each label as the model's own class (or a
    float); LabelProblem naming the first row whose label is of the wrong kind.
    ``text`` says the labels were read from a file as text (``"1"`` may be the class 1)."""
    output = model.task_kind.output
    if output not in (Output.CLASSES, Output.VALUES):
        raise LabelProblem(
            f"The model predicts {output.value}; feedback takes true classes or values only."
        )
    lookup = {str(c): c for c in model.classes}
    checked: list[tuple[str, Any]] = []
    for row, (pid, label) in enumerate(labels):
        if not isinstance(pid, str) or not pid:
            raise LabelProblem(f"Row {row}: the prediction_id must be a non-empty string.", row)
        if output is Output.CLASSES:
            value = _as_class(label, lookup)
            if value is _NO:
                known = ", ".join(repr(c) for c in list(model.classes)[:10])
                raise LabelProblem(
                    f"Row {row}: the label {_short(label)} is not one of the model's classes "
                    f"({known}).",
                    row,
                )
        else:
            value = _as_number(label, text)
            if value is None:
                raise LabelProblem(
                    f"Row {row}: the label {_short(label)} is not a finite number, and the "
                    "model predicts numbers.",
                    row,
                )
        checked.append((pid, value))
    return checked


_NO = object()


def _as_class(label: Any, lookup: dict[str, Any]) -> Any:
    if isinstance(label, float) and label.is_integer():
        label = int(label)
    if label is None or isinstance(label, dict | list):
        return _NO
    return lookup.get(str(label), _NO)


def _as_number(label: Any, text: bool) -> float | None:
    if isinstance(label, bool) or label is None:
        return None
    if isinstance(label, str) and text:
        try:
            label = float(label)
        except ValueError:
            return None
    if not isinstance(label, int | float) or not math.isfinite(label):
        return None
    return float(label)


@dataclass
class _Live:
    score: float | None
    bound: float | None
    low: float | None
    high: float | None
    labels: int


def _live(model: LoadedModel, pairs: list[tuple[Any, Any]], confidence: float) -> _Live:
    """The live score of the labelled predictions, with its bound where the metric is a
    share of rows judged right."""
    metric = get_metric(str(model.metadata.get("metric") or model.task_kind.default_metric))
    n = len(pairs)
    if n == 0:
        return _Live(None, None, None, None, 0)
    output = model.task_kind.output
    if metric.proportion and output is Output.CLASSES:
        right = np.array([str(o.get("prediction")) == str(y) for o, y in pairs], dtype=float)
        estimate, low, high = mean_sequence(right, confidence)
        low, high = running_bounds(low, high)
        bound = high[-1] if metric.greater_is_better else low[-1]
        return _Live(float(estimate[-1]), float(bound), float(low[-1]), float(high[-1]), n)
    return _Live(_score(model, metric, pairs), None, None, None, n)


def _score(model: LoadedModel, metric: Any, pairs: list[tuple[Any, Any]]) -> float | None:
    """The metric itself on the labelled predictions (no bound)."""
    if model.task_kind.output is Output.CLASSES:
        index = {str(c): i for i, c in enumerate(model.classes)}
        y = np.array([index.get(str(lab), -1) for _, lab in pairs])
        pred = np.array([index.get(str(o.get("prediction")), -1) for o, _ in pairs])
        probs = [o.get("probabilities") for o, _ in pairs]
        proba = np.asarray(probs, dtype=float) if all(p is not None for p in probs) else None
        if metric.needs_proba and proba is None:
            return None
        prediction = Prediction(pred, proba)
        n_classes = len(model.classes)
    else:
        y = np.array([float(lab) for _, lab in pairs])
        prediction = Prediction(np.array([float(o.get("prediction")) for o, _ in pairs]))
        n_classes = 0
    try:
        value = metric.score(y, prediction, n_classes)
    except ValueError:  # e.g. AUC on labels of one class so far
        return None
    return value if math.isfinite(value) else None


def _drift(model: LoadedModel, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    reference = model.metadata.get("reference")
    if not reference:
        return None
    frame = pd.DataFrame(rows)
    for name in model.schema.feature_names:
        if name not in frame.columns:
            frame[name] = None
    X, _ = read_features(frame, model.schema)
    return column_drift(reference, X)


def monitor(
    model: LoadedModel,
    log: PredictionLog,
    *,
    threshold: float | None = None,
    confidence: float = 0.95,
    window: int = DRIFT_WINDOW,
) -> dict[str, Any]:
    """What is known of the model in production, as one JSON object (see the module)."""
    digest = model_digest(model.metadata)
    metric_name = str(model.metadata.get("metric") or model.task_kind.default_metric)
    metric = get_metric(metric_name)
    if threshold is None:
        threshold = model.metadata.get("threshold")
    live = _live(model, log.labelled(digest), confidence)
    recent = log.recent(digest, window)
    drift = _drift(model, [r for r, _ in recent])
    estimate = None
    tops = [c for _, c in recent if c is not None]
    if tops and metric.proportion and model.task_kind.output is Output.CLASSES:
        estimate = {
            "value": float(np.mean(tops)),
            "rows": len(tops),
            "method": "mean top-class probability of the recorded predictions (CBPE-style "
            "estimate of accuracy; right where the probabilities are calibrated)",
        }
    if threshold is None:
        status = "no_threshold"
    elif live.bound is None:
        status = "no_labels" if not live.labels else "no_bound"
    else:
        status = HOLDS if metric.meets(live.bound, threshold) else ALARM
    return {
        "status": status,
        "claim_holds": status != ALARM,
        "metric": metric_name,
        "threshold": threshold,
        "confidence": confidence,
        "live_score": live.score,
        "bound": live.bound,
        "bound_side": "upper" if metric.greater_is_better else "lower",
        "interval": None if live.low is None else [live.low, live.high],
        "bound_method": "Howard et al. (2021) empirical-Bernstein stitched "
        "confidence sequence (anytime-valid; running intersection)"
        if live.bound is not None
        else None,
        "labels_seen": live.labels,
        "predictions_recorded": log.count(digest),
        "estimate": estimate,
        "drift": drift,
        "drifted": sorted(k for k, v in (drift or {}).items() if v["drifted"]),
        "drift_rows": len(recent),
        "model_digest": digest,
        "certified": {
            "test_score": (model.metadata.get("certificate") or {}).get("test_score"),
            "test_bound": (model.metadata.get("certificate") or {}).get("test_bound"),
        },
    }


def series(model: LoadedModel, log: PredictionLog, confidence: float = 0.95) -> dict[str, Any]:
    """The live score after each label, as the monitor saw it (for the report's plot):
    ``received`` (each label's arrival), ``score`` and, where the metric has a bound,
    ``low``/``high`` (the running confidence sequence) and ``alarm`` (the index of the first
    label after which the bound was on the wrong side of the threshold, or None)."""
    digest = model_digest(model.metadata)
    rows = log.labelled_at(digest)
    metric = get_metric(str(model.metadata.get("metric") or model.task_kind.default_metric))
    threshold = model.metadata.get("threshold")
    out: dict[str, Any] = {"received": [t for *_, t in rows], "low": None, "high": None}
    out.update(score=None, alarm=None, threshold=threshold)
    if not rows or not (metric.proportion and model.task_kind.output is Output.CLASSES):
        return out
    right = np.array([str(o.get("prediction")) == str(y) for o, y, _ in rows], dtype=float)
    estimate, low, high = mean_sequence(right, confidence)
    low, high = running_bounds(low, high)
    out.update(score=estimate.tolist(), low=low.tolist(), high=high.tolist())
    if threshold is not None:
        bound = high if metric.greater_is_better else low
        failed = [i for i, b in enumerate(bound) if not metric.meets(float(b), threshold)]
        out["alarm"] = failed[0] if failed else None
    return out


def feedback_file(model: LoadedModel, log: PredictionLog, path: str) -> dict[str, Any]:
    """Take a CSV of ``prediction_id,label`` rows (``learnloop feedback``): all or none.
    DataError (exit 2) for a missing column, a label of the wrong kind (naming its row,
    counted from 1 after the header), an unknown id (named), or a model that recorded
    nothing in this store."""
    from pathlib import Path

    from learnloop.data import load_table

    digest = model_digest(model.metadata)
    if log.count(digest) == 0:
        raise DataError(
            f"The store {log.shown_url} holds no recorded predictions of this model; serve "
            "it with `learnloop serve MODEL --record --store URL` and give the same store."
        )
    frame = load_table(Path(path), text_columns=("prediction_id", "label"))
    missing = [c for c in ("prediction_id", "label") if c not in frame.columns]
    if missing:
        raise DataError(
            f"The file '{path}' has no column '{missing[0]}'; it needs the columns "
            "prediction_id,label."
        )
    raw = [
        (str(p), None if pd.isna(v) else v)
        for p, v in zip(frame["prediction_id"], frame["label"], strict=True)
    ]
    try:
        labels = check_labels(model, raw, text=True)
    except LabelProblem as e:
        where = f"Line {e.row + 2} of '{path}'" if e.row is not None else f"'{path}'"
        message = str(e).split(": ", 1)[-1] if e.row is not None else str(e)
        raise DataError(f"{where}: {message}") from None
    known = log.known([p for p, _ in labels])
    unknown = [p for p, _ in labels if p not in known]
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise DataError(
            f"Unknown prediction id '{unknown[0]}'{more} in '{path}': the store "
            f"{log.shown_url} has no such prediction."
        )
    log.add_feedback(labels)
    return {"accepted": len(labels), "store": log.shown_url}
