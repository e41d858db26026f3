"""Hostile model files: each is built for real, as an attacker would, and each must be
refused by the Python API, ``learnloop predict`` and ``learnloop serve`` (exit 2, one line
naming the problem) without its payload ever running.

The payloads write a marker file when they run. Each is first shown to be live: skops,
told to trust what the file asks for (what a prefix rule like ``builtins.``/``numpy.``/
``sklearn.`` did), runs it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import learnloop
from learnloop.exceptions import UntrustedModelError, UsageError

FIXTURE = Path(__file__).parent / "fixtures" / "model-v1"
BASE_MODEL = FIXTURE / "model-v1.skops"
ROWS = FIXTURE / "wine.csv"


def _json(value: Any) -> dict[str, Any]:
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True}  # fmt: skip


def _tuple(*items: dict[str, Any]) -> dict[str, Any]:
    return {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
            "content": list(items)}  # fmt: skip


def _call(dotted: str, *args: dict[str, Any]) -> dict[str, Any]:
    """A node that makes skops call ``dotted(*args)`` while it rebuilds the file."""
    module, _, name = dotted.rpartition(".")
    return {"__class__": name, "__module__": module,
            "__loader__": "ConstructorFromReduceNode", "content": _tuple(*args)}  # fmt: skip


def _empty_dict() -> dict[str, Any]:
    return {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
            "content": {}, "key_types": {"__class__": "list", "__module__": "builtins",
                                         "__loader__": "ListNode", "content": []}}  # fmt: skip


def _write_marker(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('ran')"


PAYLOADS = {
    # the payload: builtins.exec with a code string, in the metadata
    "builtins.exec": lambda m: _call("builtins.exec", _json(_write_marker(m))),
    # numpy's test helper that execs a string: what the 'numpy.' prefix let in
    "numpy.testing.runstring": lambda m: _call(
        "numpy.testing.runstring", _json(_write_marker(m)), _empty_dict()
    ),
    # scikit-learn's test helper that runs a Python script: what 'sklearn.' let in
    "sklearn.utils._testing.assert_run_python_script_without_output": lambda m: _call(
        "sklearn.utils._testing.assert_run_python_script_without_output",
        _json(_write_marker(m)),
    ),
}


def rewrite(source: Path, target: Path, change: Any = None, reseal: bool = True) -> Path:
    """Copy the model file ``source`` to ``target``, its entries passed through
    ``change(name, bytes) -> bytes``, as an attacker would: the seal recomputed (anyone can
    compute a digest; only the key-holder can sign) unless ``reseal`` is False, and a fresh
    sidecar checksum (whoever can replace a model can rewrite its sidecar)."""
    from learnloop.store.model_archive import SEAL_NAME, seal

    buffer = io.BytesIO()
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(buffer, "w") as zout:
        sealed = SEAL_NAME in zin.namelist()
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == SEAL_NAME and reseal:
                continue
            zout.writestr(info.filename, change(info.filename, data) if change else data)
    data = seal(buffer.getvalue(), None) if sealed and reseal else buffer.getvalue()
    target.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    target.with_name(target.name + ".sha256").write_text(f"{digest}  {target.name}\n")
    return target


def inject(source: Path, target: Path, node: dict[str, Any], key: str = "note") -> Path:
    """Copy the model file ``source`` to ``target`` with ``node`` added to its metadata."""

    def change(name: str, data: bytes) -> bytes:
        if name != "schema.json":
            return data
        schema = json.loads(data)
        meta = schema["content"]["metadata"]
        meta["content"][key] = node
        meta["key_types"]["content"].append(
            {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"}
        )
        return json.dumps(schema).encode()

    return rewrite(source, target, change)


def _learnloop(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "learnloop", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _one_line_refusal(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout[-500:], result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    return lines[0]


@pytest.fixture(scope="module")
def sealed_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Today's format (sealed inside): the format-1 fixture, re-saved."""
    from learnloop.store.model_files import resave_model

    return resave_model(BASE_MODEL, tmp_path_factory.mktemp("v2") / "model.skops")


@pytest.fixture(params=["format-1", "format-2"])
def base(request: pytest.FixtureRequest, sealed_model: Path) -> Path:
    return BASE_MODEL if request.param == "format-1" else sealed_model


