"""Helpers for the serving tests: small trained models and real server processes.

Kept out of conftest.py so that other test modules do not pay for them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

import learnloop

TOKEN = "s3cret-token-for-tests"


def mixed_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Numeric (with gaps), categorical, date-string and identifier columns; a yes/no target."""
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 12, n).round(1)
    color = rng.choice(["red", "green", "blue"], n)
    signup = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    score = (age > 40).astype(int) + (color == "red") + (signup.month > 6)
    target = np.where(score + rng.normal(0, 0.3, n) > 1.2, "yes", "no")
    age[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "age": age,
            "color": color,
            "signup": signup.strftime("%Y-%m-%d"),
            "target": target,
        }
    )


@dataclass
class Models:
    classifier: Path
    regressor: Path
    mixed: Path
    classifier_frame: pd.DataFrame
    regressor_frame: pd.DataFrame
    mixed_frame: pd.DataFrame


def train_models(root: Path, only: tuple[str, ...] | None = None) -> Models:
    """Three small LightGBM models: breast cancer, diabetes and the mixed frame (or only
    those named; the others' paths are then not written)."""
    from sklearn.datasets import load_breast_cancer, load_diabetes

    store = str(root / "s.db")
    cancer = load_breast_cancer(as_frame=True).frame
    diabetes = load_diabetes(as_frame=True).frame
    mixed = mixed_frame()
    paths = {}
    for name, frame, threshold in (
        ("classifier", cancer, 0.9),
        ("regressor", diabetes, 0.15),  # met at the first look (0.3 was not: 10 s spent)
        ("mixed", mixed, 0.6),
    ):
        paths[name] = root / f"{name}.skops"
        if only is not None and name not in only:
            continue
        learnloop.train(
            frame,
            target="target",
            threshold=threshold,
            budget=10,  # stops at the threshold; room for a trial on a loaded machine
            out=paths[name],
            store=store,
            candidates=["lightgbm"],
        )
    return Models(
        paths["classifier"],
        paths["regressor"],
        paths["mixed"],
        cancer.drop(columns="target"),
        diabetes.drop(columns="target"),
        mixed.drop(columns="target"),
    )


def train_recommender(root: Path) -> Path:
    """A popularity recommender on generated shop events (string users), in a second or two."""
    from shop_events import shop_events

    out = root / "recommender.skops"
    events = shop_events(n_users=60, n_items=30, events=(5, 12), seed=4)
    learnloop.train(
        events,
        task="recommendation",
        user="user",
        item="item",
        budget=2,
        candidates=["popularity"],
        store=str(root / "r.db"),
        out=out,
    )
    return out


def train_digits(root: Path) -> Path:
    """A picture model (``--task image``) on scikit-learn's 8x8 digits, written as PNGs."""
    import picture_data

    out = root / "digits.skops"
    folder = picture_data.write_digits(root / "digits")
    learnloop.train(
        str(folder), task="image", threshold=0.5, budget=8, out=out, store=str(root / "d.db")
    )
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_command(model: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "learnloop", "serve", str(model), *args]


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def start_server(model: Path, log: Path, *args: str, timeout: float = 90.0) -> Server:
    """Start ``learnloop serve`` in a subprocess and wait until /ready answers 200."""
    port = free_port()
    command = serve_command(model, "--port", str(port), "--log-level", "warning", *args)
    return _start(command, port, log, timeout)


def start_app_server(model: Path, log: Path, idle_s: float, total_s: float) -> Server:
    """A server process of ``create_app`` with short body timeouts, run by uvicorn as
    ``learnloop serve`` runs it (the command has no option for them)."""
    port = free_port()
    code = (
        "import sys, uvicorn\n"
        "from learnloop.serving import BodyLimits, create_app\n"
        "limits = BodyLimits(idle_s=float(sys.argv[2]), total_s=float(sys.argv[3]))\n"
        "uvicorn.run(create_app(sys.argv[1], body_limits=limits), port=int(sys.argv[4]),\n"
        "            log_level='info', access_log=False, timeout_keep_alive=5)\n"
    )
    command = [sys.executable, "-c", code, str(model), str(idle_s), str(total_s), str(port)]
    return _start(command, port, log, 90.0)


def _start(command: list[str], port: int, log: Path, timeout: float) -> Server:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = Server(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{server.url}/ready", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(f"the server was not ready after {timeout}s:\n{log.read_text()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def running_server(log: Path, model: Path, *args: str) -> Iterator[Server]:
    """A server for the length of a fixture."""
    server = start_server(model, log, *args)
    yield server
    stop_server(server)
