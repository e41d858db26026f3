"""Choosing on a tiny validation split: by its score alone, or by cross-validation.

    python -m bench.small_data     # 5 seeds, 15 s budgets -> bench/SMALL_DATA_RESULTS.md
    python -m bench.small_data --seeds 0 --no-write

On small tables the validation split is a few dozen rows, and after hundreds of trials the
best validation score is mostly those rows' luck. learnloop runs each table twice with the
same seed, budget and split: with the ``cv_select`` lever on (the model looked at is the best
of the finalists by 5-fold cross-validation over training + validation rows) and off (the
best validation score). Both runs certify on the same test rows, so the test scores compare
the two choices; the gap between validation and test score is the choice's optimism.

Data (shipped inside scikit-learn, read at run time): wine (178 rows, 13 columns, three
cultivars; UCI, CC BY 4.0) and iris (150 rows, 4 columns, three species; UCI, CC BY 4.0),
clustered without their labels and scored against them (adjusted Rand), and wine by
silhouette.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).with_name("SMALL_DATA_RESULTS.md")


def tables(folder: Path) -> list[tuple[str, Path, list[str]]]:
    """(name, file, extra CLI options) of each benchmark table, written to ``folder``."""
    from sklearn.datasets import load_iris, load_wine

    wine = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    iris = load_iris(as_frame=True).frame.rename(columns={"target": "species"})
    wine.to_csv(folder / "wine.csv", index=False)
    wine.drop(columns="cultivar").to_csv(folder / "wine_unlabeled.csv", index=False)
    iris.to_csv(folder / "iris.csv", index=False)
    return [
        ("wine, adjusted_rand", folder / "wine.csv", ["--labels", "cultivar"]),
        ("iris, adjusted_rand", folder / "iris.csv", ["--labels", "species"]),
        ("wine, silhouette", folder / "wine_unlabeled.csv", []),
    ]


def run(path: Path, options: list[str], seed: int, budget: float, lever_on: bool) -> dict:
    """One ``learnloop train`` run; its JSON result."""
    env = dict(os.environ)
    env.pop("LEARNLOOP_ABLATE", None)
    env["LEARNLOOP_ENABLE"] = "cv_select"  # off by default: this benchmark is why
    if not lever_on:
        env["LEARNLOOP_ABLATE"] = "cv_select"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "learnloop", "train", str(path), *options]
        cmd += ["--budget", str(budget), "--seed", str(seed), "--json"]
        cmd += ["--store", f"sqlite:///{tmp}/runs.db", "--out", f"{tmp}/model.skops"]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode not in (0, 3):
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def measure(seeds: list[int], budget: float) -> pd.DataFrame:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, path, options in tables(Path(tmp)):
            for seed in seeds:
                for lever_on in (True, False):
                    result = run(path, options, seed, budget, lever_on)
                    rows.append(
                        {
                            "table": name,
                            "seed": seed,
                            "choice": "cross-validation" if lever_on else "validation split",
                            "validation": result["validation_score"],
                            "test": result["test_score"],
                            "bound": result["test_bound"],
                        }
                    )
                    print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def table(frame: pd.DataFrame) -> str:
    lines = [
        "| table | choice | test score (mean) | validation - test | test bound (mean) | "
        "test: cv / split |",
        "|---|---|---|---|---|---|",
    ]
    for name, by_table in frame.groupby("table", sort=False):
        means = by_table.groupby("choice")["test"].mean()
        ratio = means["cross-validation"] / means["validation split"]
        for choice, part in by_table.groupby("choice", sort=False):
            gap = float(np.mean(part["validation"] - part["test"]))
            lines.append(
                f"| {name} | {choice} | {part['test'].mean():.4f} | {gap:+.4f} | "
                f"{part['bound'].mean():.4f} | {ratio:.3f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--budget", type=float, default=15.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    started = time.time()
    frame = measure(args.seeds, args.budget)
    text = table(frame)
    print(text)
    if args.no_write:
        return
    load = os.getloadavg()[0]
    RESULTS.write_text(
        "# Choosing on a tiny validation split\n\n"
        f"`python -m bench.small_data` ({len(args.seeds)} seeds, {args.budget:g} s budgets, "
        f"{platform.machine()}, {os.cpu_count()} cores, load {load:.1f} at the end, "
        f"{time.time() - started:.0f} s). Same seed, split and budget for both choices; "
        "the test rows are the certificate's (62 of wine's 178 rows, 52 of iris's 150).\n\n"
        f"{text}\n\nPer run (table, seed, choice, validation, test, bound):\n\n"
        + "\n".join(
            f"- {r.table}, seed {r.seed}, {r.choice}: {r.validation:.4f}, {r.test:.4f}, "
            f"{r.bound:.4f}"
            for r in frame.itertuples()
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
