"""``learnloop.train``: data -> loop -> certificate -> model file -> store, in one call."""

from __future__ import annotations

import math
import os
import time
import warnings
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import optuna
import pandas as pd
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.pipeline import Pipeline

from learnloop.artifacts import LoadedModel, library_versions, save_model
from learnloop.certify import Certificate, best_possible_bound, certify, look_alpha
from learnloop.data import (
    Schema,
    fingerprint,
    infer_schema,
    load_table,
    prepare_features,
    split_indices,
)
from learnloop.exceptions import DataError, UsageError
from learnloop.features import build_preprocessor
from learnloop.loop import FittedModel, Loop, Problem, TrialRecord, predict_model
from learnloop.metrics import Metric, get_metric
from learnloop.result import Result
from learnloop.store import open_store

__all__ = ["train", "Reporter", "DEFAULT_BUDGET_S", "DEFAULT_MODEL_PATH"]

DEFAULT_BUDGET_S = 60.0
DEFAULT_MODEL_PATH = "learnloop-model.skops"
DEFAULT_METRIC = {"classification": "accuracy", "regression": "r2"}
MAX_LOOKS = 3


class Reporter(Protocol):
    """Receives progress events (the CLI draws them; the API ignores them by default)."""

    def on_start(self, info: dict[str, Any]) -> None: ...
    def on_trial(self, record: TrialRecord, loop: Loop) -> None: ...
    def on_look(self, cert: Certificate) -> None: ...
    def on_message(self, text: str) -> None: ...


class _Silent:
    def on_start(self, info: dict[str, Any]) -> None: ...
    def on_trial(self, record: TrialRecord, loop: Loop) -> None: ...
    def on_look(self, cert: Certificate) -> None: ...
    def on_message(self, text: str) -> None: ...


def _check_options(budget: float, confidence: float, seed: int) -> None:
    if not isinstance(budget, int | float) or not math.isfinite(budget) or budget <= 0:
        raise UsageError(f"The budget must be a positive number of seconds; got {budget!r}.")
    if not 0.5 <= confidence < 1.0:
        raise UsageError(f"The confidence must be in [0.5, 1); got {confidence!r}.")
    if not isinstance(seed, int) or seed < 0:
        raise UsageError(f"The seed must be a non-negative integer; got {seed!r}.")


