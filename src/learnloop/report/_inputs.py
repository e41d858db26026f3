"""What a report is made from: the run (store), the model file, and the rebuilt splits.

``gather`` accepts a run id or a model file. A run gives its settings, result and trials;
its recorded options (data path, target, task, metric, seed, fixed splits, and the task's
own options such as recommendation's user and item columns) rebuild the very splits the
run used, so the model's decisions can be plotted on rows it never learned from
(:func:`diagnosed_rows`): the validation split, or the test split (after its look) where
the saved model was refitted on training + validation rows. A
model file gives the pipeline, schema and certificate; its run (metadata ``run_id``) is
looked up in the store if there. ``--data`` replaces the recorded data path. Whatever is
missing is said in ``notes`` and the report shows what is there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learnloop.core.settings import RunSettings
from learnloop.exceptions import LearnloopError, StoreError, UsageError
from learnloop.runs.dataset import Dataset, dataset_for
from learnloop.store.model_files import LoadedModel, load_model
from learnloop.tasks import Part

__all__ = ["ReportInputs", "gather", "looks_like_path"]


@dataclass
class ReportInputs:
    """Everything one report reads; any part may be missing (then ``notes`` says why)."""

    source: str
    run: dict[str, Any] | None = None
    trials: list[dict[str, Any]] = field(default_factory=list)
    model: LoadedModel | None = None
    dataset: Dataset | None = None
    part: Part | None = None  # rows the model's decisions are plotted on
    part_name: str = ""
    split: str = ""  # which split ``part`` is: "validation", "test", or "" (given data)
    rows_note: str = ""  # one sentence: which rows the model's diagnostics are drawn on
    notes: list[str] = field(default_factory=list)

    @property
    def refitted(self) -> bool:
        """The saved model was refitted on training + validation rows (it has seen them): as
        recorded, or, for a model file older than that record, trained on more rows than the
        training split holds."""
        meta = self.model.metadata if self.model else {}
        if meta.get("refit_on_validation") or (self.run and (self.run.get("result") or {})
                                               .get("refit")):  # fmt: skip
            return True
        trained, ds = meta.get("n_train_rows"), self.dataset
        if "refit_on_validation" in meta or not trained or ds is None:
            return False
        return int(trained) > len(ds.train)

    @property
    def result(self) -> dict[str, Any]:
        if self.run and self.run.get("result"):
            return dict(self.run["result"])
        meta = self.model.metadata if self.model else {}
        return {k: meta.get(k) for k in ("validation_score", "baseline_score", "aim")} | {
            "certificate": meta.get("certificate"),
            "best_candidate": meta.get("candidate"),
            "best_params": meta.get("params"),
            "dropped_columns": (meta.get("schema") or {}).get("dropped"),
        }

    def field(self, key: str) -> Any:
        """A run setting (metric, threshold, ...) from the run, else from the model file."""
        if self.run is not None and self.run.get(key) is not None:
            return self.run[key]
        return (self.model.metadata if self.model else {}).get(key)


def looks_like_path(source: str) -> bool:
    return Path(source).exists() or source.endswith(".skops") or "/" in source or "\\" in source


def gather(
    source: str, store_url: str | None = None, data: Any = None, model: LoadedModel | None = None
) -> ReportInputs:
    """Read the run or model ``source``; UsageError (one line) if it is not there. ``data``
    is a path, or (for a run) the in-memory table it was trained on, which no record holds;
    ``model`` is the run's model already in memory (a run trained without a model file)."""
    from learnloop.store import open_store
    from learnloop.store.experiments import run_details

    inputs = ReportInputs(source)
    if looks_like_path(source):
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"The model file '{source}' does not exist.")
        inputs.model = load_model(path)
        run_id = inputs.model.metadata.get("run_id")
        try:
            details = run_details(open_store(store_url), run_id) if run_id else None
        except StoreError:
            details = None
        if details is None:
            inputs.notes.append(
                f"The run {run_id or ''} of this model file is not in the store: the loop's "
                "history (trials, learning curves) cannot be shown; pass --store to find it."
            )
    else:
        details = run_details(open_store(store_url), source)
        model_path = details.get("model_path")
        if model is not None and model.metadata.get("run_id") == details.get("run_id"):
            inputs.model = model
        elif model_path and Path(model_path).is_file():
            model = load_model(model_path)
            owner = model.metadata.get("run_id")
            if owner in (None, details.get("run_id")):
                inputs.model = model
            else:  # a later run wrote its model to the same path
                inputs.notes.append(
                    f"The model file {model_path} now holds run {owner}'s model: this run's "
                    "model and its plots are left out."
                )
        else:
            inputs.notes.append(
                f"The run's model file ({model_path or 'none recorded'}) is not there: "
                "the model's own plots are left out."
            )
    if details is not None:
        inputs.trials = details.pop("trials")
        inputs.run = details
    _rebuild(inputs, data)
    return inputs


