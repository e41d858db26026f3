"""``learnloop predict`` on a large CSV file: one-shot (main's code, the whole table in
memory) against chunked (this branch), side by side in one run.

    .venv/bin/python -m bench.predict_chunks --rows 10000000 --before-rows 1000000,2000000 \\
        --before-src /work/main/src --after-src src

Each run is ``python -m learnloop predict MODEL DATA --out OUT.csv`` in a subprocess under
``/usr/bin/time -v`` (wall time, maximum resident set size), with ``PYTHONPATH`` pointing at
the code measured. The data are generated house sales (no licence: made here), written to
``--data`` (default /tmp, never the repository); the model is LightGBM trained on 5,000 of
those rows for about 5 s. Where both codes predict the same file their outputs are compared
byte for byte. The one-shot code is run only at ``--before-rows`` (its memory grows with the
file); where that leaves out ``--rows``, its figures there are extrapolated on the line through
its two largest runs, and labelled so. Writes the table to ``--results`` (Markdown).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ZIPS = np.array([98103, 98105, 98109, 98112, 98115, 98117, 98118, 98122, 98125, 98144])
DISTRICTS = np.array(["north", "south", "east", "west"])


def houses(n: int, seed: int, start: int = 0) -> pd.DataFrame:
    """House sales: an ID, four inputs and (for training) a yes/no target."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "house_id": np.arange(start, start + n),
            "zipcode": rng.choice(ZIPS, n),
            "sqft_living": rng.normal(1900, 600, n).clip(500).round(),
            "bathrooms": rng.choice([1.0, 1.5, 2.0, 2.5, 3.0], n),
            "yr_built": rng.integers(1900, 2015, n),
            "district": rng.choice(DISTRICTS, n),
        }
    )
    score = (
        frame["sqft_living"] / 600
        + (frame["zipcode"] % 100) / 20
        + frame["bathrooms"]
        + (frame["yr_built"] - 1900) / 50
        + rng.normal(0, 0.5, n)
    )
    return frame.assign(expensive=np.where(score > 8.5, "yes", "no"))


def write_csv(path: Path, rows: int, block: int = 1_000_000) -> Path:
    """``rows`` generated rows (no target), written a block at a time; kept if present."""
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as fh:
        for i, start in enumerate(range(0, rows, block)):
            part = houses(min(block, rows - start), seed=100 + i, start=start)
            part.drop(columns="expensive").to_csv(fh, index=False, header=i == 0)
    tmp.replace(path)
    return path


def train(root: Path, src: str) -> Path:
    """A LightGBM model on 5,000 rows, about 5 s of search."""
    model = root / "houses.skops"
    if model.exists():
        return model
    data = root / "train.csv"
    houses(5000, seed=0).to_csv(data, index=False)
    subprocess.run(
        [sys.executable, "-m", "learnloop", "train", str(data), "--target", "expensive",
         "--budget", "5", "--candidates", "lightgbm", "--out", str(model),
         "--store", str(root / "s.db")],
        env={**os.environ, "PYTHONPATH": src}, capture_output=True, check=False,
    )  # fmt: skip
    if not model.exists():
        raise SystemExit("training the bench model failed")
    return model


def measure(src: str, model: Path, data: Path, out: Path, repeats: int) -> dict[str, float | str]:
    """The median wall seconds and the largest peak memory of ``repeats`` runs."""
    runs = [measure_once(src, model, data, out) for _ in range(repeats)]
    failed = [r for r in runs if r["status"] != "ok"]
    if failed:
        return failed[0]
    return {
        "seconds": float(np.median([r["seconds"] for r in runs])),
        "rss_mb": max(float(r["rss_mb"]) for r in runs),
        "status": "ok",
    }


