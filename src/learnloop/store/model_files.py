"""Model files: a skops archive holding the fitted pipeline and its metadata.

Loading runs no code from the file and loads no changed file. In order, before skops is
given it: a link is resolved to the file it names; the archive's sizes are checked against
limits without unpacking anything; every type its schema names is checked against the
exact list in :mod:`learnloop.store.trusted_types`; and the seal inside it (the SHA-256 of its
payload, and an HMAC signature where ``LEARNLOOP_MODEL_KEY`` is set) is recomputed, all on
one open file, so the file checked is the file loaded (:mod:`learnloop.store.model_archive`).

Format 2 files carry the seal. Format 1 files (no seal) load only beside a matching
``<file>.sha256`` sidecar, and never where a key is set. Every file still gets the
sidecar, for tools that expect one; it no longer protects anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import stat
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from learnloop.core.extras import missing_extra
from learnloop.core.files import model_file
from learnloop.data import (
    Schema,
    cells,
    check_column,
    prepare_features,
    read_features,
    refuse_unreadable,
)
from learnloop.data.tables import TABLE_KINDS, as_table
from learnloop.exceptions import (
    LearnloopError,
    ModelFileWarning,
    UntrustedModelError,
    UsageError,
    VersionMismatchWarning,
)
from learnloop.store.model_archive import (
    KEY_ENV,
    LIMIT_ENV,
    Limits,
    check_writable,
    model_key,
    open_checked,
    read_seal,
    seal,
    write_atomically,
)
from learnloop.store.trusted_types import audit_schema, check_native_indices, trusted_names
from learnloop.tasks import Answer, Task, get_task

if TYPE_CHECKING:
    from learnloop.explanations import Explanation

__all__ = [
    "save_model",
    "load_model",
    "resave_model",
    "check_model_path",
    "LoadedModel",
    "library_versions",
    "explain",
]

FORMAT = "learnloop-model"
# a model file whose classes live in an extra's module: the extra to load it with
EXTRA_OF_MODULE = {"skrub": ("free-text columns", "text")}
FORMAT_VERSION = 2  # 2: sealed inside (1: checksum in the sidecar only)


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model file depends on."""
    import lightgbm
    import sklearn
    import skops

    from learnloop._version import __version__

    return {
        "learnloop": __version__,
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "lightgbm": lightgbm.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "skops": skops.__version__,
        "skrub": _installed("skrub"),  # free text's encoder; read without importing it
    }


def _installed(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def check_model_path(out: str | Path) -> Path:
    """The file a model will be written to (a link's target), checked before any training:
    UsageError naming the path if it is a folder, or its folder is missing, read-only or full.
    Also checks ``LEARNLOOP_MODEL_KEY`` and ``LEARNLOOP_MODEL_MAX_MB``, which saving reads,
    so that a bad value fails before the work, not after."""
    model_key()
    Limits.from_env()
    return check_writable(out, "model")


# --------------------------------------------------------------------------------- save
def save_model(path: str | Path, pipeline: Any, metadata: dict[str, Any]) -> Path:
    """Write the model file, sealed (and signed where ``LEARNLOOP_MODEL_KEY`` is set), and
    its sidecar, atomically: a failed write (UsageError naming the path) changes nothing."""
    import skops.io as sio

    target = check_model_path(path)
    key = model_key()
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "pipeline": pipeline,
        "metadata": metadata,
    }
    raw = sio.dumps(payload)
    _warn_if_it_will_not_load(raw, target)
    data = seal(raw, key)
    sidecar = f"{hashlib.sha256(data).hexdigest()}  {target.name}\n".encode()
    write_atomically([(target, data), (checksum_path(target), sidecar)])
    return Path(path)


def _warn_if_it_will_not_load(raw: bytes, target: Path) -> None:
    """Warn (never fail: the run's work is in this file) if loading would refuse it."""
    import io

    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        schema = json.loads(archive.read("schema.json"))
    try:
        audit_schema(schema, str(target))
    except UntrustedModelError as e:
        warnings.warn(
            f"{e} This is a learnloop bug: its trusted-type list misses a type one of its "
            "families saves. Please report it.",
            ModelFileWarning,
            stacklevel=3,
        )
    limits = Limits.from_env()
    if len(raw) > limits.max_bytes:
        warnings.warn(
            f"The model file '{target}' is {len(raw) >> 20:,} MB, over the limit of "
            f"{limits.max_bytes >> 20:,} MB that loading applies; load it with "
            f"{LIMIT_ENV} set higher.",
            ModelFileWarning,
            stacklevel=3,
        )


def resave_model(path: str | Path, out: str | Path | None = None) -> Path:
    """Load a model file that passes every check but the signature, and write it again in
    today's format: sealed, and signed if ``LEARNLOOP_MODEL_KEY`` is set. How a format-1
    file (loadable only beside its sidecar) is brought forward, and how an operator signs
    the models they already trust."""
    loaded = _load(path, require_signature=False)
    return save_model(out if out is not None else path, loaded.pipeline, loaded.metadata)


