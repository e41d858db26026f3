"""The protocols `learnloop serve` speaks besides its own (issue 24), each against a real
server process and a real client: MLflow's /invocations compared with MLflow's own scoring
server on the same model, the Open Inference Protocol through tritonclient, /metrics read
by prometheus_client's parser, and SIGTERM with requests in flight."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import learnloop
from serve_fixtures import Models, Server, running_server, start_server, stop_server, train_models

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    return train_models(tmp_path_factory.mktemp("protocol-models"), only=("mixed", "regressor"))


@pytest.fixture(scope="module")
def mixed_server(models: Models, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Numeric (with gaps), categorical and date columns and an unused id column; yes/no."""
    log = tmp_path_factory.mktemp("protocol-logs") / "mixed.log"
    yield from running_server(log, models.mixed, "--max-rows", "50")


@pytest.fixture(scope="module")
def regressor_server(models: Models, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("protocol-logs") / "regressor.log"
    yield from running_server(log, models.regressor)


def features(models: Models, n: int = 12) -> pd.DataFrame:
    """Rows of the mixed model's feature columns, one with a missing age."""
    frame = models.mixed_frame.drop(columns="customer_id").iloc[:n].reset_index(drop=True)
    frame.loc[1, "age"] = np.nan
    return frame


def as_json(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records"))


def expected_records(model: Path, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """What MLflow's server answers for the model logged as a pyfunc: predict's rows."""
    return learnloop.load(model).predict(frame).to_dict(orient="records")


def assert_same_records(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert set(g) == set(e)
        for key, value in e.items():
            if isinstance(value, float):
                assert g[key] == pytest.approx(value, rel=1e-9), key
            else:
                assert g[key] == value, key


def mlflow_payloads(frame: pd.DataFrame) -> dict[str, Any]:
    rows = as_json(frame)
    split = json.loads(frame.to_json(orient="split", index=False))
    columns = {c: [r[c] for r in rows] for c in frame.columns}
    return {
        "dataframe_split": {"dataframe_split": split},
        "dataframe_records": {"dataframe_records": rows},
        "instances": {"instances": rows},
        "inputs": {"inputs": columns},
    }


# --------------------------------------------------------------------------- MLflow


def test_invocations_answer_every_mlflow_format(mixed_server: Server, models: Models) -> None:
    frame = features(models)
    expected = expected_records(models.mixed, frame)
    assert "proba_yes" in expected[0] and "prediction" in expected[0]
    with mixed_server.client() as c:
        for name, payload in mlflow_payloads(frame).items():
            response = c.post("/invocations", json=payload)
            assert response.status_code == 200, (name, response.text)
            assert list(response.json()) == ["predictions"]
            assert_same_records(response.json()["predictions"], expected)
        with_params = {**mlflow_payloads(frame)["dataframe_split"], "params": {}}
        assert c.post("/invocations", json=with_params).status_code == 200
        csv = frame.to_csv(index=False).encode()
        response = c.post("/invocations", content=csv, headers={"content-type": "text/csv"})
        assert response.status_code == 200, response.text
        assert_same_records(response.json()["predictions"], expected)
        assert c.get("/ping").status_code == 200


def test_invocations_refuse_as_predict_does(mixed_server: Server, models: Models) -> None:
    rows = as_json(features(models, 3))
    rows[2]["age"] = "old"
    with mixed_server.client() as c:
        response = c.post("/invocations", json={"dataframe_records": rows})
        assert response.status_code == 422
        body = response.json()
        assert body["error_code"] == "INVALID_PARAMETER_VALUE" and "age" in body["message"]
        assert {"row": 2, "column": "age"}.items() <= body["detail"][0].items()
        # the same row, the same column, the same words as /predict
        same = c.post("/predict", json={"records": rows}).json()["detail"]
        assert body["detail"] == same
        for bad, status in (
            ({"instances": rows, "inputs": rows}, 422),
            ({"rows": rows}, 422),
            ({"inputs": {"age": [1.0], "color": ["red", "blue"]}}, 422),
            ({"dataframe_records": as_json(features(models, 60))}, 413),
        ):
            response = c.post("/invocations", json=bad)
            assert response.status_code == status, (bad, response.text)
            assert response.json()["message"]
        response = c.post(
            "/invocations", content=b"{", headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        response = c.post("/invocations", content=b"age", headers={"content-type": "text/plain"})
        assert response.status_code == 415


def mlflow_scoring_app(model_path: Path, folder: Path) -> Any:
    """MLflow's own scoring server (in process) of the model exported as a pyfunc."""
    pytest.importorskip("mlflow.pyfunc")
    from fastapi.testclient import TestClient
    from mlflow.models import infer_signature
    from mlflow.pyfunc import load_model, save_model
    from mlflow.pyfunc.scoring_server import init

    from learnloop.store import mlflow_model

    model = learnloop.load(model_path)
    example = mlflow_model.input_example(model)
    save_model(
        path=str(folder),
        python_model=str(mlflow_model._CODE),
        artifacts={"model": str(model_path)},
        signature=infer_signature(example, model.predict(example)),
        input_example=example,
    )
    return TestClient(init(load_model(str(folder))))


def assert_same_answer(theirs: Any, ours: httpx.Client, **request: Any) -> None:
    a, b = theirs.post("/invocations", **request), ours.post("/invocations", **request)
    assert a.status_code == b.status_code == 200, (a.text, b.text)
    assert list(a.json()) == list(b.json()) == ["predictions"]
    assert_same_records(b.json()["predictions"], a.json()["predictions"])


def test_a_client_of_mlflows_server_gets_the_same_answers(
    mixed_server: Server, regressor_server: Server, models: Models, tmp_path: Path
) -> None:
    """The model exported as an MLflow pyfunc and served by MLflow's own scoring server
    answers each payload exactly as `learnloop serve` does."""
    frame = features(models)
    with mlflow_scoring_app(models.mixed, tmp_path / "mixed") as theirs:
        with mixed_server.client() as ours:
            for name, payload in mlflow_payloads(frame).items():
                if name != "instances":  # MLflow makes records under it columns of lists
                    assert_same_answer(theirs, ours, json=payload)
    # MLflow reads CSV with the signature's dtypes, which it cannot do for a date column
    numbers = models.regressor_frame.iloc[:9]
    csv = {"content": numbers.to_csv(index=False), "headers": {"content-type": "text/csv"}}
    with mlflow_scoring_app(models.regressor, tmp_path / "regressor") as theirs:
        with regressor_server.client() as ours:
            assert_same_answer(theirs, ours, **csv)
            for payload in mlflow_payloads(numbers).values():
                assert_same_answer(theirs, ours, json=payload)


# --------------------------------------------------------------------------- KServe v2


def triton(server: Server) -> Any:
    http = pytest.importorskip("tritonclient.http")
    return http.InferenceServerClient(url=server.url.removeprefix("http://"))


def mixed_inputs(frame: pd.DataFrame, binary: bool) -> list[Any]:
    from tritonclient.http import InferInput

    age = InferInput("age", [len(frame)], "FP64")
    age.set_data_from_numpy(frame["age"].to_numpy(dtype=float), binary_data=binary)
    out = [age]
    for column in ("color", "signup"):
        tensor = InferInput(column, [len(frame)], "BYTES")
        tensor.set_data_from_numpy(frame[column].to_numpy(dtype=object), binary_data=binary)
        out.append(tensor)
    return out


def test_tritonclient_reads_health_metadata_and_infers(
    mixed_server: Server, models: Models
) -> None:
    client = triton(mixed_server)
    name = models.mixed.stem
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(name)
    meta = client.get_model_metadata(name)
    assert meta["name"] == name
    assert {(i["name"], i["datatype"]) for i in meta["inputs"]} == {
        ("age", "FP64"),
        ("color", "BYTES"),
        ("signup", "BYTES"),
    }
    assert [o["name"] for o in meta["outputs"]] == ["predictions", "probabilities", "classes"]
    frame = features(models).fillna({"age": 41.0})  # binary FP64 carries no null
    expected = learnloop.load(models.mixed).predict(frame)
    for binary in (False, True):
        result = client.infer(name, mixed_inputs(frame, binary))
        predictions = [
            v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("predictions")
        ]
        assert predictions == expected["prediction"].tolist()
        classes = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("classes")]
        probabilities = result.as_numpy("probabilities")
        assert probabilities.shape == (len(frame), len(classes))
        np.testing.assert_allclose(probabilities, expected[[f"proba_{c}" for c in classes]])
    client.close()


def test_tritonclient_sends_one_2d_tensor(regressor_server: Server, models: Models) -> None:
    from tritonclient.http import InferInput, InferRequestedOutput

    client = triton(regressor_server)
    frame = models.regressor_frame.iloc[:7]
    tensor = InferInput("input", list(frame.shape), "FP32")
    tensor.set_data_from_numpy(frame.to_numpy(dtype=np.float32), binary_data=True)
    result = client.infer(
        models.regressor.stem,
        [tensor],
        outputs=[InferRequestedOutput("predictions", binary_data=False)],
    )
    expected = learnloop.load(models.regressor).predict(frame.astype(np.float32).astype(float))
    np.testing.assert_allclose(result.as_numpy("predictions"), expected["prediction"], rtol=1e-9)
    assert result.as_numpy("probabilities") is None
    client.close()


def test_v2_refusals_name_the_tensor_or_the_row(mixed_server: Server, models: Models) -> None:
    from tritonclient.utils import InferenceServerException

    client = triton(mixed_server)
    with pytest.raises(InferenceServerException, match="no model 'nope'"):
        client.get_model_metadata("nope")
    client.close()
    good = [
        {"name": "age", "datatype": "FP64", "shape": [2], "data": [30.0, None]},
        {"name": "color", "datatype": "BYTES", "shape": [2], "data": ["red", "blue"]},
        {"name": "signup", "datatype": "BYTES", "shape": [2], "data": ["2023-01-02", "2024-03-04"]},
    ]
    url = f"/v2/models/{models.mixed.stem}/infer"
    with mixed_server.client() as c:
        assert c.post(url, json={"inputs": good}).status_code == 200
        assert c.post("/v2/models/nope/infer", json={"inputs": good}).status_code == 404
        assert c.get(f"/v2/models/{models.mixed.stem}/versions/2").status_code == 404
        bad_cases = {
            "shape [3]": [{**good[0], "shape": [3]}, *good[1:]],
            "datatype 'FLOAT'": [{**good[0], "datatype": "FLOAT"}, *good[1:]],
            "is FP64 but element 1": [{**good[0], "data": [30.0, "x"]}, *good[1:]],
            "'height' is not one of": [*good, {**good[0], "name": "height"}],
            "'signup' is missing": good[:2],
            "different numbers of rows": [
                {**good[0], "shape": [1], "data": [1.0]},
                *good[1:],
            ],
        }
        for words, inputs in bad_cases.items():
            response = c.post(url, json={"inputs": inputs})
            assert response.status_code == 400, (words, response.text)
            assert words in response.json()["error"], response.json()
        not_a_date = [*good[:2], {**good[2], "data": ["2023-01-02", "someday"]}]
        response = c.post(url, json={"inputs": not_a_date})
        assert response.status_code == 422
        assert {"row": 1, "column": "signup"}.items() <= response.json()["detail"][0].items()


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_KEYS = st.sampled_from(["dataframe_split", "dataframe_records", "instances", "inputs", "params"])
_TENSOR = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["age", "color", "signup", "input", "x"]) | _JSON,
        "datatype": st.sampled_from(["FP64", "INT8", "BYTES", "BOOL", "FP16", "nope"]) | _JSON,
        "shape": st.lists(st.integers(-1, 3), max_size=3) | _JSON,
        "data": _JSON,
    },
    optional={"parameters": st.fixed_dictionaries({"binary_data_size": _JSON})},
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mlflow=st.dictionaries(_KEYS, _JSON, max_size=2),
    v2=st.fixed_dictionaries(
        {"inputs": st.lists(_TENSOR, max_size=4)}, optional={"outputs": _JSON}
    ),
)
def test_no_body_gets_a_5xx(mixed_server: Server, models: Models, mlflow: Any, v2: Any) -> None:
    with mixed_server.client() as c:
        for path, body in (("/invocations", mlflow), (f"/v2/models/{models.mixed.stem}/infer", v2)):
            response = c.post(path, json=body)
            assert response.status_code < 500, (path, body, response.text)
            if response.status_code != 200:
                message = response.json().get("message") or response.json().get("error")
                assert isinstance(message, str) and message


# --------------------------------------------------------------------------- metrics


def read_metrics(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_count_requests_errors_latency_and_predictions(
    mixed_server: Server, models: Models
) -> None:
    rows = as_json(features(models, 5))
    expected = learnloop.load(models.mixed).predict(features(models, 5))["prediction"]
    before = read_metrics(mixed_server)
    with mixed_server.client() as c:
        for _ in range(3):
            assert c.post("/predict", json={"records": rows}).status_code == 200
        assert c.post("/invocations", json={"dataframe_records": rows}).status_code == 200
        assert c.post("/predict", json={"records": [{"age": "x"}]}).status_code == 422
        assert c.get("/no-such-path").status_code == 404
        assert c.get(f"/v2/models/{models.mixed.stem}/ready").status_code == 200
        assert c.get("/v2/models/other/ready").status_code == 404
        assert c.request("PROPFIND", "/predict").status_code == 405
    after = read_metrics(mixed_server)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    ok = {"endpoint": "/predict", "method": "POST", "status": "200"}
    assert delta("learnloop_requests_total", **ok) == 3
    assert delta("learnloop_requests_total", **{**ok, "status": "422"}) == 1
    assert delta("learnloop_requests_total", **{**ok, "endpoint": "/invocations"}) == 1
    assert delta("learnloop_errors_total", endpoint="/predict", kind="client") == 2  # 422, 405
    assert delta("learnloop_errors_total", endpoint="(other)", kind="client") == 1
    odd = {"endpoint": "/predict", "method": "(other)", "status": "405"}  # no series per method
    assert delta("learnloop_requests_total", **odd) == 1
    ready = {"endpoint": "/v2/models/{name}/ready", "method": "GET"}  # one series per route
    assert delta("learnloop_requests_total", **ready, status="200") == 1
    assert delta("learnloop_requests_total", **ready, status="404") == 1
    assert delta("learnloop_request_duration_seconds_count", endpoint="/predict") == 5
    assert delta("learnloop_request_duration_seconds_bucket", endpoint="/predict", le="+Inf") == 5
    assert delta("learnloop_request_duration_seconds_sum", endpoint="/predict") > 0
    for label, n in expected.value_counts().items():
        assert delta("learnloop_predictions_total", label=str(label)) == 4 * n


def test_metrics_histogram_of_predicted_values(regressor_server: Server, models: Models) -> None:
    frame = models.regressor_frame.iloc[:20]
    values = learnloop.load(models.regressor).predict(frame)["prediction"].to_numpy()
    before = read_metrics(regressor_server)
    with regressor_server.client() as c:
        assert c.post("/predict", json={"records": as_json(frame)}).status_code == 200
    after = read_metrics(regressor_server)
    hist = "learnloop_prediction_value_bucket"
    for (name, labels), value in after.items():
        if name == hist:
            le = float(dict(labels)["le"])
            assert value - before.get((name, labels), 0.0) == np.sum(values <= le)
    total = after[("learnloop_prediction_value_sum", ())] - before.get(
        ("learnloop_prediction_value_sum", ()), 0.0
    )
    assert total == pytest.approx(values.sum())


# --------------------------------------------------------------------------- shutdown


def test_sigterm_finishes_requests_in_flight_and_exits_zero(models: Models, tmp_path: Path) -> None:
    """Bodies half sent when SIGTERM arrives are still answered (200), new connections are
    refused, and the process exits 0."""
    server = start_server(models.mixed, tmp_path / "drain.log", "--max-rows", "10000")
    rows = as_json(pd.concat([features(models, 400)] * 5, ignore_index=True))  # 2,000 rows
    body = json.dumps({"records": rows}).encode()
    half = len(body) // 2
    sent = [threading.Event() for _ in range(3)]
    gate = threading.Event()
    results: list[Any] = [None] * 3

    def chunks(i: int) -> Iterator[bytes]:
        yield body[:half]
        sent[i].set()
        gate.wait(60)
        yield body[half:]

    def post(i: int) -> None:
        try:
            with httpx.Client(base_url=server.url, timeout=120) as c:
                headers = {"content-type": "application/json"}
                results[i] = c.post("/predict", content=chunks(i), headers=headers)
        except httpx.HTTPError as e:  # recorded, asserted below
            results[i] = e

    threads = [threading.Thread(target=post, args=(i,)) for i in range(3)]
    try:
        for t in threads:
            t.start()
        for event in sent:
            assert event.wait(60)
        # the server has read the requests' heads once it answers one sent after them
        assert httpx.get(f"{server.url}/health", timeout=30).status_code == 200
        server.process.send_signal(signal.SIGTERM)
        for _ in range(300):  # until the listening socket is closed
            try:
                httpx.get(f"{server.url}/health", timeout=1)
            except httpx.ConnectError:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the server still accepts connections after SIGTERM")
        assert server.process.poll() is None  # still finishing the requests in flight
        gate.set()
        for t in threads:
            t.join(120)
        for result in results:
            assert isinstance(result, httpx.Response), result
            assert result.status_code == 200, result.text
            assert len(result.json()["predictions"]) == len(rows)
        assert server.process.wait(timeout=60) == 0, (tmp_path / "drain.log").read_text()
    finally:
        gate.set()
        if server.process.poll() is None:
            stop_server(server)
    log = (tmp_path / "drain.log").read_text()
    assert "Traceback" not in log


def test_probes_stay_open_under_a_token(models: Models, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    server = start_server(models.regressor, tmp_path / "auth.log", "--token-file", str(token))
    try:
        for path in ("/health", "/ready", "/ping", "/v2/health/live", "/v2/health/ready"):
            assert httpx.get(server.url + path).status_code == 200, path
        for path in ("/metrics", f"/v2/models/{models.regressor.stem}"):
            assert httpx.get(server.url + path).status_code == 401, path
            ok = httpx.get(server.url + path, headers={"Authorization": "Bearer t0ken"})
            assert ok.status_code == 200, path
        assert httpx.post(server.url + "/invocations", json={}).status_code == 401
    finally:
        stop_server(server)


def test_a_recommender_points_to_its_own_paths(tmp_path: Path) -> None:
    """A model that does not answer rows of a table says where to go, in one line (422)."""
    from serve_fixtures import train_recommender

    model = train_recommender(tmp_path)
    server = start_server(model, tmp_path / "recommender.log")
    try:
        with server.client() as c:
            response = c.post("/invocations", json={"dataframe_records": [{"user": "u1"}]})
            assert response.status_code == 422
            assert "/recommend" in response.json()["message"]
            infer = {
                "inputs": [{"name": "user", "datatype": "BYTES", "shape": [1], "data": ["u1"]}]
            }
            response = c.post(f"/v2/models/{model.stem}/infer", json=infer)
            assert response.status_code == 422
            assert "/recommend" in response.json()["error"]
            assert c.get("/v2/health/ready").status_code == 200
            assert c.post("/recommend", json={"user": "u1", "k": 2}).status_code == 200
    finally:
        stop_server(server)
