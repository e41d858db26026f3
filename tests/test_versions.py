"""Model versions and aliases in the store (SQLite and PostgreSQL), the retrain window, and
bad input to ``retrain``, ``rollback`` and ``models``: one line, exit 2, nothing registered."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from learnloop.exceptions import DataError, StoreError, UsageError
from learnloop.runs.retrain import window_rows, with_rows
from learnloop.store import open_store
from learnloop.store.versions import Registry, default_name
from store_backends import learnloop


def _register(reg: Registry, name: str = "cancer", **fields: object) -> int:
    values = {"path": f"/m/{name}.skops", "digest": "d" * 64, "status": "met", **fields}
    return reg.register(name, **values)  # type: ignore[arg-type]


def test_versions_are_numbered_with_parent_certificate_and_window(backend_url: str) -> None:
    reg = Registry(open_store(backend_url))
    cert = {"test_bound": 0.91, "met": True}
    first = _register(reg, certificate=cert, window={"rows": 350, "fingerprint": "f1"})
    second = _register(reg, parent=first, status="not_met", window={"rows": 569})
    assert (first, second) == (1, 2)
    v1, v2 = reg.get("cancer", 1), reg.get("cancer", 2)
    assert v1["certificate"] == cert and v1["window"]["fingerprint"] == "f1"
    assert v2["parent"] == 1 and v2["status"] == "not_met" and v2["created"] >= v1["created"]
    assert [v["version"] for v in reg.versions("cancer")] == [2, 1]
    assert reg.names() == ["cancer"]
    assert reg.find("/m/cancer.skops", "d" * 64)["version"] == 2
    assert reg.find("/m/cancer.skops", "e" * 64) is None
    # a registry on a store opened again sees the same (its tables are not made twice)
    assert [v["version"] for v in Registry(open_store(backend_url)).versions("cancer")] == [2, 1]


def test_aliases_are_set_moved_and_listed(backend_url: str) -> None:
    reg = Registry(open_store(backend_url))
    for _ in range(3):
        _register(reg)
    assert reg.alias("cancer", "champion") is None
    assert reg.set_alias("cancer", "champion", 1) is None
    assert reg.set_alias("cancer", "challenger", 3) is None
    assert reg.set_alias("cancer", "champion", 2) == 1  # moved: the version it named before
    assert reg.aliases("cancer") == {"champion": 2, "challenger": 3}
    assert reg.champion("cancer")["version"] == 2
    listed = {v["version"]: v["aliases"] for v in reg.versions("cancer")}
    assert listed == {3: ["challenger"], 2: ["champion"], 1: []}
    reg.remove_alias("cancer", "challenger")
    assert reg.aliases("cancer") == {"champion": 2}


def test_unknown_names_versions_and_aliases_are_one_clear_error(backend_url: str) -> None:
    reg = Registry(open_store(backend_url))
    with pytest.raises(StoreError, match="There is no model 'cancer'.*no models yet"):
        reg.versions("cancer")
    _register(reg)
    with pytest.raises(StoreError, match="There is no model 'nope'.*its models: cancer"):
        reg.champion("nope")
    with pytest.raises(StoreError, match="has no version 7; its versions: 1"):
        reg.set_alias("cancer", "champion", 7)
    with pytest.raises(StoreError, match="has no champion"):
        reg.champion("cancer")
    with pytest.raises(UsageError, match="no alias 'best'"):
        reg.set_alias("cancer", "best", 1)
    with pytest.raises(StoreError, match="has no version 9"):
        _register(reg, parent=9)
    with pytest.raises(UsageError, match="not usable"):
        _register(reg, name="a b/c")
    assert [v["version"] for v in reg.versions("cancer")] == [1]


def test_versions_registered_at_once_get_distinct_numbers(backend_url: str) -> None:
    """Eight threads with a registry each register three versions at the same time."""
    registries = [Registry(open_store(backend_url)) for _ in range(8)]
    numbers: list[int] = []
    lock = threading.Lock()

    def work(reg: Registry) -> None:
        for _ in range(3):
            n = _register(reg)
            with lock:
                numbers.append(n)

    threads = [threading.Thread(target=work, args=(r,)) for r in registries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(numbers) == list(range(1, 25))


def test_default_name_drops_the_version_retrain_added() -> None:
    assert default_name("/x/cancer.skops") == "cancer"
    assert default_name("/x/cancer.v12.skops") == "cancer"
    assert default_name("/x/model.vx.skops") == "model.vx"
    assert default_name("/x/.v3.skops") == ".v3"


def test_window_keeps_the_newest_rows() -> None:
    frame = pd.DataFrame(
        {
            "when": pd.date_range("2024-01-01", periods=10, freq="D").strftime("%Y-%m-%d"),
            "x": np.arange(10),
        }
    ).iloc[::-1]  # the file's order is not the time order
    assert sorted(window_rows(frame, "3", "when")["x"]) == [7, 8, 9]
    assert sorted(window_rows(frame, "3", None)["x"]) == [0, 1, 2]  # the table's order
    assert sorted(window_rows(frame, "2d", "when")["x"]) == [7, 8, 9]
    assert sorted(window_rows(frame, "1w", "when")["x"]) == [2, 3, 4, 5, 6, 7, 8, 9]
    assert window_rows(frame, None, "when") is frame
    for bad in ("0", "-3", "3 months", "x"):
        with pytest.raises(UsageError, match="not understood"):
            window_rows(frame, bad, "when")
    with pytest.raises(UsageError, match="without a time column"):
        window_rows(frame, "2d", None)
    with pytest.raises(UsageError, match="holds numbers"):
        window_rows(frame.assign(when=frame["x"]), "2d", "when")


def test_extra_rows_are_appended_with_the_data_columns() -> None:
    frame = pd.DataFrame({"a": [1, 2], "y": [0, 1]})
    extra = pd.DataFrame({"y": [1], "a": [3], "prediction_id": ["p1"]})
    both = with_rows(frame, extra, "y")
    assert both.to_dict("list") == {"a": [1, 2, 3], "y": [0, 1, 1]}
    assert with_rows(frame, None, "y") is frame
    with pytest.raises(DataError, match="no target column 'y'"):
        with_rows(frame, extra.drop(columns="y"), "y")
    with pytest.raises(DataError, match="lack the column 'a'"):
        with_rows(frame, extra.drop(columns="a"), "y")


# ------------------------------------------------------------------------ bad input (CLI)
@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small breast-cancer model file (not registered), its store beside it."""
    from sklearn.datasets import load_breast_cancer

    import learnloop as ll

    root = tmp_path_factory.mktemp("versions")
    frame = load_breast_cancer(as_frame=True).frame
    frame.to_csv(root / "cancer.csv", index=False)
    frame.drop(columns="target").to_csv(root / "unlabelled.csv", index=False)
    out = root / "cancer.skops"
    ll.train(
        frame, target="target", threshold=0.85, budget=10, out=out, candidates=["lightgbm"],
        store=str(root / "train.db"),
    )  # fmt: skip
    return out


