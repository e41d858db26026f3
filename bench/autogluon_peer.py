"""AutoGluon as a peer, run by its own interpreter (``python bench/autogluon_peer.py SPEC``).

AutoGluon is not a learnloop dependency and does not share learnloop's environment (its pins
differ); :mod:`bench.tables_vs_peers` starts this file with the interpreter named by
``--autogluon-python`` / ``$LEARNLOOP_AUTOGLUON_PYTHON``. It imports only AutoGluon, pandas and
numpy. SPEC is JSON: ``fit`` (a parquet file, training + validation rows, as AutoGluon's users
run it), ``test`` (parquet), ``target``, ``task``, ``metric``, ``budget`` (seconds), ``seed``,
``n_jobs``, ``workdir``. It prints one line ``AG_RESULT {json}``: the test score, the best
model's name and the wall time of ``fit``.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pandas as pd

METRICS = {"accuracy": "accuracy", "rmse": "root_mean_squared_error", "r2": "r2"}


def main(spec: dict) -> dict:
    from autogluon.tabular import TabularPredictor

    fit = pd.read_parquet(spec["fit"])
    test = pd.read_parquet(spec["test"])
    target, task = spec["target"], spec["task"]
    if task == "classification":  # labels as strings: the same classes whatever their type
        fit[target] = fit[target].astype(str)
        test[target] = test[target].astype(str)
    n_classes = fit[target].nunique() if task == "classification" else 0
    problem = (
        "regression" if task == "regression" else ("binary" if n_classes == 2 else "multiclass")
    )
    np.random.seed(spec["seed"])
    predictor = TabularPredictor(
        label=target,
        problem_type=problem,
        eval_metric=METRICS[spec["metric"]],
        path=spec["workdir"],
        verbosity=0,
    )
    started = time.monotonic()
    predictor.fit(
        fit,
        time_limit=spec["budget"],
        presets="best_quality",
        num_cpus=spec["n_jobs"],
        num_gpus=0,
    )
    fit_s = time.monotonic() - started
    pred = predictor.predict(test.drop(columns=[target]))
    y = test[target]
    if spec["metric"] == "accuracy":
        value = float((pred.astype(str).to_numpy() == y.to_numpy()).mean())
    elif spec["metric"] == "rmse":
        value = float(np.sqrt(np.mean((pred.to_numpy(float) - y.to_numpy(float)) ** 2)))
    else:
        resid = np.sum((pred.to_numpy(float) - y.to_numpy(float)) ** 2)
        value = float(1 - resid / np.sum((y.to_numpy(float) - y.mean()) ** 2))
    return {
        "test_score": value,
        "best_model": str(predictor.model_best),
        "fit_s": fit_s,
        "version": __import__("autogluon.tabular").tabular.__version__,
    }


if __name__ == "__main__":
    out = main(json.loads(sys.argv[1]))
    print("AG_RESULT " + json.dumps(out), flush=True)
