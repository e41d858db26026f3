"""Retrain a model to the same threshold on newer data, and register the result as a version.

``retrain`` runs the same loop (:func:`learnloop.runs.train.train`) with the model's own
settings: the task, target, metric, threshold, confidence, seed, families and task options
(``--time`` among them) its file records (``settings``; for files written before they were
recorded, the run's options in the store, else what the metadata says). The data is the table
given (the training rows plus newer labelled rows) with any extra labelled rows appended
(:func:`with_rows`), then the recorded predictions that got feedback in the store (those of
every registered version of the model, oldest first:
:mod:`learnloop.runs.feedback_rows`; on by default, ``feedback=False`` leaves them out),
cut to a window of the newest rows. With a time column the split certifies on the newest rows.

The new model file is written beside the old one under a versioned name
(``cancer.v2.skops``), never over a file, and registered as a new version whose parent is
the model retrained (registered first, as version 1, if it was not yet). If it is certified
(``met``) it becomes the champion (or the challenger, asked so); else the champion stays.

``rollback`` moves the champion back to the parent version (or one named); a server that
follows the champion (``learnloop serve --name``) swaps to it. ``retrain_if_needed`` is the
seam for ``serve --retrain``: given whether the live claim still holds (the monitor's
verdict), it retrains only when it does not.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from learnloop.core.settings import RunSettings
from learnloop.data import load_table
from learnloop.data.timesplit import parse_times
from learnloop.exceptions import DataError, StoreError, UsageError
from learnloop.runs.result import Result
from learnloop.store import Store, open_store
from learnloop.store.model_files import LoadedModel, load_model
from learnloop.store.versions import (
    Registry,
    check_name,
    default_name,
    file_digest,
    resolve_model,
)

__all__ = [
    "Retrained",
    "model_settings",
    "register_model",
    "resolve_model",
    "retrain",
    "retrain_if_needed",
    "rollback",
    "window_rows",
    "with_rows",
]

_WINDOW = re.compile(r"^\s*(\d+)\s*(rows|h|d|w)?\s*$", re.I)
_UNIT_DAYS = {"h": 1 / 24, "d": 1.0, "w": 7.0}


@dataclass
class Retrained:
    """What a retrain did: the run's result, and the version it registered."""

    result: Result
    name: str
    version: int
    parent: int
    alias: str | None  # the alias the new version took (None: not certified, none moved)
    champion: int | None  # the champion after the retrain
    rows: int  # rows the loop was given (after the window)
    feedback: int = 0  # labelled recorded predictions among the rows given (before the window)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``learnloop retrain --json``: the run's, and the version's."""
        return self.result.to_dict() | {
            "name": self.name,
            "version": self.version,
            "parent": self.parent,
            "alias": self.alias,
            "champion": self.champion,
            "rows": self.rows,
            "feedback_rows": self.feedback,
        }


# ------------------------------------------------------------------------------ settings
def model_settings(loaded: LoadedModel, store: Store | None = None) -> RunSettings:
    """The settings ``loaded`` was trained with: its file's record, else its run's options
    in ``store``, else what its metadata says (task, target, metric, threshold, confidence,
    and the time column of a split by time)."""
    meta = loaded.metadata
    if meta.get("settings"):
        return RunSettings.from_record(meta["settings"])
    if store is not None and meta.get("run_id"):
        try:
            options = store.get_run(str(meta["run_id"])).get("options")
        except StoreError:
            options = None
        if options:
            return RunSettings.from_record(options)
    cert = meta.get("certificate") or {}
    period = meta.get("test_period") or {}
    options = {"time": period["column"]} if period.get("column") else {}
    return RunSettings(
        target=loaded.schema.target,
        task=loaded.task,
        metric=meta.get("metric"),
        threshold=meta.get("threshold"),
        confidence=float(cert.get("confidence") or 0.95),
        labels=loaded.schema.labels,
        task_options=options,
    )


# ---------------------------------------------------------------------------------- data
def with_rows(frame: pd.DataFrame, extra: pd.DataFrame | None, target: str | None) -> pd.DataFrame:
    """``frame`` with ``extra`` labelled rows appended (recorded predictions with their
    feedback, say); DataError naming a column ``extra`` lacks or the target it lacks."""
    if extra is None or len(extra) == 0:
        return frame
    if target is not None and target not in extra.columns:
        raise DataError(f"The extra rows have no target column '{target}'.")
    missing = [c for c in frame.columns if c not in extra.columns]
    if missing:
        raise DataError(f"The extra rows lack the column '{missing[0]}' the data has.")
    return pd.concat([frame, extra[list(frame.columns)]], ignore_index=True)


