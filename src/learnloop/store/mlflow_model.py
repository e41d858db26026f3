"""A learnloop model file logged as an MLflow model (pyfunc), with its certificate.

The model is logged "from code" (:mod:`learnloop.store._mlflow_pyfunc`): MLflow keeps the
skops file as an artifact and the small wrapper as source, so loading it unpickles nothing.
The signature comes from the model's schema (a column per feature: numbers as doubles,
categories as strings, dates as datetimes) and the answers on an input example made from it
(the first category of each categorical column, 0 for numbers); the certificate is logged
as metrics (test score, bound, threshold, confidence) and tags (metric, status, method,
run id). MLflow is the optional ``mlflow`` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from learnloop.store.model_files import LoadedModel, load_model

__all__ = ["log_model", "input_example"]

_CODE = Path(__file__).with_name("_mlflow_pyfunc.py")


def input_example(model: LoadedModel, rows: int = 2) -> pd.DataFrame:
    """Rows with the model's input columns that it answers: the first categories seen
    in training (or ``"a"``), 0.0 for numbers, 2020-01-01 for dates."""
    columns: dict[str, Any] = {}
    for spec in model.schema.features:
        if spec.kind == "numeric":
            columns[spec.name] = [0.0] * rows
        elif spec.kind == "datetime":
            columns[spec.name] = [pd.Timestamp("2020-01-01")] * rows
        else:
            seen = [str(c) for c in spec.categories] or ["a"]
            columns[spec.name] = [seen[i % len(seen)] for i in range(rows)]
    return pd.DataFrame(columns)


def _certificate(model: LoadedModel) -> tuple[dict[str, float], dict[str, str]]:
    meta, cert = model.metadata, model.metadata.get("certificate") or {}
    numbers = {
        "test_score": cert.get("test_score"),
        "test_bound": cert.get("test_bound"),
        "threshold": meta.get("threshold"),
        "confidence": cert.get("confidence"),
        "validation_score": meta.get("validation_score"),
        "baseline_score": meta.get("baseline_score"),
    }
    metrics = {k: float(v) for k, v in numbers.items() if isinstance(v, int | float)}
    texts = {
        "learnloop.run_id": meta.get("run_id"),
        "learnloop.task": meta.get("task"),
        "learnloop.metric": cert.get("metric", meta.get("metric")),
        "learnloop.status": meta.get("status"),
        "learnloop.certificate_method": cert.get("method"),
        "learnloop.candidate": meta.get("candidate"),
    }
    return metrics, {k: str(v) for k, v in texts.items() if v is not None}


def log_model(
    mlflow: Any,
    model_path: str | Path,
    model: LoadedModel | None = None,
    name: str = "model",
    register: str | None = None,
) -> str:
    """Log the model file at ``model_path`` (``model``, if already loaded from it) to
    MLflow's active run (``mlflow`` is the imported module), registered as a new version
    of the model ``register`` if given; return the logged model's URI."""
    from mlflow.models import infer_signature

    model = model if model is not None else load_model(model_path)
    example = input_example(model)
    signature = infer_signature(example, model.predict(example))
    info = mlflow.pyfunc.log_model(
        name=name,
        python_model=str(_CODE),
        artifacts={"model": str(Path(model_path).resolve())},
        signature=signature,
        input_example=example,
        registered_model_name=register,
    )
    metrics, tags = _certificate(model)
    mlflow.log_metrics(metrics)
    mlflow.set_tags(tags)
    return str(info.model_uri)
