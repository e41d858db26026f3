"""The scheduler: stops at the threshold, runs to the budget without one, is reproducible."""

import numpy as np
import pandas as pd
import pytest

import learnloop
from learnloop.core import levers
from learnloop.search.schedule import MIN_RUNG_ROWS, rung_sizes
from store_backends import learnloop as cli


def test_easy_threshold_stops_early_and_is_certified(cancer: pd.DataFrame, store_url: str) -> None:
    # the fixed portfolio order starts with boosting, whose fit stops mid-way at the target
    # (the learned order may start with a one-step family, which ends "converged")
    with levers.ablated("portfolio"):
        result = learnloop.train(
            cancer, target="target", threshold=0.85, budget=60, out=None, store=store_url
        )
    assert result.status == "met"
    assert result.certificate is not None and result.certificate.met
    assert result.test_bound >= 0.85
    assert result.elapsed_s < 30  # stopped at the threshold, far before the budget
    assert result.trials[-1].stop_reason == "target"
    assert result.time_to_threshold_s is not None and result.time_to_threshold_s <= result.elapsed_s
    assert result.baseline_score < result.test_score


def test_unreachable_threshold_runs_to_the_budget(diabetes: pd.DataFrame, store_url: str) -> None:
    result = learnloop.train(
        diabetes, target="target", metric="r2", threshold=0.99, budget=6, out=None, store=store_url
    )
    assert result.status == "not_met"
    # searched on (no trial stopped at a target), ending early enough to finish in the budget
    assert result.elapsed_s >= 4
    assert all(t.stop_reason != "target" for t in result.trials)
    assert result.test_score is not None and result.test_score < 0.99
    assert len(result.trials) >= 2


def test_no_threshold_returns_the_best_of_the_budget(iris: pd.DataFrame, store_url: str) -> None:
    result = learnloop.train(iris, target="target", budget=4, out=None, store=store_url)
    assert result.status == "met" and result.threshold is None
    best = max(t.score for t in result.trials if t.score is not None)
    assert result.validation_score == best or result.best_candidate == "ensemble"
    assert set(result.predict(iris.drop(columns="target"))["prediction"]) <= set(iris["target"])


def test_same_seed_same_result(diabetes: pd.DataFrame, tmp_path) -> None:
    """No threshold and fast families: the budget reaches trials TPE samples (past the
    portfolio and the sampler's 5 random start-up trials), and r2 is bounded by bootstrap."""
    runs = [
        learnloop.train(
            diabetes,
            target="target",
            metric="r2",
            budget=8,
            out=None,
            store=str(tmp_path / f"s{i}.db"),
            seed=7,
            candidates=["linear", "knn"],
            n_jobs=1,
        )
        for i in range(2)
    ]
    # budget-bound runs may differ in how many trials they finish: compare the common prefix
    # (without the last trial of each, which the budget may have cut short)
    a, b = ([(t.candidate, t.params, t.score) for t in r.trials[:-1]] for r in runs)
    common = min(len(a), len(b))
    assert common >= 12, common  # portfolio + 5 start-up trials + several TPE-sampled ones
    assert a[:common] == b[:common]
    first, second = runs
    if first.best_params == second.best_params and first.best_candidate == second.best_candidate:
        assert first.test_score == second.test_score
        assert first.test_bound == second.test_bound  # the bootstrap is seeded too
    assert first.certificate is not None and first.certificate.method == "bootstrap-bca"
    # and the seed matters: another seed samples other configurations
    other = learnloop.train(
        diabetes,
        target="target",
        metric="r2",
        budget=4,
        out=None,
        store=str(tmp_path / "other.db"),
        seed=8,
        candidates=["linear", "knn"],
        n_jobs=1,
    )
    c = [(t.candidate, t.params) for t in other.trials[:-1]]
    assert c != [(x, y) for x, y, _ in a[: len(c)]]


