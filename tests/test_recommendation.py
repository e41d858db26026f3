"""Recommendation end to end: the per-user split, ranking metrics, the families, the
certificate's honesty over users, the CLI and API, the three recommend modes, the server
endpoints, runs compare, and every bad input the issue lists."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import learnloop
from conftest import run
from learnloop.certify import bootstrap_interval, certify
from learnloop.cli import app
from learnloop.exceptions import DataError, UsageError
from learnloop.metrics import Prediction, get_metric
from learnloop.runs.dataset import prepare_dataset
from learnloop.tasks import TASKS
from learnloop.tasks.recommendation import HOLDOUT_SHARE, MIN_USER_EVENTS, parse_event_weights
from shop_events import shop_events

OPTIONS = {"user": "user", "item": "item", "event": "event", "time": "time"}
CLI_OPTIONS = ["--task", "recommendation", "--user", "user", "--item", "item"]
CLI_OPTIONS += ["--event", "event", "--time", "time"]


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    """300 shoppers (some with only 3-4 events), 120 items in 6 groups."""
    return shop_events(n_users=300, n_items=120, events=(3, 30), seed=1)


def _dataset(frame: pd.DataFrame, **options: Any) -> Any:
    return prepare_dataset(
        frame, task="recommendation", options={**OPTIONS, **options}, seed=options.pop("seed", 0)
    )


# ------------------------------------------------------------------------------- split


def test_user_and_item_make_auto_a_recommendation(events: pd.DataFrame) -> None:
    data = prepare_dataset(events, options=OPTIONS)  # task="auto"
    assert data.task.name == "recommendation"
    assert data.metric.name == "ndcg@10"


def test_time_split_holds_out_each_users_latest_events(events: pd.DataFrame) -> None:
    data = _dataset(events)
    times = pd.to_datetime(events["time"])
    train = data.train.X
    for part in (data.validation, data.test):
        assert part.y is not None and len(part.y) == len(part.X) > 10
        for user, held in zip(part.X["user"], part.y, strict=True):
            mine = events["user"] == user
            trained = set(train.loc[train["user"] == user, "item"])
            assert trained and not trained & set(held.tolist())
            # every event of a held-out item lies in the user's latest HOLDOUT_SHARE of events,
            # so no training interaction of this user is later than a held-out one
            held_times = times[mine & events["item"].isin(held)]
            window = max(1, round(HOLDOUT_SHARE * int(mine.sum())))
            assert int((times[mine] >= held_times.min()).sum()) <= window
    users = [set(p.X["user"]) for p in (data.validation, data.test)]
    assert not users[0] & users[1]


def test_users_with_few_events_stay_in_training_and_the_run_says_how_many(
    events: pd.DataFrame,
) -> None:
    data = _dataset(events)
    counts = events.groupby("user").size()
    few = int((counts < MIN_USER_EVENTS).sum())
    assert few > 0
    assert any(f"{few} users with fewer than" in note for note in data.notes)
    evaluated = set(data.validation.X["user"]) | set(data.test.X["user"])
    assert not evaluated & set(counts[counts < MIN_USER_EVENTS].index)
    assert set(counts[counts < MIN_USER_EVENTS].index) <= set(data.train.X["user"])


def test_split_without_time_is_random_per_user_and_seeded(events: pd.DataFrame) -> None:
    frame = events.drop(columns="time")
    options = {"user": "user", "item": "item", "event": "event"}
    a = prepare_dataset(frame, task="recommendation", options=options, seed=4)
    b = prepare_dataset(frame, task="recommendation", options=options, seed=4)
    c = prepare_dataset(frame, task="recommendation", options=options, seed=5)
    assert any("random" in note for note in a.notes)
    pd.testing.assert_frame_equal(a.test.X, b.test.X)
    assert [v.tolist() for v in a.test.y] == [v.tolist() for v in b.test.y]
    assert not a.test.X.equals(c.test.X)


def test_rungs_sample_whole_users(events: pd.DataFrame) -> None:
    data = _dataset(events)
    task = TASKS["recommendation"]
    y = data.train.y
    rows = np.sort(np.random.default_rng(0).choice(len(y), 1000, replace=False))
    chosen = task.subsample(y, rows)
    users = np.unique(y[chosen])
    assert set(chosen.tolist()) == set(np.flatnonzero(np.isin(y, users)).tolist())
    assert 1000 <= len(chosen) < 1000 + np.bincount(y).max()


# ------------------------------------------------------------------------------ metrics


def test_ranking_metrics_on_a_hand_made_example() -> None:
    y = np.empty(2, dtype=object)
    y[:] = [np.array([1, 5]), np.array([9])]
    pred = Prediction(np.array([[1, 2, 5], [3, 4, 7]]))
    assert get_metric("recall@3").score(y, pred) == pytest.approx(0.5)
    assert get_metric("precision@3").score(y, pred) == pytest.approx((2 / 3) / 2)
    assert get_metric("hit_rate@3").score(y, pred) == pytest.approx(0.5)
    assert get_metric("map@3").score(y, pred) == pytest.approx((1 + 2 / 3) / 2 / 2)
    dcg = 1 + 1 / np.log2(4)
    ideal = 1 + 1 / np.log2(3)
    assert get_metric("ndcg@3").score(y, pred) == pytest.approx(dcg / ideal / 2)
    assert get_metric("recall@1").score(y, pred) == pytest.approx(0.25)
    assert get_metric("ndcg@25").k == 25 and get_metric("hit_rate@10").proportion


def test_text_item_ids_score_like_numbers() -> None:
    y = np.empty(2, dtype=object)
    y[:] = [np.array(["a", "b"]), np.array(["c"])]
    pred = Prediction(np.array([["a", "x"], ["c", "b"]]))
    assert get_metric("hit_rate@2").score(y, pred) == 1.0


@pytest.mark.parametrize("name", ["recall@0", "ndcg@x", "map@-2", "precision@1.5", "ndcg@"])
def test_k_must_be_a_positive_integer(name: str) -> None:
    with pytest.raises(UsageError, match="positive whole number"):
        get_metric(name)


def test_ranking_metrics_do_not_apply_to_tabular_tasks() -> None:
    with pytest.raises(UsageError, match="does not apply to classification"):
        TASKS["classification"].metric("recall@10")
    with pytest.raises(UsageError, match="Unknown metric"):
        get_metric("accuracy@10")


def test_event_weights_defaults_and_overrides() -> None:
    weights = parse_event_weights(None)
    assert weights["purchase"] > weights["cart"] > weights["view"]
    mine = parse_event_weights("view=0.5, cart=3,wish=2")
    assert mine["view"] == 0.5 and mine["wish"] == 2.0 and mine["purchase"] == 5.0
    for bad in ("view", "view=-1", "view=abc"):
        with pytest.raises(UsageError):
            parse_event_weights(bad)


def test_an_event_kind_without_a_weight_is_refused(events: pd.DataFrame) -> None:
    frame = events.assign(event=events["event"].replace("cart", "basket"))
    with pytest.raises(UsageError, match="'basket'.*--event-weights basket="):
        _dataset(frame)
    assert _dataset(frame, event_weights="basket=3").train.X["__weight__"].max() == 5.0


def test_ratings_become_likes_above_a_threshold() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    frame = pd.DataFrame(
        {
            "user": rng.integers(0, 100, n),
            "item": rng.integers(0, 50, n),
            "rating": rng.integers(1, 6, n),
        }
    )
    options = {"user": "user", "item": "item", "weight": "rating", "like_threshold": 4}
    data = prepare_dataset(frame, task="recommendation", options=options)
    assert set(data.train.X["__weight__"]) == {1.0}
    assert data.dropped_rows == int((frame["rating"] < 4).sum())


# --------------------------------------------------------------------------- certificate


@pytest.mark.slow
def test_the_bound_over_users_is_honest_by_simulation() -> None:
    """A fixed recommender whose per-user hit probability is known: each held-out item of
    user u is in their top 10 with probability q_u ~ Beta(2, 3), so the population recall@10
    is 0.4 exactly. The 95% bound may be above it in at most ~5% of simulated test sets."""
    rng = np.random.default_rng(7)
    metric = get_metric("recall@10")
    truth, n_users, sims = 0.4, 150, 200
    wrong = 0
    for s in range(sims):
        q = rng.beta(2, 3, n_users)
        y = np.empty(n_users, dtype=object)
        top = np.empty((n_users, 10), dtype=np.int64)
        for u in range(n_users):
            held = rng.choice(np.arange(1000), int(rng.integers(1, 6)), replace=False)
            y[u] = held
            hits = held[rng.random(len(held)) < q[u]]
            fill = rng.choice(np.arange(1000, 2000), 10 - len(hits), replace=False)
            row = np.concatenate([hits, fill])
            top[u] = rng.permutation(row)
        cert = certify(metric, y, Prediction(top), 10, None, 0.95, seed=s)
        wrong += cert.test_bound > truth
    assert wrong / sims <= 0.05 + 2.5 * np.sqrt(0.05 * 0.95 / sims)


def test_the_bound_is_the_same_from_per_user_values_as_from_hits_per_resample(
    events: pd.DataFrame,
) -> None:
    """Ranking metrics resample fixed per-user values (``Metric.resampled``); the bound of a
    real recommender's test users is the one recomputing every user's hits per resample."""
    data = _dataset(events)
    task = TASKS["recommendation"]
    pipeline = task.baseline(data.train.X, data.train.y, 0)
    pred = task.predict(pipeline, data.test.X, 10)
    y = data.test.y
    assert y is not None and len(y) > 30
    for name in ("ndcg@10", "recall@10", "map@10", "precision@10"):
        metric = get_metric(name)
        assert metric.resampled is not None
        slow = replace(metric, resampled=None)  # the scorer on each resample: hits found again
        fast_cert = certify(metric, y, pred, 10, None, 0.95, seed=5)
        slow_cert = certify(slow, y, pred, 10, None, 0.95, seed=5)
        assert fast_cert.test_bound == pytest.approx(slow_cert.test_bound, rel=0, abs=1e-12)
        assert fast_cert.method == "bootstrap-bca" and fast_cert.test_bound < fast_cert.test_score
        assert bootstrap_interval(metric, y, pred, 10, 0.9, seed=2) == pytest.approx(
            bootstrap_interval(slow, y, pred, 10, 0.9, seed=2), rel=0, abs=1e-12
        )


# ------------------------------------------------------------------------ training


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory, events: pd.DataFrame) -> Path:
    root = tmp_path_factory.mktemp("shop")
    events.to_csv(root / "events.csv", index=False)
    pd.DataFrame({"user": ["u0001", "u0002", "nobody"]}).to_csv(root / "users.csv", index=False)
    return root


@pytest.fixture(scope="module")
def cli_run(work: Path) -> dict:
    proc = run(
        "train", "events.csv", *CLI_OPTIONS, "--metric", "recall@10", "--threshold", "0.4",
        "--budget", "20", "--json", "--out", "rec.skops", "--store", "runs.db", cwd=work,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    out["stderr"] = proc.stderr
    return out


@pytest.mark.slow
def test_cli_train_meets_and_certifies_over_test_users(cli_run: dict) -> None:
    out = cli_run
    assert out["task"] == "recommendation" and out["metric"] == "recall@10"
    assert out["status"] == "met" and out["test_bound"] >= 0.4
    cert = out["certificate"]
    assert cert["n_test"] == out["splits"]["test"] < out["splits"]["train"]
    assert cert["method"].startswith("bootstrap")
    assert out["baseline_score"] is not None and out["test_score"] > out["baseline_score"] + 0.2
    assert "stay in training only" in out["stderr"]


@pytest.mark.slow
def test_python_api_and_every_family_learns_step_by_step(
    events: pd.DataFrame, tmp_path: Path
) -> None:
    result = learnloop.train(
        events, task="recommendation", **OPTIONS, budget=12, store=str(tmp_path / "s.db"),
        out=tmp_path / "m.skops", n_jobs=1,
    )  # fmt: skip
    assert result.task == "recommendation" and result.metric == "ndcg@10"
    assert result.test_score is not None and result.baseline_score is not None
    assert result.test_score > result.baseline_score
    seen = {t.candidate for t in result.trials if t.status in ("complete", "pruned")}
    assert {"ease", "rp3beta", "popularity", "item_knn", "als", "bpr"} <= seen
    for family in ("als", "bpr"):
        curves = [t.curve for t in result.trials if t.candidate == family and t.curve]
        assert max(len(c) for c in curves) > 3  # iterations are the steps the monitor sees
    users = pd.DataFrame({"user": ["u0001", "stranger"]})
    predicted = learnloop.load(tmp_path / "m.skops").predict(users)
    assert list(predicted.columns[:4]) == ["prediction", "user", "known_user", "item_1"]
    assert predicted["known_user"].tolist() == [True, False] and len(predicted) == 2


@pytest.mark.slow
def test_predict_gives_each_user_their_top_items(work: Path, cli_run: dict) -> None:
    proc = run("predict", "rec.skops", "users.csv", "--out", "p.csv", cwd=work)
    assert proc.returncode == 0, proc.stderr
    printed = pd.read_csv(work / "p.csv")
    assert len(printed) == 3  # one row per input row, the user as given and known or not
    assert list(printed.columns[:3]) == ["prediction", "user", "known_user"]
    assert [f"item_{j}" for j in range(1, 11)] == list(printed.columns[3:])
    assert printed["user"].tolist() == ["u0001", "u0002", "nobody"]
    assert printed["known_user"].tolist() == [True, True, False]
    assert printed["prediction"].str.split().str.len().eq(10).all()


@pytest.mark.slow
def test_recommend_for_a_user_similar_items_and_the_audience(
    work: Path, cli_run: dict, events: pd.DataFrame
) -> None:
    proc = run("recommend", "rec.skops", "--user", "u0001", "-k", "5", "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    assert body["known_user"] and len(body["items"]) == 5
    model = learnloop.load(work / "rec.skops")
    train_items = _training_items(model, "u0001")
    assert not set(body["items"]) & train_items  # what they already had is left out
    proc = run("recommend", "rec.skops", "--user", "u0001", "-k", "120", "--include-seen",
               "--json", cwd=work)  # fmt: skip
    assert train_items <= set(json.loads(proc.stdout)["items"])
    proc = run("recommend", "rec.skops", "--user", "nobody", cwd=work)
    assert proc.returncode == 0 and "most popular" in proc.stdout
    item = int(events["item"].iloc[0])
    proc = run("recommend", "rec.skops", "--similar-to", str(item), "--json", cwd=work)
    similar = json.loads(proc.stdout)
    assert proc.returncode == 0 and len(similar["items"]) == 10 and item not in similar["items"]
    proc = run("recommend", "rec.skops", "--audience", str(item), "-k", "7", "--json", cwd=work)
    audience = json.loads(proc.stdout)
    assert proc.returncode == 0 and len(audience["users"]) == 7
    assert all(isinstance(u, str) for u in audience["users"])
    assert not any(item in _training_items(model, u) for u in audience["users"])
    proc = run("recommend", "rec.skops", "--audience", str(item), cwd=work)
    assert proc.returncode == 0 and "most likely to want" in proc.stdout


def _training_items(model: Any, user: str) -> set[int]:
    encoder, rec = model.pipeline.steps[0][1], model.pipeline.steps[-1][1]
    row = int(encoder.user_index([user])[0])
    return {int(v) for v in rec.items_[rec.seen()[row].indices]}


@pytest.mark.slow
def test_runs_compare_pairs_two_runs_on_the_same_test_users(work: Path, cli_run: dict) -> None:
    proc = run(
        "train", "events.csv", *CLI_OPTIONS, "--metric", "recall@10", "--candidates",
        "popularity", "--budget", "5", "--json", "--out", "pop.skops", "--store", "runs.db",
        cwd=work,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    other = json.loads(proc.stdout)
    proc = run("runs", "compare", cli_run["run_id"], other["run_id"], "--json",
               "--store", "runs.db", cwd=work)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    test = json.loads(proc.stdout)["tests"][0]
    assert test["name"] == "wilcoxon" and test["n"] == cli_run["splits"]["test"]
    assert test["p_value"] < 0.01  # a learned ranking against the popular items


# ----------------------------------------------------------------------------- server


@pytest.mark.slow
def test_server_endpoints(work: Path, cli_run: dict, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from learnloop.serving import create_app

    with TestClient(create_app(work / "rec.skops")) as client:
        r = client.post("/recommend", json={"user": "u0001", "k": 4})
        assert r.status_code == 200 and len(r.json()["items"]) == 4
        r = client.post("/recommend", json={"user": "stranger"})
        assert r.status_code == 200 and not r.json()["known_user"] and "note" in r.json()
        r = client.post("/similar", json={"item": 3, "k": 2})
        assert r.status_code == 200 and len(r.json()["items"]) == 2
        r = client.post("/audience", json={"item": 3, "k": 3})
        assert r.status_code == 200 and len(r.json()["users"]) == 3
        r = client.post("/predict", json={"records": [{"user": "u0001"}, {"user": "u0002"}]})
        assert r.status_code == 200 and [len(p) for p in r.json()["predictions"]] == [10, 10]
        for path, body, field in (
            ("/recommend", {"user": "u0001", "extra": 1}, "extra"),
            ("/recommend", {"k": 3}, "user"),
            ("/recommend", {"user": "u0001", "k": 0}, "k"),
            ("/similar", {"item": 3, "k": "many"}, "k"),
            ("/audience", {"item": [3]}, "item"),
        ):
            r = client.post(path, json=body)
            assert r.status_code == 422, (path, body)
            (problem,) = r.json()["detail"]
            assert problem["column"] == field and "\n" not in problem["message"]
        r = client.post("/similar", json={"item": 99999})
        assert r.status_code == 422 and "not in the model" in r.json()["detail"][0]["message"]
    tabular = _tabular_model(tmp_path)
    with TestClient(create_app(tabular)) as client:
        r = client.post("/recommend", json={"user": "u0001"})
        assert r.status_code == 404 and "not a recommender" in r.json()["detail"][0]["message"]


def _tabular_model(tmp_path: Path) -> Path:
    from sklearn.datasets import load_iris

    out = tmp_path / "iris.skops"
    frame = load_iris(as_frame=True).frame
    learnloop.train(frame, "target", budget=3, out=out, store=str(tmp_path / "t.db"))
    return out


# -------------------------------------------------------------------------- bad input


def _cli(args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(cwd)
    return CliRunner().invoke(app, args)


def _bad_tables(events: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, list[str], str]]:
    one_user = events.assign(user="u0001")
    one_item = events.assign(item=7)
    bad_time = events.assign(time=events["time"].where(events.index != 5, "yesterday-ish"))
    return {
        "no user column": (events.drop(columns="user"), CLI_OPTIONS, "user column 'user'"),
        "no item column": (events.drop(columns="item"), CLI_OPTIONS, "item column 'item'"),
        "no time column": (events.drop(columns="time"), CLI_OPTIONS, "time column 'time'"),
        "one user": (one_user, CLI_OPTIONS, "at least two"),
        "one item": (one_item, CLI_OPTIONS, "at least two"),
        "empty": (events.iloc[:0], CLI_OPTIONS, "no rows"),
        "bad time": (bad_time, CLI_OPTIONS, "does not parse"),
        "bad k": (events, [*CLI_OPTIONS, "--metric", "ndcg@0"], "positive whole number"),
        "no --item": (events, ["--task", "recommendation", "--user", "user"], "--item"),
    }


@pytest.mark.slow
def test_bad_input_is_one_sentence_exit_2_and_writes_nothing(
    events: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, (frame, options, needle) in _bad_tables(events).items():
        where = tmp_path / name.replace(" ", "_")
        where.mkdir()
        frame.to_csv(where / "events.csv", index=False)
        args = ["train", "events.csv", *options, "--out", "m.skops", "--store", "s.db"]
        result = _cli(args, where, monkeypatch)
        assert result.exit_code == 2, (name, result.output)
        line = result.stderr.strip()
        assert line.startswith("error: ") and "\n" not in line and needle in line, (name, line)
        assert sorted(p.name for p in where.iterdir()) == ["events.csv"], name
    cancer = tmp_path / "tabular"
    cancer.mkdir()
    from sklearn.datasets import load_breast_cancer

    load_breast_cancer(as_frame=True).frame.to_csv(cancer / "t.csv", index=False)
    result = _cli(["train", "t.csv", "--target", "target", "--metric", "recall@10",
                   "--store", "s.db"], cancer, monkeypatch)  # fmt: skip
    assert result.exit_code == 2 and "does not apply to classification" in result.stderr
    assert sorted(p.name for p in cancer.iterdir()) == ["t.csv"]


@pytest.mark.slow
def test_recommend_refuses_what_it_cannot_answer(
    work: Path, cli_run: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tabular = _tabular_model(tmp_path)
    result = _cli(["recommend", str(tabular), "--user", "1"], work, monkeypatch)
    assert result.exit_code == 2 and "not a recommender" in result.stderr
    result = _cli(["recommend", "rec.skops", "--similar-to", "x7"], work, monkeypatch)
    assert result.exit_code == 2 and "whole numbers" in result.stderr
    result = _cli(["recommend", "rec.skops", "--similar-to", "99999"], work, monkeypatch)
    assert result.exit_code == 2 and "not in the model" in result.stderr
    result = _cli(["recommend", "rec.skops"], work, monkeypatch)
    assert result.exit_code == 2 and "exactly one" in result.stderr
    result = _cli(["recommend", "rec.skops", "--user", "u1", "-k", "0"], work, monkeypatch)
    assert result.exit_code == 2 and "positive" in result.stderr


def test_a_user_of_a_type_the_model_did_not_see_is_refused() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"uid": rng.integers(0, 60, 1500), "sku": rng.integers(0, 40, 1500)})
    data = prepare_dataset(frame, task="recommendation", options={"user": "uid", "item": "sku"})
    task = TASKS["recommendation"]
    pipeline = task.baseline(data.train.X, data.train.y, 0)
    with pytest.raises(UsageError, match="whole numbers; 'abc'"):
        task.recommend(pipeline, data.schema, "abc", 5)
    assert task.recommend(pipeline, data.schema, "7", 5)["user"] == 7
    with pytest.raises(DataError, match="at least two"):
        prepare_dataset(frame.assign(sku=1), task="recommendation", options={"user": "uid",
                        "item": "sku"})  # fmt: skip
    with pytest.raises(UsageError, match="does not take it"):
        prepare_dataset(frame, options={"user": "uid"})  # clustering takes no --user


def test_ids_with_leading_zeros_keep_their_spelling(tmp_path: Path) -> None:
    # 00173 and 0038 were read as 173 and 38: recommend --user 00001 answered user 1
    events = shop_events(n_users=60, n_items=30, events=(5, 12), seed=2)
    events["user"] = events["user"].str[1:].str.zfill(5)  # u0001 -> 00001
    events["item"] = events["item"].map(lambda i: f"{i:04d}")
    path = tmp_path / "zip.csv"
    events.to_csv(path, index=False)
    data = prepare_dataset(path, task="recommendation", options=OPTIONS)
    assert data.schema.options["user_kind"] == data.schema.options["item_kind"] == "text"
    task = TASKS["recommendation"]
    pipeline = task.baseline(data.train.X, data.train.y, 0)
    body = task.recommend(pipeline, data.schema, "00001", 3)
    assert body["user"] == "00001" and body["known_user"]
    assert all(isinstance(i, str) and len(i) == 4 for i in body["items"])
    assert not task.recommend(pipeline, data.schema, "1", 3)["known_user"]
    assert task.similar(pipeline, data.schema, "0003", 2)["item"] == "0003"
    audience = task.audience(pipeline, data.schema, "0003", 2)["users"]
    assert all(len(u) == 5 for u in audience)
    pd.DataFrame({"user": ["00001"]}).to_csv(tmp_path / "users.csv", index=False)
    assert task.read_inputs(tmp_path / "users.csv", data.schema)["user"].tolist() == ["00001"]
    # ids without leading zeros stay whole numbers, as before
    events.assign(item=events["item"].astype(int) + 1).to_csv(path, index=False)
    numeric = prepare_dataset(path, task="recommendation", options=OPTIONS)
    assert numeric.schema.options["item_kind"] == "integer"


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A popularity recommender with whole-number users, trained in a second or two."""
    root = tmp_path_factory.mktemp("small")
    events = shop_events(n_users=60, n_items=30, events=(5, 12), seed=4)
    events["user"] = events["user"].str[1:].astype(int)
    learnloop.train(events, task="recommendation", user="user", item="item", budget=2,
                    candidates=["popularity"], store=str(root / "s.db"),
                    out=root / "m.skops")  # fmt: skip
    return root / "m.skops"


