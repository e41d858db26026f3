"""learnloop's own estimator wrappers: LightGBM boosters predict the same in one thread or many."""

from __future__ import annotations

import numpy as np
import pytest

from learnloop.estimators import ONE_THREAD_ROWS, BoosterClassifier, BoosterRegressor


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    return X, X[:, 0] + np.sin(3 * X[:, 1]) + 0.2 * rng.normal(size=n)


@pytest.mark.parametrize("kind", ["regressor", "binary", "multiclass"])
def test_small_batches_predict_exactly_as_large_ones(kind: str) -> None:
    """A batch under ONE_THREAD_ROWS runs in one thread; its rows must get the same numbers
    as the same rows inside a batch large enough for the threaded path."""
    X, y = _data(3000)
    if kind == "regressor":
        model = BoosterRegressor().fit(X, y)
        predict = model.predict
    else:
        k = 2 if kind == "binary" else 3
        labels = np.digitize(y, np.quantile(y, np.linspace(0, 1, k + 1)[1:-1]))
        model = BoosterClassifier(n_classes=k).fit(X, labels)
        predict = model.predict_proba
    X_new, _ = _data(ONE_THREAD_ROWS + 500, seed=1)
    whole = predict(X_new)  # threaded path
    small = predict(X_new[:50])  # one-thread path
    assert len(X_new[:50]) < ONE_THREAD_ROWS <= len(X_new)
    np.testing.assert_array_equal(small, whole[:50])
    one_row = predict(X_new[7:8])
    np.testing.assert_array_equal(one_row, whole[7:8])


def test_importing_learnloop_leaves_the_openmp_wait_policy_to_the_user() -> None:
    """Passive OpenMP waiting made LightGBM 5-10x slower on small tables; importing learnloop
    must not choose it (a fresh interpreter, so no earlier import hides the check)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = "import os, learnloop; print(os.environ.get('OMP_WAIT_POLICY', 'unset'))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "unset"
