"""The split follows the requirement: the test split's share is decided from the metric, the
threshold and the number of rows alone, before any split is read, and recorded with the run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import learnloop
from learnloop.certify import clopper_pearson_bound, look_alpha, split_share_for
from learnloop.core.levers import ablated
from learnloop.metrics import get_metric
from learnloop.runs.dataset import prepare_dataset
from learnloop.store import open_store


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=(X[:, 0] > 0).astype(int))


def test_a_high_accuracy_threshold_gets_a_larger_test_split() -> None:
    accuracy = get_metric("accuracy")
    share = split_share_for(accuracy, 0.97, 344)
    assert 0.2 < share <= 0.35
    # no share up to 35% certifies a score halfway to perfect (0.985) at 344 rows: the
    # share taken certifies the lowest score there is, and a perfect one (not so at 20%)
    n_test = round(share * 344)
    alpha = look_alpha(0.05, 1, 3)
    assert clopper_pearson_bound(n_test, n_test, alpha) >= 0.97
    assert clopper_pearson_bound(69, 69, alpha) < 0.97
    # a fifth of the rows where that is enough, or where nothing is known in advance
    assert split_share_for(accuracy, 0.8, 344) == 0.2
    assert split_share_for(accuracy, 0.97, 100_000) == 0.2
    assert split_share_for(accuracy, None, 344) == 0.2
    assert split_share_for(get_metric("rmse"), 4.0, 1000) == 0.2  # 200 test rows
    assert split_share_for(get_metric("roc_auc"), 0.97, 5000) == 0.2
    with ablated("split"):
        assert split_share_for(accuracy, 0.97, 344) == 0.2


def test_the_share_is_decided_without_reading_any_row() -> None:
    """The same size and requirement give the same share whatever the rows hold."""
    a = prepare_dataset(_table(400, 1), "y", "classification", None, 0.97, 0)
    shuffled = _table(400, 2).assign(y=lambda f: 1 - f["y"])
    b = prepare_dataset(shuffled, "y", "classification", None, 0.97, 0)
    assert a.test_share == b.test_share and a.test_share > 0.2
    assert len(a.test) == round(a.test_share * 400) == len(b.test)
    assert any("test split is" in note for note in a.notes)
    plain = prepare_dataset(_table(400, 1), "y", "classification", None, 0.7, 0)
    assert plain.test_share == 0.2 and len(plain.test) == 80 and not plain.notes
    fixed = prepare_dataset(
        _table(300), "y", "classification", None, 0.97, 0, _table(50, 3), _table(50, 4)
    )
    assert fixed.test_share is None and len(fixed.test) == 50  # given splits are kept


def test_the_share_is_recorded_and_rebuilds_the_same_split(tmp_path) -> None:
    store = str(tmp_path / "s.db")
    frame = _table(400)
    result = learnloop.train(frame, "y", threshold=0.97, budget=3, out=None, store=store)
    run = open_store(store).get_run(result.run_id)
    share = run["options"]["test_share"]
    assert share == pytest.approx(result.splits["test"] / 400, abs=0.002) and share > 0.2
    again = prepare_dataset(frame, "y", "classification", None, None, 0, test_share=share)
    assert len(again.test) == result.splits["test"]


def test_where_no_share_certifies_a_hoped_score_the_one_needing_the_lowest_score_is_taken() -> None:
    """120 rows at accuracy 0.8: 24 test rows certify only 24 of 24; a larger share
    certifies a lower score, so a good but imperfect model can pass."""
    accuracy, alpha = get_metric("accuracy"), look_alpha(0.05, 1, 3)

    def lowest(n_test: int) -> float:
        return next(r / n_test for r in range(1, n_test + 1)
                    if clopper_pearson_bound(r, n_test, alpha) >= 0.8)  # fmt: skip

    share = split_share_for(accuracy, 0.8, 120)
    assert 0.2 < share <= 0.35
    assert lowest(round(share * 120)) < lowest(24) == 1.0
    assert all(lowest(round(share * 120)) <= lowest(n) for n in range(24, 43))
