"""Model files: a skops archive holding the fitted pipeline and its metadata.

Loading never runs code from the file: its schema is checked against the exact list of
types in :mod:`learnloop.trusted_types` before skops is given it, and skops rebuilds only
those types. A sidecar ``<file>.sha256`` records the archive's checksum at
save time; a file that no longer matches is refused as tampered.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from learnloop.data import Schema, prepare_features
from learnloop.exceptions import UntrustedModelError, UsageError, VersionMismatchWarning
from learnloop.tasks import Answer, Task, get_task
from learnloop.trusted_types import audit_schema, trusted_names

__all__ = ["save_model", "load_model", "LoadedModel", "library_versions"]

FORMAT = "learnloop-model"
FORMAT_VERSION = 1


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model file depends on."""
    import lightgbm
    import sklearn
    import skops

    from learnloop import __version__

    return {
        "learnloop": __version__,
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "lightgbm": lightgbm.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "skops": skops.__version__,
    }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save_model(path: str | Path, pipeline: Any, metadata: dict[str, Any]) -> Path:
    """Write the model atomically (temp file + rename) with its checksum sidecar."""
    import skops.io as sio

    path = Path(path)
    if path.is_dir():
        raise UsageError(f"The model path '{path}' is a directory; give a file name.")
    if not path.parent.exists():
        raise UsageError(f"The folder of the model path '{path}' does not exist.")
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "pipeline": pipeline,
        "metadata": metadata,
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        sio.dump(payload, tmp)
        digest = _sha256(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    checksum_path(path).write_text(f"{digest}  {path.name}\n")
    return path


def _unreadable(path: Path, e: BaseException) -> UntrustedModelError:
    return UntrustedModelError(
        f"The file '{path}' is not a readable learnloop model ({type(e).__name__})."
    )


def _check_types(path: Path) -> list[str]:
    """The file's types beyond skops' defaults, after checking that every type it names
    is trusted (UntrustedModelError otherwise): nothing is imported or built before."""
    import skops.io as sio

    try:
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, RecursionError) as e:
        raise _unreadable(path, e) from e
    audit_schema(schema, str(path))
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as e:
        raise _unreadable(path, e) from e
    allowed = set(trusted_names())
    refused = [t for t in untrusted if t not in allowed]
    if refused:  # skops saw a type the schema check did not: refuse it all the same
        raise UntrustedModelError(
            f"The model file '{path}' asks to load types that are not trusted: "
            f"{', '.join(refused[:5])}; it is not loaded."
        )
    return untrusted


def load_model(path: str | Path) -> LoadedModel:
    """Load a model file, refusing untrusted types, corrupt or tampered files."""
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"The model file '{path}' does not exist.")
    sidecar = checksum_path(path)
    if sidecar.exists():
        expected = sidecar.read_text().split()[0] if sidecar.read_text().strip() else ""
        if expected != _sha256(path):
            raise UntrustedModelError(
                f"The model file '{path}' does not match its recorded checksum; "
                "it was changed after it was saved, so it is not loaded."
            )
    untrusted = _check_types(path)
    try:
        payload = sio.load(path, trusted=untrusted)
    except Exception as e:
        raise UntrustedModelError(
            f"The file '{path}' is not a readable learnloop model ({type(e).__name__}: {e})."
        ) from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UntrustedModelError(f"The file '{path}' is not a learnloop model file.")
    meta = payload["metadata"]
    _warn_on_version_mismatch(path, meta.get("versions", {}))
    return LoadedModel(payload["pipeline"], meta)


def _warn_on_version_mismatch(path: Path, saved: dict[str, str]) -> None:
    current = library_versions()
    for lib in ("scikit-learn", "lightgbm"):
        if saved.get(lib) and saved[lib] != current[lib]:
            warnings.warn(
                f"The model '{path}' was saved with {lib} {saved[lib]} and is loaded with "
                f"{current[lib]}; predictions may differ.",
                VersionMismatchWarning,
                stacklevel=3,
            )


class LoadedModel:
    """A trained model ready to predict on raw tables with the training schema."""

    def __init__(self, pipeline: Any, metadata: dict[str, Any]) -> None:
        self.pipeline = pipeline
        self.metadata = metadata
        self.schema = Schema.from_dict(metadata["schema"])

    @property
    def task(self) -> str:
        return self.schema.task

    @property
    def classes(self) -> list[Any]:
        return self.schema.classes

    @property
    def task_kind(self) -> Task:
        """The task object of this model's kind of learning."""
        return get_task(self.task)

    def answer(self, frame: pd.DataFrame) -> Answer:
        """The model's decisions on raw rows, checked against the training schema."""
        X = prepare_features(frame, self.schema, strict=True)
        return self.task_kind.answer(self.pipeline, X, self.schema)

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        """One row per input row: ``prediction`` (a class, a value or a cluster id) and a
        ``proba_<class>`` column per class or cluster where the model gives probabilities.

        Raises SchemaMismatchError if columns are missing or hold the wrong type.
        """
        return self.task_kind.answer_frame(self.answer(data), data.index)
