"""Model files: a skops archive holding the fitted pipeline and its metadata.

Loading never runs code from the file: skops rebuilds only the types on ``TRUSTED_TYPES``
and refuses anything else. A sidecar ``<file>.sha256`` records the archive's checksum at
save time; a file that no longer matches is refused as tampered.
"""

from __future__ import annotations

import hashlib
import os
import platform
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from learnloop.data import Schema, prepare_features
from learnloop.exceptions import UntrustedModelError, UsageError, VersionMismatchWarning

__all__ = ["save_model", "load_model", "LoadedModel", "library_versions", "TRUSTED_PREFIXES"]

FORMAT = "learnloop-model"
FORMAT_VERSION = 1

# Types a model file may ask for, by module prefix or exact name.
TRUSTED_PREFIXES = (
    "sklearn.",
    "numpy.",
    "lightgbm.basic.Booster",
    "learnloop.estimators.",
    "collections.OrderedDict",
    "builtins.",
)
_REFUSED = ("sklearn.preprocessing._function_transformer.FunctionTransformer",)


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


def _is_trusted(name: str) -> bool:
    return name not in _REFUSED and any(name == p or name.startswith(p) for p in TRUSTED_PREFIXES)


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
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as e:
        raise UntrustedModelError(
            f"The file '{path}' is not a readable learnloop model ({type(e).__name__})."
        ) from e
    refused = [t for t in untrusted if not _is_trusted(t)]
    if refused:
        raise UntrustedModelError(
            f"The model file '{path}' asks to load types that are not trusted: "
            f"{', '.join(refused[:5])}; it is not loaded."
        )
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

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        """Predictions (and ``proba_<class>`` columns for classifiers), one row per input row.

        Raises SchemaMismatchError if columns are missing or hold the wrong type.
        """
        X = prepare_features(data, self.schema, strict=True)
        out = pd.DataFrame(index=data.index)
        if self.task == "classification":
            proba = self.predict_proba_frame(X)
            labels = np.asarray(self.classes, dtype=object)[np.argmax(proba, axis=1)]
            out["prediction"] = list(labels)
            for i, c in enumerate(self.classes):
                out[f"proba_{c}"] = proba[:, i]
        else:
            out["prediction"] = np.asarray(self.pipeline.predict(X), dtype=float)
        return out

    def predict_proba_frame(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities on prepared features, one column per class of the schema."""
        proba = np.asarray(self.pipeline.predict_proba(X), dtype=float)
        k = len(self.classes)
        if proba.shape[1] == k:
            return proba
        full = np.zeros((len(proba), k))
        full[:, np.asarray(self.pipeline.classes_, dtype=int)] = proba
        return full
