"""EASE and RP3beta: their closed forms on tiny matrices, the two EASE routes agreeing, the
memory refusal, a model-file round trip of each EASE form, and a short train that picks one.

The closed forms are computed here from their definitions (numpy's inverse, Python loops
over the walk's probabilities), not through the family code they check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import csr_matrix

import learnloop
from learnloop.core import Output, Prediction
from learnloop.estimators import InteractionMatrix, ItemWeightsRecommender, Recommender
from learnloop.families import CANDIDATES, FitContext
from learnloop.families import ease as ease_module
from learnloop.families.ease import ease_bytes, ease_weights
from learnloop.families.rp3beta import rp3beta_similarity
from shop_events import shop_events


def _interactions(users: int, items: int, seed: int) -> InteractionMatrix:
    """A random users x items 0/1 matrix (about a third filled, every user and item used)."""
    rng = np.random.default_rng(seed)
    dense = (rng.random((users, items)) < 0.35).astype(np.float32)
    dense[np.arange(users), np.arange(users) % items] = 1.0
    dense[np.arange(items) % users, np.arange(items)] = 1.0
    return InteractionMatrix(
        csr_matrix(dense), np.array([f"u{i}" for i in range(users)]), np.arange(items)
    )


def _steck(matrix: Any, l2: float) -> np.ndarray:
    """EASE's B straight from its definition: P = (X^T X + l2 I)^-1, B = I - P diag(1/diag P)."""
    X = np.asarray(matrix.todense(), dtype=float)
    P = np.linalg.inv(X.T @ X + l2 * np.eye(X.shape[1]))
    return np.eye(X.shape[1]) - P @ np.diag(1.0 / np.diag(P))


def _ease_model(data: InteractionMatrix, l2: float) -> ItemWeightsRecommender:
    route, a, b = ease_weights(data.matrix, l2)
    model = ItemWeightsRecommender()
    return model.set_dense(data, a) if b is None else model.set_low_rank(data, a, b)


# ------------------------------------------------------------------------------ EASE
@pytest.mark.parametrize(("users", "items", "route"), [(30, 12, "dense"), (9, 25, "low_rank")])
def test_ease_is_stecks_closed_form_by_either_route(users: int, items: int, route: str) -> None:
    data = _interactions(users, items, seed=users)
    l2 = 3.0
    assert ease_weights(data.matrix, l2)[0] == route
    expected = _steck(data.matrix, l2)
    assert np.allclose(np.diag(expected), 0.0, atol=1e-9)  # the definition's own property
    model = _ease_model(data, l2)
    B = model.weight_rows(np.arange(items))
    assert np.allclose(np.diag(B), 0.0)
    assert np.allclose(B, expected, atol=1e-4 * np.abs(expected).max())
    # a user's scores are their training row times B, for every user
    X = np.asarray(data.matrix.todense())
    scores = model.scores(np.arange(users))
    assert np.allclose(scores, X @ expected, atol=1e-4 * np.abs(X @ expected).max())


def test_ease_ranks_unseen_items_by_b_and_leaves_seen_ones_out() -> None:
    data = _interactions(9, 25, seed=4)
    model = _ease_model(data, 3.0)
    expected = np.asarray(data.matrix.todense()) @ _steck(data.matrix, 3.0)
    top, _ = model.rank(np.arange(9), k=3)
    for user, row in enumerate(top):
        seen = set(data.matrix[user].indices.tolist())
        unseen = np.array([j for j in range(25) if j not in seen])
        best = unseen[np.argsort(-expected[user, unseen], kind="stable")[:3]]
        assert not set(row.tolist()) & seen
        assert set(row.tolist()) == set(best.tolist())


def test_a_stronger_penalty_shrinks_the_weights() -> None:
    data = _interactions(30, 12, seed=2)
    weak = np.abs(_ease_model(data, 1.0).weight_rows(np.arange(12))).sum()
    strong = np.abs(_ease_model(data, 1000.0).weight_rows(np.arange(12))).sum()
    assert strong < weak


def test_ease_states_its_memory_and_refuses_past_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ease_bytes(100_000, 20_000) == 12 * 20_000**2  # dense: the items x items system
    assert ease_bytes(1_000, 50_000) == 16 * 1_000**2 + 16 * 50_000 * 1_000  # users x users
    data = _interactions(30, 12, seed=1)
    monkeypatch.setattr(ease_module, "MAX_BYTES", ease_bytes(30, 12) - 1)
    seen: list[int] = []

    class Monitor:
        def wants(self, step: int) -> bool:
            return True

        def __call__(self, step: int, prediction: Prediction) -> bool:
            seen.append(step)
            return True

        best_step = 1

        def seconds_left(self) -> float:
            return 60.0

    ctx = FitContext(Output.RANKINGS, 10, 0, 1, [], Monitor(), predict=lambda e, r: None)
    with pytest.raises(ValueError, match=r"EASE on 30 users x 12 items would need about .* GB"):
        CANDIDATES["ease"].fit({"l2": 10.0}, data, None, np.arange(3), ctx)
    assert not seen  # refused before any work


# --------------------------------------------------------------------------- RP3beta
def _walk(matrix: Any, alpha: float, beta: float) -> np.ndarray:
    """RP3beta's W from its definition, by loops: W_ij = pop_j^-beta * sum over users u of
    P(i -> u)^alpha * P(u -> j)^alpha, i != j."""
    X = np.asarray(matrix.todense(), dtype=float)
    users, items = X.shape
    popularity = (X > 0).sum(axis=0)
    W = np.zeros((items, items))
    for i in range(items):
        for j in range(items):
            if i == j or popularity[j] == 0:
                continue
            total = 0.0
            for u in range(users):
                if X[u, i] > 0 and X[u, j] > 0:
                    total += (1 / popularity[i]) ** alpha * (X[u, j] / X[u].sum()) ** alpha
            W[i, j] = total * popularity[j] ** -beta
    return W