def measure_once(src: str, model: Path, data: Path, out: Path) -> dict[str, float | str]:
    """Wall seconds and peak memory of one ``learnloop predict`` run under ``src``."""
    proc = subprocess.run(
        ["/usr/bin/time", "-v", sys.executable, "-m", "learnloop", "predict", str(model),
         str(data), "--out", str(out)],
        env={**os.environ, "PYTHONPATH": src}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", proc.stderr)
    seconds = sum(float(p) * 60**i for i, p in enumerate(reversed(wall.group(1).split(":"))))
    status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
    if proc.returncode != 0:
        print(proc.stderr.strip().splitlines()[0], file=sys.stderr)
    return {"seconds": seconds, "rss_mb": int(rss.group(1)) / 1024 if rss else float("nan"),
            "status": status}  # fmt: skip


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--before-rows", default="1000000,2000000")
    parser.add_argument("--before-src", default="/work/main/src")
    parser.add_argument("--after-src", default="src")
    parser.add_argument("--data", default="/tmp/learnloop-bench-predict")
    parser.add_argument("--results", default="bench/PREDICT_CHUNKS_RESULTS.md")
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell (median time)")
    args = parser.parse_args()
    root = Path(args.data)
    root.mkdir(parents=True, exist_ok=True)
    after_src = str(Path(args.after_src).resolve())
    model = train(root, after_src)
    sizes = sorted({*(int(r) for r in args.before_rows.split(",")), args.rows})
    rows_out = []
    for n in sizes:
        data = write_csv(root / f"houses-{n}.csv", n)
        runs = {}
        if n in {int(r) for r in args.before_rows.split(",")}:
            runs["one-shot (main)"] = measure(
                args.before_src, model, data, root / "before.csv", args.repeats
            )
        runs["chunked (this branch)"] = measure(
            after_src, model, data, root / "after.csv", args.repeats
        )
        same = ""
        if len(runs) == 2 and all(r["status"] == "ok" for r in runs.values()):
            same = "yes" if digest(root / "before.csv") == digest(root / "after.csv") else "NO"
        for label, r in runs.items():
            rows_out.append({"rows": n, "code": label, **r, "same_output": same})
            print(rows_out[-1], flush=True)
    write_results(rows_out, args, Path(args.results))


def extrapolation(before: pd.DataFrame, rows: int) -> str:
    """The one-shot code at ``rows``, on the line through its two largest runs (a fixed
    start-up cost plus a cost per row), labelled as not measured."""
    a, b = before.sort_values("rows").iloc[-2:].itertuples()
    per_row = {
        k: (getattr(b, k) - getattr(a, k)) / (b.rows - a.rows) for k in ("seconds", "rss_mb")
    }
    at = {k: getattr(b, k) + per_row[k] * (rows - b.rows) for k in per_row}
    return (
        f"**Extrapolated, not measured:** one-shot at {rows:,} rows, on the line through its "
        f"{a.rows:,}- and {b.rows:,}-row runs: ~{at['seconds']:.0f} s and "
        f"~{at['rss_mb'] / 1024:.1f} GB peak memory ({per_row['rss_mb'] * 1e6:.0f} MB more per "
        "million rows; the chunked code's stays flat)."
    )


def write_results(rows: list[dict], args: argparse.Namespace, path: Path) -> None:
    frame = pd.DataFrame(rows)
    frame["rows_per_s"] = frame["rows"] / frame["seconds"]
    before = frame[frame["code"].str.startswith("one-shot") & (frame["status"] == "ok")]
    after = frame[frame["code"].str.startswith("chunked")].set_index("rows")
    lines = [
        "# Chunked predict: rows/s and peak memory (issue 23, inputs)",
        "",
        f"`python -m bench.predict_chunks --rows {args.rows} --before-rows {args.before_rows}"
        f" --repeats {args.repeats}` on {platform.machine()}, {os.cpu_count()} cores shared "
        "with other jobs (wall times vary with their load: the median of the repeats is "
        "shown; peak memory does not vary); generated "
        "house sales (6 columns, no licence: made by the script), a LightGBM model trained on "
        "5,000 rows for ~5 s; `learnloop predict MODEL DATA.csv --out OUT.csv` in a subprocess "
        "under `/usr/bin/time -v` (wall time including start-up and model loading; peak "
        "resident memory). Chunks of 100,000 rows (the default).",
        "",
        "| rows | code | status | seconds | rows/s | peak memory (MB) | same output |",
        "|---:|---|---|---:|---:|---:|---|",
    ]
    for r in frame.itertuples():
        lines.append(
            f"| {r.rows:,} | {r.code} | {r.status} | {r.seconds:.1f} | {r.rows_per_s:,.0f} | "
            f"{r.rss_mb:,.0f} | {r.same_output} |"
        )
    if len(before) >= 2 and args.rows not in set(before["rows"]):
        lines += ["", extrapolation(before, args.rows)]
    if len(before):
        lines += [
            "",
            "| rows | one-shot / chunked seconds | one-shot / chunked peak memory |",
            "|---:|---:|---:|",
        ]
        for b in before.itertuples():
            if b.rows in after.index:
                a = after.loc[b.rows]
                seconds, memory = b.seconds / a["seconds"], b.rss_mb / a["rss_mb"]
                lines.append(f"| {b.rows:,} | {seconds:.2f} | {memory:.1f} |")
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