def _rebuild(inputs: ReportInputs, data: Any) -> None:
    """The run's seeded splits again (or the given data as one table for a model file)."""
    record = (inputs.run or {}).get("options") or {}
    settings = RunSettings.from_record(record) if record else None
    if settings is not None and (data is not None or settings.data):
        source = data if data is not None else settings.data
        try:
            inputs.dataset = dataset_for(source, settings)
        except (LearnloopError, OSError) as e:
            inputs.notes.append(f"The run's data could not be read again ({e}); data plots are "
                                "left out.")  # fmt: skip
            return
        fp = (inputs.run or {}).get("fingerprint")
        if fp and inputs.dataset.fingerprint() != fp:
            inputs.notes.append(
                f"The data {_named(source)} has changed since the run (fingerprint differs): "
                "the splits below are rebuilt from today's data, not the run's."
            )
        diagnosed_rows(inputs)
        return
    if data is not None and inputs.model is not None:
        _whole_table(inputs, data)
        return
    inputs.notes.append(
        "No data to rebuild the splits from (the run recorded no data path, or this is a "
        "model file alone): the data and model-decision sections show only what the model "
        "file holds. Pass --data FILE to plot the model's decisions."
    )


def _named(source: Any) -> str:
    """A data source as a message names it: a path, or the kind of in-memory table."""
    return f"at {source}" if isinstance(source, str | Path) else f"given ({type(source).__name__})"


def _whole_table(inputs: ReportInputs, data: str) -> None:
    from learnloop.data import prepare_features

    assert inputs.model is not None
    model, schema = inputs.model, inputs.model.schema
    task = model.task_kind
    # the task reads its own kind of data (a folder of pictures, ...), as training did
    frame, _ = task.read_data(data, schema.target, schema.options or None)
    frame = frame[task.usable_rows(frame, schema)] if schema.target in frame.columns else frame
    X = prepare_features(frame, schema)  # unreadable cells are missing, as in training
    y = task.encode(frame, schema, "report") if schema.target in frame.columns else None
    if task.supervised and y is None:
        raise UsageError(f"The data '{data}' has no target column '{schema.target}'.")
    part = Part(X, y)
    metric = task.metric(model.metadata["metric"])
    part = task.finish({"train": part, "validation": part, "test": part}, metric)["validation"]
    inputs.part = part
    inputs.part_name = f"the given data {data} (all {len(part)} rows, not a split of the run)"
    learned = model.metadata.get("n_train_rows")
    inputs.rows_note = f"Drawn on all {len(part)} rows of {data}, not a split of the run" + (
        f"; the model learned from {learned} rows, and any of those in this file it has seen."
        if learned
        else "."
    )


def diagnosed_rows(inputs: ReportInputs) -> None:
    """Choose the rebuilt split the saved model is diagnosed on: rows it never learned from.

    A model trained on the training split is shown on the validation split. A model refitted
    on training + validation rows has seen those, so it is shown on the test split: the
    certificate's look is already made and fixed, and these plots cannot change it.
    """
    ds = inputs.dataset
    assert ds is not None
    n_train, n_val, n_test = len(ds.train), len(ds.validation), len(ds.test)
    if inputs.refitted:
        inputs.part, inputs.split = ds.test, "test"
        inputs.part_name = "the run's test split (rebuilt from its recorded seed)"
        inputs.rows_note = (
            f"Drawn on the {n_test} test rows, which the model never saw (it was refitted on "
            f"the {n_train + n_val} training + validation rows, which would flatter it). The "
            "certificate's look at these rows came first; nothing here changes it."
        )
        return
    inputs.part, inputs.split = ds.validation, "validation"
    inputs.part_name = "the run's validation split (rebuilt from its recorded seed)"
    inputs.rows_note = (
        f"Drawn on the {n_val} validation rows, which the model never trained on (it learned "
        f"from the {n_train} training rows); these rows chose it among the trials, so its "
        "score here leans a little high."
    )
