"""A small multi-layer perceptron (scikit-learn's): one epoch is one step."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from learnloop.core import Output, Prediction
from learnloop.estimators import ScaledTargetRegressor
from learnloop.families._base import Candidate, FitContext

MAX_EPOCHS = 300


class MLPCandidate(Candidate):
    name = "mlp"
    produces = frozenset({Output.CLASSES, Output.VALUES})
    preprocessing = "dense"

    def portfolio(self, output: Output, n_rows: int) -> list[dict[str, Any]]:
        return [{"width": 64, "depth": 2, "alpha": 1e-4, "learning_rate_init": 1e-3}]

    def search_space(self, trial: Any, output: Output, n_rows: int) -> dict[str, Any]:
        k = self.key
        return {
            "width": trial.suggest_int(k("width"), 16, 256, log=True),
            "depth": trial.suggest_int(k("depth"), 1, 3),
            "alpha": trial.suggest_float(k("alpha"), 1e-6, 1e-1, log=True),
            "learning_rate_init": trial.suggest_float(
                k("learning_rate_init"), 1e-4, 3e-2, log=True
            ),
        }

    def fit(
        self,
        params: dict[str, Any],
        X: np.ndarray,
        y: np.ndarray | None,
        X_val: np.ndarray,
        ctx: FitContext,
    ) -> Any:
        y = self.targets(y)
        common = {
            "hidden_layer_sizes": (params["width"],) * params["depth"],
            "alpha": params["alpha"],
            "learning_rate_init": params["learning_rate_init"],
            # never more than the rows: scikit-learn clips it with a warning on every epoch
            "batch_size": int(min(256, max(32, len(X) // 50), len(X))),
            "random_state": ctx.seed,
        }
        classify = self.check_output(ctx.output) is Output.CLASSES
        if classify:
            net: Any = MLPClassifier(**common)
            target, mean, scale = y, 0.0, 1.0
        else:
            net = MLPRegressor(**common)
            mean, scale = float(np.mean(y)), float(np.std(y)) or 1.0
            target = (y - mean) / scale
        classes = np.arange(max(ctx.n_classes, 2))
        best = None
        for epoch in range(1, MAX_EPOCHS + 1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                if classify:
                    net.partial_fit(X, target, classes=classes)
                else:
                    net.partial_fit(X, target)
            if not ctx.monitor.wants(epoch):
                continue
            if classify:
                pred = ctx.decisions(net, X_val)
            else:
                pred = Prediction(np.asarray(net.predict(X_val)) * scale + mean)
            go_on = ctx.monitor(epoch, pred)
            if ctx.monitor.best_step == epoch:
                best = copy.deepcopy(net)
            if not go_on:
                break
        net = best if best is not None else net
        if classify:
            return net
        wrapped = ScaledTargetRegressor(regressor=net, y_mean=mean, y_scale=scale)
        wrapped.fitted_ = True
        return wrapped
