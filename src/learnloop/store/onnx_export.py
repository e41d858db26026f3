"""``learnloop export MODEL --onnx FILE``: a tabular model file as one ONNX graph.

The graph is the whole saved pipeline, preprocessing included (the column transformer's
imputing, scaling and encoding, then the estimator; an ensemble's members each with their
own), converted by skl2onnx, with learnloop's LightGBM wrappers delegated to onnxmltools
(:mod:`learnloop.store.onnx_converters`). It takes one input per prepared feature column,
in the order ``learnloop.inputs`` (a metadata entry) lists them: a ``[N, 1]`` float
tensor for a number (a date column arrives as its parts, ``<name>__year`` ...), a
``[N, 1]`` string tensor for a category (a missing one as ``""``). :func:`onnx_feed` builds
them from a table. A classifier answers ``label`` (class codes) and ``probabilities`` (a
column per class, in the order ``learnloop.classes`` lists); a regressor its values.

The file carries the certificate in its ``metadata_props`` (metric, threshold, test score,
bound, confidence, run id), so it stays attached to the model it certifies. Families that
no converter covers (clustering, recommendation, pictures) are refused with one sentence
that names the family; the file is written to a temporary name and renamed, so a refused or
failed export leaves nothing behind. skl2onnx, onnxmltools and onnxruntime are the
optional ``onnx`` extra: ``pip install 'learnloop[onnx]'``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from learnloop.core import Output
from learnloop.data import DATETIME_PARTS, Schema, prepare_features
from learnloop.exceptions import UsageError
from learnloop.store.model_archive import check_writable, write_atomically
from learnloop.store.model_files import LoadedModel

__all__ = ["export_onnx", "onnx_feed", "input_columns", "OPSET"]

OPSET = {"": 18, "ai.onnx.ml": 3}  # ai.onnx.ml 3: the tree ensembles onnxruntime runs


def _libraries() -> None:
    try:
        import onnx  # noqa: F401
        import onnxmltools  # noqa: F401
        import skl2onnx  # noqa: F401
    except ImportError as e:
        raise UsageError(
            "Exporting to ONNX needs skl2onnx and onnxmltools: pip install 'learnloop[onnx]'."
        ) from e


def input_columns(schema: Schema) -> list[tuple[str, bool]]:
    """The graph's inputs: each prepared feature column and whether it holds text."""
    columns: list[tuple[str, bool]] = []
    for spec in schema.features:
        if spec.kind == "datetime":
            columns += [(f"{spec.name}__{part}", False) for part in DATETIME_PARTS]
        else:
            columns.append((spec.name, spec.kind == "categorical"))
    return columns


def onnx_feed(frame: pd.DataFrame, schema: Schema, input_names: list[str]) -> dict[str, Any]:
    """The inputs an onnxruntime session of the exported graph takes for ``frame`` (raw rows
    with the training columns); ``input_names`` are the session's input names, in order."""
    X = prepare_features(frame, schema)
    feed: dict[str, Any] = {}
    for name, (column, text) in zip(input_names, input_columns(schema), strict=True):
        values = X[[column]]
        feed[name] = (
            values.fillna("").astype(str).to_numpy(object) if text else values.to_numpy(np.float32)
        )
    return feed


def _estimators(est: Any) -> list[Any]:
    """``est`` and every estimator inside it: pipeline steps, column transformers' parts,
    ensemble members, a wrapped regressor."""
    inner: list[Any] = []
    if hasattr(est, "steps"):
        inner = [step for _, step in est.steps]
    elif hasattr(est, "transformers_"):
        inner = [part for _, part, _ in est.transformers_ if not isinstance(part, str)]
    elif getattr(est, "members", None) is not None:
        inner = list(est.members)
    elif getattr(est, "regressor", None) is not None:
        inner = [est.regressor]
    return [est, *(e for part in inner for e in _estimators(part))]


