"""learnloop from Python as a data scientist uses it: the scikit-learn estimators (scikit-learn's
own checks, Pipeline, cross_val_score, clone), in-memory tables of every kind given to
``learnloop.train`` and ``predict``, and the result as a notebook shows it.

Real data: scikit-learn's iris (150 flowers, 3 species) and diabetes (442 patients) sets.
Budgets are a second or two: the checks fit each estimator dozens of times."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_iris
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import learnloop
from learnloop.exceptions import UsageError
from learnloop.sklearn import Classifier, Clusterer, Regressor
from learnloop.store import open_store

pytestmark = pytest.mark.slow

CHECK_BUDGET = 1.0  # seconds per fit in scikit-learn's checks (about 150 fits in all)
# Each check learnloop does not pass, and why.
SKIPPED = {
    "check_dtype_object": (
        "text columns are learned as categories; a cell holding a dict fails with pandas' "
        "'unhashable type' TypeError, not the numpy wording the check looks for"
    ),
}


def _expected_failed_checks(estimator: object) -> dict[str, str]:
    return SKIPPED


@parametrize_with_checks(
    [
        Classifier(budget=CHECK_BUDGET),
        Regressor(budget=CHECK_BUDGET),
        Clusterer(budget=CHECK_BUDGET),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_scikit_learn_checks(estimator: object, check: object) -> None:
    check(estimator)  # type: ignore[operator]


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y.map(dict(enumerate(load_iris().target_names)))


def test_classifier_in_a_pipeline_and_cross_validation(iris: tuple) -> None:
    """Inside a Pipeline, cross_val_score fits it per fold and scores held-out folds well
    past the majority class's 1/3."""
    X, y = iris
    pipeline = make_pipeline(StandardScaler(), Classifier(budget=2, threshold=0.8))
    scores = cross_val_score(pipeline, X, y, cv=3)
    assert len(scores) == 3 and scores.min() > 0.8


def test_fitted_classifier_carries_its_run(iris: tuple, tmp_path: Path) -> None:
    """classes_, names, probabilities, the certificate and the run recorded in the store."""
    X, y = iris
    store = str(tmp_path / "runs.db")
    model = Classifier(budget=2, threshold=0.8, seed=3, store=store).fit(X, y)
    assert list(model.classes_) == sorted(y.unique())
    assert list(model.feature_names_in_) == list(X.columns) and model.n_features_in_ == 4
    proba = model.predict_proba(X)
    assert proba.shape == (150, 3) and np.allclose(proba.sum(axis=1), 1.0)
    predicted = model.predict(X)
    assert set(predicted) <= set(model.classes_)
    assert (model.classes_[proba.argmax(axis=1)] == predicted).all()
    cert = model.certificate_
    assert cert.metric == "accuracy" and cert.threshold == 0.8
    assert cert.test_bound < cert.test_score and cert.met == (cert.test_bound >= 0.8)
    run = open_store(store).get_run(model.run_id_)
    assert run["status"] == model.result_.status
    assert model.result_.certificate == cert


def test_clone_and_set_params_keep_settings_apart(iris: tuple) -> None:
    """clone copies the settings, not the fit; a bad setting fails at fit, naming it."""
    X, y = iris
    model = Classifier(budget=2, metric="balanced_accuracy").fit(X, y)
    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "model_")
    copy.set_params(budget=-1)
    with pytest.raises(UsageError, match="budget must be a positive number"):
        copy.fit(X, y)
    assert model.certificate_.metric == "balanced_accuracy"


