"""Drift per input column: PSI (numbers and categories) and KS against the training profile."""

from __future__ import annotations

import numpy as np
import pandas as pd

from learnloop.data import ColumnSpec, Schema
from learnloop.data.drift import MIN_ROWS, PSI_LIMIT, column_drift, reference_profile

SCHEMA = Schema(
    target="y",
    task="classification",
    features=[
        ColumnSpec("amount", "numeric", "float64"),
        ColumnSpec("color", "categorical", "object"),
        ColumnSpec("when", "datetime", "object"),
    ],
    dropped={},
)


def _frame(n: int, seed: int, shift: float = 0.0, colors: tuple[float, ...] = (0.5, 0.3, 0.2)):
    rng = np.random.default_rng(seed)
    amount = rng.normal(100 + shift, 15, n)
    amount[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "amount": amount,
            "color": rng.choice(["red", "green", "blue"], n, p=list(colors)),
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 99, n), "D"),
        }
    )


def test_the_profile_keeps_numbers_and_categories_only() -> None:
    profile = reference_profile(_frame(2000, 0), SCHEMA)
    assert set(profile) == {"amount", "color"}
    numeric = profile["amount"]
    assert len(numeric["quantiles"]) == 101 and len(numeric["edges"]) == 9
    assert abs(sum(numeric["shares"]) + numeric["missing"] - 1) < 1e-9
    assert abs(sum(profile["color"]["shares"].values()) - 1) < 1e-9


def test_rows_from_the_same_distribution_have_not_drifted() -> None:
    profile = reference_profile(_frame(5000, 0), SCHEMA)
    drift = column_drift(profile, _frame(2000, 1))
    assert set(drift) == {"amount", "color"}
    for entry in drift.values():
        assert entry["psi"] < 0.05 and not entry["drifted"] and entry["limit"] == PSI_LIMIT
    assert drift["amount"]["ks_p_value"] > 0.001


def test_a_shifted_number_and_a_changed_mix_of_categories_have_drifted() -> None:
    profile = reference_profile(_frame(5000, 0), SCHEMA)
    drift = column_drift(profile, _frame(2000, 1, shift=15, colors=(0.1, 0.2, 0.7)))
    assert drift["amount"]["drifted"] and drift["amount"]["psi"] > PSI_LIMIT
    assert drift["amount"]["ks"] > 0.2 and drift["amount"]["ks_p_value"] < 1e-6
    assert drift["color"]["drifted"]


def test_an_unseen_category_counts_as_other() -> None:
    profile = reference_profile(_frame(5000, 0), SCHEMA)
    live = _frame(500, 2)
    live["color"] = "purple"
    assert column_drift(profile, live)["color"]["drifted"]


def test_too_few_rows_are_not_judged() -> None:
    profile = reference_profile(_frame(500, 0), SCHEMA)
    assert column_drift(profile, _frame(MIN_ROWS - 1, 1)) == {}