def _one_line_exit_2(proc: object, *needles: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)  # type: ignore[attr-defined]
    lines = proc.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "Traceback" not in proc.stderr  # type: ignore[attr-defined]
    for needle in needles:
        assert needle in lines[0], lines[0]


def _names(store: str) -> list[str]:
    return Registry(open_store(store)).names()


def test_bad_input_is_one_line_exit_2_and_registers_nothing(
    trained: Path, backend_url: str, tmp_path: Path
) -> None:
    data = trained.parent / "cancer.csv"
    no_target = trained.parent / "unlabelled.csv"
    _one_line_exit_2(
        learnloop("retrain", "nosuchmodel", "--data", str(data), "--store", backend_url),
        "no model file or registered model 'nosuchmodel'",
    )
    _one_line_exit_2(
        learnloop("retrain", str(trained), "--data", str(no_target), "--store", backend_url),
        "no target column 'target'",
    )
    _one_line_exit_2(
        learnloop(
            "retrain", str(trained), "--data", str(data), "--window", "3 months",
            "--store", backend_url,
        ),
        "window '3 months'",
    )  # fmt: skip
    tampered = tmp_path / "tampered.skops"
    raw = bytearray(trained.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    tampered.write_bytes(bytes(raw))
    proc = learnloop("retrain", str(tampered), "--data", str(data), "--store", backend_url)
    _one_line_exit_2(proc, "tampered.skops")
    _one_line_exit_2(learnloop("models", "register", str(tampered), "--store", backend_url))
    assert _names(backend_url) == []
    assert open_store(backend_url).list_runs() == []  # no run was started either
    _one_line_exit_2(
        learnloop("rollback", "cancer", "--store", backend_url), "There is no model 'cancer'"
    )
    _one_line_exit_2(learnloop("models", "list", "cancer", "--store", backend_url))
    # registered: an unknown version, an alias that does not exist, no parent to go back to
    reg = learnloop("models", "register", str(trained), "--store", backend_url, "--json")
    assert reg.returncode == 0, reg.stderr
    assert json.loads(reg.stdout) == {"name": "cancer", "version": 1, "champion": 1}
    _one_line_exit_2(
        learnloop("rollback", "cancer", "--to", "5", "--store", backend_url), "no version 5"
    )
    _one_line_exit_2(
        learnloop("models", "alias", "cancer", "best", "1", "--store", backend_url),
        "no alias 'best'",
    )
    _one_line_exit_2(learnloop("rollback", "cancer", "--store", backend_url), "no parent")
    # the same file registered again is the same version
    again = learnloop("models", "register", str(trained), "--store", backend_url, "--json")
    assert json.loads(again.stdout)["version"] == 1
    listed = json.loads(
        learnloop("models", "list", "cancer", "--store", backend_url, "--json").stdout
    )
    assert [(v["version"], v["aliases"]) for v in listed["versions"]] == [(1, ["champion"])]
    # a registered version whose file was changed since: rollback to it is refused
    tampered.write_bytes(trained.read_bytes())
    learnloop("models", "register", str(tampered), "--store", backend_url)
    tampered.write_bytes(bytes(raw))
    _one_line_exit_2(
        learnloop("rollback", "tampered", "--to", "1", "--store", backend_url), "tampered.skops"
    )


def test_a_request_keeps_the_model_it_pinned_across_a_swap() -> None:
    """The swap replaces one reference; a request that pinned the old model (its context)
    reads the old model and validator to its end, while new requests get the new one."""
    import asyncio
    from types import SimpleNamespace

    from learnloop.serving.state import Live, Serving

    serving = Serving(max_rows=10)
    old = Live(SimpleNamespace(name="old"), SimpleNamespace(name="old-v"), "m/1")  # type: ignore[arg-type]
    new = Live(SimpleNamespace(name="new"), SimpleNamespace(name="new-v"), "m/2")  # type: ignore[arg-type]
    serving.install(old)
    swapped = asyncio.Event()
    seen: list[tuple[str, str]] = []

    async def request() -> None:
        _, token = serving.pin()
        try:
            seen.append((serving.model.name, serving.validator.name))  # type: ignore[union-attr]
            await swapped.wait()  # the swap happens while this request is in flight
            seen.append((serving.model.name, serving.validator.name))  # type: ignore[union-attr]
        finally:
            serving.unpin(token)

    async def main() -> None:
        task = asyncio.create_task(request())
        await asyncio.sleep(0)
        assert serving.install(new) is old
        swapped.set()
        await task
        late = asyncio.create_task(request())
        await asyncio.sleep(0)
        swapped.set()
        await late

    asyncio.run(main())
    assert seen == [("old", "old-v"), ("old", "old-v"), ("new", "new-v"), ("new", "new-v")]
    assert serving.current is new and serving.live is new
