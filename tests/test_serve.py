"""The HTTP prediction service, tested against real `learnloop serve` processes."""

from __future__ import annotations

import ipaddress
import json
import math
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import learnloop
from serve_fixtures import (
    TOKEN,
    Models,
    Server,
    running_server,
    serve_command,
    start_app_server,
    start_server,
    stop_server,
    train_models,
)

pytestmark = pytest.mark.serve


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    """Three small LightGBM models, trained once per session."""
    return train_models(tmp_path_factory.mktemp("serve-models"))


@pytest.fixture(scope="session")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve-logs")


@pytest.fixture(scope="session")
def classifier_server(models: Models, logs: Path) -> Iterator[Server]:
    """The breast-cancer classifier, at most 50 rows a request."""
    yield from running_server(logs / "classifier.log", models.classifier, "--max-rows", "50")


@pytest.fixture(scope="session")
def regressor_server(models: Models, logs: Path) -> Iterator[Server]:
    yield from running_server(logs / "regressor.log", models.regressor)


@pytest.fixture(scope="session")
def mixed_server(models: Models, logs: Path) -> Iterator[Server]:
    """Numeric, categorical and datetime columns, at most 20 rows a request."""
    yield from running_server(logs / "mixed.log", models.mixed, "--max-rows", "20")


@pytest.fixture(scope="session")
def auth_server(models: Models, logs: Path) -> Iterator[Server]:
    token_file = logs / "token.txt"
    token_file.write_text(TOKEN + "\n")
    yield from running_server(logs / "auth.log", models.classifier, "--token-file", str(token_file))


def records(frame: pd.DataFrame, n: int, start: int = 0) -> list[dict[str, Any]]:
    """Rows as JSON would carry them (NaN becomes null)."""
    return json.loads(frame.iloc[start : start + n].to_json(orient="records"))


def assert_still_serving(server: Server, frame: pd.DataFrame) -> None:
    with server.client() as c:
        assert c.get("/health").json() == {"status": "alive"}
        assert c.post("/predict", json={"records": records(frame, 1)}).status_code == 200


def assert_problem(response: httpx.Response, status: int, row: Any, column: Any) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    assert any(d["row"] == row and d["column"] == column for d in detail), detail
    return " ".join(d["message"] for d in detail)


# --------------------------------------------------------------------------- good requests


def test_probes_and_metadata(classifier_server: Server, models: Models) -> None:
    with classifier_server.client() as c:
        assert c.get("/health").json() == {"status": "alive"}
        assert c.get("/ready").json() == {"status": "ready", "task": "classification"}
        meta = c.get("/metadata").json()
    saved = learnloop.load(models.classifier).metadata
    assert meta["task"] == "classification"
    assert meta["metric"] == saved["metric"]
    assert meta["certificate"] == saved["certificate"]
    assert meta["schema"] == saved["schema"]
    assert meta["versions"] == saved["versions"]


def test_docs_and_openapi_describe_the_schema(classifier_server: Server, models: Models) -> None:
    with classifier_server.client() as c:
        assert c.get("/docs").status_code == 200
        spec = c.get("/openapi.json").json()
    row = spec["components"]["schemas"]["Row"]
    assert set(row["properties"]) == set(models.classifier_frame.columns)
    assert row["additionalProperties"] is False
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert len(body["schema"]["anyOf"]) == 3  # records, dataframe_split, dataframe_records


