"""What the experiment store adds on top of a run: resume, test outcomes, comparison.

* **Resume.** ``resume_options`` reads a run's recorded options; ``reopen_run`` checks the
  data is the same, marks the trials a killed process left running as failed and sets the
  run running again. The loop then takes in the finished trials from the run's Optuna
  study (``Search.sync``) and does not run them again. A run the store left mid-way (it stayed
  away past its retries, or filled up) ends with ``store_interrupted``: one line with the
  exact ``--resume`` command, or the model file if the run had already saved it.
  The test looks a run made are in the store too (``Store.looks``); a resumed run goes on
  from them (``runs/looks.py``), and ``run_details`` lists every look and its certificate.
* **Outcomes.** Each run keeps what its task's ``outcomes`` says of the certified model on
  the test split (predictions, or per-row scores) and that split's fingerprint, so two runs
  can be tested against each other.
* **Comparison.** ``compare_runs`` puts runs side by side with a bootstrap confidence
  interval of each test score (``outcome_interval``, every kind of metric) and, for each
  pair that shares a test split, McNemar's test (labels), Wilcoxon's signed-rank test on
  absolute errors (values) or on per-row scores (clusters, recommendations: each test
  user's ranking score).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from learnloop.certify import bootstrap_interval, mean_interval
from learnloop.exceptions import DataError, StoreError, StoreFull, StoreUnavailable, UsageError
from learnloop.metrics import Metric, Prediction, get_metric
from learnloop.search.trials import config_key, record_from, trial_dict
from learnloop.store import Store

__all__ = [
    "resume_options",
    "reopen_run",
    "resume_command",
    "store_interrupted",
    "run_details",
    "compare_runs",
    "paired_test",
    "outcome_interval",
]

FINISHED = ("met", "not_met")


# ------------------------------------------------------------------------- resume
def resume_options(
    store: Store, run_id: str, data: Any, validation: Any = None, test: Any = None
) -> dict[str, Any]:
    """The options ``run_id`` was started with; UsageError if it cannot be resumed."""
    run = store.get_run(run_id)
    if run["status"] in FINISHED:
        raise UsageError(
            f"Run '{run_id}' already finished ({run['status']}); start a new run instead."
        )
    options = run.get("options")
    if not options:
        raise StoreError(f"Run '{run_id}' was recorded without its options; it cannot be resumed.")
    if (options.get("validation") is None) != (validation is None):
        raise UsageError(f"Give the same validation and test tables as run '{run_id}' had.")
    return options


def reopen_run(
    store: Store, run_id: str, data_fingerprint: str, message: Callable[[str], None]
) -> str:
    """Check the data, fail the trials left running, and set the run running again."""
    run = store.get_run(run_id)
    if run["fingerprint"] != data_fingerprint:
        raise DataError(
            f"The data differs from the data run '{run_id}' was trained on "
            f"(fingerprint {data_fingerprint}, recorded {run['fingerprint']})."
        )
    failed = store.fail_running_trials(run_id)
    trials = store.trials(run_id)
    stopped = set(failed)
    interrupted = [record_from(t) for t in trials if t.number in stopped]
    store.release(run_id, [config_key(r.candidate, r.params, r.rung) for r in interrupted])
    kept = sum(t.state.is_finished() for t in trials) - len(failed)
    store.update_run(run_id, status="running", finished=None)
    message(
        f"Resuming run {run_id}: {kept} finished trials kept, "
        f"{len(failed)} interrupted trials marked failed."
    )
    return run_id


def resume_command(command: str | None, run_id: str) -> str:
    """The command that resumes ``run_id``: the run's own command line (``command``, as typed)
    with ``--resume RUN_ID`` in place of any earlier ``--resume``; the API call without one."""
    if not command:
        return f"learnloop.train(..., resume={run_id!r})"
    words, kept = shlex.split(command), []
    skip = False
    for word in words:
        if skip or word.startswith("--resume="):
            skip = False
            continue
        skip = word == "--resume"
        if not skip:
            kept.append(word)
    return shlex.join([*kept, "--resume", run_id])


def store_interrupted(
    error: StoreUnavailable | StoreFull,
    run_id: str,
    command: str | None,
    model: Path | None,
    seconds_ago: float,
) -> StoreUnavailable | StoreFull:
    """``error`` (the store went away, or filled up, during run ``run_id``) with how to go on
    in the same line: the model file if this run (started ``seconds_ago``) already wrote it,
    else the exact command that resumes the run, whose finished trials the store keeps."""
    started = time.time() - seconds_ago - 1.0  # file times may lag by a file system's tick
    if model is not None and model.is_file() and model.stat().st_mtime >= started:
        how = (
            f"Run {run_id} had finished and saved its model to {model}; the store still "
            "lists it as running."
        )
    else:
        when = "has room again" if isinstance(error, StoreFull) else "is back"
        how = (
            f"Run {run_id} keeps its finished trials; once the store {when}, resume it: "
            f"{resume_command(command, run_id)}"
        )
    return type(error)(f"{error} {how}")


# ------------------------------------------------------------------------ details
def run_details(store: Store, run_id: str) -> dict[str, Any]:
    """Everything the store holds about one run, trials and every test look included, as
    plain JSON (``looks``: each look's number, the alpha it spent and its certificate).
    ``run_id`` may be the start of one run's id (:meth:`Store.resolve_run_id`)."""
    run_id = store.resolve_run_id(run_id)
    run = store.get_run(run_id)
    run.pop("outcomes", None)
    run["looks"] = store.looks(run_id)
    run["alpha_spent"] = sum(look["alpha"] for look in run["looks"])
    run["trials"] = [trial_dict(t) for t in store.trials(run_id)]
    return run


def _interval(run: dict[str, Any], outcomes: dict[str, Any] | None, confidence: float) -> Any:
    """A two-sided interval of the run's metric on its test split, from its outcomes."""
    if not outcomes or not run.get("metric"):
        return None
    bounds = outcome_interval(get_metric(run["metric"]), outcomes, confidence)
    if bounds is None:
        return None
    return {"low": bounds[0], "high": bounds[1], "confidence": confidence}


def outcome_interval(
    metric: Metric, outcomes: dict[str, Any], confidence: float
) -> tuple[float, float] | None:
    """A two-sided bootstrap interval of ``metric`` over the test rows a task's ``outcomes``
    kept (None where they do not hold what the metric needs).

    Labels (with class probabilities where kept: AUC, log loss), values and known groups
    are resampled row by row and scored again; per-row scores whose mean is the metric
    (each test user's ranking score) by their mean; the silhouette by its jackknife
    pseudo-values (its per-row values depend on each other, so their own spread is too
    narrow: runs stored before the pseudo-values were kept get no interval).
    """
    kind = outcomes.get("kind")
    if kind == "scores":
        key = "pseudo" if metric.per_row is not None else "scores"
        values = outcomes.get(key)
        return None if values is None else mean_interval(np.asarray(values, float), confidence)
    if kind not in ("labels", "values", "groups"):
        return None
    y, values = np.asarray(outcomes["y"]), np.asarray(outcomes["pred"])
    if len(y) == 0 or len(y) != len(values):
        return None
    proba = np.asarray(outcomes["proba"], float) if outcomes.get("proba") is not None else None
    if metric.needs_proba and proba is None:
        return None  # a run stored before probabilities were kept
    n_classes = 0
    if kind == "labels":
        top = int(max(y.max(initial=0), values.max(initial=0))) + 1
        n_classes = max(top, proba.shape[1] if proba is not None else 0)
    pred = Prediction(values, proba)
    return bootstrap_interval(metric, y, pred, n_classes, confidence)


def _pair_test(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """McNemar (labels) or Wilcoxon signed-rank on absolute errors (values)."""
    oa, ob = a.get("outcomes"), b.get("outcomes")
    pair = [a["run_id"], b["run_id"]]
    if not oa or not ob:
        return {"runs": pair, "name": None, "p_value": None, "reason": "no test outcomes kept"}
    if oa["split"] != ob["split"] or oa["kind"] != ob["kind"]:
        reason = "the runs do not share a test split"
        return {"runs": pair, "name": None, "p_value": None, "reason": reason}
    if oa["kind"] == "scores":
        return _score_test(pair, np.asarray(oa["scores"]), np.asarray(ob["scores"]))
    if oa["kind"] not in ("labels", "values"):
        reason = f"runs whose outcomes are {oa['kind']} are not compared row by row"
        return {"runs": pair, "name": None, "p_value": None, "reason": reason}
    y = np.asarray(oa["y"])
    pa, pb = np.asarray(oa["pred"]), np.asarray(ob["pred"])
    if oa["kind"] == "labels":
        from scipy.stats import binomtest, chi2

        ra, rb = pa == y, pb == y
        table = [
            [int(np.sum(ra & rb)), int(np.sum(ra & ~rb))],
            [int(np.sum(~ra & rb)), int(np.sum(~ra & ~rb))],
        ]
        discordant = table[0][1] + table[1][0]
        exact = discordant < 25
        if discordant == 0:
            statistic, p_value = 0.0, 1.0
        else:
            statistic, p_value = _mcnemar(table[0][1], table[1][0], exact, binomtest, chi2)
        return {
            "runs": pair,
            "name": "mcnemar",
            "variant": "exact binomial" if exact else "chi-square with continuity correction",
            "statistic": statistic,
            "p_value": p_value,
            "table": table,
            "n": len(y),
        }
    ea, eb = np.abs(y - pa), np.abs(y - pb)
    return {
        **_wilcoxon(pair, ea, eb, "signed-rank on per-row absolute errors"),
        "mean_abs_error": [float(ea.mean()), float(eb.mean())],
    }


def _mcnemar(b: int, c: int, exact: bool, binomtest: Any, chi2: Any) -> tuple[float, float]:
    """McNemar's test on the discordant counts ``b`` and ``c`` (as statsmodels' ``mcnemar``
    with ``correction=True``): exact, the two-sided binomial test of min(b, c) at 1/2; else
    the chi-square statistic (|b - c| - 1)^2 / (b + c) on one degree of freedom."""
    if exact:
        return float(min(b, c)), float(binomtest(min(b, c), b + c, 0.5).pvalue)
    statistic = (abs(b - c) - 1) ** 2 / (b + c)
    return float(statistic), float(chi2.sf(statistic, 1))


def paired_test(a: dict[str, Any], b: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The test ``runs compare`` uses, on two models' outcomes of one split (a task's
    ``outcomes``): McNemar (labels), Wilcoxon signed-rank (values, per-row scores)."""
    return _pair_test({"run_id": names[0], "outcomes": a}, {"run_id": names[1], "outcomes": b})


def _wilcoxon(pair: list[str], a: np.ndarray, b: np.ndarray, variant: str) -> dict[str, Any]:
    """Wilcoxon's signed-rank test of two runs' paired per-row values."""
    from scipy.stats import wilcoxon

    if np.allclose(a, b):
        statistic, p_value = 0.0, 1.0
    else:
        res = wilcoxon(a, b, zero_method="wilcox")
        statistic, p_value = float(res.statistic), float(res.pvalue)
    return {
        "runs": pair,
        "name": "wilcoxon",
        "variant": variant,
        "statistic": statistic,
        "p_value": p_value,
        "n": len(a),
    }


def _score_test(pair: list[str], sa: np.ndarray, sb: np.ndarray) -> dict[str, Any]:
    """Wilcoxon's signed-rank test on per-row scores (silhouette values, per-user rankings)."""
    if len(sa) != len(sb) or len(sa) == 0:
        reason = "the runs' per-row scores do not pair up"
        return {"runs": pair, "name": None, "p_value": None, "reason": reason}
    return {
        **_wilcoxon(pair, sa, sb, "signed-rank on per-row scores"),
        "mean_score": [float(sa.mean()), float(sb.mean())],
    }


def compare_runs(store: Store, run_ids: list[str], confidence: float = 0.95) -> dict[str, Any]:
    """Runs side by side (settings, scores, intervals) and a test for each pair; each id
    may be the start of one run's id (:meth:`Store.resolve_run_id`)."""
    if len(run_ids) < 2:
        raise UsageError("Give at least two run ids to compare.")
    run_ids = [store.resolve_run_id(r) for r in run_ids]
    if len(set(run_ids)) != len(run_ids):
        raise UsageError("Give each run id to compare only once.")
    runs = [store.get_run(r) for r in run_ids]
    side = []
    for run in runs:
        result = run.get("result") or {}
        side.append(
            {
                "run_id": run["run_id"],
                "created": run["created"],
                "status": run["status"],
                "data": run["data"],
                "fingerprint": run["fingerprint"],
                "task": run["task"],
                "metric": run["metric"],
                "threshold": run["threshold"],
                "budget_s": run["budget_s"],
                "seed": run["seed"],
                "best_candidate": result.get("best_candidate"),
                "best_params": result.get("best_params"),
                "validation_score": result.get("validation_score"),
                "test_score": result.get("test_score"),
                "test_bound": result.get("test_bound"),
                "confidence": run["confidence"],
                "test_interval": _interval(run, run.get("outcomes"), confidence),
                "test_split": (run.get("outcomes") or {}).get("split"),
                "n_trials": len(store.trials(run["run_id"])),
                "elapsed_s": result.get("elapsed_s"),
            }
        )
    tests = [_pair_test(a, b) for a, b in combinations(runs, 2)]
    return {"runs": side, "tests": tests}