def test_regression_threshold_reads_as_at_most(diabetes: pd.DataFrame, store_url: str) -> None:
    result = learnloop.train(
        diabetes,
        target="target",
        metric="rmse",
        threshold=80.0,
        budget=30,
        out=None,
        store=store_url,
    )
    assert result.status == "met"
    assert result.test_bound <= 80.0 and result.test_score <= result.test_bound


def test_each_candidate_family_trains(mixed: pd.DataFrame, store_url: str) -> None:
    from learnloop.families import families_for
    from learnloop.tasks import get_task

    for name in [c.name for c in families_for(get_task("classification"))]:
        result = learnloop.train(
            mixed, target="churned", budget=3, out=None, store=store_url, candidates=[name]
        )
        complete = [t for t in result.trials if t.status == "complete"]
        assert complete, name
        assert all(t.candidate == name for t in result.trials)
        assert complete[0].curve, name  # the monitor saw its learning curve
        assert result.test_score >= result.baseline_score + 0.08, (name, result.test_score)


def test_rungs_grow_to_the_full_table() -> None:
    assert rung_sizes(5000) == [5000]
    sizes = rung_sizes(300_000)
    assert sizes[0] == MIN_RUNG_ROWS and sizes[-1] == 300_000
    assert all(b > a for a, b in zip(sizes, sizes[1:], strict=False))


def test_large_table_starts_on_a_subsample(store_url: str) -> None:
    import numpy as np
    import optuna

    rng = np.random.default_rng(0)
    n = 60_000
    X = rng.normal(size=(n, 5))
    y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(0, 0.5, n) > 0).astype(int)
    frame = pd.DataFrame(X, columns=list("abcde")).assign(y=y)
    # no linear model reaches 0.99 here: the sample's best is promoted to the full table
    result = learnloop.train(
        frame,
        target="y",
        threshold=0.99,
        budget=12,
        out=None,
        store=store_url,
        candidates=["linear"],
    )
    n_train = result.splits["train"]
    assert rung_sizes(n_train) == [MIN_RUNG_ROWS, n_train]
    first = result.trials[0]
    assert first.n_rows == MIN_RUNG_ROWS and first.rung == 0
    promoted = [t for t in result.trials if t.rung == 1]
    assert promoted, [(t.rung, t.n_rows, t.status) for t in result.trials]
    study = optuna.load_study(study_name=result.run_id, storage=f"sqlite:///{store_url}")
    attrs = {t.number: t.user_attrs for t in study.trials}
    for t in promoted:
        assert t.n_rows == n_train > MIN_RUNG_ROWS
        source = attrs[t.number]["promoted_from"]
        origin = next(o for o in result.trials if o.number == source)
        assert origin.rung == 0 and origin.params == t.params and source < t.number
    # the best of rung 0 moved up first
    done = [t for t in result.trials if t.rung == 0 and t.number < promoted[0].number]
    best = min((t for t in done if t.score is not None), key=lambda t: -t.score)
    assert attrs[promoted[0].number]["promoted_from"] == best.number


@pytest.mark.parametrize("budget", [0, -1, float("nan")])
def test_bad_budget(cancer: pd.DataFrame, budget: float, store_url: str) -> None:
    with pytest.raises(learnloop.exceptions.UsageError, match="budget"):
        learnloop.train(cancer, target="target", budget=budget, store=store_url)


