"""Model files: round trip, metadata, and refusal of tampered or untrusted files."""

from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio
from sklearn.preprocessing import FunctionTransformer

import learnloop
from learnloop.exceptions import UntrustedModelError
from learnloop.store.model_files import FORMAT, FORMAT_VERSION, load_model


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


# ------------------------------------------------------------------ the trusted-type list
# A model of every family and task (and the trivial models, ensembles and the faces
# wrapper), fitted for a step or two on small real tables and saved as training saves it.
# Every type each file asks for must be on the exact list: a family that needs a new type
# fails here, loudly, instead of saving models that no one can load.


class _TwoSteps:
    """A monitor that lets a family train two steps: enough to have all its parts."""

    def __init__(self) -> None:
        self.steps: list[int] = []

    def wants(self, step: int) -> bool:
        return True

    def __call__(self, step: int, prediction: object) -> bool:
        self.steps.append(step)
        return len(self.steps) < 2

    @property
    def best_step(self) -> int:
        return self.steps[-1] if self.steps else 0

    def seconds_left(self) -> float:
        return 60.0


def _zoo_tables(mixed: pd.DataFrame):  # noqa: ANN202
    """(task, prepared dataset) over tables that exercise every kind of column."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer, load_iris, load_wine

    import picture_data
    from learnloop.runs.dataset import prepare_dataset
    from shop_events import shop_events

    rng = np.random.default_rng(1)
    wide = mixed.assign(
        flag=rng.random(len(mixed)) < 0.5,
        city=rng.choice([f"c{i}" for i in range(60)], len(mixed)),  # rare ones pooled
        spend=rng.normal(50, 10, len(mixed)),
        note=[  # free text: skrub's StringEncoder in every family's features
            f"asked about the {plan} plan twice, order {i} came {i % 9} days late"
            for i, plan in enumerate(mixed["plan"])
        ],
    )
    yield prepare_dataset(wide.drop(columns="spend"), target="churned")
    yield prepare_dataset(wide.drop(columns="churned"), target="spend")
    yield prepare_dataset(load_breast_cancer(as_frame=True).frame, target="target")  # 0/1
    iris = load_iris(as_frame=True).frame  # few columns: k-NN builds a k-d tree
    yield prepare_dataset(iris, target="target")
    yield prepare_dataset(iris.drop(columns="target"), target="sepal length (cm)")
    wine = load_wine(as_frame=True).frame.drop(columns="target")
    yield prepare_dataset(wine, task="clustering")
    wine = wine.assign(kind=np.where(wine["alcohol"] > 13, "strong", None))
    yield prepare_dataset(wine, task="clustering")
    options = {"user": "user", "item": "item", "event": "event", "time": "time"}
    events = shop_events(n_users=120, n_items=50)
    yield prepare_dataset(events, task="recommendation", options=options)
    events = events.assign(item="sku-" + events["item"].astype(str))
    yield prepare_dataset(events, task="recommendation", options=options)
    for kind in ("image", "faces"):
        frame, opts = picture_data.example_frame(kind)
        yield prepare_dataset(frame, target=opts["target"], task=kind)


def _zoo_pipelines(data):  # noqa: ANN001, ANN202
    """(name, pipeline to save) for the trivial model, every family and an ensemble."""
    from sklearn.pipeline import Pipeline

    from learnloop.data.features import categorical_indices
    from learnloop.estimators import EnsembleClassifier, EnsembleRegressor, PassThrough
    from learnloop.families import CANDIDATES, FitContext

    task, train, val = data.task, data.train, data.validation
    yield "baseline", task.baseline(train.X, train.y, 0)
    members = []
    for name, cand in CANDIDATES.items():
        if not cand.serves(task):
            continue
        pre = task.preprocessor(cand.preprocessing, train.X)
        X, X_val = pre.fit_transform(train.X), pre.transform(val.X)
        ctx = FitContext(
            task.output,
            data.n_outputs,
            0,
            1,
            categorical_indices(cand.preprocessing, train.X),
            _TwoSteps(),
            predict=lambda est, rows: task.predict(est, rows, data.n_outputs),
        )
        estimator = cand.fit(cand.portfolio(task.output, len(X))[0], X, train.y, X_val, ctx)
        pipeline = Pipeline([("features", pre), ("model", estimator)])
        members.append(pipeline)
        yield name, task.finish_model(pipeline, train, val)[0]
    if task.name in ("classification", "regression"):
        ensemble = (
            EnsembleClassifier(members[:3], [0.5, 0.3, 0.2], data.n_outputs)
            if task.name == "classification"
            else EnsembleRegressor(members[:3], [0.5, 0.3, 0.2])
        )
        yield "ensemble", Pipeline([("features", PassThrough()), ("model", ensemble.fit())])


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory, mixed: pd.DataFrame) -> dict[str, Path]:
    from learnloop.store.model_files import save_model

    folder = tmp_path_factory.mktemp("zoo")
    files: dict[str, Path] = {}
    for i, data in enumerate(_zoo_tables(mixed)):
        metadata = {
            "schema": data.schema.to_dict(),
            "task": data.task.name,
            "certificate": {"test_score": 0.91, "met": True, "n_test": 120, "bound": None},
            "params": {"n_estimators": 100, "learning_rate": 0.05, "criterion": "gini"},
        }
        for name, pipeline in _zoo_pipelines(data):
            label = f"{i}-{data.task.name}-{name}"
            files[label] = save_model(folder / f"{label}.skops", pipeline, metadata)
    return files


def _pairs(path: Path) -> set[tuple[str, str]]:
    import json
    import zipfile

    from learnloop.store.trusted_types import _nodes

    with zipfile.ZipFile(path) as archive:
        schema = json.loads(archive.read("schema.json"))
    return {(n["__loader__"], f"{n['__module__']}.{n['__class__']}") for n in _nodes(schema)}


def test_every_family_saves_only_trusted_types(zoo: dict[str, Path]) -> None:
    from learnloop.families import CANDIDATES
    from learnloop.store.trusted_types import TRUSTED_TYPES, trusted_names
    from learnloop.tasks import TASKS

    saved = {label.split("-", 2)[2] for label in zoo}
    assert set(CANDIDATES) | {"baseline", "ensemble"} <= saved  # no family left out
    assert {label.split("-")[1] for label in zoo} == set(TASKS)
    allowed = set(trusted_names())
    for label, path in zoo.items():
        missing = {p for p in _pairs(path) if p[1] not in TRUSTED_TYPES.get(p[0], set())}
        assert not missing, f"{label} saves types that are not on the trusted list: {missing}"
        beyond_skops = set(sio.get_untrusted_types(file=path))
        assert beyond_skops <= allowed, f"{label}: skops asks to trust {beyond_skops - allowed}"
        learnloop.load(path)  # and it loads


def test_the_trusted_list_holds_nothing_the_families_do_not_save(zoo: dict[str, Path]) -> None:
    """Exact both ways: a type no family saves any more is taken off the list."""
    from learnloop.store.trusted_types import _NUMPY_SCALARS, TRUSTED_TYPES

    used = set().union(*(_pairs(path) for path in zoo.values()))
    listed = {(loader, name) for loader, names in TRUSTED_TYPES.items() for name in names}
    # learnloop.estimators.<Class>: where files saved before the package split name a class
    # (tests/test_model_compat.py loads one); no family saves those names any more
    legacy = {
        p for p in listed if p[1].startswith("learnloop.estimators.") and p[1].count(".") == 2
    }
    # k-means turns mini-batch on tables over 20k rows, too big for the zoo: its round trip
    # is tests/test_clustering_parts.py::test_models_round_trip_through_the_trusted_loader
    big = {p for p in listed if p[1] == "sklearn.cluster._kmeans.MiniBatchKMeans"}
    unused = {p for p in listed - used - legacy - big if p[1] not in _NUMPY_SCALARS}
    assert not unused, f"on the trusted list but saved by no family: {sorted(unused)}"


# ------------------------------------------------------------------------ saving
def test_the_seal_is_an_extra_entry_skops_ignores(trained) -> None:
    import json
    import zipfile

    from learnloop.store.model_archive import SEAL_NAME
    from learnloop.store.trusted_types import trusted_names

    _, path = trained
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist()[-1] == SEAL_NAME
        seal = json.loads(archive.read(SEAL_NAME))
    assert len(seal["sha256"]) == 64 and "hmac_sha256" not in seal  # no key: unsigned
    payload = sio.load(path, trusted=trusted_names())
    assert payload["format"] == FORMAT and payload["format_version"] == FORMAT_VERSION == 2


def test_a_model_holding_an_unlisted_type_is_saved_with_a_warning(trained, tmp_path: Path) -> None:
    """The run's work is never thrown away: the file is written, and the warning says
    loading will refuse it (a learnloop bug)."""
    import numpy as np

    from learnloop.exceptions import ModelFileWarning
    from learnloop.store.model_files import save_model

    result, _ = trained
    out = tmp_path / "odd.skops"
    with pytest.warns(ModelFileWarning, match="learnloop bug"):
        save_model(out, FunctionTransformer(func=np.log1p), result.model.metadata)
    assert out.exists()
    with pytest.raises(UntrustedModelError, match="numpy.log1p"):
        load_model(out)


def test_bad_output_paths_and_keys_fail_before_training(
    mixed: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from learnloop.exceptions import UsageError

    store = tmp_path / "s.db"
    for out, message in (
        (tmp_path, "is a directory"),
        (tmp_path / "nope" / "m.skops", "does not exist"),
        (Path("/dev/null"), "not a regular file"),
    ):
        with pytest.raises(UsageError, match=message):
            learnloop.train(mixed, target="churned", out=out, store=str(store))
    monkeypatch.setenv("LEARNLOOP_MODEL_KEY", "too-short")
    with pytest.raises(UsageError, match="LEARNLOOP_MODEL_KEY is too short"):
        learnloop.train(mixed, target="churned", out=tmp_path / "m.skops", store=str(store))
    assert not store.exists()  # nothing began


def test_a_bad_size_limit_fails_before_training(
    mixed: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from learnloop.exceptions import UsageError

    monkeypatch.setenv("LEARNLOOP_MODEL_MAX_MB", "lots")
    with pytest.raises(UsageError, match="LEARNLOOP_MODEL_MAX_MB must be a number"):
        learnloop.train(
            mixed, target="churned", out=tmp_path / "m.skops", store=str(tmp_path / "s.db")
        )
    assert not (tmp_path / "s.db").exists()