def window_rows(frame: pd.DataFrame, window: str | None, time: str | None) -> pd.DataFrame:
    """The newest rows of ``frame`` that ``window`` keeps: ``N`` (or ``N rows``) the newest
    N, ``Nh``/``Nd``/``Nw`` those within N hours/days/weeks of the newest time (a time
    column needed). Newest is by ``time`` where given, else the table's order."""
    if window is None:
        return frame
    match = _WINDOW.match(window)
    if not match or int(match.group(1)) <= 0:
        raise UsageError(
            f"The window '{window}' is not understood; write a number of rows (5000) or a "
            "span back from the newest row (36h, 90d, 12w)."
        )
    size, unit = int(match.group(1)), (match.group(2) or "rows").lower()
    if unit == "rows":
        if time is not None:
            order = parse_times(frame, time).sort_values(kind="stable", na_position="first")
            return frame.loc[order.index[-size:]].sort_index()
        return frame.iloc[-size:]
    if time is None:
        raise UsageError(
            f"The window '{window}' is a span of time, but the model was trained without a "
            "time column (--time); give a number of rows instead."
        )
    times = parse_times(frame, time)
    if not pd.api.types.is_datetime64_any_dtype(times):
        raise UsageError(
            f"The window '{window}' is a span of time, but the time column '{time}' holds "
            "numbers, not dates; give a number of rows instead."
        )
    start = times.max() - pd.Timedelta(days=_UNIT_DAYS[unit] * size)
    return frame.loc[times >= start]


# ------------------------------------------------------------------------------ registry
def register_model(
    registry: Registry,
    path: str | Path,
    *,
    name: str | None = None,
    loaded: LoadedModel | None = None,
    parent: int | None = None,
    window: dict[str, Any] | None = None,
) -> tuple[str, int]:
    """Register the model file ``path`` (checked: it must load) as a version of ``name``
    (default: its stem) and return (name, version); a file already registered with the
    same bytes is not registered again. The first certified version becomes champion."""
    loaded = loaded if loaded is not None else load_model(path)
    digest = file_digest(path)
    found = registry.find(path, digest)
    if found is not None and (name is None or found["name"] == name):
        return str(found["name"]), int(found["version"])
    name = check_name(name or default_name(path))
    meta = loaded.metadata
    version = registry.register(
        name,
        path=path,
        digest=digest,
        status=str(meta.get("status") or "not_met"),
        parent=parent,
        run_id=meta.get("run_id"),
        task=loaded.task,
        metric=meta.get("metric"),
        threshold=meta.get("threshold"),
        certificate=meta.get("certificate"),
        window=window or _window_of(meta),
    )
    if meta.get("status") == "met" and registry.alias(name, "champion") is None:
        registry.set_alias(name, "champion", version)
    return name, version


def _window_of(meta: dict[str, Any], **more: Any) -> dict[str, Any]:
    """The data window a model file says it was trained and certified on."""
    settings = meta.get("settings") or {}
    return {
        "data": settings.get("data"),
        "n_train_rows": meta.get("n_train_rows"),
        "test_period": meta.get("test_period"),
        "fingerprint": meta.get("data_fingerprint"),
        **more,
    }


def _new_path(old: Path, name: str, version: int) -> Path:
    """``NAME.vN.skops`` beside ``old``; never a file that exists."""
    base = old.with_name(f"{name}.v{version}{old.suffix or '.skops'}")
    candidate, k = base, 1
    while candidate.exists() or candidate.with_name(candidate.name + ".sha256").exists():
        k += 1
        candidate = base.with_name(f"{name}.v{version}-{k}{base.suffix}")
    return candidate


# ------------------------------------------------------------------------------- retrain
def retrain(  # noqa: PLR0913 -- the front door of `learnloop retrain`
    model: str | Path,
    data: Any,
    *,
    extra: pd.DataFrame | None = None,
    feedback: bool = True,
    window: str | None = None,
    budget: float | None = None,
    store: str | None = None,
    name: str | None = None,
    challenger: bool = False,
    progress: bool | str = False,
    reporter: Any = None,
    command: str | None = None,
) -> Retrained:
    """Run the model's loop again on ``data`` (+ ``extra`` rows, + the labelled recorded
    predictions of the model's versions in ``store`` unless not ``feedback``; cut to
    ``window``), to the same threshold; register the new model as a version whose parent
    is ``model``'s.
    Every input is checked before the loop starts: a bad one registers nothing."""
    from learnloop.runs.train import train

    registry = Registry(open_store(store))
    path, loaded, settings, frame, name, fed = _inputs(
        registry, model, data, extra, window, name, feedback
    )
    out = _new_path(path, name, max(_last(registry, name) + 1, 2))
    result = train(
        frame,
        settings.target,
        task=settings.task,
        metric=settings.metric,
        threshold=settings.threshold,
        budget=budget if budget is not None else settings.budget,
        confidence=settings.confidence,
        seed=settings.seed,
        out=out,
        store=registry.store.url,
        labels=settings.labels,
        candidates=settings.candidates,
        progress=progress,
        reporter=reporter,
        command=command,
        **dict(settings.task_options),
    )
    name, parent = register_model(registry, path, name=name, loaded=loaded)
    record = {"data": _data_name(data), "rows": len(frame), "window": window}
    record["extra_rows"] = 0 if extra is None else len(extra)
    record["feedback_rows"] = fed
    new = _register_result(registry, name, parent, out, result, record)
    alias = ("challenger" if challenger else "champion") if result.met else None
    if alias is not None:
        registry.set_alias(name, alias, new)
    champion = registry.alias(name, "champion")
    return Retrained(result, name, new, parent, alias, champion, len(frame), fed)


