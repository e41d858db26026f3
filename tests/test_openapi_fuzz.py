"""The OpenAPI document tells the truth: schemathesis against real `learnloop serve`
processes (issue 21, item 10).

Three servers, one per kind of /predict: a table classifier behind a bearer token, a
picture model (multipart uploads), a recommender (/recommend, /similar, /audience). Each
is fuzzed from its own /openapi.json with every schemathesis check: no 5xx, every status,
content type and body as documented, schema-valid requests accepted and invalid ones
refused, security where it is declared (and none on /health and /ready), 405 with Allow
for other methods. Bounded: a fixed seed and a few examples per path (about 40 s in all);
LEARNLOOP_FUZZ_SEED and LEARNLOOP_FUZZ_EXAMPLES explore further.
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from serve_fixtures import (
    TOKEN,
    Server,
    running_server,
    train_digits,
    train_models,
    train_recommender,
)

pytestmark = pytest.mark.serve
pytest.importorskip("schemathesis")

MAX_EXAMPLES = int(os.environ.get("LEARNLOOP_FUZZ_EXAMPLES", "15"))
SEED = int(os.environ.get("LEARNLOOP_FUZZ_SEED", "20251202"))
# 413 (a batch or picture over the limit) is how this service refuses data too large
# for it, which schemathesis does not count as a refusal by default
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422]
"""
# A picture model's files are binary strings in the document, and no JSON Schema can say
# "the bytes of a PNG": schema-valid random bytes are refused as not a picture (400, 415).
PICTURES = """
[[operations]]
include-path = "/predict"
checks.positive_data_acceptance.expected-statuses = [200, 400, 413, 415]
"""
# Nor does the document list the recommender's catalogue: an item it never saw is a 422.
ITEMS = """
[[operations]]
include-path-regex = "^/(similar|audience)$"
checks.positive_data_acceptance.expected-statuses = [200, 422]
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("openapi-fuzz")


@pytest.fixture(scope="module")
def table_server(root: Path) -> Iterator[Server]:
    token = root / "token.txt"
    token.write_text(TOKEN)
    model = train_models(root, only=("classifier",)).classifier
    yield from running_server(root / "table.log", model, "--token-file", str(token))


@pytest.fixture(scope="module")
def picture_server(root: Path) -> Iterator[Server]:
    yield from running_server(root / "pictures.log", train_digits(root), "--max-rows", "16")


@pytest.fixture(scope="module")
def recommender_server(root: Path) -> Iterator[Server]:
    yield from running_server(root / "recommender.log", train_recommender(root))


def fuzz(server: Server, work: Path, *headers: str, config: str = "") -> dict[str, int]:
    """Run schemathesis on the server's document; the statuses it got, by status."""
    work.mkdir()
    (work / "schemathesis.toml").write_text(CONFIG + config)
    har = work / "har.json"
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", "schemathesis.toml",
        "run", f"{server.url}/openapi.json", "--checks", "all",
        "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
        "--generation-database", "none", "--report", "har", "--report-har-path", str(har),
        *[arg for h in headers for arg in ("-H", h)],
    ]  # fmt: skip
    started = time.monotonic()
    proc = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - started
    summary = proc.stdout[-4000:]
    assert proc.returncode == 0, summary
    entries = json.loads(har.read_text())["log"]["entries"]
    statuses = collections.Counter(str(e["response"]["status"]) for e in entries)
    generated = re.search(r"(\d+) generated", proc.stdout)
    found = generated.group(0) if generated else "?"
    print(f"{work.name}: {found} in {seconds:.1f} s, statuses {dict(statuses)}")
    assert not [s for s in statuses if s.startswith("5")], statuses
    assert server.process.poll() is None
    log = server.log.read_text()
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]
    return dict(statuses)


def test_the_table_models_document_is_true(table_server: Server, root: Path) -> None:
    statuses = fuzz(table_server, root / "table", f"Authorization: Bearer {TOKEN}")
    assert statuses.get("200", 0) >= 10 and statuses.get("422", 0) >= 10
    assert statuses.get("401", 0) >= 1  # schemathesis tried the secured paths without a token


def test_the_picture_models_document_is_true(picture_server: Server, root: Path) -> None:
    statuses = fuzz(picture_server, root / "pictures", config=PICTURES)
    assert statuses.get("200", 0) >= 3 and statuses.get("415", 0) >= 1


def test_the_recommenders_document_is_true(recommender_server: Server, root: Path) -> None:
    statuses = fuzz(recommender_server, root / "recommender", config=ITEMS)
    assert statuses.get("200", 0) >= 10


def test_each_document_says_what_its_model_takes(
    table_server: Server, picture_server: Server, recommender_server: Server
) -> None:
    with table_server.client(TOKEN) as c:
        table = c.get("/openapi.json").json()
    with picture_server.client() as c:
        pictures = c.get("/openapi.json").json()
    with recommender_server.client() as c:
        recommender = c.get("/openapi.json").json()
    # security on every path but the probes, and none at the top
    assert "security" not in table
    for path, item in table["paths"].items():
        secured = "security" in item["get" if "get" in item else "post"]
        assert secured == (path not in ("/health", "/ready")), path
    # the recommender's paths only on a recommender
    assert "/recommend" not in table["paths"] and "/recommend" in recommender["paths"]
    # a table model takes JSON (with the columns of dataframe_split listed) or an Arrow
    # stream, a picture model multipart files or one picture, never JSON
    body = table["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert list(body) == ["application/json", "application/vnd.apache.arrow.stream"]
    split = body["application/json"]["schema"]["anyOf"][1]["properties"]["dataframe_split"]
    columns = [c["const"] for c in split["properties"]["columns"]["prefixItems"]]
    assert len(columns) == 30 and "mean radius" in columns
    kinds = pictures["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in kinds and "image/png" in kinds
    assert "application/json" not in kinds
