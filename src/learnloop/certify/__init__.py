"""The certificate: the looks at the held-out test split, and the bounds they give.

``certificate`` is the look itself (the score, its one-sided bound at the look's share of
alpha, met or not; the look schedule; the test split's share); ``bounds`` bounds every metric
that is not a share of rows (a bootstrap of the test rows, or a jackknife); ``silhouette``
is the silhouette's jackknife over every test row. The names below are the package's
interface; the modules are importable for the rest.
"""

from __future__ import annotations

from learnloop.certify.bounds import (
    BCA_MAX_ROWS,
    BOOTSTRAP_RESAMPLES,
    NORMAL_MIN_ROWS,
    bootstrap_bound,
    bootstrap_interval,
    jackknife_estimate,
    mean_interval,
    resample_scorer,
)
from learnloop.certify.certificate import (
    DEFAULT_TEST_SHARE,
    EARLY_LOOK_SHARES,
    EARLY_SHARE,
    LOOK_SHARES,
    MAX_LOOKS,
    MAX_TEST_SHARE,
    Certificate,
    LookPolicy,
    aim_margin,
    best_possible_bound,
    certify,
    clopper_pearson_bound,
    fewest_right_to_certify,
    look_alpha,
    split_share_for,
    validation_se,
)

__all__ = [
    "Certificate",
    "LOOK_SHARES",
    "EARLY_SHARE",
    "EARLY_LOOK_SHARES",
    "look_alpha",
    "certify",
    "clopper_pearson_bound",
    "fewest_right_to_certify",
    "bootstrap_bound",
    "bootstrap_interval",
    "mean_interval",
    "jackknife_estimate",
    "resample_scorer",
    "aim_margin",
    "validation_se",
    "best_possible_bound",
    "LookPolicy",
    "MAX_LOOKS",
    "split_share_for",
    "DEFAULT_TEST_SHARE",
    "MAX_TEST_SHARE",
    "BOOTSTRAP_RESAMPLES",
    "BCA_MAX_ROWS",
    "NORMAL_MIN_ROWS",
]