@pytest.fixture(params=sorted(PAYLOADS))
def payload(request: pytest.FixtureRequest, base: Path, tmp_path: Path) -> tuple[str, Path, Path]:
    """(payload name, hostile model file, the marker its payload would write)."""
    marker = tmp_path / "payload-ran"
    path = inject(base, tmp_path / "hostile.skops", PAYLOADS[request.param](marker))
    return request.param, path, marker


def test_the_payloads_are_live_when_their_types_are_trusted(tmp_path: Path) -> None:
    """skops trusting what a file asks for runs its payload: the test payloads are real."""
    files = {}
    for i, (name, make) in enumerate(sorted(PAYLOADS.items())):
        marker = tmp_path / f"ran-{i}"
        files[name] = (inject(BASE_MODEL, tmp_path / f"hostile-{i}.skops", make(marker)), marker)
    code = (
        "import sys, skops.io as sio\n"
        "for p in sys.argv[1:]:\n"
        "    try: sio.load(p, trusted=sio.get_untrusted_types(file=p))\n"
        "    except Exception: pass\n"
    )
    paths = [str(path) for path, _ in files.values()]
    subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, timeout=120)
    for name, (_, marker) in files.items():
        assert marker.exists(), f"the {name} payload did not run under a trusting loader"


def test_python_api_refuses_and_nothing_runs(payload: tuple[str, Path, Path]) -> None:
    name, path, marker = payload
    with pytest.raises(UntrustedModelError, match="not trusted") as info:
        learnloop.load(path)
    assert name in str(info.value) and str(path) in str(info.value)
    assert not marker.exists()


