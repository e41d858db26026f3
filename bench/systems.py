"""One runner per system. Each fits on the same train/validation split within the same budget and
cores, and returns its figures as a plain dict:

``time_to_threshold_s`` (seconds from the start of its search to the first validation score past
the threshold, or None), ``validation_score`` and ``test_score`` of its final model,
``test_confirms`` (learnloop: its certificate; peers: final test score meets the threshold),
``fit_s`` (wall time of the whole fit call).

learnloop runs as its users run it: ``learnloop train --validation V --test T --json`` in a
subprocess on the same splits written to parquet, and adds ``time_to_certified_s`` (``Popen`` to
exit 0), its ``aim`` and the JSON it printed (``cli``). FLAML adds ``trajectory``, its best-so-far
validation score over time, from which the report reads when it passed learnloop's aim.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.direction import higher_is_better, meets
from bench.suite import TARGET

__all__ = [
    "SYSTEMS",
    "ABLATED",
    "base_system",
    "ablated_lever",
    "run_system",
    "score",
]

SYSTEMS = ["learnloop", "flaml", "optuna_lgbm"]
ABLATED = "learnloop-no-"  # learnloop-no-<lever>: learnloop with one lever off


def base_system(system: str) -> str:
    """The runner behind ``system``: learnloop for its ablations, else the system itself."""
    if system.startswith(ABLATED):
        from learnloop.core.levers import LEVERS

        lever = system.removeprefix(ABLATED)
        if lever not in LEVERS:
            raise ValueError(f"Unknown lever '{lever}'; known: {', '.join(LEVERS)}.")
        return "learnloop"
    if system not in SYSTEMS:
        raise ValueError(f"Unknown system '{system}'; choose from {', '.join(SYSTEMS)}.")
    return system


def ablated_lever(system: str) -> str | None:
    """The lever ``system`` turns off (``learnloop-no-refit`` -> ``refit``), or None."""
    return system.removeprefix(ABLATED) if system.startswith(ABLATED) else None


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
    dataset: str | None = None,
) -> dict[str, Any]:
    """Run ``system`` on the given splits and return its figures (``dataset``: the suite
    name, so that learnloop's learned portfolio leaves that data set's own entry out)."""
    # learnloop-no-<lever> is learnloop with $LEARNLOOP_ABLATE set by the harness
    runner = {"learnloop": _learnloop, "flaml": _flaml, "optuna_lgbm": _optuna_lgbm}[
        base_system(system)
    ]
    own = {"dataset": dataset} if runner is _learnloop else {}
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
        **own,
    )
    out["fit_s"] = time.monotonic() - start
    return out


# --- learnloop ---------------------------------------------------------------------------------


def _learnloop(
    *, task, metric, threshold, train, validation, test, budget, seed, n_jobs, workdir, dataset=None
):
    """The real CLI in a subprocess on the fixed splits; time to certified is the wall clock
    from ``Popen`` to its exit with 0 (files written before the clock starts)."""
    import os

    from learnloop.search.portfolio import HOLDOUT_ENV

    # leave-one-out: the learned portfolio must not rank this data set by its own fits
    # (the CLI subprocess inherits the environment)
    os.environ[HOLDOUT_ENV] = dataset or ""
    return _learnloop_cli(
        task=task,
        metric=metric,
        threshold=threshold,
        files=_write_splits(workdir, train, validation, test),
        budget=budget,
        seed=seed,
        n_jobs=n_jobs,
        workdir=workdir,
    )


def _write_splits(workdir: Path, *frames: pd.DataFrame) -> list[Path]:
    paths = [workdir / f"{name}.parquet" for name in ("train", "validation", "test")]
    for frame, path in zip(frames, paths, strict=True):
        frame.to_parquet(path, index=False)
    return paths


# The fields of ``learnloop train --json`` kept in the row (under "cli").
CLI_FIELDS = (
    "status",
    "aim",
    "threshold",
    "validation_score",
    "test_score",
    "test_bound",
    "confidence",
    "time_to_threshold_s",
    "elapsed_s",
    "best_candidate",
    "n_trials",
    "run_id",
)


def _learnloop_cli(*, task, metric, threshold, files, budget, seed, n_jobs, workdir):
    import json
    import subprocess
    import sys

    train_path, val_path, test_path = files
    cmd = [sys.executable, "-m", "learnloop", "train", str(train_path)]
    cmd += ["--target", TARGET, "--task", task, "--metric", metric]
    cmd += ["--validation", str(val_path), "--test", str(test_path)]
    cmd += ["--budget", f"{budget:g}", "--seed", str(seed), "--n-jobs", str(n_jobs)]
    cmd += ["--out", str(workdir / "model.skops"), "--store", str(workdir / "store.db")]
    if threshold is not None:
        cmd += ["--threshold", repr(float(threshold))]
    cmd.append("--json")
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=3 * budget + 120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError(
            f"learnloop train did not exit within {3 * budget + 120:.0f} s"
        ) from None
    wall = time.monotonic() - start
    if proc.returncode not in (0, 3):
        tail = " | ".join(stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"learnloop train exited {proc.returncode}: {tail}")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    summary = json.loads(lines[-1])
    met = proc.returncode == 0
    return {
        "time_to_threshold_s": summary.get("time_to_threshold_s"),
        "time_to_certified_s": wall if met else None,
        "cli_s": wall,
        "exit_code": proc.returncode,
        "certified": met,
        "aim": summary.get("aim"),
        "validation_score": summary.get("validation_score"),
        "test_score": summary.get("test_score"),
        "test_confirms": met if threshold is not None else None,
        "test_bound": summary.get("test_bound"),
        "status": summary.get("status"),
        "best_model": summary.get("best_candidate"),
        "n_trials": summary.get("n_trials"),
        "cli": {k: summary.get(k) for k in CLI_FIELDS},
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
    fit_started = time.time()  # wall clock: compared with this process's start in run_one
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
    trajectory = []  # best-so-far validation score at each improvement: [[seconds, score], ...]
    for t, loss in zip(times, best_losses, strict=True):
        value = float(to_metric(loss))
        if not trajectory or value != trajectory[-1][1]:
            trajectory.append([round(float(t), 4), value])
    val_score = to_metric(automl.best_loss) if automl.best_loss is not None else None
    test_score = _peer_test_score(automl, X_te, y_te, task, metric)
    return {
        "time_to_threshold_s": ttt,
        "trajectory": trajectory,
        "validation_score": val_score,
        "test_score": test_score,
        "test_confirms": meets(metric, test_score, threshold) if threshold is not None else None,
        "best_model": automl.best_estimator,
        "n_trials": len(getattr(automl, "config_history", {}) or {}) or len(times),
        "fit_started_wall": fit_started,
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