def train(
    data: str | Path | pd.DataFrame,
    target: str | None = None,
    *,
    task: str = "auto",
    metric: str | None = None,
    threshold: float | None = None,
    budget: float = DEFAULT_BUDGET_S,
    confidence: float = 0.95,
    seed: int = 0,
    out: str | Path | None = DEFAULT_MODEL_PATH,
    store: str | None = None,
    validation: str | Path | pd.DataFrame | None = None,
    test: str | Path | pd.DataFrame | None = None,
    candidates: list[str] | None = None,
    n_jobs: int | None = None,
    reporter: Reporter | None = None,
    command: str | None = None,
    resume: str | None = None,
) -> Result:
    """Train until ``metric`` passes ``threshold`` on validation and is certified on test.

    Runs decision -> error -> optimize until a model's validation score passes the
    threshold plus the certificate's margin, then scores it once on the held-out test
    split with a one-sided bound at ``confidence``. Without a threshold, searches for the
    whole ``budget`` (seconds) and certifies the best model. Pass ``validation`` and
    ``test`` tables to use fixed splits instead of the seeded random ones. ``resume`` (a
    run id) continues a run that was killed, keeping the trials it finished.
    """
    wall_start = time.monotonic()
    report = reporter or _Silent()
    # a new run's data is checked before the store is opened, so bad input leaves no new file
    store_obj = open_store(store) if resume is not None else None
    if resume is not None:
        assert store_obj is not None
        from learnloop.experiments import resume_options

        options = resume_options(store_obj, resume, data, validation, test)
        target, task, metric = options["target"], options["task"], options["metric"]
        threshold, budget = options["threshold"], options["budget"]
        confidence, seed, candidates = options["confidence"], options["seed"], options["candidates"]
    _check_options(budget, confidence, seed)
    if candidates:
        from learnloop.candidates import CANDIDATES

        unknown = [c for c in candidates if c not in CANDIDATES]
        if unknown:
            raise UsageError(
                f"Unknown candidate '{unknown[0]}'; choose from {', '.join(CANDIDATES)}."
            )
    if metric is not None:
        get_metric(metric)  # unknown names fail before any data is read
    out_path = _check_out(out)

    frame, schema, chosen_metric, parts, dropped_rows = prepare(
        data, target, task, metric, threshold, seed, validation, test
    )
    if threshold is not None:
        threshold = float(threshold)
    if dropped_rows:
        report.on_message(f"{dropped_rows} rows with no value in '{target}' were left out.")
    for name, reason in schema.dropped.items():
        report.on_message(f"Column '{name}' is not used: {reason}.")
    X_tr, y_tr = parts["train"]
    X_va, y_va = parts["validation"]
    X_te, y_te = parts["test"]
    n_classes = len(schema.classes) if schema.task == "classification" else 0
    data_fingerprint = fingerprint(frame)  # hashes every value: compute it once

    if store_obj is None:
        store_obj = open_store(store)
    if resume is not None:
        from learnloop.experiments import reopen_run

        run_id = reopen_run(store_obj, resume, data_fingerprint, report.on_message)
    else:
        run_id = store_obj.create_run(
            task=schema.task,
            metric=chosen_metric.name,
            threshold=threshold,
            budget_s=float(budget),
            seed=seed,
            confidence=confidence,
            data=_source_name(data),
            fingerprint=data_fingerprint,
            command=command,
            versions=library_versions(),
            options={
                "target": schema.target,
                "task": schema.task,
                "metric": chosen_metric.name,
                "threshold": threshold,
                "budget": float(budget),
                "confidence": confidence,
                "seed": seed,
                "candidates": candidates,
                "data": _source_path(data),
                "validation": _source_path(validation),
                "test": _source_path(test),
            },
        )
    try:
        result = _search_and_certify(
            schema=schema,
            metric=chosen_metric,
            threshold=threshold,
            budget=float(budget),
            confidence=confidence,
            seed=seed,
            splits=(X_tr, y_tr, X_va, y_va, X_te, y_te),
            n_classes=n_classes,
            study=store_obj.study(run_id, _sampler(seed)),
            candidates=candidates,
            n_jobs=n_jobs or os.cpu_count() or 1,
            report=report,
            wall_start=wall_start,
            run_id=run_id,
            out_path=out_path,
            fingerprint_=data_fingerprint,
            store=store_obj,
        )
    except BaseException as e:
        store_obj.finish_run(run_id, "failed", result={"error": f"{type(e).__name__}: {e}"})
        raise
    store_obj.finish_run(
        run_id, result.status, result=result.to_dict(), model_path=result.model_path
    )
    return result


def prepare(
    data: Any,
    target: str | None,
    task: str,
    metric: str | None,
    threshold: float | None,
    seed: int,
    validation: Any = None,
    test: Any = None,
) -> tuple[pd.DataFrame, Schema, Metric, dict[str, tuple[pd.DataFrame, np.ndarray]], int]:
    """Read the data and make the seeded splits: the same inputs give the same splits."""
    frame = load_table(data)
    schema = infer_schema(frame, target, task)
    chosen_metric = get_metric(metric or DEFAULT_METRIC[schema.task], schema.task)
    if threshold is not None:
        chosen_metric.check_threshold(float(threshold))
    parts, dropped_rows = _split(frame, schema, validation, test, seed)
    return frame, schema, chosen_metric, parts, dropped_rows


def _source_name(source: Any) -> str | None:
    return "<DataFrame>" if isinstance(source, pd.DataFrame) else str(source)


def _source_path(source: Any) -> str | None:
    """An absolute path a worker on this machine can read again (None for a DataFrame)."""
    if source is None or isinstance(source, pd.DataFrame):
        return None
    text = str(source)
    return str(Path(text).resolve()) if "://" not in text and Path(text).exists() else text


def _sampler(seed: int) -> optuna.samplers.BaseSampler:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, group=True, n_startup_trials=5
        )


def _check_out(out: str | Path | None) -> Path | None:
    if out is None:
        return None
    path = Path(out)
    if path.is_dir():
        raise UsageError(f"The model path '{path}' is a directory; give a file name.")
    if not path.parent.exists():
        raise UsageError(f"The folder of the model path '{path}' does not exist.")
    return path