# --------------------------------------------------------------------------------- load
def load_model(path: str | Path) -> LoadedModel:
    """Load a model file, refusing (UntrustedModelError, naming why) one that is too big
    to unpack, asks for an untrusted type, was changed, or is unsigned where a key is set."""
    return _load(path, require_signature=True)


def _open(real: Path, path: Path) -> IO[bytes]:
    try:  # no blocking on a FIFO swapped in, no link swapped in after resolving
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as e:
        raise UsageError(f"The model file '{path}' cannot be read ({e.strerror}).") from e
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"The model path '{path}' is not a regular file.")
    return os.fdopen(fd, "rb")


def _read_schema(archive: zipfile.ZipFile, path: Path) -> Any:
    try:
        return json.loads(archive.read("schema.json"))
    except zipfile.BadZipFile as e:  # its CRC no longer matches
        raise UntrustedModelError(
            f"The model file '{path}' does not match its checksum (the CRC of its schema): "
            "it was changed after it was saved, so it is not loaded."
        ) from e
    except (KeyError, ValueError, RecursionError, OSError, EOFError) as e:
        raise UntrustedModelError(
            f"The file '{path}' is not a readable learnloop model ({type(e).__name__})."
        ) from e


def _declared_version(schema: Any) -> Any:
    """The payload's format_version as the schema spells it, read without loading."""
    try:
        return json.loads(schema["content"]["format_version"]["content"])
    except (KeyError, TypeError, ValueError):
        return None


def _check_format_1(fp: IO[bytes], real: Path, path: Path, schema: Any, signed: bool) -> None:
    """A file without a seal: a format-1 file, checked against its sidecar."""
    if _declared_version(schema) != 1:
        raise UntrustedModelError(
            f"The model file '{path}' has lost the checksum sealed inside it: it was "
            "changed after it was saved, so it is not loaded."
        )
    resave = f"re-save it with learnloop.store.model_files.resave_model('{path}')"
    if signed:
        raise UntrustedModelError(
            f"The model file '{path}' is not signed (it was saved before model files were "
            f"sealed), and {KEY_ENV} is set, so only signed model files load; {resave}."
        )
    sidecar = checksum_path(real)
    try:
        expected = sidecar.read_text().split()[0] if sidecar.is_file() else ""
    except (OSError, UnicodeDecodeError, IndexError):
        expected = ""
    if not expected:
        raise UntrustedModelError(
            f"The model file '{path}' was saved before model files carried their checksum "
            f"inside, and its sidecar '{sidecar.name}' is missing, so a change cannot be "
            f"ruled out; restore the sidecar, or {resave} beside it."
        )
    h = hashlib.sha256()
    fp.seek(0)
    for chunk in iter(lambda: fp.read(1 << 20), b""):
        h.update(chunk)
    if expected != h.hexdigest():
        raise UntrustedModelError(
            f"The model file '{path}' does not match its recorded checksum; "
            "it was changed after it was saved, so it is not loaded."
        )


def _skops_load(fp: IO[bytes], path: Path) -> Any:
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    fp.seek(0)
    try:
        return sio.load(fp, trusted=trusted_names())
    except UntrustedTypesFoundException as e:  # skops saw what the schema check did not
        raise UntrustedModelError(
            f"The model file '{path}' asks to load types that are not trusted "
            f"({str(e).splitlines()[0]}); it is not loaded."
        ) from e
    except (LearnloopError, MemoryError):
        raise
    except ImportError as e:
        if e.name is not None and e.name.split(".")[0] in EXTRA_OF_MODULE:
            what, extra = EXTRA_OF_MODULE[e.name.split(".")[0]]
            raise missing_extra(f"The model file '{path}' ({what})", extra, e.name) from e
        raise UntrustedModelError(
            f"The file '{path}' is not a readable learnloop model ({type(e).__name__}: {e})."
        ) from e
    except Exception as e:
        raise UntrustedModelError(
            f"The file '{path}' is not a readable learnloop model ({type(e).__name__}: {e})."
        ) from e