def test_median_stopping_prunes_trials_behind_their_peers(
    diabetes: pd.DataFrame, store_url: str
) -> None:
    result = learnloop.train(
        diabetes, target="target", budget=8, out=None, store=store_url, candidates=["lightgbm"]
    )
    pruned = [t for t in result.trials if t.status == "pruned"]
    assert pruned, [t.stop_reason for t in result.trials]
    for t in pruned:
        assert t.stop_reason == "behind"
        # its peers: same family and sample, finished (complete or pruned) before it started
        peers = [
            p.curve
            for p in result.trials
            if p.number < t.number
            and p.candidate == t.candidate
            and p.n_rows == t.n_rows
            and p.status in ("complete", "pruned")
            and p.curve
        ]
        assert len(peers) >= 4  # only once enough peers had finished
        step = t.steps
        at_step = [max(score for s, score, _ in c if s <= step) for c in peers if c[0][0] <= step]
        assert len(at_step) >= 4
        median = float(np.median(at_step))
        best = max(score for s, score, _ in t.curve if s <= step)
        assert best == t.score
        assert median > best, (median, best)  # it was behind its peers' median at that step
    import optuna

    study = optuna.load_study(study_name=result.run_id, storage=f"sqlite:///{store_url}")
    states = {t.number: t.state.name for t in study.trials}
    assert all(states[t.number] == "PRUNED" for t in pruned)


def test_a_threshold_no_look_could_certify_exits_3(tmp_path) -> None:
    """iris has 30 test rows: a perfect score certifies at most about 0.89 < 0.99."""
    import json

    from sklearn.datasets import load_iris

    data = tmp_path / "iris.csv"
    load_iris(as_frame=True).frame.to_csv(data, index=False)
    proc = cli(
        "train",
        str(data),
        "--target",
        "target",
        "--threshold",
        "0.99",
        "--budget",
        "3",
        "--candidates",
        "linear",
        "--store",
        str(tmp_path / "s.db"),
        "--out",
        str(tmp_path / "m.skops"),
        "--json",
    )
    assert proc.returncode == 3, proc.stderr
    assert "With 30 test rows even a perfect score certifies accuracy of at most" in proc.stderr
    assert "cannot end 'met'" in proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "not_met"
    cert = result["certificate"]
    # no look was spent while searching: the one look is the final model's; known from the
    # sizes before any look, it is the only one and spends all of alpha (a 95% bound)
    assert cert["look"] == 1 and cert["met"] is False
    assert cert["alpha_used"] == pytest.approx(0.05)
    assert result["aim"] is None  # the loop never aimed


def test_a_run_whose_every_trial_failed_is_not_met_and_says_why(
    iris: pd.DataFrame, tmp_path, monkeypatch
) -> None:
    """Without a threshold a run is 'met' by its best model — but not by the trivial one
    left when every trial failed: it ends not met (exit 3) and names the failure."""
    from learnloop.families import CANDIDATES

    def broken(*args, **kwargs):
        raise ValueError("Input X contains infinity")

    monkeypatch.setattr(CANDIDATES["linear"], "fit", broken)
    said: list[str] = []

    class Messages:
        def on_start(self, info) -> None: ...
        def on_trial(self, record, loop) -> None: ...
        def on_look(self, cert) -> None: ...
        def on_message(self, text: str) -> None:
            said.append(text)

    result = learnloop.train(iris, "target", budget=3, candidates=["linear"], out=None,
                             store=str(tmp_path / "s.db"), reporter=Messages())  # fmt: skip
    assert result.best_candidate == "baseline" and result.status == "not_met"
    assert result.trials and all(t.status == "failed" for t in result.trials)
    assert any("trials failed (the first with ValueError: Input X contains infinity)" in s
               for s in said)  # fmt: skip


def test_the_network_on_a_tiny_table_warns_nothing_about_its_batches(tmp_path) -> None:
    """32 rows: the batch size is clipped to the rows by learnloop, not by scikit-learn with a
    warning on every epoch (a tester's 6-s run printed 1,399 of them)."""
    import warnings

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=32), "b": rng.normal(size=32)})
    frame["y"] = 2 * frame["a"] + rng.normal(scale=0.1, size=32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = learnloop.train(frame, "y", budget=2, candidates=["mlp"], out=None,
                                 store=str(tmp_path / "s.db"))  # fmt: skip
    assert any(t.status == "complete" for t in result.trials)
    assert not [w for w in caught if "batch_size" in str(w.message)]