def test_records_match_the_bare_model(classifier_server: Server, models: Models) -> None:
    frame = models.classifier_frame
    with classifier_server.client() as c:
        r = c.post("/predict", json={"records": records(frame, 25)})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = learnloop.load(models.classifier).predict(frame.head(25))
    assert body["predictions"] == expected["prediction"].tolist()
    assert body["classes"] == [0, 1]
    proba = np.array(body["probabilities"])
    np.testing.assert_allclose(proba, expected[["proba_0", "proba_1"]].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_dataframe_split_is_accepted(classifier_server: Server, models: Models) -> None:
    frame = models.classifier_frame.iloc[5:12]
    split = json.loads(frame.to_json(orient="split"))
    with classifier_server.client() as c:
        by_split = c.post("/predict", json={"dataframe_split": split}).json()
        by_records = c.post("/predict", json={"records": records(frame, 7)}).json()
        no_index = c.post(
            "/predict",
            json={"dataframe_split": {"columns": split["columns"], "data": split["data"]}},
        ).json()
    assert by_split == by_records == no_index


def test_single_row_in_a_shuffled_column_order(classifier_server: Server, models: Models) -> None:
    row = records(models.classifier_frame, 1)[0]
    shuffled = dict(reversed(list(row.items())))
    with classifier_server.client() as c:
        a = c.post("/predict", json={"records": [row]}).json()
        b = c.post("/predict", json={"records": [shuffled]}).json()
    assert a == b and len(a["predictions"]) == 1


def test_regression(regressor_server: Server, models: Models) -> None:
    frame = models.regressor_frame
    with regressor_server.client() as c:
        r = c.post("/predict", json={"records": records(frame, 10)})
        assert c.get("/ready").json()["task"] == "regression"
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"predictions"}
    expected = learnloop.load(models.regressor).predict(frame.head(10))["prediction"]
    np.testing.assert_allclose(r.json()["predictions"], expected.to_numpy(), rtol=1e-9)


def test_categorical_datetime_and_missing_values(mixed_server: Server, models: Models) -> None:
    frame = models.mixed_frame.head(12).copy()
    frame.loc[0, "age"] = np.nan
    frame.loc[1, "color"] = None
    frame.loc[2, "signup"] = None
    frame.loc[3, "color"] = "purple"  # a category the model never saw
    frame.loc[4, "signup"] = "2024-03-05T08:30:00"
    rows = records(frame, 12)
    rows[4]["signup"] = "2024-03-05T10:30:00+02:00"  # the same instant, with an offset
    del rows[5]["customer_id"]  # identifier columns are optional and ignored
    with mixed_server.client() as c:
        r = c.post("/predict", json={"records": rows})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["classes"] == ["no", "yes"]
    expected = learnloop.load(models.mixed).predict(frame)
    assert body["predictions"] == expected["prediction"].tolist()
    np.testing.assert_allclose(
        body["probabilities"], expected[["proba_no", "proba_yes"]].to_numpy(), rtol=1e-9
    )


# --------------------------------------------------------------------------- bad requests


def _cancer_row(models: Models) -> dict[str, Any]:
    return records(models.classifier_frame, 1)[0]


