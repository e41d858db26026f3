"""Model files: round trip, metadata, and refusal of tampered or untrusted files."""

from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio
from sklearn.preprocessing import FunctionTransformer

import learnloop
from learnloop.artifacts import FORMAT, FORMAT_VERSION, load_model
from learnloop.exceptions import UntrustedModelError


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, mixed: pd.DataFrame):
    tmp = tmp_path_factory.mktemp("model")
    path = tmp / "model.skops"
    result = learnloop.train(
        mixed,
        target="churned",
        budget=3,
        out=path,
        store=str(tmp / "s.db"),
        candidates=["lightgbm", "linear"],
    )
    return result, path


def test_round_trip_predicts_the_same(trained, mixed: pd.DataFrame) -> None:
    result, path = trained
    loaded = learnloop.load(path)
    rows = mixed.drop(columns="churned")
    pd.testing.assert_frame_equal(loaded.predict(rows), result.predict(rows))
    meta = loaded.metadata
    assert meta["certificate"]["test_score"] == pytest.approx(result.test_score)
    assert meta["schema"]["target"] == "churned"
    assert meta["data_fingerprint"] and meta["versions"]["scikit-learn"]
    assert meta["task"] == "classification" and meta["metric"] == "accuracy"


def test_tampered_file_is_refused(trained, tmp_path: Path) -> None:
    _, path = trained
    copy = tmp_path / "model.skops"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    (tmp_path / "model.skops.sha256").write_text(Path(str(path) + ".sha256").read_text())
    with pytest.raises(UntrustedModelError, match="checksum"):
        load_model(copy)


def test_untrusted_types_are_refused(tmp_path: Path) -> None:
    import os

    path = tmp_path / "evil.skops"
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "pipeline": FunctionTransformer(func=os.system),
        "metadata": {},
    }
    sio.dump(payload, path)
    with pytest.raises(UntrustedModelError, match="not trusted"):
        load_model(path)


def test_not_a_model_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.skops"
    path.write_text("hello")
    with pytest.raises(UntrustedModelError, match="not a readable learnloop model"):
        load_model(path)
