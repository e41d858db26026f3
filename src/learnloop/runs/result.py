"""The value ``learnloop.runs.train`` returns, and its JSON form (the CLI contract)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from learnloop.certify import Certificate
from learnloop.core import hooks
from learnloop.runs import notebook
from learnloop.search.trials import TrialRecord
from learnloop.store.model_files import LoadedModel

__all__ = ["Result"]


@dataclass(repr=False)
class Result:
    """Outcome of one run: status, certificate, best model, and every trial.

    In a notebook it shows its verdict, certificate and top trials (``_repr_html_``);
    ``repr`` is one short line; :meth:`leaderboard` has every trial as a DataFrame.
    """

    status: str  # "met" | "not_met"
    task: str
    metric: str
    threshold: float | None
    validation_score: float | None
    test_score: float | None
    test_bound: float | None
    confidence: float
    baseline_score: float | None
    model_path: str | None
    run_id: str
    elapsed_s: float
    time_to_threshold_s: float | None
    certificate: Certificate | None
    model: LoadedModel
    best_candidate: str
    best_params: dict[str, Any]
    aim: float | None  # the validation score the loop aimed at
    target: str | None  # the target column (None for clustering)
    splits: dict[str, int]
    dropped_columns: dict[str, str]
    trials: list[TrialRecord] = field(default_factory=list)
    interrupted: bool = False  # the search was ended by hand (Ctrl-C, SIGTERM)
    refit: bool = False  # the certified model was refitted on training + validation rows
    # the period the test split covers where rows were split by time ({"column", "from",
    # "to"}); None for a random split
    test_period: dict[str, Any] | None = None
    looks: list[dict[str, Any]] = field(default_factory=list)  # every certificate of the run
    # cells of the training rows read as missing per column (not readable as its type)
    unreadable_cells: dict[str, int] = field(default_factory=dict)
    # the experiment store the run is recorded in (its report reads it); not in to_dict
    store_url: str | None = None

    @property
    def met(self) -> bool:
        return self.status == "met"

    def predict(self, data: Any) -> pd.DataFrame:
        """Predict with the certified model (same as loading the saved file); ``data`` is a
        pandas or polars DataFrame, a pyarrow Table or a 2-D numpy array."""
        return self.model.predict(data)

    def leaderboard(self, top: int | None = None) -> pd.DataFrame:
        """The run's trials, best validation score first (``top``: the first rows only)."""
        return notebook.leaderboard(self, top)

    def report(self, data: Any = None) -> Any:
        """The run's HTML report (as ``learnloop report RUN`` writes it) as a value a
        notebook shows inline, in a frame of its own; its page is ``.html``. ``data``: the
        table the run was trained on, if it was not a file (a DataFrame is not recorded
        with the run), so the report can plot the model's decisions. Needs matplotlib
        (the ``report`` extra)."""
        # the report is a layer above: the package root installs the call (core.hooks)
        assert hooks.inline_report is not None, "learnloop's root installs the report hook"
        return hooks.inline_report(self, data)

    def __repr__(self) -> str:
        return notebook.short_repr(self)

    def _repr_html_(self) -> str:
        """What a notebook shows: the verdict, the certificate and the top trials."""
        return notebook.result_html(self)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``learnloop train --json``."""
        cert = self.certificate
        return _finite(
            {
                "status": self.status,
                "task": self.task,
                "metric": self.metric,
                "threshold": self.threshold,
                "validation_score": self.validation_score,
                "test_score": self.test_score,
                "test_bound": self.test_bound,
                "confidence": self.confidence,
                "baseline_score": self.baseline_score,
                "model_path": self.model_path,
                "run_id": self.run_id,
                "elapsed_s": round(self.elapsed_s, 3),
                "time_to_threshold_s": (
                    None if self.time_to_threshold_s is None else round(self.time_to_threshold_s, 3)
                ),
                "aim": self.aim,
                "target": self.target,
                "best_candidate": self.best_candidate,
                "best_params": self.best_params,
                "n_trials": len(self.trials),
                "splits": self.splits,
                "dropped_columns": self.dropped_columns,
                "unreadable_cells": self.unreadable_cells,
                "certificate": (
                    cert.to_dict() | {"test_period": self.test_period} if cert else None
                ),
                "test_period": self.test_period,
                "interrupted": self.interrupted,
                "refit": self.refit,
                "looks": self.looks,
            }
        )


def _finite(value: Any) -> Any:
    """Replace NaN and infinities by None so the JSON is valid."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if hasattr(value, "item"):
        return _finite(value.item())
    return value
