"""``learnloop runs export RUN --mlflow URI``: a run and its trials as MLflow runs.

The run becomes one MLflow run (parameters: the run's settings; metrics: test score and
bound), each trial a nested run with its configuration and its validation curve as a
metric history. With ``--model MODEL`` the run's model is logged in the same MLflow run as
a pyfunc model (:mod:`learnloop.store.mlflow_model`). MLflow is an optional extra:
``pip install 'learnloop[mlflow]'``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from learnloop.exceptions import UsageError
from learnloop.store import Store
from learnloop.store.experiments import run_details
from learnloop.store.mlflow_model import log_model
from learnloop.store.model_files import load_model

__all__ = ["export_mlflow"]


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError as e:
        raise UsageError(
            "Exporting to MLflow needs the mlflow package: pip install 'learnloop[mlflow]'."
        ) from e
    return mlflow


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def _log_trial(
    client: Any, entities: Any, run_id: str, trial: dict[str, Any], metric: str | None
) -> None:
    """One trial in one batch: its configuration, status, and validation curve."""
    start_ms = int(time.time() * 1000)
    metrics = [
        entities.Metric(
            metric or "score", float(p["score"]), start_ms + int(p["t"] * 1000), p["step"]
        )
        for p in trial["scores"]
    ]
    if _number(trial["score"]) is not None:
        metrics.append(entities.Metric("score", float(trial["score"]), start_ms, 0))
    params = [entities.Param(k, str(v)) for k, v in trial["params"].items()]
    tags = [
        entities.RunTag("candidate", trial["candidate"] or ""),
        entities.RunTag("status", trial["status"]),
        entities.RunTag("trial_number", str(trial["number"])),
    ]
    client.log_batch(run_id, metrics=metrics, params=params, tags=tags)


def export_mlflow(
    store: Store,
    run_id: str,
    uri: str,
    experiment: str = "learnloop",
    model_path: str | Path | None = None,
    register: str | None = None,
) -> dict[str, Any]:
    """Log ``run_id`` to the MLflow tracking server or folder at ``uri``; with
    ``model_path`` (the run's model file), the model too, as a pyfunc model with a
    signature and the certificate (:mod:`learnloop.store.mlflow_model`), registered as a
    new version of the model ``register`` if given."""
    details = run_details(store, run_id)
    run_id = details["run_id"]  # the full id where the start of one was given
    mlflow = _mlflow()
    if register is not None and model_path is None:
        raise UsageError("Registering a model needs the model file: add --model MODEL.")
    model = load_model(model_path) if model_path is not None else None
    if model is not None and model.metadata.get("run_id") != run_id:
        raise UsageError(
            f"The model file '{model_path}' was trained by run "
            f"{model.metadata.get('run_id')}, not {run_id}; give the run's own model."
        )
    from mlflow import entities

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    result = details.get("result") or {}
    settings = ("task", "metric", "threshold", "budget_s", "seed", "confidence", "data")
    with mlflow.start_run(run_name=f"learnloop-{run_id}") as parent:
        mlflow.set_tags(
            {
                "learnloop.run_id": run_id,
                "learnloop.status": details["status"],
                "learnloop.fingerprint": details["fingerprint"] or "",
                "learnloop.command": details["command"] or "",
            }
        )
        mlflow.log_params({k: details[k] for k in settings if details.get(k) is not None})
        for key in ("validation_score", "test_score", "test_bound", "baseline_score"):
            value = _number(result.get(key))
            if value is not None:
                mlflow.log_metric(key, value)
        client = mlflow.MlflowClient()
        for trial in details["trials"]:
            with mlflow.start_run(run_name=f"trial-{trial['number']}", nested=True) as child:
                _log_trial(client, entities, child.info.run_id, trial, details["metric"])
        model_uri = (
            log_model(mlflow, model_path, model, register=register)
            if model_path is not None
            else None
        )
        mlflow_run_id = parent.info.run_id
    return {
        "run_id": run_id,
        "mlflow_run_id": mlflow_run_id,
        "n_trials": len(details["trials"]),
        "model_uri": model_uri,
    }
