"""The contract every kind of learning (a *task*) follows.

A task owns what is particular to one kind of learning, so that the loop, the
certificate, the store, the model file and the server never ask which kind they serve:

* **capability** — the output it needs of a model (``output``: classes, values, clusters,
  rankings) and the kinds of features it builds (``feature_kinds``): the families that serve it
  are the ones that produce that output from one of those kinds, and its error functions the
  ones that score that output;
* **inference** — whether ``--task auto`` is this task, from the source (``claims_source``)
  or from a table and its target (``claims_table``), asked in ``tasks.AUTO_ORDER``;
* **schema** — which columns are inputs and which one is the target (or the known groups);
* **examples** — which rows can be learned from, and how the target is encoded into the
  ``y`` arrays that the task's error functions compare predictions with;
* **split** — how rows are split (stratified by class, plain random, ...);
* **decisions** — how a fitted estimator's output becomes a :class:`Prediction`, and how a
  model file's prediction is shown to a person or an HTTP client (:class:`Answer`);
* **error functions** — which metrics apply and which is the default;
* **baseline** — the trivial model every result is compared with;
* **outcomes** — what the store keeps of the test split so that ``runs compare`` can pair
  two runs row by row;
* **inputs** — whether its inputs are table columns (``inputs_are_columns``), so the
  report knows whether shuffling one input says which inputs matter; the report draws a
  model's decisions by the task's ``output``, never by its name.

Tasks are stateless singletons configured by class attributes (like the candidate
families); everything about one data set lives in its :class:`~learnloop.data.Schema`.
A new kind of learning is one module with one subclass, registered in ``tasks/__init__``
(``TASKS``, and ``AUTO_ORDER`` if ``--task auto`` may choose it), and it runs the shared
contract suite in ``tests/test_task_contract.py`` (the checks of the output it needs).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from learnloop.core import Output, Prediction
from learnloop.data import Schema, fingerprint
from learnloop.exceptions import UsageError
from learnloop.metrics import Metric, get_metric, metrics_for

__all__ = ["Task", "Part", "Answer"]


@dataclass
class Part:
    """One split of the data: prepared input features and what predictions are scored on.

    ``y`` is what the metric's scorer receives: encoded targets or known groups
    (``reference == "targets"``), or the encoded, scaled inputs (``"inputs"``).
    """

    X: pd.DataFrame
    y: np.ndarray | None
    # the error function the part is scored with, where the task's outcomes need it
    metric: str | None = None

    def __len__(self) -> int:
        return len(self.X)


@dataclass
class Answer:
    """A model's decision on some rows, in the shape people and HTTP clients read.

    ``predictions`` are the labels, values or cluster ids; ``classes`` and
    ``probabilities`` are set where the model gives a probability per class or cluster.
    """

    predictions: list[Any]
    classes: list[Any] | None = None
    probabilities: np.ndarray | None = None


class Task(ABC):
    """One kind of learning. Subclasses set the class attributes and the abstract methods.

    Contract (checked for every task by ``tests/test_task_contract.py``):

    * ``read_schema`` raises :class:`~learnloop.exceptions.UsageError` (or ``DataError``)
      with one sentence naming the problem; it never returns a schema without features.
    * ``encode`` is deterministic and returns one entry per row of the frame it is given.
    * ``predict`` returns a :class:`Prediction` with one value per row of ``X``.
    * ``answer`` returns one prediction per row, in the training data's own terms (class
      names, not codes).
    * ``outcomes`` returns plain JSON (lists of numbers), keyed by ``split`` and ``kind``.
    """

    name: ClassVar[str]
    output: ClassVar[Output]  # what it needs its families to produce (and its metrics to score)
    # the kinds of features it builds for families (``preprocessor``): a family serves the task
    # when it consumes one of them and produces ``output``
    feature_kinds: ClassVar[tuple[str, ...]]
    inputs_are_columns: ClassVar[bool] = True  # False where the one input is a picture
    supervised: ClassVar[bool]  # learns from a target column (--target)
    default_metric: ClassVar[str]
    # the portfolio order: (candidate family, index into its portfolio), best bet first
    portfolio_order: ClassVar[tuple[tuple[str, int], ...]]
    # what one row of the validation and test parts is: a row of the table ("rows"), or an
    # evaluated user whose held-out interactions are the row's ``y`` ("users")
    held_out: ClassVar[str] = "rows"
    # the smallest training sample worth a rung (None: the scheduler's own default)
    min_sample_rows: ClassVar[int | None] = None
    # a configuration may be trained again on training + validation rows before its test
    # look, and cross-validated over them (rows are exchangeable: tables, not users)
    refits_on_validation: ClassVar[bool] = False
    # whether models' predictions can be averaged (probabilities, values) and a saved
    # pipeline may be a weighted ensemble of pipelines (greedy ensemble selection)
    ensembles: ClassVar[bool] = False
    # a portfolio entry (a library default or a published setting) the final pick keeps
    # unless the best model beats it on the scored rows by more than ``first_guess_margin``
    # paired standard errors of their per-row differences (``row_scores``), widened for the
    # number of trials compared; None: the best validation score is picked, however small
    # its lead (see search/selection.py)
    first_guess: ClassVar[tuple[str, int] | None] = None
    first_guess_margin: ClassVar[float] = 2.0

    # --------------------------------------------------------------- inference
    def claims_source(self, data: Any, options: dict[str, Any] | None) -> bool:
        """Whether ``--task auto`` is this task from the source alone, before any table is
        read (a folder of pictures; events named by ``--user`` and ``--item``)."""
        return False

    def claims_table(self, frame: pd.DataFrame, target: str | None) -> bool:
        """Whether ``--task auto`` is this task for ``frame`` and its ``target`` column
        (None: no target given); asked after every task declined the source."""
        return False

    # ------------------------------------------------------------------ schema
    @abstractmethod
    def read_schema(self, frame: pd.DataFrame, target: str | None, labels: str | None) -> Schema:
        """Decide each column's role for this task; drop identifiers and constants."""

    def read(
        self,
        frame: pd.DataFrame,
        target: str | None,
        labels: str | None,
        options: dict[str, Any] | None = None,
    ) -> Schema:
        """``read_schema`` with the task's own options (recommendation: ``user``, ``item``...).

        A task that takes no options refuses any, naming the first (UsageError).
        """
        given = {k: v for k, v in (options or {}).items() if v is not None}
        if given:
            name = next(iter(given)).replace("_", "-")
            raise UsageError(f"--{name} is for recommendation; {self.name} does not take it.")
        return self.read_schema(frame, target, labels)

    def choose_metric(self, name: str | None, schema: Schema) -> Metric:
        """The error function asked for (or the default), checked against this task."""
        return self.metric(name or self.default_metric)

    def metric(self, name: str) -> Metric:
        """The error function called ``name``; UsageError unless it scores this task's output."""
        metric = get_metric(name)
        if metric.scores is not self.output:
            suitable = ", ".join(self.metric_names()) or "none"
            raise UsageError(
                f"The metric '{metric.name}' does not apply to {self.name}; use one of: {suitable}."
            )
        return metric

    def metric_names(self) -> list[str]:
        """Names of the error functions that apply to this task (they score its output)."""
        return metrics_for(self.output)

    def n_outputs(self, schema: Schema) -> int:
        """Classes the scorers must know of (0 where there are none)."""
        return 0

    # ---------------------------------------------------------------- examples
    def usable_rows(self, frame: pd.DataFrame, schema: Schema) -> np.ndarray:
        """A boolean mask of the rows that can be learned from (all, by default)."""
        return np.ones(len(frame), dtype=bool)

    @abstractmethod
    def encode(self, frame: pd.DataFrame, schema: Schema, where: str) -> np.ndarray | None:
        """The encoded targets (or known groups) of ``frame``'s rows; None if there are none.

        ``where`` ("training", "validation", "test") goes into error messages.
        """

    def split(
        self, frame: pd.DataFrame, schema: Schema, seed: int
    ) -> tuple[dict[str, Part], int, list[str]] | None:
        """The task's own seeded split of a whole table, or None for the shared row split.

        Returns the ``train``, ``validation`` and ``test`` parts, the number of rows left out,
        and sentences for the run to say about the split (recommendation holds out each
        user's latest interactions and keeps users with few events in training only).
        """
        return None

    def stratify_by(self, y: np.ndarray | None) -> np.ndarray | None:
        """Values to stratify the split by, or None for a plain random split."""
        return None

    def finish(self, parts: dict[str, Part], metric: Metric) -> dict[str, Part]:
        """Set each part's ``y`` to what ``metric`` compares with (identity by default)."""
        return parts

    def scored_part(self, train: Part, validation: Part, seed: int) -> tuple[Part, int]:
        """The rows the search scores trials on, and how many of them (the first) are
        training rows: the validation part alone by default."""
        return validation, 0

    def row_scores(self, metric: Metric, y: np.ndarray, pred: Prediction) -> np.ndarray | None:
        """Per-row values whose mean is ``metric``'s score (None: it is no such mean), for
        pairing two models' scores row by row; the metric's own ``per_row`` by default."""
        if metric.per_row is None:
            return None
        return np.asarray(metric.per_row(y, pred, 0), dtype=float)

    def subsample(self, y: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        """Adjust a random sample of training rows (e.g. keep every class); sorted indices."""
        return rows

    # --------------------------------------------------------------- decisions
    @abstractmethod
    def predict(self, estimator: Any, X: np.ndarray, n_outputs: int) -> Prediction:
        """The fitted estimator's decisions on encoded inputs ``X``."""

    @abstractmethod
    def answer(self, pipeline: Any, X: pd.DataFrame, schema: Schema) -> Answer:
        """A saved pipeline's decisions on prepared features, in the data's own terms."""

    def answer_frame(self, answer: Answer, index: pd.Index) -> pd.DataFrame:
        """The answer as ``learnloop predict`` prints it: ``prediction`` and ``proba_<c>``."""
        out = pd.DataFrame(index=index)
        out["prediction"] = answer.predictions
        if answer.probabilities is not None and answer.classes is not None:
            for i, c in enumerate(answer.classes):
                out[f"proba_{c}"] = answer.probabilities[:, i]
        return out

    # ---------------------------------------------------------------- baseline
    @abstractmethod
    def baseline(self, X_train: pd.DataFrame, y_train: np.ndarray | None, seed: int) -> Any:
        """A fitted trivial pipeline (preprocessing + estimator) fitted on the training part."""

    def baseline_prediction(
        self, baseline: Prediction, chosen: Prediction | None, seed: int
    ) -> Prediction | None:
        """The trivial model's test decisions to report (None if not known yet)."""
        return baseline

    # ---------------------------------------------------------------- outcomes
    @abstractmethod
    def outcomes(self, test: Part, pred: Prediction) -> dict[str, Any]:
        """What the store keeps of the test split for ``runs compare`` to pair runs up."""

    def split_fingerprint(self, test: Part) -> str:
        """A fingerprint of the test split's rows (two runs pair up only if they match)."""
        frame = test.X
        if test.y is not None and np.ndim(test.y) == 1:
            frame = frame.assign(__target__=test.y)
        return fingerprint(frame)

    # ------------------------------------------------------------------ report

    # ------------------------------------------------------------ inputs and model
    def read_data(
        self, data: Any, target: str | None, options: dict[str, Any] | None = None
    ) -> tuple[pd.DataFrame, str | None]:
        """The training table of ``data`` and its target column (a table, by default).

        ``options`` are the task's own (``prepare_dataset``'s). Notes for the person
        running (files left out, ...) go in ``frame.attrs["notes"]``.
        """
        from learnloop.data import load_table

        return load_table(data), target

    def read_inputs(self, data: Any, schema: Schema) -> pd.DataFrame:
        """The rows ``learnloop predict`` is given (a table, by default)."""
        from learnloop.data import load_table

        return load_table(data)

    def read_input_chunks(
        self, data: Any, schema: Schema, rows: int | None = None, keep: Sequence[str] = ()
    ) -> Iterator[pd.DataFrame]:
        """The rows of :meth:`read_inputs` in chunks of ``rows`` (``data/chunks.py``), for
        predicting on a file of any size; ``keep`` (columns carried through to the output)
        are read as text where the format guesses types, so an ID keeps its spelling. A
        task that reads its inputs its own way (pictures, users) gives them as one chunk."""
        if type(self).read_inputs is not Task.read_inputs:
            yield self.read_inputs(data, schema)
            return
        from learnloop.data.chunks import iter_table

        features = set(schema.feature_names)
        yield from iter_table(data, rows, [c for c in keep if c not in features])

    def preprocessor(self, kind: str, X: pd.DataFrame) -> Any:
        """An unfitted preprocessor of the ``kind`` a family consumes (one of
        ``feature_kinds``; ValueError for another) for the prepared features ``X``."""
        if kind not in self.feature_kinds:
            raise ValueError(
                f"The {self.name} task builds {', '.join(self.feature_kinds)} features, "
                f"not {kind!r}."
            )
        return self.build_features(kind, X)

    def build_features(self, kind: str, X: pd.DataFrame) -> Any:
        """The preprocessor of one of ``feature_kinds`` (the shared table encodings here)."""
        from learnloop.data.features import build_preprocessor

        return build_preprocessor(kind, X)

    def finish_model(self, pipeline: Any, train: Part, validation: Part) -> tuple[Any, dict]:
        """The pipeline to save (after the test look) and facts about it for the metadata.

        May learn from the training and validation parts only, never the test split.
        """
        return pipeline, {}

    # ------------------------------------------------------------------ checks
    def check_options(self, target: str | None, labels: str | None) -> None:
        """Raise UsageError for options this task does not take."""
        if self.supervised and target is None:
            raise UsageError(f"A target column is needed for {self.name} (--target).")
        if self.supervised and labels is not None:
            raise UsageError(
                f"--labels is for clustering; {self.name} learns from the target column."
            )
