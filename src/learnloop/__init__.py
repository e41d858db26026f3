"""learnloop: train to the accuracy you need, prove it on held-out data, ship a safe model."""

from __future__ import annotations

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