def test_predict_refuses_with_exit_2_and_nothing_runs(sealed_model: Path, tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    path = inject(sealed_model, tmp_path / "hostile.skops", PAYLOADS["builtins.exec"](marker))
    line = _one_line_refusal(_learnloop("predict", str(path), str(ROWS)))
    assert "not trusted" in line and "builtins.exec" in line
    assert not marker.exists()


def test_serve_refuses_to_start_and_nothing_runs(sealed_model: Path, tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    path = inject(sealed_model, tmp_path / "hostile.skops", PAYLOADS["builtins.exec"](marker))
    line = _one_line_refusal(_learnloop("serve", str(path), "--port", "0"))
    assert "not trusted" in line and "builtins.exec" in line
    assert not marker.exists()


def test_a_payload_anywhere_in_the_schema_is_found(tmp_path: Path) -> None:
    """A node where skops would never look is refused all the same: the check walks
    every object of schema.json, not the paths one loader follows."""
    marker = tmp_path / "payload-ran"
    node = _empty_dict()
    node["unused"] = PAYLOADS["builtins.exec"](marker)  # not a key skops reads
    path = inject(BASE_MODEL, tmp_path / "hidden.skops", node)
    with pytest.raises(UntrustedModelError, match="builtins.exec"):
        learnloop.load(path)
    assert not marker.exists()


def test_function_transformer_holding_a_function_is_refused(tmp_path: Path) -> None:
    """scikit-learn's own passthrough FunctionTransformer (no function) loads; one that
    holds a function, even a harmless trusted type, does not."""
    import numpy as np
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    plain = tmp_path / "plain.skops"
    sio.dump({"pipeline": FunctionTransformer(accept_sparse=True)}, plain)
    from learnloop.store.trusted_types import audit_schema

    with zipfile.ZipFile(plain) as z:
        audit_schema(json.loads(z.read("schema.json")), str(plain))  # no error
    for func in (np.float64, print):
        path = tmp_path / "with-func.skops"
        sio.dump({"pipeline": FunctionTransformer(func=func)}, path)
        with zipfile.ZipFile(path) as z, pytest.raises(UntrustedModelError, match="not trusted"):
            audit_schema(json.loads(z.read("schema.json")), str(path))


# ---------------------------------------------------------------------------- tampering
def _negate_model(name: str, data: bytes) -> bytes:
    """What an attacker who wants wrong answers does: negate a linear model's coefficients
    (its 1 x k float arrays) and a booster's leaf values, leaving a valid archive."""
    if name.endswith(".npy"):
        array = np.load(io.BytesIO(data))
        if array.dtype.kind == "f" and array.ndim == 2 and array.shape[0] == 1:
            out = io.BytesIO()
            np.save(out, -array)
            return out.getvalue()
        return data
    if name != "schema.json":
        return data

    def negate(text: str) -> str:
        return re.sub(
            r"^leaf_value=(.*)$",
            lambda m: "leaf_value=" + " ".join(repr(-float(v)) for v in m.group(1).split()),
            text,
            flags=re.M,
        )

    schema = json.loads(data)
    stack: list[Any] = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            content = item.get("content")
            if item.get("__loader__") == "JsonNode" and "leaf_value=" in str(content):
                item["content"] = json.dumps(negate(json.loads(content)))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return json.dumps(schema).encode()


def _predict_unchecked(path: Path, rows: pd.DataFrame) -> pd.Series:
    """What a loader without the seal would predict from ``path`` (types still checked)."""
    import skops.io as sio

    from learnloop.store.model_files import LoadedModel
    from learnloop.store.trusted_types import trusted_names

    payload = sio.load(path, trusted=trusted_names())
    return LoadedModel(payload["pipeline"], payload["metadata"]).predict(rows)["prediction"]


@pytest.fixture(scope="module")
def linear_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A logistic regression on breast cancer, as training saves it (format 2)."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    folder = tmp_path_factory.mktemp("linear")
    out = folder / "model.skops"
    learnloop.train(
        frame, target="target", budget=5, out=out, store=str(folder / "s.db"), candidates=["linear"]
    )
    return out, frame.drop(columns="target")


@pytest.mark.parametrize("sidecar", ["rewritten", "missing"])
def test_negated_coefficients_are_refused(
    linear_model: tuple[Path, pd.DataFrame], tmp_path: Path, sidecar: str
) -> None:
    model, rows = linear_model
    tampered = rewrite(model, tmp_path / "model.skops", _negate_model, reseal=False)
    if sidecar == "missing":
        tampered.with_name("model.skops.sha256").unlink()
    flipped = (
        _predict_unchecked(tampered, rows) != learnloop.load(model).predict(rows)["prediction"]
    ).sum()
    assert flipped > len(rows) / 2  # the change matters: most answers flip
    with pytest.raises(UntrustedModelError, match="does not match its checksum") as info:
        learnloop.load(tampered)
    assert str(tampered) in str(info.value)


@pytest.mark.parametrize("where", [0.3, 0.6, 0.9])
def test_a_flipped_byte_is_refused(sealed_model: Path, tmp_path: Path, where: float) -> None:
    data = bytearray(sealed_model.read_bytes())
    data[int(len(data) * where)] ^= 0x01
    copy = tmp_path / "model.skops"
    copy.write_bytes(bytes(data))  # no sidecar: the seal inside is what catches it
    with pytest.raises(UntrustedModelError, match="does not match its checksum"):
        learnloop.load(copy)


def test_tampering_is_caught_through_a_symlink(tmp_path: Path) -> None:
    """The sidecar of a format-1 file is the one beside the real file, not beside a link
    (where an attacker could put one that matches)."""
    real, links = tmp_path / "real", tmp_path / "links"
    real.mkdir(), links.mkdir()
    tampered = rewrite(BASE_MODEL, real / "model.skops", _negate_model)
    (real / "model.skops.sha256").write_text((FIXTURE / "model-v1.skops.sha256").read_text())
    link = links / "model.skops"
    link.symlink_to(tampered)
    planted = hashlib.sha256(tampered.read_bytes()).hexdigest()
    (links / "model.skops.sha256").write_text(f"{planted}  model.skops\n")
    with pytest.raises(UntrustedModelError, match="does not match its recorded checksum"):
        learnloop.load(link)
    good = links / "good.skops"  # a link to an intact file, its sidecar only beside it
    good.symlink_to(BASE_MODEL)
    assert learnloop.load(good).task == "classification"


def test_a_seal_stripped_from_a_file_is_refused(sealed_model: Path, tmp_path: Path) -> None:
    """Taking the seal out does not turn a format-2 file into a format-1 one."""
    from learnloop.store.model_archive import SEAL_NAME

    stripped = tmp_path / "model.skops"
    with zipfile.ZipFile(sealed_model) as zin, zipfile.ZipFile(stripped, "w") as zout:
        for info in zin.infolist():
            if info.filename != SEAL_NAME:
                zout.writestr(info.filename, _negate_model(info.filename, zin.read(info)))
    digest = hashlib.sha256(stripped.read_bytes()).hexdigest()
    (tmp_path / "model.skops.sha256").write_text(f"{digest}  model.skops\n")
    with pytest.raises(UntrustedModelError, match="lost the checksum sealed inside"):
        learnloop.load(stripped)


def test_format_1_loads_only_with_its_sidecar_and_can_be_resaved(tmp_path: Path) -> None:
    from learnloop.store.model_files import resave_model

    copy = tmp_path / "model-v1.skops"
    shutil.copy(BASE_MODEL, copy)
    with pytest.raises(UntrustedModelError, match="sidecar 'model-v1.skops.sha256' is missing"):
        learnloop.load(copy)
    shutil.copy(FIXTURE / "model-v1.skops.sha256", tmp_path)
    resave_model(copy)
    (tmp_path / "model-v1.skops.sha256").unlink()  # today's format needs no sidecar
    got = learnloop.load(copy).predict(pd.read_csv(ROWS).drop(columns="target"))
    expected = pd.read_csv(FIXTURE / "expected.csv")
    assert (got["prediction"].astype(str) == expected["prediction"].astype(str)).all()


# ---------------------------------------------------------------------------- signatures
KEY, OTHER_KEY = "k" * 16 + secrets.token_hex(16), "o" * 16 + secrets.token_hex(16)


@pytest.fixture(scope="module")
def signed_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from learnloop.store.model_files import resave_model

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEARNLOOP_MODEL_KEY", KEY)
        return resave_model(BASE_MODEL, tmp_path_factory.mktemp("signed") / "model.skops")


def test_a_signed_file_loads_with_its_key_and_without_one(
    signed_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert learnloop.load(signed_model).task == "classification"  # the seal is checked
    monkeypatch.setenv("LEARNLOOP_MODEL_KEY", KEY)
    assert learnloop.load(signed_model).task == "classification"


def test_a_wrong_key_is_refused(signed_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_MODEL_KEY", OTHER_KEY)
    with pytest.raises(UntrustedModelError, match="signature that does not match"):
        learnloop.load(signed_model)


def test_a_changed_signed_file_is_refused_even_resealed(
    signed_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the key an attacker can recompute the digest, but not the signature: the
    resealed file is unsigned, and one given the old signature does not match."""
    from learnloop.store.model_archive import SEAL_NAME

    monkeypatch.setenv("LEARNLOOP_MODEL_KEY", KEY)
    resealed = rewrite(signed_model, tmp_path / "resealed.skops", _negate_model)
    with pytest.raises(UntrustedModelError, match="is not signed"):
        learnloop.load(resealed)
    with zipfile.ZipFile(signed_model) as z:
        old = json.loads(z.read(SEAL_NAME))["hmac_sha256"]
    with zipfile.ZipFile(resealed) as z:
        entries = [(i.filename, z.read(i)) for i in z.infolist()]
    forged = tmp_path / "forged.skops"
    with zipfile.ZipFile(forged, "w") as z:
        for name, data in entries:
            if name == SEAL_NAME:
                data = json.dumps({**json.loads(data), "hmac_sha256": old}).encode()
            z.writestr(name, data)
    with pytest.raises(UntrustedModelError, match="signature that does not match"):
        learnloop.load(forged)


def test_with_a_key_unsigned_files_are_refused(
    sealed_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEARNLOOP_MODEL_KEY", KEY)
    for path in (sealed_model, BASE_MODEL):  # unsigned today's format; format 1
        with pytest.raises(UntrustedModelError, match="is not signed"):
            learnloop.load(path)
    monkeypatch.setenv("LEARNLOOP_MODEL_KEY", "short")
    with pytest.raises(UsageError, match="too short"):
        learnloop.load(sealed_model)


def test_predict_and_serve_refuse_unsigned_files_with_a_key(sealed_model: Path) -> None:
    env = {**os.environ, "LEARNLOOP_MODEL_KEY": KEY}
    for command in (["predict", str(sealed_model), str(ROWS)], ["serve", str(sealed_model)]):
        result = subprocess.run(
            [sys.executable, "-m", "learnloop", *command],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert "is not signed" in _one_line_refusal(result)


@pytest.mark.serve
def test_serve_starts_on_a_signed_file_with_its_key(
    signed_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every worker process loads (and checks) the file at start, with the key."""
    from serve_fixtures import running_server

    monkeypatch.setenv("LEARNLOOP_MODEL_KEY", KEY)
    rows = pd.read_csv(ROWS).drop(columns="target").head(3)
    for server in running_server(tmp_path / "log", signed_model, "--workers", "2"):
        with server.client() as client:
            body = {"dataframe_split": rows.to_dict(orient="split")}
            answer = client.post("/predict", json=body)
            assert answer.status_code == 200, answer.text


# ---------------------------------------------------------------------------- zip bombs
def _deflated_zeros(n_bytes: int) -> tuple[bytes, int]:
    """Raw deflate of ``n_bytes`` (a multiple of 16 MiB) zero bytes, and their CRC-32.

    Each 16 MiB block is compressed after a full flush, which resets the compressor, so
    every block packs to the same bytes: the block is packed once and repeated."""
    chunk = bytes(16 << 20)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    packer.compress(chunk)
    packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    count, crc = n_bytes // len(chunk), 0
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    return block * count + packer.flush(), crc


def _zip(entries: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip of (name, stored bytes, method, CRC-32, unpacked size) entries, by hand, so
    that an entry can be pre-compressed (zipfile would compress it itself)."""
    body, directory = bytearray(), bytearray()
    for name, data, method, crc, size in entries:
        raw, offset = name.encode(), len(body)
        head = struct.pack("<HHHHHLLLHH", 20, 0, method, 0, 0, crc, len(data), size, len(raw), 0)
        body += b"PK\x03\x04" + head + raw + data
        directory += (
            b"PK\x01\x02"
            + struct.pack("<H", 20)
            + head
            + struct.pack("<HHHLL", 0, 0, 0, 0, offset)
            + raw
        )
    end = struct.pack("<HHHHLLH", 0, 0, len(entries), len(entries), len(directory), len(body), 0)
    return bytes(body + directory + b"PK\x05\x06" + end)


def _stored(path: Path) -> list[tuple[str, bytes, int, int, int]]:
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i), 0, i.CRC, i.file_size) for i in z.infolist()]


BOMB_BYTES = 1536 << 20  # 1.5 GB of zeros, about 1.5 MB packed: the bomb


@pytest.fixture(scope="module")
def bomb(sealed_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real model file with one more array entry that unpacks to 1.5 GB."""
    packed, crc = _deflated_zeros(BOMB_BYTES)
    path = tmp_path_factory.mktemp("bomb") / "bomb.skops"
    entries = _stored(sealed_model) + [("140000000000000.npy", packed, 8, crc, BOMB_BYTES)]
    path.write_bytes(_zip(entries))
    return path


def test_the_bomb_is_real(bomb: Path) -> None:
    """Its entry really unpacks to 1.5 GB (streamed here, a MiB at a time)."""
    assert bomb.stat().st_size < 3 << 20
    with zipfile.ZipFile(bomb) as z, z.open("140000000000000.npy") as entry:
        total = sum(len(chunk) for chunk in iter(lambda: entry.read(1 << 24), b""))
    assert total == BOMB_BYTES


def test_a_zip_bomb_is_refused_before_anything_is_unpacked(
    bomb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UntrustedModelError, match="compressed [0-9,]+ to 1") as info:
        learnloop.load(bomb)
    assert str(bomb) in str(info.value) and "LEARNLOOP_MODEL_MAX_MB" in str(info.value)
    monkeypatch.setenv("LEARNLOOP_MODEL_MAX_MB", "1024")  # past the total size as well
    with pytest.raises(UntrustedModelError, match="unpacks to 1,536 MB"):
        learnloop.load(bomb)


def test_predict_on_a_bomb_stays_small(bomb: Path, sealed_model: Path, tmp_path: Path) -> None:
    """The refusal costs no more memory than predicting with a real model."""
    report = tmp_path / "rss.json"
    code = (
        "import json, resource, subprocess, sys\n"
        "r = subprocess.run([sys.executable, '-m', 'learnloop', *sys.argv[2:]],"
        " capture_output=True, text=True)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "json.dump({'code': r.returncode, 'stderr': r.stderr, 'peak_mb': peak},"
        " open(sys.argv[1], 'w'))\n"
    )
    runs = {}
    for name, model in (("bomb", bomb), ("model", sealed_model)):
        args = [str(report), "predict", str(model), str(ROWS), "--out", str(tmp_path / "p.csv")]
        subprocess.run([sys.executable, "-c", code, *args], timeout=300, check=True)
        runs[name] = json.loads(report.read_text())
    peaks = {name: f"{run['peak_mb']:.0f} MB" for name, run in runs.items()}
    print(f"peak memory of predict: {peaks}")
    assert runs["model"]["code"] == 0, runs["model"]["stderr"]
    assert runs["bomb"]["code"] == 2 and "compressed" in runs["bomb"]["stderr"]
    assert runs["bomb"]["peak_mb"] < runs["model"]["peak_mb"] + 50
    assert runs["bomb"]["peak_mb"] < 1024


def test_a_bomb_in_the_schema_and_too_many_entries_are_refused(
    sealed_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """schema.json is unpacked and parsed first, by skops too: it has its own, smaller limit;
    and the zip's directory is checked from its end record before zipfile parses it."""
    size = 300 << 20  # 300 MB of JSON: within the file limit, past schema.json's
    packed, crc = _deflated_zeros(size)
    entries = [e for e in _stored(sealed_model) if e[0] != "schema.json"]
    path = tmp_path / "schema-bomb.skops"
    path.write_bytes(_zip([*entries, ("schema.json", packed, 8, crc, size)]))
    with pytest.raises(UntrustedModelError, match="'schema.json' that unpacks to 300 MB"):
        learnloop.load(path)
    monkeypatch.setenv("LEARNLOOP_MODEL_MAX_MB", "40")  # 1,000 entries at most
    many = tmp_path / "many.skops"
    many.write_bytes(
        _zip([*_stored(sealed_model), *[(f"{i}.npy", b"", 0, 0, 0) for i in range(1500)]])
    )
    with pytest.raises(UntrustedModelError, match="lists 1,50[0-9] entries"):
        learnloop.load(many)


# ------------------------------------------------------------- read-only and full disks
def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"mounting a test file system is not permitted here ({result.stderr.strip()})")


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A read-only folder (a bind mount) holding a model from before."""
    source, folder = tmp_path / "rw", tmp_path / "ro"
    source.mkdir(), folder.mkdir()
    shutil.copy(BASE_MODEL, source / "model.skops")
    shutil.copy(FIXTURE / "model-v1.skops.sha256", source / "model.skops.sha256")
    _mount("--bind", str(source), str(folder))
    try:
        _mount("-o", "remount,bind,ro", str(folder))
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB file system (tmpfs)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder))
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def _fill(folder: Path, leave: int) -> None:
    """Fill ``folder``'s file system until about ``leave`` bytes are free."""
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    with open(folder / "filler", "wb") as f:
        f.write(bytes(max(0, free - leave)))


def _train_command(tmp_path: Path, out: Path, *more: str) -> list[str]:
    from sklearn.datasets import load_breast_cancer

    data = tmp_path / "cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(data, index=False)
    return ["train", str(data), "--target", "target", "--budget", "5",
            "--out", str(out), "--store", str(tmp_path / "s.db"), *more]  # fmt: skip


def test_a_read_only_out_is_refused_before_training(read_only: Path, tmp_path: Path) -> None:
    out = read_only / "model.skops"
    before = out.read_bytes()
    line = _one_line_refusal(_learnloop(*_train_command(tmp_path, out)))
    assert str(out) in line and "Read-only file system" in line
    assert not (tmp_path / "s.db").exists()  # refused before the run began
    with pytest.raises(UsageError, match="Read-only file system"):
        learnloop.train(ROWS, target="target", out=out, store=str(tmp_path / "t.db"))
    assert out.read_bytes() == before


def test_a_read_only_report_is_refused_before_training(read_only: Path, tmp_path: Path) -> None:
    report = read_only / "report.html"
    command = _train_command(tmp_path, tmp_path / "model.skops", "--report", str(report))
    line = _one_line_refusal(_learnloop(*command))
    assert str(report) in line
    assert not (tmp_path / "s.db").exists() and not (tmp_path / "model.skops").exists()


def test_a_full_disk_is_refused_before_training(tiny_disk: Path, tmp_path: Path) -> None:
    _fill(tiny_disk, 0)
    out = tiny_disk / "model.skops"
    line = _one_line_refusal(_learnloop(*_train_command(tmp_path, out)))
    assert str(out) in line and "No space left on device" in line
    assert not (tmp_path / "s.db").exists()


def test_a_disk_that_fills_during_the_save_keeps_the_old_model(
    tiny_disk: Path, tmp_path: Path
) -> None:
    """Room for the check before training but not for the model: exit 2 naming the path,
    nothing half-written, and the previous model and its sidecar as they were."""
    out = tiny_disk / "model.skops"
    shutil.copy(BASE_MODEL, out)
    shutil.copy(FIXTURE / "model-v1.skops.sha256", tiny_disk / "model.skops.sha256")
    before = {p.name: p.read_bytes() for p in tiny_disk.iterdir()}
    _fill(tiny_disk, 100_000)  # past the 64 kB probe, short of a 100-tree booster
    command = _train_command(tmp_path, out, "--candidates", "lightgbm", "--threshold", "0.5")
    result = _learnloop(*command)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    line = result.stderr.strip().splitlines()[-1]  # after the run's progress lines
    assert (
        line.startswith("error: ")
        and str(out) in line
        and "No space left on device" in line
        and "unchanged" in line
    )
    assert sorted(p.name for p in tiny_disk.iterdir()) == sorted([*before, "filler"])
    assert all((tiny_disk / name).read_bytes() == data for name, data in before.items())
    assert learnloop.load(out).task == "classification"


# ------------------------------------------------------------ indices in native code
def _with_estimator(linear_model: tuple[Path, pd.DataFrame], estimator: Any, out: Path) -> Path:
    """The linear model's file with its classifier swapped for ``estimator``, fitted on the
    same encoded rows and saved as training saves."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.pipeline import Pipeline

    from learnloop.store.model_files import save_model

    model, rows = linear_model
    loaded = learnloop.load(model)
    features = loaded.pipeline.steps[0][1]
    y = load_breast_cancer().target
    pipeline = Pipeline(
        [("features", features), ("model", estimator.fit(features.transform(rows), y))]
    )
    return save_model(out, pipeline, loaded.metadata)


def _change_array(field: str, change: Any) -> Any:
    """An entry rewriter applying ``change`` to the structured arrays that have ``field``."""

    def rewrite_entry(name: str, data: bytes) -> bytes:
        if not name.endswith(".npy"):
            return data
        array = np.load(io.BytesIO(data))
        if array.dtype.names is None or field not in array.dtype.names:
            return data
        array = array.copy()
        change(array)
        out = io.BytesIO()
        np.save(out, array)
        return out.getvalue()

    return rewrite_entry


def test_a_tree_pointing_outside_its_nodes_is_refused(
    linear_model: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    """A forest whose first tree's root sends rows to node 10,000,000 (resealed, so the
    digest passes): scikit-learn would crash at the first prediction; the load refuses."""
    from sklearn.ensemble import RandomForestClassifier

    forest = _with_estimator(
        linear_model, RandomForestClassifier(5, random_state=0), tmp_path / "f.skops"
    )
    assert learnloop.load(forest).predict(linear_model[1]).shape[0] == len(linear_model[1])

    def far_child(nodes: np.ndarray) -> None:
        nodes["left_child"][0] = 10_000_000

    crafted = rewrite(forest, tmp_path / "crafted.skops", _change_array("left_child", far_child))
    code = (
        "import sys, pandas as pd, skops.io as sio\n"
        "from sklearn.datasets import load_breast_cancer\n"
        "from learnloop.store.trusted_types import trusted_names\n"
        "p = sio.load(sys.argv[1], trusted=trusted_names())['pipeline']\n"
        "p.predict(load_breast_cancer(as_frame=True).frame.drop(columns='target'))\n"
    )
    unchecked = subprocess.run(
        [sys.executable, "-c", code, str(crafted)], capture_output=True, timeout=120
    )
    assert unchecked.returncode < 0  # killed by a signal (a segmentation fault), unchecked
    with pytest.raises(UntrustedModelError, match="DecisionTreeClassifier whose indices"):
        learnloop.load(crafted)


def test_a_kd_tree_pointing_outside_its_points_is_refused(
    linear_model: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(5, algorithm="kd_tree")
    model = _with_estimator(linear_model, knn, tmp_path / "knn.skops")
    assert learnloop.load(model).predict(linear_model[1]).shape[0] == len(linear_model[1])

    def past_the_end(nodes: np.ndarray) -> None:
        nodes["idx_end"][0] += 1_000_000

    crafted = rewrite(model, tmp_path / "crafted.skops", _change_array("idx_end", past_the_end))
    with pytest.raises(UntrustedModelError, match="KDTree whose indices"):
        learnloop.load(crafted)