def test_regressor_and_clusterer_on_numpy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Arrays in, arrays out; nothing written to the working folder without store=."""
    monkeypatch.chdir(tmp_path)
    X, y = load_diabetes(return_X_y=True)
    regressor = Regressor(budget=2).fit(X, y)
    assert not hasattr(regressor, "feature_names_in_") and regressor.n_features_in_ == 10
    assert regressor.predict(X[:5]).dtype == np.float64
    # R² on rows mostly seen in training: past the mean's 0, as the certificate is on test
    assert regressor.score(X, y) > 0.3 and regressor.certificate_.metric == "r2"
    iris_X = load_iris().data
    clusterer = Clusterer(budget=2).fit(iris_X)
    assert len(clusterer.labels_) == 150 and len(set(clusterer.labels_)) >= 2
    assert (clusterer.predict(iris_X) == clusterer.labels_).all()
    assert list(tmp_path.iterdir()) == []


def test_missing_values_are_learned_from(iris: tuple) -> None:
    """The estimators say they allow NaN (so scikit-learn skips its NaN-refusal check):
    rows with gaps are fitted and predicted."""
    X, y = iris
    gappy = X.copy()
    gappy.iloc[::7, 1] = np.nan
    model = Classifier(budget=2).fit(gappy.to_numpy(), y)
    assert set(model.predict(gappy.to_numpy())) <= set(model.classes_)


# ------------------------------------------------------------------ inputs to learnloop.train


@pytest.fixture(scope="module")
def iris_frame(iris: tuple) -> pd.DataFrame:
    X, y = iris
    return X.assign(species=y)


def test_train_reads_pyarrow_and_numpy(iris_frame: pd.DataFrame, tmp_path: Path) -> None:
    """A pyarrow Table trains as its DataFrame does (same split, same certificate); a
    numpy array trains with columns x0.. and predicts on arrays and Tables alike."""
    store = str(tmp_path / "s.db")
    kw = {"budget": 2, "out": None, "store": store, "threshold": 0.8, "seed": 1}
    from_frame = learnloop.train(iris_frame, "species", candidates=["linear"], **kw)
    from_arrow = learnloop.train(
        pa.Table.from_pandas(iris_frame), "species", candidates=["linear"], **kw
    )
    assert from_arrow.splits == from_frame.splits
    assert from_arrow.certificate.n_test == from_frame.certificate.n_test
    numbers = iris_frame.drop(columns="species").to_numpy()
    codes = iris_frame["species"].astype("category").cat.codes.to_numpy()
    from_array = learnloop.train(np.column_stack([numbers, codes]), "x4", **kw)
    assert from_array.model.schema.feature_names == ["x0", "x1", "x2", "x3"]
    by_array = from_array.predict(numbers)
    named = pd.DataFrame(numbers, columns=["x0", "x1", "x2", "x3"])
    by_table = from_array.predict(pa.Table.from_pandas(named))
    assert by_array["prediction"].tolist() == by_table["prediction"].tolist()
    runs = open_store(store)
    assert runs.get_run(from_arrow.run_id)["data"] == "<pyarrow.Table>"
    assert runs.get_run(from_array.run_id)["data"] == "<numpy.ndarray>"


def test_polars_is_read_where_installed(iris_frame: pd.DataFrame, tmp_path: Path) -> None:
    polars = pytest.importorskip("polars")
    result = learnloop.train(
        polars.from_pandas(iris_frame), "species", budget=2, out=None, store=str(tmp_path / "s")
    )
    features = polars.from_pandas(iris_frame.drop(columns="species"))
    assert len(result.predict(features)) == 150
    model = Classifier(budget=1).fit(features, polars.Series(iris_frame["species"].tolist()))
    assert list(model.feature_names_in_) == features.columns
    assert (model.predict(features) == result.predict(features)["prediction"]).mean() > 0.8


@pytest.mark.parametrize(
    ("value", "named"),
    [([[1, 2], [3, 4]], "builtins.list"), (pd.Series([1.0, 2.0]), "pandas.Series")],
)
def test_other_values_are_refused_by_type(value: object, named: str, tmp_path: Path) -> None:
    """Anything but a path or a table: a TypeError naming the type, and no run created."""
    store = tmp_path / "s.db"
    with pytest.raises(TypeError, match=re.escape(named)):
        learnloop.train(value, "a", out=None, store=str(store))
    assert not store.exists()


def test_a_one_dimensional_array_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"must be 2-D .* got shape \(3,\)"):
        learnloop.train(np.arange(3), "x0", out=None, store=str(tmp_path / "s.db"))


# ------------------------------------------------------------------ the result in a notebook


@pytest.fixture(scope="module")
def result(iris_frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> object:
    store = str(tmp_path_factory.mktemp("nb") / "s.db")
    return learnloop.train(iris_frame, "species", budget=3, threshold=0.99, out=None, store=store)


def test_leaderboard_is_every_trial_best_first(result: learnloop.Result) -> None:
    board = result.leaderboard()
    assert len(board) == len(result.trials) and len(result.trials) > 1
    scored = board["score"].dropna().tolist()
    assert scored == sorted(scored, reverse=True)  # accuracy: higher is better
    assert scored[0] == max(t.score for t in result.trials if t.score is not None)
    assert result.leaderboard(top=2).equals(board.head(2))


def test_repr_is_one_short_line(result: learnloop.Result) -> None:
    text = repr(result)
    assert "\n" not in text and len(text) < 200
    assert result.run_id in text and result.status in text


def test_html_shows_verdict_certificate_and_top_trials(result: learnloop.Result) -> None:
    page = result._repr_html_()
    text = html.unescape(page)
    word = "Met:" if result.met else "Not met:"
    assert word in text and f"at least {result.threshold:g}" in text
    cert = result.certificate
    assert f"{cert.test_bound:.4g}" in text and f"{cert.test_score:.4g}" in text
    assert f"<td style='text-align:left'>{cert.n_test}</td>" in page
    board = result.leaderboard(top=10)
    rows = re.findall(r"<tr>\s*<td>(\d+)</td>\s*<td>([^<]+)</td>", page)
    assert [(int(n), c) for n, c in rows] == list(
        zip(board["trial"].tolist(), board["candidate"].tolist(), strict=True)
    )
    assert f"top {len(board)} of {len(result.trials)} trials" in text


def test_report_html_is_the_whole_page_in_a_sandboxed_frame(
    result: learnloop.Result, iris_frame: pd.DataFrame
) -> None:
    shown = result.report(data=iris_frame)
    frame = shown._repr_html_()
    assert frame.startswith("<iframe") and "allow-scripts" not in frame
    page = html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))
    assert page == shown.html  # the attribute holds the page, escaped once
    assert "<style>" in page and f"run {result.run_id}" in page
    # the model in memory and the data given: the model's own sections are drawn
    assert "Not shown: no model file" not in page and "No data to rebuild" not in page
    assert "<svg" in page
