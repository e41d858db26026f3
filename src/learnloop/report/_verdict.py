"""The top of a run's report: what was asked, whether it was met, and why not if not."""

from __future__ import annotations

from typing import Any

from learnloop.certify import LookPolicy
from learnloop.metrics import Metric, get_metric
from learnloop.report._doc import Section, Table, Text, fmt
from learnloop.report._inputs import ReportInputs

__all__ = ["verdict"]


def _side(metric: Metric) -> str:
    return "at least" if metric.greater_is_better else "at most"


def _why_not(inputs: ReportInputs, metric: Metric, cert: dict[str, Any]) -> str:
    """The reason a run with a threshold ended not met, in one sentence."""
    threshold = inputs.field("threshold")
    confidence = cert.get("confidence") or inputs.field("confidence") or 0.95
    n_test = int(cert.get("n_test") or 0)
    policy = LookPolicy(confidence, threshold, metric)
    if n_test and not policy.certifiable(1, n_test):
        ceiling = policy.ceiling(1, n_test)
        return (
            f"Not certifiable with {n_test} test rows: even a perfect test score gives a "
            f"bound of at most {fmt(ceiling)}, short of {fmt(threshold)}. Use more data or a "
            "lower threshold."
        )
    passed = [
        t for t in inputs.trials if t["score"] is not None and metric.meets(t["score"], threshold)
    ]
    budget = inputs.field("budget_s")
    if not passed:
        best = (inputs.result or {}).get("validation_score")
        return (
            f"Budget spent: in {fmt(budget)} s no model's validation score reached "
            f"{fmt(threshold)} (best {fmt(best)})."
        )
    return (
        f"The threshold was passed on validation, but the test bound {fmt(cert.get('test_bound'))}"
        f" after {cert.get('look')} look(s) at the test split fell short of {fmt(threshold)}."
    )


def verdict(inputs: ReportInputs) -> tuple[str, bool | None, Section]:
    """The one-line verdict, whether it is good news, and the certificate section."""
    result = inputs.result
    cert = result.get("certificate") or {}
    status = inputs.field("status") or "unknown"
    metric_name = inputs.field("metric")
    section = Section("Verdict and certificate")
    if status in ("failed", "running") or not metric_name:
        error = result.get("error") or "the run did not finish"
        line = f"Run {status}: {error}."
        section.add(Text(line, "bad"))
        return line, False, section
    metric = get_metric(metric_name)
    threshold = inputs.field("threshold")
    conf = cert.get("confidence") or inputs.field("confidence") or 0.95
    score, bound = cert.get("test_score"), cert.get("test_bound")
    if threshold is None:
        line = (
            f"No threshold was asked: the best model found in the budget scores {metric.name} "
            f"{fmt(score)} on the test split, {fmt(bound)} at {conf:.0%} confidence."
        )
        met: bool | None = None
    elif status == "met":
        line = (
            f"MET: {metric.name} {_side(metric)} {fmt(threshold)} is certified at {conf:.0%} "
            f"confidence — test score {fmt(score)}, bound {fmt(bound)}."
        )
        met = True
    else:
        line = f"NOT MET: {metric.name} {_side(metric)} {fmt(threshold)} was not certified. "
        line += _why_not(inputs, metric, cert)
        met = False
    baseline = result.get("baseline_score")
    rows = _certificate_rows(inputs, metric, threshold, conf)
    section.add(Table(["", "value"], [r for r in rows if r[1] is not None]))
    if baseline is not None and score is not None:
        beats = metric.better(score, baseline)
        section.add(
            Text(
                f"The trivial model scores {fmt(baseline)}; the model "
                + ("beats it." if beats else "does NOT beat it."),
                "" if beats else "bad",
            )
        )
    if result.get("best_params"):
        params = ", ".join(f"{k}={fmt(v)}" for k, v in result["best_params"].items())
        section.add(Text(f"Configuration: {result.get('best_candidate')} with {params}."))
    return line, met, section


def _certificate_rows(
    inputs: ReportInputs, metric: Metric, threshold: float | None, conf: float
) -> list[list[Any]]:
    """The certificate's table: the requirement, the test look and the run's key figures."""
    result = inputs.result
    cert = result.get("certificate") or {}
    score, bound = cert.get("test_score"), cert.get("test_bound")
    baseline = result.get("baseline_score")
    return [
        [
            "requirement",
            f"{metric.name} {_side(metric)} {fmt(threshold)}"
            if threshold is not None
            else "none (search the budget)",
        ],  # fmt: skip
        ["confidence", conf],
        ["test score", score],
        [f"test bound (one-sided, {conf:.0%})", bound],
        ["bound method", cert.get("method")],
        ["test rows", cert.get("n_test")],
        ["look at the test split", cert.get("look")],
        ["error rate (alpha) spent on this look", cert.get("alpha_used")],
        ["validation score", result.get("validation_score")],
        ["aim on validation (threshold + margin)", result.get("aim")],
        ["trivial model's test score (baseline)", baseline],
        ["model", result.get("best_candidate")],
        ["rows the model learned from", _learned(inputs)],
        ["budget (s)", inputs.field("budget_s")],
        ["time to threshold on validation (s)", result.get("time_to_threshold_s")],
        ["elapsed (s)", result.get("elapsed_s")],
        ["run", inputs.field("run_id")],
        ["data", (inputs.run or {}).get("data")],
        ["command", (inputs.run or {}).get("command")],
    ]


def _learned(inputs: ReportInputs) -> str | None:
    """How many rows the saved model was trained on, and which splits they were."""
    rows = (inputs.model.metadata if inputs.model else {}).get("n_train_rows")
    if rows is None:
        return None
    if inputs.refitted:
        return f"{rows} (training + validation: refitted before the test look)"
    return f"{rows} of the training split"
