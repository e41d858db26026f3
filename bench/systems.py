"""One runner per system. Each fits on the same train/validation split within the same budget and
cores, and returns its figures as a plain dict:

``time_to_threshold_s`` (seconds from the start of its search to the first validation score past
the threshold, or None), ``validation_score`` and ``test_score`` of its final model,
``test_confirms`` (learnloop: its certificate; peers: final test score meets the threshold),
``fit_s`` (wall time of the whole fit call).
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.suite import TARGET

__all__ = ["SYSTEMS", "run_system", "score", "higher_is_better"]

SYSTEMS = ["learnloop", "flaml", "optuna_lgbm"]
LOWER_IS_BETTER = {"rmse", "mae", "log_loss"}


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def meets(metric: str, value: float | None, threshold: float | None) -> bool:
    if value is None or threshold is None or not math.isfinite(value):
        return False
    return value >= threshold if higher_is_better(metric) else value <= threshold


def score(metric: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None) -> float:
    """The metric on encoded labels (classification) or values (regression)."""
    import sklearn.metrics as skm

    if metric == "accuracy":
        return float(skm.accuracy_score(y, pred))
    if metric == "balanced_accuracy":
        return float(skm.balanced_accuracy_score(y, pred))
    if metric == "f1":
        return float(skm.f1_score(y, pred))
    if metric == "f1_macro":
        return float(skm.f1_score(y, pred, average="macro"))
    if metric == "roc_auc":
        assert proba is not None
        if proba.shape[1] == 2:
            return float(skm.roc_auc_score(y, proba[:, 1]))
        return float(skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"))
    if metric == "log_loss":
        assert proba is not None
        return float(skm.log_loss(y, proba, labels=list(range(proba.shape[1]))))
    if metric == "rmse":
        return float(np.sqrt(skm.mean_squared_error(y, pred)))
    if metric == "mae":
        return float(skm.mean_absolute_error(y, pred))
    if metric == "r2":
        return float(skm.r2_score(y, pred))
    raise ValueError(f"Unknown metric '{metric}'.")


def run_system(
    system: str,
    *,
    task: str,
    metric: str,
    threshold: float | None,
    train: pd.DataFrame,
    validation: pd.DataFrame,
    test: pd.DataFrame,
    budget: float,
    seed: int,
    n_jobs: int,
    workdir: Path,
) -> dict[str, Any]:
    """Run ``system`` on the given splits and return its figures."""
    runner = {"learnloop": _learnloop, "flaml": _flaml, "optuna_lgbm": _optuna_lgbm}[system]
    start = time.monotonic()
    out = runner(
        task=task,
        metric=metric,
        threshold=threshold,
        train=train,
        validation=validation,
        test=test,
        budget=budget,
        seed=seed,
        n_jobs=n_jobs,
        workdir=workdir,
    )
    out["fit_s"] = time.monotonic() - start
    return out


# --- learnloop ---------------------------------------------------------------------------------


def _learnloop(*, task, metric, threshold, train, validation, test, budget, seed, n_jobs, workdir):
    import learnloop

    result = learnloop.train(
        train,
        target=TARGET,
        task=task,
        metric=metric,
        threshold=threshold,
        budget=budget,
        seed=seed,
        out=None,
        store=str(workdir / "learnloop-store.db"),
        validation=validation,
        test=test,
        n_jobs=n_jobs,
    )
    return {
        "time_to_threshold_s": result.time_to_threshold_s,
        "validation_score": result.validation_score,
        "test_score": result.test_score,
        "test_confirms": result.status == "met" if threshold is not None else None,
        "test_bound": result.test_bound,
        "status": result.status,
        "best_model": result.best_candidate,
        "n_trials": len(result.trials),
    }


# --- shared encoding for the peers -----------------------------------------------------------


def _xy(frames: list[pd.DataFrame], task: str) -> tuple[list[pd.DataFrame], list[np.ndarray]]:
    """Features with object columns as pandas categories (train's categories) and encoded y."""
    xs = [f.drop(columns=[TARGET]).copy() for f in frames]
    for col in xs[0].columns:
        if xs[0][col].dtype == object or str(xs[0][col].dtype) in ("string", "str", "category"):
            cats = pd.Index(xs[0][col].dropna().astype(str).unique())
            for x in xs:
                x[col] = pd.Categorical(x[col].astype("string"), categories=cats)
    if task == "classification":
        classes = sorted(frames[0][TARGET].astype(str).unique())
        lookup = {c: i for i, c in enumerate(classes)}
        ys = [f[TARGET].astype(str).map(lookup).fillna(-1).to_numpy(dtype=int) for f in frames]
    else:
        ys = [f[TARGET].to_numpy(dtype=float) for f in frames]
    return xs, ys


# --- FLAML -------------------------------------------------------------------------------------

# FLAML minimizes a loss; how each metric maps to it (metric value from loss).
_FLAML_FROM_LOSS = {
    "accuracy": lambda v: 1.0 - v,
    "roc_auc": lambda v: 1.0 - v,
    "r2": lambda v: 1.0 - v,
    "f1": lambda v: 1.0 - v,
    "rmse": lambda v: v,
    "mae": lambda v: v,
    "log_loss": lambda v: v,
}


def _flaml(*, task, metric, threshold, train, validation, test, budget, seed, n_jobs, workdir):
    from flaml import AutoML
    from flaml.automl.data import get_output_from_log

    (X_tr, X_va, X_te), (y_tr, y_va, y_te) = _xy([train, validation, test], task)
    flaml_metric = {"roc_auc": "roc_auc" if len(np.unique(y_tr)) <= 2 else "roc_auc_ovr"}.get(
        metric, metric
    )
    log = workdir / "flaml.log"
    automl = AutoML()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        automl.fit(
            X_tr,
            y_tr,
            X_val=X_va,
            y_val=y_va,
            task=task,
            metric=flaml_metric,
            time_budget=budget,
            seed=seed,
            n_jobs=n_jobs,
            log_file_name=str(log),
            verbose=0,
        )
    times, best_losses, _, _, _ = get_output_from_log(str(log), time_budget=float("inf"))
    to_metric = _FLAML_FROM_LOSS[metric]
    ttt = None
    for t, loss in zip(times, best_losses, strict=True):
        if meets(metric, to_metric(loss), threshold):
            ttt = float(t)
            break
    val_score = to_metric(automl.best_loss) if automl.best_loss is not None else None
    test_score = _peer_test_score(automl, X_te, y_te, task, metric)
    return {
        "time_to_threshold_s": ttt,
        "validation_score": val_score,
        "test_score": test_score,
        "test_confirms": meets(metric, test_score, threshold) if threshold is not None else None,
        "best_model": automl.best_estimator,
        "n_trials": len(getattr(automl, "config_history", {}) or {}) or len(times),
    }


def _peer_test_score(model: Any, X: pd.DataFrame, y: np.ndarray, task: str, metric: str) -> float:
    pred = np.asarray(model.predict(X))
    proba = None
    if task == "classification" and metric in ("roc_auc", "log_loss"):
        proba = np.asarray(model.predict_proba(X))
    return score(metric, y, pred, proba)


# --- Optuna + LightGBM -------------------------------------------------------------------------


def _optuna_lgbm(
    *, task, metric, threshold, train, validation, test, budget, seed, n_jobs, workdir
):
    import lightgbm as lgb
    import optuna

    (X_tr, X_va, X_te), (y_tr, y_va, y_te) = _xy([train, validation, test], task)
    n_classes = len(np.unique(y_tr)) if task == "classification" else 0
    if task == "regression":
        base = {"objective": "regression"}
    elif n_classes == 2:
        base = {"objective": "binary"}
    else:
        base = {"objective": "multiclass", "num_class": n_classes}
    base.update(verbosity=-1, num_threads=n_jobs, seed=seed)
    start = time.monotonic()
    deadline = start + budget
    state: dict[str, Any] = {"best": None, "best_score": None, "ttt": None}

    def predict(booster: Any, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        raw = booster.predict(X, num_iteration=booster.best_iteration or None)
        if task == "regression":
            return raw, None
        proba = np.column_stack([1 - raw, raw]) if n_classes == 2 else raw
        return proba.argmax(axis=1), proba

    def stop_at_deadline(env: Any) -> None:
        if time.monotonic() > deadline:
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    def objective(trial: optuna.Trial) -> float:
        params = dict(base)
        params.update(
            learning_rate=trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            num_leaves=trial.suggest_int("num_leaves", 4, 256, log=True),
            min_child_samples=trial.suggest_int("min_child_samples", 2, 100, log=True),
            feature_fraction=trial.suggest_float("feature_fraction", 0.4, 1.0),
            bagging_fraction=trial.suggest_float("bagging_fraction", 0.5, 1.0),
            bagging_freq=1,
            lambda_l1=trial.suggest_float("lambda_l1", 1e-8, 10.0, log=True),
            lambda_l2=trial.suggest_float("lambda_l2", 1e-8, 10.0, log=True),
        )
        dtrain = lgb.Dataset(X_tr, y_tr)
        dval = lgb.Dataset(X_va, y_va, reference=dtrain)
        booster = lgb.train(
            params,
            dtrain,
            num_boost_round=2000,
            valid_sets=[dval],
            callbacks=[lgb.early_stopping(50, verbose=False), stop_at_deadline],
        )
        pred, proba = predict(booster, X_va)
        value = score(metric, y_va, pred, proba)
        better = state["best_score"] is None or (
            value > state["best_score"] if higher_is_better(metric) else value < state["best_score"]
        )
        if better:
            state["best"], state["best_score"] = booster, value
        if state["ttt"] is None and meets(metric, value, threshold):
            state["ttt"] = time.monotonic() - start
            trial.study.stop()
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize" if higher_is_better(metric) else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
    )
    study.optimize(objective, timeout=budget, n_trials=None)
    booster = state["best"]
    test_score = None
    if booster is not None:
        pred, proba = predict(booster, X_te)
        test_score = score(metric, y_te, pred, proba)
    return {
        "time_to_threshold_s": state["ttt"],
        "validation_score": state["best_score"],
        "test_score": test_score,
        "test_confirms": meets(metric, test_score, threshold) if threshold is not None else None,
        "best_model": "lightgbm",
        "n_trials": len(study.trials),
    }