BAD_BODIES = {
    "missing column": lambda row: (
        {"records": [row, {k: v for k, v in row.items() if k != "mean area"}]},
        422,
        1,
        "mean area",
    ),
    "wrong type": lambda row: (
        {"records": [row, row, {**row, "mean radius": "big"}]},
        422,
        2,
        "mean radius",
    ),
    "boolean for a number": lambda row: (
        {"records": [{**row, "mean radius": True}]},
        422,
        0,
        "mean radius",
    ),
    "numeric text": lambda row: (
        {"records": [{**row, "mean radius": "12.5"}]},
        422,
        0,
        "mean radius",
    ),
    "list for a number": lambda row: (
        {"records": [{**row, "mean radius": [1]}]},
        422,
        0,
        "mean radius",
    ),
    "unknown column": lambda row: ({"records": [{**row, "colour": "red"}]}, 422, 0, "colour"),
    "target column": lambda row: ({"records": [{**row, "target": 1}]}, 422, 0, "target"),
    "row not an object": lambda row: ({"records": [row, [1, 2, 3]]}, 422, 1, None),
    "records not a list": lambda row: ({"records": row}, 422, None, None),
    "empty batch": lambda row: ({"records": []}, 422, None, None),
    "no known key": lambda row: ({"rows": [row]}, 422, None, None),
    "two keys": lambda row: (
        {"records": [row], "dataframe_split": {"columns": [], "data": []}},
        422,
        None,
        None,
    ),
    "body not an object": lambda row: ([row], 422, None, None),
    "oversized batch": lambda row: ({"records": [row] * 51}, 413, None, None),
    "split row too short": lambda row: (
        {"dataframe_split": {"columns": list(row), "data": [list(row.values()), [1, 2]]}},
        422,
        1,
        None,
    ),
    "split duplicate column": lambda row: (
        {"dataframe_split": {"columns": [*row, "mean area"], "data": [[*row.values(), 1.0]]}},
        422,
        None,
        "mean area",
    ),
    "split unknown column": lambda row: (
        {"dataframe_split": {"columns": [*row, "zzz"], "data": [[*row.values(), 1.0]]}},
        422,
        0,
        "zzz",
    ),
    "split oversized": lambda row: (
        {"dataframe_split": {"columns": list(row), "data": [list(row.values())] * 60}},
        413,
        None,
        None,
    ),
    "split columns not names": lambda row: (
        {"dataframe_split": {"columns": [1, 2], "data": [[1, 2]]}},
        422,
        None,
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_request_names_row_and_column(
    case: str, classifier_server: Server, models: Models
) -> None:
    body, status, row, column = BAD_BODIES[case](_cancer_row(models))
    with classifier_server.client() as c:
        r = c.post("/predict", json=body)
    message = assert_problem(r, status, row, column)
    if column is not None:
        assert f"'{column}'" in message
    assert_still_serving(classifier_server, models.classifier_frame)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinity_are_refused(
    literal: str, classifier_server: Server, models: Models
) -> None:
    row = _cancer_row(models)
    text = json.dumps({"records": [row, {**row, "mean radius": "@@"}]}).replace('"@@"', literal)
    with classifier_server.client() as c:
        r = c.post("/predict", content=text, headers={"content-type": "application/json"})
    message = assert_problem(r, 422, 1, "mean radius")
    assert "finite" in message
    assert_still_serving(classifier_server, models.classifier_frame)


@pytest.mark.parametrize(
    "column, value, expected",
    [
        ("signup", "not a date", "date"),
        ("signup", 20240101, "date"),
        ("color", {"a": 1}, "string"),
        ("color", float("inf"), "finite"),
        ("age", "forty", "number"),
    ],
)
def test_bad_values_in_a_mixed_schema(
    column: str, value: Any, expected: str, mixed_server: Server, models: Models
) -> None:
    rows = records(models.mixed_frame, 3)
    rows[2][column] = value
    with mixed_server.client() as c:
        r = c.post(
            "/predict",
            content=json.dumps({"records": rows}),
            headers={"content-type": "application/json"},
        )
    assert expected in assert_problem(r, 422, 2, column)
    assert_still_serving(mixed_server, models.mixed_frame)


def test_invalid_json_is_a_400(classifier_server: Server, models: Models) -> None:
    with classifier_server.client() as c:
        for text in (b'{"records": [', b"", b"\xff\xfe", b"{'records': []}"):
            r = c.post("/predict", content=text, headers={"content-type": "application/json"})
            assert r.status_code == 400, (text, r.text)
            assert "JSON" in r.json()["detail"][0]["message"]
    assert_still_serving(classifier_server, models.classifier_frame)


def test_unknown_paths_and_methods(classifier_server: Server) -> None:
    with classifier_server.client() as c:
        assert c.get("/nope").status_code == 404
        assert c.get("/predict").status_code == 405
        assert c.put("/health").status_code == 405


# --------------------------------------------------------------------------- auth


def test_auth_off_needs_no_token(classifier_server: Server, models: Models) -> None:
    with httpx.Client(base_url=classifier_server.url) as c:
        assert c.get("/metadata").status_code == 200
        assert c.post("/predict", json={"records": records(models.classifier_frame, 1)}).is_success


def test_auth_on(auth_server: Server, models: Models) -> None:
    body = {"records": records(models.classifier_frame, 2)}
    with auth_server.client() as anonymous:
        r = anonymous.post("/predict", json=body)
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")
        for path in ("/metadata", "/docs", "/openapi.json"):
            assert anonymous.get(path).status_code == 401
        # The probes stay open for orchestrators.
        assert anonymous.get("/health").status_code == 200
        assert anonymous.get("/ready").status_code == 200
    for wrong in ("Bearer nope", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN):
        r = httpx.post(f"{auth_server.url}/predict", json=body, headers={"Authorization": wrong})
        assert r.status_code == 401, wrong
    with auth_server.client(TOKEN) as c:
        assert c.post("/predict", json=body).status_code == 200
        assert c.get("/metadata").status_code == 200
        spec = c.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


# --------------------------------------------------------------------------- refusing to start


def _serve_once(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "learnloop", "serve", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_tampered_model_file_is_refused(models: Models, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered.skops"
    data = bytearray(models.classifier.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    sidecar = models.classifier.with_name(models.classifier.name + ".sha256")
    (tmp_path / "tampered.skops.sha256").write_text(sidecar.read_text())
    line = _one_line_error(_serve_once(str(tampered), "--port", "1"))
    assert "checksum" in line


def test_model_file_with_untrusted_types_is_refused(tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    evil = tmp_path / "evil.skops"
    payload = {
        "format": "learnloop-model",
        "format_version": 1,
        "pipeline": FunctionTransformer(func=os.system),
        "metadata": {},
    }
    sio.dump(payload, evil)
    line = _one_line_error(_serve_once(str(evil), "--port", "1"))
    assert "not trusted" in line and "system" in line


def test_missing_and_corrupt_files_are_refused(models: Models, tmp_path: Path) -> None:
    assert "does not exist" in _one_line_error(_serve_once(str(tmp_path / "none.skops")))
    junk = tmp_path / "junk.skops"
    junk.write_bytes(b"not a zip file")
    assert "not a readable learnloop model" in _one_line_error(_serve_once(str(junk)))
    empty_token = tmp_path / "token"
    empty_token.write_text("\n")
    line = _one_line_error(_serve_once(str(models.classifier), "--token-file", str(empty_token)))
    assert "empty" in line
    line = _one_line_error(_serve_once(str(models.classifier), "--workers", "0"))
    assert "--workers" in line


def test_missing_serve_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from learnloop.exceptions import UsageError
    from learnloop.serving import require_serve_extra

    monkeypatch.setitem(sys.modules, "fastapi", None)
    with pytest.raises(UsageError, match=r"pip install 'learnloop\[serve\]'"):
        require_serve_extra()


def test_core_package_imports_without_fastapi() -> None:
    code = (
        "import sys; sys.modules['fastapi'] = None; sys.modules['uvicorn'] = None\n"
        "import learnloop, learnloop.cli, learnloop.serving\n"
        "assert 'starlette' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# --------------------------------------------------------------------------- workers


def _server_workers(server: Server) -> int:
    """How many uvicorn worker processes (multiprocessing spawn children) the server has."""
    count = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue  # the process ended while we looked
        parent = int(stat.rpartition(")")[2].split()[1])
        if parent == server.process.pid and b"spawn_main" in cmdline:
            count += 1
    return count


def test_several_workers(models: Models, tmp_path: Path) -> None:
    """32 concurrent clients, each with its own rows, each get the answer for exactly those rows."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    frame = models.classifier_frame
    # Distinct, non-overlapping slices of different lengths (10 to 17 rows).
    slices = [(17 * i, 10 + i % 8) for i in range(32)]
    assert slices[-1][0] + 17 <= len(frame)
    bare = learnloop.load(models.classifier)
    expected = {
        start: bare.predict(frame.iloc[start : start + n]).reset_index(drop=True)
        for start, n in slices
    }
    server = start_server(models.classifier, tmp_path / "workers.log", "--workers", "2")
    try:
        if Path("/proc").is_dir():
            assert _server_workers(server) == 2, server.log.read_text()
        together = threading.Barrier(len(slices), timeout=60)

        def ask(start: int, n: int) -> dict[str, Any]:
            body = {"records": records(frame, n, start)}
            with server.client() as c:  # one connection per client
                together.wait()
                r = c.post("/predict", json=body)
            assert r.status_code == 200, r.text
            return dict(r.json())

        with ThreadPoolExecutor(max_workers=len(slices)) as pool:
            futures = {start: pool.submit(ask, start, n) for start, n in slices}
            answers = {start: f.result(timeout=120) for start, f in futures.items()}
    finally:
        stop_server(server)
    for start, n in slices:
        body, want = answers[start], expected[start]
        assert len(body["predictions"]) == n, (start, body)
        assert body["predictions"] == want["prediction"].tolist(), start
        assert body["classes"] == [0, 1]
        np.testing.assert_allclose(
            body["probabilities"], want[["proba_0", "proba_1"]].to_numpy(), rtol=1e-9, atol=1e-12
        )
    # The slices differ, so a server that mixed up requests could not have matched them all.
    assert len({json.dumps(answers[s]["probabilities"]) for s, _ in slices}) == len(slices)


def _tcp_listeners(port: int) -> set[str]:
    """The local addresses of the TCP sockets listening on ``port`` (IPv4 and IPv6), from /proc."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue  # no IPv6 on this machine
        for line in lines:
            local, _remote, state = line.split()[1:4]
            address, _, port_hex = local.partition(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A is LISTEN
                continue
            raw = bytes.fromhex(address)  # 32-bit words in host (little-endian) order
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(str(ipaddress.ip_address(words)))
    return found


WARNING = "without --token-file; anyone who can reach this address can use the model."


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux /proc/net/tcp")
def test_serve_command_binds_loopback_by_default(models: Models, tmp_path: Path) -> None:
    # `learnloop serve MODEL --port P` with no --host.
    server = start_server(models.classifier, tmp_path / "default.log")
    port = int(server.url.rsplit(":", 1)[1])
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            assert c.get("/health").json() == {"status": "alive"}
        listening = _tcp_listeners(port)
    finally:
        stop_server(server)
    # Only 127.0.0.1: not 0.0.0.0, not ::, nothing else.
    assert listening == {"127.0.0.1"}, listening
    assert WARNING not in server.log.read_text()


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux bind rules")
def test_serve_command_warns_off_loopback_without_a_token(models: Models) -> None:
    """--host 0.0.0.0 without --token-file warns on stderr before it binds.

    The tests never listen beyond loopback: a socket of ours holds 127.0.0.1:P, so the
    server's bind of 0.0.0.0:P fails (Linux refuses a wildcard bind beside a listener) and
    it stops after the warning.
    """
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            serve_command(models.classifier, "--host", "0.0.0.0", "--port", str(port)),
            capture_output=True,
            text=True,
            timeout=90,  # run() kills the server if it were ever to keep running
        )
    assert f"warning: serving on 0.0.0.0 {WARNING}" in result.stderr, result.stderr
    assert WARNING not in result.stdout
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert f"the server on 0.0.0.0:{port} stopped" in result.stderr


# --------------------------------------------------------------------------- property


MIXED_COLUMNS = ["customer_id", "age", "color", "signup"]
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["2024-01-01", "2024-13-45", "red", "", "1e5", "NaN", "2024-01-01T00:00Z"])
)
json_values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=8) | st.sampled_from(MIXED_COLUMNS), children, max_size=4
        )
    ),
    max_leaves=12,
)
keys = st.sampled_from([*MIXED_COLUMNS, "target", "other"])
rows = st.dictionaries(keys, leaves | json_values, max_size=6)
valid_values = {
    "age": st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-1000, 1000),
    "color": st.none() | st.text(max_size=10) | st.booleans() | st.integers(-5, 5),
    "signup": st.none()
    | st.datetimes().map(lambda d: d.isoformat())
    | st.dates().map(str)
    | st.sampled_from(["2024-02-29T12:00:00Z", "2023-05-01 10:00", "01/02/2023"]),
}
valid_rows = st.fixed_dictionaries(valid_values, optional={"customer_id": leaves})
near_valid_rows = st.fixed_dictionaries(
    {name: values | leaves for name, values in valid_values.items()},
    optional={"customer_id": leaves},
)
bodies = st.one_of(
    json_values,
    st.builds(lambda r: {"records": r}, st.lists(valid_rows, min_size=1, max_size=25)),
    st.builds(lambda r: {"records": r}, st.lists(near_valid_rows, min_size=1, max_size=3)),
    st.builds(lambda r: {"records": r}, st.lists(rows, max_size=25)),
    st.builds(lambda r: {"dataframe_records": r}, st.lists(rows, max_size=3)),
    st.builds(
        lambda cols, data, extra: {"dataframe_split": {"columns": cols, "data": data, **extra}},
        st.lists(keys, max_size=5),
        st.lists(st.lists(leaves, max_size=5), max_size=5),
        st.dictionaries(st.sampled_from(["index", "dtype"]), json_values, max_size=1),
    ),
    st.dictionaries(st.sampled_from(["records", "dataframe_split", "x"]), json_values, max_size=2),
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies)
def test_random_json_never_gets_a_500(body: Any, mixed_server: Server, models: Models) -> None:
    text = json.dumps(body, allow_nan=True)
    r = httpx.post(
        f"{mixed_server.url}/predict",
        content=text,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert r.status_code in (200, 400, 413, 422), (r.status_code, r.text, text)
    event(f"status {r.status_code}")
    payload = r.json()
    if r.status_code == 200:
        n = len(payload["predictions"])
        assert n >= 1 and len(payload["probabilities"]) == n
        assert all(math.isclose(sum(p), 1.0) for p in payload["probabilities"])
    else:
        for problem in payload["detail"]:
            assert set(problem) == {"row", "column", "message"}


def test_server_survives_the_random_json(mixed_server: Server, models: Models) -> None:
    assert_still_serving(mixed_server, models.mixed_frame)
    assert mixed_server.process.poll() is None


# --------------------------------------------------------------------------- hostile clients


def _address(server: Server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _half_body(path: str = "/predict", length: int = 100_000) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode() + b'{"records": ['


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_clients_that_go_away_mid_body_cost_one_log_line_each(
    models: Models, tmp_path: Path
) -> None:
    """Each disconnect logged ~59 lines of traceback (1,000 of them: 4 MB of log)."""
    import time

    server = start_server(models.classifier, tmp_path / "gone.log", "--log-level", "info")
    try:
        for _ in range(200):
            with socket.create_connection(_address(server), timeout=10) as s:
                s.sendall(_half_body())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.log.read_text().count("went away") < 200:
            time.sleep(0.2)
        assert_still_serving(server, models.classifier_frame)
    finally:
        stop_server(server)
    log = server.log.read_text()
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]
    assert log.count("went away") == 200
    assert len(log.splitlines()) <= 200 + 12, log[-3000:]  # start-up and shut-down lines


def test_half_sent_bodies_get_a_408_and_are_closed(models: Models, tmp_path: Path) -> None:
    """1,000 half-sent bodies stayed open for 30 s and more: each must be answered and
    closed once its body stops arriving (here after 1 s) or takes too long (3 s)."""
    import time

    server = start_app_server(models.classifier, tmp_path / "slow.log", idle_s=1, total_s=3)
    sockets = []
    try:
        for _ in range(300):
            s = socket.create_connection(_address(server), timeout=30)
            s.sendall(_half_body())
            sockets.append(s)
        trickle = socket.create_connection(_address(server), timeout=30)
        trickle.sendall(_half_body())
        started = time.monotonic()
        for _ in range(30):  # a byte every 0.2 s: never idle for 1 s, but past 3 s in all
            time.sleep(0.2)
            try:
                trickle.sendall(b" ")
            except OSError:
                break  # answered and closed
        answers = [_answer(s) for s in sockets]
        slow = _answer(trickle)
        assert time.monotonic() - started < 25
        assert_still_serving(server, models.classifier_frame)
    finally:
        for s in sockets:
            s.close()
        stop_server(server)
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), {a[:40] for a in answers}
    assert b"stopped arriving for 1 s" in answers[0]
    assert slow.startswith(b"HTTP/1.1 408 ") and b"more than 3 s" in slow, slow
    assert "Traceback" not in server.log.read_text()


def test_json_is_taken_only_as_json(classifier_server: Server, models: Models) -> None:
    """A text/plain body was parsed as JSON; the document says application/json."""
    body = json.dumps({"records": records(models.classifier_frame, 1)})
    with classifier_server.client() as c:
        for kind in ("text/plain", "application/x-www-form-urlencoded", ""):
            r = c.post("/predict", content=body, headers={"content-type": kind})
            message = assert_problem(r, 415, None, None)
            assert "application/json" in message
        for kind in ("application/json; charset=utf-8", "application/vnd.api+json"):
            r = c.post("/predict", content=body, headers={"content-type": kind})
            assert r.status_code == 200, (kind, r.text)
