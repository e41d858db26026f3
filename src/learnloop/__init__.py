"""learnloop: train to the accuracy you need, prove it on held-out data, ship a safe model."""

from __future__ import annotations

# OpenMP's wait policy is left to the user (OMP_WAIT_POLICY). Passive waiting, set here
# before, made LightGBM's boosting rounds 5-10x slower on an idle 2-core machine for tables of
# 10k-30k rows (each round is a few short parallel regions; a sleeping thread wakes late);
# small predictions run in one thread instead (see learnloop.estimators), so a server's idle
# OpenMP threads do not spin.

__version__ = "0.1.0"

from learnloop import exceptions  # noqa: E402
from learnloop.artifacts import LoadedModel, load_model  # noqa: E402
from learnloop.certify import Certificate  # noqa: E402
from learnloop.data import Schema  # noqa: E402
from learnloop.result import Result  # noqa: E402
from learnloop.train import train  # noqa: E402

load = load_model

__all__ = [
    "exceptions",
    "train",
    "load",
    "load_model",
    "LoadedModel",
    "Result",
    "Certificate",
    "Schema",
]
