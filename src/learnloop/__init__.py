"""learnloop: train to the accuracy you need, prove it on held-out data, ship a safe model."""

from __future__ import annotations

# OpenMP's wait policy is left to the user (OMP_WAIT_POLICY). Passive waiting, set here
# before, made LightGBM's boosting rounds 5-10x slower on an idle 2-core machine for tables of
# 10k-30k rows (each round is a few short parallel regions; a sleeping thread wakes late);
# small predictions run in one thread instead (see learnloop.estimators), so a server's idle
# OpenMP threads do not spin.
from learnloop import exceptions
from learnloop._version import __version__
from learnloop.certify import Certificate
from learnloop.data import Schema
from learnloop.runs.result import Result
from learnloop.runs.train import train
from learnloop.store.model_files import LoadedModel, load_model

load = load_model

__all__ = [
    "__version__",
    "exceptions",
    "train",
    "load",
    "load_model",
    "LoadedModel",
    "Result",
    "Certificate",
    "Schema",
]