def _register_result(  # noqa: PLR0913 -- the new version's parts
    registry: Registry,
    name: str,
    parent: int,
    out: Path,
    result: Result,
    window: dict[str, Any],
) -> int:
    """Register the model a retrain wrote as a new version of ``name``; its number."""
    meta = result.model.metadata if result.model is not None else {}
    return registry.register(
        name,
        path=out,
        digest=file_digest(out),
        status=result.status,
        parent=parent,
        run_id=result.run_id,
        task=result.task,
        metric=result.metric,
        threshold=result.threshold,
        certificate=meta.get("certificate"),
        window=_window_of(meta, **window, splits=result.splits),
    )


def _inputs(  # noqa: PLR0913 -- retrain's inputs, checked together
    registry: Registry,
    model: str | Path,
    data: Any,
    extra: pd.DataFrame | None,
    window: str | None,
    name: str | None,
    feedback: bool = True,
) -> tuple[Path, LoadedModel, RunSettings, pd.DataFrame, str, int]:
    """The model file, the model, its settings, the rows to learn from (with the labelled
    recorded predictions where ``feedback``), the name to register under and the number of
    feedback rows, each checked (UsageError, one line) before anything is trained."""
    path, named = resolve_model(model, registry)
    loaded = load_model(path)  # a file failing its seal stops here
    settings = model_settings(loaded, registry.store)
    target = settings.target
    frame = load_table(data) if not isinstance(data, pd.DataFrame) else data
    if target is not None and target not in frame.columns:
        raise DataError(f"The data has no target column '{target}', which the model predicts.")
    name = check_name(name or named or _registered_name(registry, path) or default_name(path))
    fed = _feedback(registry, loaded, name, target, frame) if feedback else None
    frame = with_rows(with_rows(frame, extra, target), fed, target)
    frame = window_rows(frame, window, settings.task_options.get("time"))
    return path, loaded, settings, frame, name, 0 if fed is None else len(fed)


def _feedback(
    registry: Registry, loaded: LoadedModel, name: str, target: str | None, frame: pd.DataFrame
) -> pd.DataFrame | None:
    """The labelled recorded predictions of the model's versions, as rows of ``frame``'s
    columns (a column the clients did not send is empty); None if there are none."""
    from learnloop.runs.feedback_rows import feedback_rows, lineage_digests

    if target is None:  # clustering and the like take no labels
        return None
    rows = feedback_rows(registry.store, target, lineage_digests(loaded, registry, name))
    if len(rows) == 0:
        return None
    return rows.reindex(columns=frame.columns)


def _last(registry: Registry, name: str) -> int:
    """The newest version of ``name`` (0 if it has none)."""
    return max((int(v["version"]) for v in _versions_or_none(registry, name)), default=0)


def _versions_or_none(registry: Registry, name: str) -> list[dict[str, Any]]:
    try:
        return registry.versions(name)
    except StoreError:
        return []


def _registered_name(registry: Registry, path: Path) -> str | None:
    found = registry.find(path, file_digest(path))
    return None if found is None else str(found["name"])


def _data_name(data: Any) -> str:
    return "<DataFrame>" if isinstance(data, pd.DataFrame) else str(data)


def retrain_if_needed(
    claim_holds: bool | Callable[[], bool], model: str | Path, data: Any, **options: Any
) -> Retrained | None:
    """The seam for ``serve --retrain``: retrain ``model`` on ``data`` only when the live
    claim no longer holds (``claim_holds``: the monitor's verdict, or a function asking it);
    None when it still holds. A server following the champion then swaps by itself."""
    holds = claim_holds() if callable(claim_holds) else claim_holds
    return None if holds else retrain(model, data, **options)


# ------------------------------------------------------------------------------ rollback
def rollback(name: str, to: int | None = None, store: str | None = None) -> dict[str, Any]:
    """Move ``name``'s champion to ``to`` (default: the current champion's parent), after
    checking that version's file still loads; the versions before and after."""
    registry = Registry(open_store(store))
    current = registry.champion(name)
    if to is None:
        if current["parent"] is None:
            raise UsageError(
                f"The champion of '{name}' (version {current['version']}) has no parent to go "
                "back to; name a version with --to."
            )
        to = int(current["parent"])
    target = registry.get(name, to)
    load_model(target["path"])  # a missing or changed file is refused before the move
    if file_digest(target["path"]) != target["digest"]:
        raise UsageError(
            f"The file of version {to} of '{name}' ({target['path']}) is not the one "
            "registered (its digest differs); it is not made champion."
        )
    registry.set_alias(name, "champion", to)
    return {
        "name": name,
        "champion": to,
        "previous": current["version"],
        "status": target["status"],
        "path": target["path"],
    }