def _check_convertible(model: LoadedModel, parts: list[Any]) -> None:
    """UsageError, naming the family, when a part of the model has no converter."""
    from learnloop.store.onnx_converters import has_converter

    family = model.metadata.get("candidate")
    missing = [p for p in parts if not has_converter(p)]
    if model.task_kind.output not in (Output.CLASSES, Output.VALUES):
        missing = [parts[-1]]  # clusters, rankings: no converter answers as learnloop does
    if missing:
        what = type(missing[0]).__name__
        raise UsageError(
            f"The model's family '{family or what}' ({what}) has no ONNX converter, so it "
            "cannot be exported to ONNX; ONNX export covers tabular classification and "
            "regression."
        )
    n_classes = len(model.classes)
    for part in parts:
        seen = getattr(part, "classes_", None) if hasattr(part, "predict_proba") else None
        if seen is not None and len(seen) != n_classes:
            raise UsageError(
                f"A part of the model ({type(part).__name__}) learned {len(seen)} of the "
                f"{n_classes} classes, and its probabilities are padded in Python, which the "
                "ONNX graph does not do, so it is not exported to ONNX."
            )


def _text_missing_as_empty(parts: list[Any]) -> None:
    """Text imputers look for ``""`` (how :func:`onnx_feed` writes a missing category),
    not NaN: ONNX string tensors have no NaN, and skl2onnx converts only a text marker."""
    for part in parts:
        if hasattr(part, "statistics_") and np.asarray(part.statistics_).dtype == object:
            part.missing_values = ""


def _outputs(last: Any) -> list[tuple[str, Any]]:
    """The graph's output names: ``label`` and ``probabilities``, or ``values``."""
    if hasattr(last, "predict_proba"):
        return [("label", None), ("probabilities", None)]
    return [("values", None)]


def _metadata(model: LoadedModel) -> dict[str, str]:
    """The certificate and what reading the graph needs, as ONNX metadata strings."""
    meta, cert = model.metadata, model.metadata.get("certificate") or {}
    entries = {
        "learnloop.run_id": meta.get("run_id"),
        "learnloop.task": meta.get("task"),
        "learnloop.candidate": meta.get("candidate"),
        "learnloop.metric": cert.get("metric", meta.get("metric")),
        "learnloop.threshold": meta.get("threshold"),
        "learnloop.status": meta.get("status"),
        "learnloop.test_score": cert.get("test_score"),
        "learnloop.test_bound": cert.get("test_bound"),
        "learnloop.confidence": cert.get("confidence"),
        "learnloop.n_test": cert.get("n_test"),
        "learnloop.certificate": json.dumps(cert, default=str),
        "learnloop.target": model.schema.target,
        "learnloop.classes": json.dumps(list(model.classes), default=str),
        "learnloop.inputs": json.dumps([c for c, _ in input_columns(model.schema)]),
        "learnloop.versions": json.dumps(meta.get("versions") or {}),
    }
    return {k: "" if v is None else str(v) for k, v in entries.items()}


def convert(model: LoadedModel) -> Any:
    """The model's pipeline as an ONNX ``ModelProto`` with its metadata (UsageError if a
    part has no converter)."""
    _libraries()
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    from learnloop.store.onnx_converters import custom_parsers, register_converters

    register_converters()
    pipeline = copy.deepcopy(model.pipeline)
    parts = _estimators(pipeline)
    _text_missing_as_empty(parts)
    _check_convertible(model, parts)
    types = [
        (name, StringTensorType([None, 1]) if text else FloatTensorType([None, 1]))
        for name, text in input_columns(model.schema)
    ]
    no_zipmap = {id(p): {"zipmap": False} for p in parts if hasattr(p, "predict_proba")}
    onx = convert_sklearn(
        pipeline,
        initial_types=types,
        target_opset=OPSET,
        options=no_zipmap or None,
        final_types=_outputs(parts[-1]),
        custom_parsers=custom_parsers(),
    )
    for key, value in _metadata(model).items():
        entry = onx.metadata_props.add()
        entry.key, entry.value = key, value
    onx.doc_string = "learnloop model " + str(model.metadata.get("run_id") or "")
    return onx


def export_onnx(model: LoadedModel, out: str | Path) -> dict[str, Any]:
    """Write ``model`` as ONNX to ``out`` (atomically) and say what was written."""
    target = check_writable(out, "ONNX")
    onx = convert(model)
    write_atomically([(target, onx.SerializeToString())])
    return {
        "onnx_path": str(target),
        "run_id": model.metadata.get("run_id"),
        "inputs": [i.name for i in onx.graph.input],
        "outputs": [o.name for o in onx.graph.output],
        "opset": OPSET,
    }