def test_rp3beta_is_the_walk_of_its_definition() -> None:
    data = _interactions(14, 10, seed=3)
    data.matrix.data[:] = np.random.default_rng(0).integers(1, 4, data.matrix.nnz)  # weights
    for alpha, beta in [(1.0, 0.0), (0.6, 0.4)]:
        W = rp3beta_similarity(data.matrix, alpha, beta, neighbours=10).toarray()
        assert np.allclose(W, _walk(data.matrix, alpha, beta), atol=1e-6)


def test_rp3beta_keeps_each_items_top_k_neighbours() -> None:
    data = _interactions(14, 10, seed=5)
    full = _walk(data.matrix, 0.8, 0.3)
    W = rp3beta_similarity(data.matrix, 0.8, 0.3, neighbours=3).toarray()
    for i in range(10):
        kept = np.flatnonzero(W[i])
        assert len(kept) == 3
        assert np.allclose(W[i, kept], full[i, kept], atol=1e-6)
        assert W[i, kept].min() >= np.delete(full[i], kept).max() - 1e-9


def test_the_popularity_penalty_turns_a_hand_checked_ranking() -> None:
    """Item 0's users: u0 (only 0), u1 (0 and the rare item 1), u2 and u6 (0 and the popular
    item 2, which u3..u5 also have). From item 0 the walk reaches item 1 with probability
    1/4 * 1/2 = 1/8 and item 2 with 2 * 1/4 * 1/2 = 1/4; item 2's five users divide that by
    5^beta. So u0 is offered item 2 first without the penalty, item 1 first with beta = 1."""
    baskets = [[0], [0, 1], [0, 2], [2], [2], [2], [0, 2]]
    rows = [u for u, b in enumerate(baskets) for _ in b]
    cols = [i for b in baskets for i in b]
    matrix = csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(7, 3))
    data = InteractionMatrix(matrix, np.array([f"u{u}" for u in range(7)]), np.arange(3))
    for beta, first in [(0.0, 2), (1.0, 1)]:
        W = rp3beta_similarity(matrix, 1.0, beta, neighbours=5).toarray()
        assert W[0, 1] == pytest.approx(1 / 8)
        assert W[0, 2] == pytest.approx(1 / 4 / 5**beta)
        top, _ = Recommender("neighbours").set_similarity(data, csr_matrix(W)).rank([0], k=2)
        assert top[0][0] == first


# ------------------------------------------------------------------ files and a train
def _saved_and_loaded(tmp_path: Path, events: pd.DataFrame, l2: float) -> tuple[Any, Any]:
    from sklearn.pipeline import Pipeline

    from learnloop.runs.dataset import prepare_dataset
    from learnloop.store.model_files import load_model, save_model

    options = {"user": "user", "item": "item", "event": "event", "time": "time"}
    data = prepare_dataset(events, task="recommendation", options=options)
    pre = data.task.preprocessor("interactions", data.train.X)
    model = _ease_model(pre.fit_transform(data.train.X), l2)
    pipeline = Pipeline([("features", pre), ("model", model)])
    metadata = {"schema": data.schema.to_dict(), "task": "recommendation", "params": {"l2": l2}}
    path = save_model(tmp_path / "ease.skops", pipeline, metadata)
    return pipeline, load_model(path).pipeline


@pytest.mark.parametrize(("users", "items"), [(80, 30), (25, 90)])
def test_both_ease_forms_round_trip_through_the_model_file(
    tmp_path: Path, users: int, items: int
) -> None:
    events = shop_events(n_users=users, n_items=items, events=(8, 30), seed=2)
    before, after = _saved_and_loaded(tmp_path, events, 20.0)
    model, loaded = before.steps[-1][1], after.steps[-1][1]
    assert isinstance(loaded, ItemWeightsRecommender)
    assert hasattr(loaded, "weights_") == (items <= model.n_users_)  # the form was chosen
    users_index = np.arange(model.n_users_)
    for a, b in zip(model.rank(users_index, 5), loaded.rank(users_index, 5), strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(model.similar_items(0, 4)[0], loaded.similar_items(0, 4)[0])
    assert np.array_equal(model.audience(0, 4)[0], loaded.audience(0, 4)[0])


def test_a_short_train_picks_ease_or_rp3beta_over_the_simpler_families(tmp_path: Path) -> None:
    events = shop_events(n_users=300, n_items=120, events=(3, 30), seed=1)
    result = learnloop.train(
        events,
        task="recommendation",
        user="user",
        item="item",
        event="event",
        time="time",
        budget=10,
        out=tmp_path / "model.skops",
        store=str(tmp_path / "runs.db"),
        candidates=["ease", "rp3beta", "popularity", "item_knn"],
        seed=0,
    )
    tried = {t.candidate for t in result.trials if t.score is not None}
    assert {"ease", "rp3beta"} <= tried  # the first two of the task's portfolio order
    assert result.best_candidate in ("ease", "rp3beta")
    best = max(t.score for t in result.trials if t.score is not None)
    chosen = [t for t in result.trials if t.candidate == result.best_candidate]
    assert max(t.score for t in chosen if t.score is not None) == pytest.approx(best)
    assert result.test_score is not None and result.baseline_score is not None
    assert result.test_score > result.baseline_score
    loaded = learnloop.load(tmp_path / "model.skops")
    users = events[["user"]].drop_duplicates().head(20)
    pd.testing.assert_frame_equal(loaded.predict(users), result.predict(users))