def _encode_target(y: pd.Series, schema: Schema, where: str) -> np.ndarray:
    if schema.task == "classification":
        lookup = {c: i for i, c in enumerate(schema.classes)}
        codes = y.astype(object).map(
            lambda v: lookup.get(v.item() if hasattr(v, "item") else v, -1)
        )
        codes = codes.astype(int)
        if (codes < 0).any():
            bad = y[codes < 0].iloc[0]
            raise DataError(
                f"The {where} data has the class {bad!r} in '{schema.target}', "
                "which the training data does not have."
            )
        return codes.to_numpy(dtype=int)
    values = pd.to_numeric(y, errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        raise DataError(
            f"The target column '{schema.target}' holds infinite or non-numeric values."
        )
    return values


def _split(
    frame: pd.DataFrame,
    schema: Schema,
    validation: Any,
    test: Any,
    seed: int,
) -> tuple[dict[str, tuple[pd.DataFrame, np.ndarray]], int]:
    target = schema.target
    assert target is not None
    labelled = frame[frame[target].notna()]
    dropped = len(frame) - len(labelled)
    if (validation is None) != (test is None):
        raise UsageError("Give both a validation and a test table, or neither.")
    if validation is not None:
        tables = {"train": labelled}
        for name, source in (("validation", validation), ("test", test)):
            t = load_table(source)
            if target not in t.columns:
                raise DataError(f"The {name} data has no target column '{target}'.")
            tables[name] = t[t[target].notna()]
        parts = {
            name: (
                prepare_features(t, schema, strict=name != "train"),
                _encode_target(t[target], schema, name),
            )
            for name, t in tables.items()
        }
        return parts, dropped
    y_all = _encode_target(labelled[target], schema, "training")
    train_idx, val_idx, test_idx = split_indices(y_all, schema.task, seed)
    X_all = prepare_features(labelled, schema)
    parts = {
        name: (X_all.iloc[idx].reset_index(drop=True), y_all[idx])
        for name, idx in (("train", train_idx), ("validation", val_idx), ("test", test_idx))
    }
    return parts, dropped


def _baseline(task: str, X: pd.DataFrame, y: np.ndarray) -> FittedModel:
    est: Any = DummyClassifier(strategy="prior") if task == "classification" else DummyRegressor()
    pre = build_preprocessor("tree", X)
    est.fit(pre.fit_transform(X), y)
    return FittedModel(-1, "baseline", {}, len(y), pre, est, math.nan)


def _search_and_certify(
    *,
    schema: Schema,
    metric: Metric,
    threshold: float | None,
    budget: float,
    confidence: float,
    seed: int,
    splits: tuple[Any, ...],
    n_classes: int,
    study: optuna.Study,
    candidates: list[str] | None,
    n_jobs: int,
    report: Reporter,
    wall_start: float,
    run_id: str,
    out_path: Path | None,
    fingerprint_: str,
    store: Any = None,
) -> Result:
    X_tr, y_tr, X_va, y_va, X_te, y_te = splits
    alpha = 1.0 - confidence
    planned_looks = MAX_LOOKS if threshold is not None else 1
    problem = Problem(schema.task, metric, n_classes, X_tr, y_tr, X_va, y_va, len(y_te), seed)
    baseline = _baseline(schema.task, X_tr, y_tr)
    baseline_test = metric.score(
        y_te, predict_model(baseline, X_te, schema.task, n_classes), n_classes
    )
    loop = Loop(
        problem,
        study,
        threshold=threshold,
        alpha_first_look=look_alpha(alpha, 1, planned_looks),
        n_jobs=n_jobs,
        candidates=candidates,
        on_trial=report.on_trial,
    )
    report.on_start(
        {
            "run_id": run_id,
            "task": schema.task,
            "metric": metric.name,
            "threshold": threshold,
            "budget": budget,
            "rows": {"train": len(y_tr), "validation": len(y_va), "test": len(y_te)},
            "classes": n_classes,
            "baseline_score": baseline_test,
        }
    )

    # keep a little of the budget for the certificate and the model file
    def certifiable(look_no: int) -> bool:
        """Whether a perfect test score could still pass at this look (False if known not)."""
        if threshold is None:
            return True
        ceiling = best_possible_bound(metric, len(y_te), look_alpha(alpha, look_no, planned_looks))
        return ceiling is None or metric.meets(ceiling, threshold)

    if not certifiable(1):
        ceiling = best_possible_bound(metric, len(y_te), look_alpha(alpha, 1, planned_looks))
        report.on_message(
            f"With {len(y_te)} test rows even a perfect score certifies {metric.name} of at "
            f"most {ceiling:.4f}, below the threshold {threshold:g}; the run cannot end 'met' — "
            "use more data or a lower threshold. Searching the budget for the best model."
        )
        loop.search_to_budget()
    deadline = wall_start + budget - min(0.05 * budget, 5.0)
    loop.started = time.monotonic()
    looks: list[tuple[FittedModel, Certificate]] = []

    def look(model: FittedModel) -> Certificate:
        pred = predict_model(model, X_te, schema.task, n_classes)
        cert = certify(
            metric,
            y_te,
            pred,
            n_classes,
            threshold,
            confidence,
            look=len(looks) + 1,
            planned_looks=planned_looks,
            seed=seed,
        )
        looks.append((model, cert))
        report.on_look(cert)
        return cert

    while True:
        hit = loop.run(deadline)
        if hit is None:
            break
        cert = look(hit)
        if cert.met or len(looks) >= planned_looks:
            break
        if not certifiable(len(looks) + 1):
            loop.search_to_budget()  # no look left could certify it: no more looks
            continue
        assert threshold is not None
        # aim further past the threshold by what the bound fell short
        loop.raise_target(abs(cert.test_bound - threshold))
    met_look = next((lc for lc in looks if lc[1].met), None)
    if met_look is None:
        best = loop.best_model() or baseline
        looked = {m.trial for m, _ in looks}
        if best.trial not in looked and len(looks) < planned_looks:
            look(best)
        if not looks:
            look(baseline)
        chosen, cert = _best_looked(looks, metric)
    else:
        chosen, cert = met_look
    status = "met" if threshold is None or cert.met else "not_met"
    pipeline = Pipeline([("features", chosen.preprocessor), ("model", chosen.estimator)])
    elapsed = time.monotonic() - wall_start
    metadata = {
        "run_id": run_id,
        "schema": schema.to_dict(),
        "task": schema.task,
        "metric": metric.name,
        "threshold": threshold,
        "status": status,
        "certificate": cert.to_dict(),
        "baseline_score": _num(baseline_test),
        "validation_score": _num(chosen.score),
        "candidate": chosen.candidate,
        "params": {k: _plain(v) for k, v in chosen.params.items()},
        "n_train_rows": int(chosen.n_rows),
        "data_fingerprint": fingerprint_,
        "versions": library_versions(),
        "created_unix": time.time(),
    }
    if out_path is not None:
        save_model(out_path, pipeline, metadata)
    if store is not None:
        from learnloop.experiments import test_outcomes

        pred = predict_model(chosen, X_te, schema.task, n_classes)
        store.update_run(run_id, outcomes=test_outcomes(schema.task, X_te, y_te, pred))
    return Result(
        status=status,
        task=schema.task,
        metric=metric.name,
        threshold=threshold,
        validation_score=_num(chosen.score),
        test_score=_num(cert.test_score),
        test_bound=_num(cert.test_bound),
        confidence=confidence,
        baseline_score=_num(baseline_test),
        model_path=str(out_path.resolve()) if out_path is not None else None,
        run_id=run_id,
        elapsed_s=elapsed,
        time_to_threshold_s=loop.time_to_threshold,
        certificate=cert,
        model=LoadedModel(pipeline, metadata),
        best_candidate=chosen.candidate,
        best_params={k: _plain(v) for k, v in chosen.params.items()},
        target=loop.target,
        splits={"train": len(y_tr), "validation": len(y_va), "test": len(y_te)},
        dropped_columns=dict(schema.dropped),
        trials=loop.trials,
    )


def _best_looked(
    looks: list[tuple[FittedModel, Certificate]], metric: Metric
) -> tuple[FittedModel, Certificate]:
    """Among the models already looked at, the one with the best bound (no new look)."""
    best = looks[0]
    for item in looks[1:]:
        if metric.better(item[1].test_bound, best[1].test_bound):
            best = item
    return best


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