def test_a_body_that_is_not_json_is_400_as_on_predict(small_model: Path) -> None:
    from fastapi.testclient import TestClient

    from learnloop.serving import create_app

    with TestClient(create_app(small_model)) as client:
        for path in ("/recommend", "/similar", "/audience", "/predict"):
            for body in (b"not json", b""):
                r = client.post(path, content=body, headers={"content-type": "application/json"})
                assert r.status_code == 400, (path, body, r.text)
                assert "not valid JSON" in r.json()["detail"][0]["message"]
        r = client.post("/recommend", json=[1])  # JSON, but not an object: still 422
        assert r.status_code == 422 and "JSON object" in r.json()["detail"][0]["message"]


def test_messages_say_what_went_wrong_in_the_datas_words(
    events: pd.DataFrame, small_model: Path
) -> None:
    from types import SimpleNamespace

    from fastapi.testclient import TestClient

    from learnloop.serving import create_app
    from learnloop.tasks.recommendation import recommender_of

    rated = events.assign(rating=np.arange(len(events)) % 5 + 1)
    with pytest.raises(DataError, match=r"--like-threshold 10 left out every rating of 'rating'"):
        _dataset(rated, weight="rating", like_threshold=10)
    odd = events.assign(event=events["event"].where(events.index != 3, "9E"))
    with pytest.raises(UsageError, match="The event kind '9E'.*--event-weights 9E=1"):
        _dataset(odd)
    few = shop_events(n_users=30, n_items=20, events=(3, 4), seed=5)
    with pytest.raises(DataError, match="Only 0 users have at least 5 interactions"):
        _dataset(few)
    image = SimpleNamespace(task_kind=object(), task="image")
    with pytest.raises(UsageError, match="The model is an image model, not a recommender"):
        recommender_of(image)
    with TestClient(create_app(small_model)) as client:
        r = client.post("/recommend", json={"user": 1.5})
        assert r.status_code == 422
        assert "whole number or text" in r.json()["detail"][0]["message"]


def test_predict_names_the_user_and_whether_training_knew_them(small_model: Path) -> None:
    # predict gave only the items: an unknown user could not be told from a known one
    model = learnloop.load(small_model)
    out = model.predict(pd.DataFrame({"user": [1, 99999, 1]}))
    assert list(out.columns[:3]) == ["prediction", "user", "known_user"]
    assert out["user"].tolist() == [1, 99999, 1]  # one row per input row
    assert out["known_user"].tolist() == [True, False, True]