def _load(path: str | Path, *, require_signature: bool) -> LoadedModel:
    path = Path(path)
    real = model_file(path)
    key = model_key() if require_signature else None
    with _open(real, path) as fp:
        with open_checked(fp, str(path)) as archive:
            sealed = read_seal(archive, str(path), key)  # a sealed file: digest first
            schema = _read_schema(archive, path)
            audit_schema(schema, str(path))
            if not sealed:
                _check_format_1(fp, real, path, schema, key is not None)
        payload = _skops_load(fp, path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UntrustedModelError(f"The file '{path}' is not a learnloop model file.")
    check_native_indices(payload["pipeline"], str(path))
    meta = payload["metadata"]
    features = (meta.get("schema") or {}).get("features") or []
    reads_text = any(f.get("kind") == "text" for f in features)
    _warn_on_version_mismatch(path, meta.get("versions", {}), reads_text)
    return LoadedModel(payload["pipeline"], meta)


def _warn_on_version_mismatch(path: Path, saved: dict[str, str], reads_text: bool) -> None:
    current = library_versions()
    for lib in ("scikit-learn", "lightgbm", *(("skrub",) if reads_text else ())):
        if saved.get(lib) and saved[lib] != current[lib]:
            warnings.warn(
                f"The model '{path}' was saved with {lib} {saved[lib]} and is loaded with "
                f"{current[lib]}; predictions may differ.",
                VersionMismatchWarning,
                stacklevel=3,
            )


def _frame(data: Any) -> pd.DataFrame:
    """An in-memory table as a DataFrame; a TypeError names anything else (a path too:
    the Python API predicts on tables, ``learnloop predict`` reads files)."""
    frame = as_table(data)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"predict takes an in-memory table ({TABLE_KINDS.removeprefix('a file path, ')}); "
            f"got {type(data).__module__}.{type(data).__qualname__}."
        )
    return frame


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

    def answer(self, frame: Any) -> Answer:
        """The model's decisions on raw rows, checked against the training schema.

        ``frame`` is a pandas or polars DataFrame, a pyarrow Table or a 2-D numpy array
        (columns ``x0``, ``x1``, ... as in training on an array)."""
        X = prepare_features(_frame(frame), self.schema, strict=True)
        return self.task_kind.answer(self.pipeline, X, self.schema)

    def predict(self, data: Any, *, strict: bool = False, keep: Sequence[str] = ()) -> pd.DataFrame:
        """One row per input row: ``prediction`` (a class, a value or a cluster id) and a
        ``proba_<class>`` column per class or cluster where the model gives probabilities.

        ``data`` is any in-memory table :meth:`answer` takes. ``keep`` names input columns
        (IDs) carried through unchanged, first, in the order given, so the output needs no
        joining back by row position; DataError names one that is missing. A cell its
        column cannot read (``unknown`` in a number column) is missing, as training read
        it; such rows are flagged in a last column, ``_unreadable``, naming their columns
        (present only when there are some), and a note in the output's ``attrs["notes"]``
        counts them. With ``strict`` they are refused instead. Raises SchemaMismatchError
        if columns are missing (or, ``strict``, a cell is unreadable). Files of any size:
        :func:`learnloop.store.predict_file.predict_file`, which calls this per chunk.
        """
        out, masks = self.predict_chunk(_frame(data), strict=strict, keep=keep)
        if cells.counts(masks):
            out.attrs["notes"] = [cells.prediction_note(masks)]
        return out

    def predict_chunk(
        self, frame: pd.DataFrame, *, strict: bool, keep: Sequence[str]
    ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """:meth:`predict` of one chunk of rows, and per typed column the mask of its
        unreadable cells (for a count over all chunks)."""
        for name in keep:
            check_column(frame, name, "--keep")
        X, masks = read_features(frame, self.schema)
        if strict:
            refuse_unreadable(frame, self.schema, masks)
        out = self.task_kind.answer_frame(
            self.task_kind.answer(self.pipeline, X, self.schema), frame.index
        )
        for i, name in enumerate(dict.fromkeys(keep)):
            if name in out.columns or name == cells.UNREADABLE_COLUMN:
                raise UsageError(
                    f"The --keep column '{name}' has the name of an output column; "
                    "rename it in the data."
                )
            out.insert(i, name, frame[name])
        if cells.counts(masks):
            out[cells.UNREADABLE_COLUMN] = cells.flags(masks, len(frame))
        return out, masks

    def explain(
        self, data: Any, *, rows: int = 1000, repeats: int = 20, seed: int = 0
    ) -> Explanation:
        """Why the model decides as it does on ``data`` (any table :meth:`predict` takes):
        each input column's contribution to each of the first ``rows`` rows' score (log-odds
        of a class, or the value; exact for LightGBM, sampled Shapley values otherwise), and,
        where ``data`` has the target column, each column's permutation importance with a
        95% interval over ``repeats`` bootstrap shuffles. UsageError for a model of pictures,
        clusters or recommendations; SchemaMismatchError if a column is missing."""
        from learnloop.explanations import explain

        frame = _frame(data)
        return explain(
            self.pipeline, self.task_kind, self.schema,
            str(self.metadata.get("metric") or self.task_kind.default_metric),
            frame, rows=rows, repeats=repeats, seed=seed,
        )  # fmt: skip


def explain(model: LoadedModel | str | Path, data: Any, **options: Any) -> Explanation:
    """``learnloop.explain(model, frame)``: :meth:`LoadedModel.explain` of a loaded model or
    of the model file at a path (loaded with every check :func:`load_model` makes)."""
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    return loaded.explain(data, **options)
