"""Model files saved by an earlier layout of the package keep loading and predicting the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import learnloop

FIXTURE = Path(__file__).parent / "fixtures" / "model-v1"


def test_a_model_saved_before_the_reshaping_loads_and_predicts_the_same() -> None:
    model = learnloop.load(FIXTURE / "model-v1.skops")
    rows = pd.read_csv(FIXTURE / "wine.csv").drop(columns="target")
    expected = pd.read_csv(FIXTURE / "expected.csv")
    got = model.predict(rows)
    assert list(got.columns) == list(expected.columns)
    assert (got["prediction"].astype(str) == expected["prediction"].astype(str)).all()
    proba = [c for c in expected.columns if c.startswith("proba_")]
    np.testing.assert_allclose(got[proba].to_numpy(), expected[proba].to_numpy(), atol=1e-9)
