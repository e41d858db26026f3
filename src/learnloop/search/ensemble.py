"""Greedy ensemble selection (Caruana et al. 2004) over the search's best finished trials.

The driver offers every complete trial's model to a :class:`Pool`: the ``POOL_SIZE`` best
by validation score, one per configuration (a configuration promoted to a larger sample
keeps its better fit; on tables small enough for one rung every fit is on the whole
training split, and on large ones the best fits are the promoted ones anyway). Each
model entering the pool is predicted on the validation split once.

When the pool changes, :func:`select` starts from the best single model and adds,
with replacement, whichever member most improves the metric of the averaged
predictions (probabilities for classification, so roc_auc, log_loss or accuracy are
computed on the averaged probabilities; values for regression), for at most
``MAX_ROUNDS`` rounds and until no addition improves it. The weights are the selection
counts. An ensemble of at least two configurations that beats the best single model by
``MIN_GAIN`` becomes a :class:`~learnloop.search.values.FittedModel` (candidate ``"ensemble"``,
params ``{"members": [trial numbers], "weights": [counts]}``) that the loop treats like
any trial's model: kept if best, returned if it passes the aim, certified by the same
test looks. Its validation score is optimistic (the weights were chosen on validation),
like the best of many trials; the look policy is what keeps the claim honest.

The run's owner makes ensembles of the models its trials hand back, wherever they trained
(in process or on Dask workers: the driver is the same). A ``learnloop worker`` process
joined to another's run makes none: its models stay with it, and the owner could not refit
an ensemble of them.

Ensembles are not trials: they never enter the study. They are numbered -2, -3, ...
(-1 is the baseline) so a test look at one is never mistaken for a look at a member.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from learnloop.estimators import EnsembleClassifier, EnsembleRegressor, PassThrough, weighted_mean
from learnloop.metrics import Metric, Prediction
from learnloop.search.trials import config_key
from learnloop.search.values import FittedModel, Problem, predict_model

__all__ = ["Pool", "select", "average", "assemble", "POOL_SIZE", "MAX_ROUNDS", "MIN_GAIN"]

POOL_SIZE = 8  # best configurations the selection draws from
MAX_ROUNDS = 25  # members picked (with replacement), the first included
MIN_GAIN = 1e-3  # relative gain over the best single model an ensemble must show


def _outputs(pred: Prediction) -> np.ndarray:
    """What is averaged: class probabilities where there are any, else the values."""
    return np.asarray(pred.proba if pred.proba is not None else pred.values, dtype=float)


def _prediction(mean: np.ndarray, classes: bool) -> Prediction:
    return Prediction(np.argmax(mean, axis=1), mean) if classes else Prediction(mean)


def average(preds: list[Prediction], weights: np.ndarray | list[float]) -> Prediction:
    """The weighted average of predictions, as the ensemble estimators compute it."""
    w = np.asarray(weights, dtype=float)
    used = [i for i in range(len(preds)) if w[i] > 0]
    mean = weighted_mean([_outputs(preds[i]) for i in used], w[used])
    return _prediction(mean, preds[0].proba is not None)


def select(
    y: np.ndarray,
    preds: list[Prediction],
    metric: Metric,
    n_classes: int = 0,
    rounds: int = MAX_ROUNDS,
) -> tuple[np.ndarray, float]:
    """Greedy forward selection with replacement: (selection counts, score of the average).

    Starts from the best single prediction; each round adds the one that most improves
    the score of the (count-weighted) average, and stops after ``rounds`` picks or when
    no addition improves it strictly.
    """
    classes = preds[0].proba is not None
    outs = [_outputs(p) for p in preds]
    scores = [metric.score(y, p, n_classes) for p in preds]
    first = 0
    for i, s in enumerate(scores):
        if metric.better(s, scores[first]):
            first = i
    counts = np.zeros(len(preds), dtype=int)
    counts[first] = 1
    total, best = outs[first].copy(), scores[first]
    for k in range(1, rounds):
        pick, pick_score = None, best
        for i, out in enumerate(outs):
            score = metric.score(y, _prediction((total + out) / (k + 1), classes), n_classes)
            if metric.better(score, pick_score):
                pick, pick_score = i, score
        if pick is None:
            break
        counts[pick] += 1
        total += outs[pick]
        best = pick_score
    return counts, best


class Pool:
    """The best finished models, one per configuration, with their validation predictions."""

    def __init__(self, problem: Problem, size: int = POOL_SIZE) -> None:
        self.problem = problem
        self.size = size
        self.models: dict[str, FittedModel] = {}
        self.built = 0  # ensembles made so far (their numbers are -2, -3, ...)

    def offer(self, model: FittedModel) -> bool:
        """Take ``model`` in if it is among the best; return whether the pool changed."""
        metric = self.problem.metric
        if model.score is None or not np.isfinite(model.score):
            return False
        key = config_key(model.candidate, model.params, 0)  # any rung: one fit per config
        same = self.models.get(key)
        if same is not None and not metric.better(model.score, same.score):
            return False
        if same is None and len(self.models) >= self.size:
            worst = max(self.models.values(), key=lambda m: metric.to_loss(m.score))
            if not metric.better(model.score, worst.score):
                return False
            del self.models[next(k for k, m in self.models.items() if m is worst)]
        if model.val_prediction is None:
            p = self.problem
            model.val_prediction = predict_model(model, p.X_val, p.task, p.n_classes)
        self.models[key] = model
        return True

    def build(self) -> FittedModel | None:
        """The greedy ensemble of the pool, if it beats the best single model by MIN_GAIN."""
        if len(self.models) < 2:
            return None
        p, metric = self.problem, self.problem.metric
        models = sorted(self.models.values(), key=lambda m: metric.to_loss(m.score))
        preds = [m.val_prediction for m in models]
        assert all(pred is not None for pred in preds)
        counts, _ = select(p.y_val, preds, metric, p.n_classes)  # type: ignore[arg-type]
        used = [i for i in range(len(models)) if counts[i] > 0]
        if len(used) < 2:
            return None
        prediction = average(preds, counts)  # type: ignore[arg-type]
        score = metric.score(p.y_val, prediction, p.n_classes)
        single = models[0].score
        if not metric.better(score, metric.shift(single, MIN_GAIN * max(abs(single), 1.0))):
            return None
        weights = [float(counts[i]) for i in used]
        self.built += 1
        return assemble(
            [models[i] for i in used],
            weights,
            p.n_classes if prediction.proba is not None else None,
            trial=-1 - self.built,
            score=score,
            val_prediction=prediction,
        )


def assemble(
    members: list[FittedModel],
    weights: list[float],
    n_classes: int | None,
    *,
    trial: int,
    score: float,
    val_prediction: Prediction | None = None,
    refit: bool = False,
) -> FittedModel:
    """The ensemble of fitted ``members`` with ``weights`` as one model (``n_classes`` None:
    a regression ensemble). Also how a refitted ensemble is put back together."""
    pipelines = [Pipeline([("features", m.preprocessor), ("model", m.estimator)]) for m in members]
    estimator: Any
    if n_classes is not None:
        estimator = EnsembleClassifier(pipelines, weights, n_classes).fit()
    else:
        estimator = EnsembleRegressor(pipelines, weights).fit()
    return FittedModel(
        trial=trial,
        candidate="ensemble",
        params={"members": [m.trial for m in members], "weights": weights},
        n_rows=max(m.n_rows for m in members),
        preprocessor=PassThrough(),
        estimator=estimator,
        score=score,
        val_prediction=val_prediction,
        members=members,
        refit=refit,
    )
