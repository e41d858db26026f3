"""Hostile model files: each is built for real, as an attacker would, and each must be
refused by the Python API, ``learnloop predict`` and ``learnloop serve`` (exit 2, one line
naming the problem) without its payload ever running.

The payloads write a marker file when they run. Each is first shown to be live: skops,
told to trust what the file asks for (what a prefix rule like ``builtins.``/``numpy.``/
``sklearn.`` did), runs it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

import learnloop
from learnloop.exceptions import UntrustedModelError

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


def inject(source: Path, target: Path, node: dict[str, Any], key: str = "note") -> Path:
    """Copy the model file ``source`` to ``target`` with ``node`` added to its metadata,
    and a fresh sidecar checksum: whoever can replace a model can rewrite its sidecar."""
    with zipfile.ZipFile(source) as zin:
        schema = json.loads(zin.read("schema.json"))
        meta = schema["content"]["metadata"]
        meta["content"][key] = node
        meta["key_types"]["content"].append(
            {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"}
        )
        with zipfile.ZipFile(target, "w") as zout:
            for info in zin.infolist():
                data = zin.read(info)
                if info.filename == "schema.json":
                    data = json.dumps(schema).encode()
                zout.writestr(info.filename, data)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    target.with_name(target.name + ".sha256").write_text(f"{digest}  {target.name}\n")
    return target


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


@pytest.fixture(params=sorted(PAYLOADS))
def payload(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path, Path]:
    """(payload name, hostile model file, the marker its payload would write)."""
    marker = tmp_path / "payload-ran"
    path = inject(BASE_MODEL, tmp_path / "hostile.skops", PAYLOADS[request.param](marker))
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


def test_predict_refuses_with_exit_2_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    path = inject(BASE_MODEL, tmp_path / "hostile.skops", PAYLOADS["builtins.exec"](marker))
    line = _one_line_refusal(_learnloop("predict", str(path), str(ROWS)))
    assert "not trusted" in line and "builtins.exec" in line
    assert not marker.exists()


def test_serve_refuses_to_start_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    path = inject(BASE_MODEL, tmp_path / "hostile.skops", PAYLOADS["builtins.exec"](marker))
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
    from learnloop.trusted_types import audit_schema

    with zipfile.ZipFile(plain) as z:
        audit_schema(json.loads(z.read("schema.json")), str(plain))  # no error
    for func in (np.float64, print):
        path = tmp_path / "with-func.skops"
        sio.dump({"pipeline": FunctionTransformer(func=func)}, path)
        with zipfile.ZipFile(path) as z, pytest.raises(UntrustedModelError, match="not trusted"):
            audit_schema(json.loads(z.read("schema.json")), str(path))
