"""learnloop: train to the accuracy you need, prove it on held-out data, ship a safe model."""

from __future__ import annotations

import os as _os

# OpenMP threads (LightGBM, scikit-learn) that spin while waiting collapse on shared or busy
# CPUs (10x slower seen on a 2-core machine); passive waiting costs little when idle.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
