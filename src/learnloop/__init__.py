"""learnloop: train to the accuracy you need, prove it on held-out data, ship a safe model.

The public names are imported on first use (PEP 562), so ``import learnloop`` and the command
line's ``--help`` and early refusals do not pay for SciPy, scikit-learn and pandas (3 s of a
7-s ``learnloop --help`` before).
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from typing import TYPE_CHECKING, Any

# OpenMP's wait policy is left to the user (OMP_WAIT_POLICY). Passive waiting, set here
# before, made LightGBM's boosting rounds 5-10x slower on an idle 2-core machine for tables of
# 10k-30k rows (each round is a few short parallel regions; a sleeping thread wakes late);
# small predictions run in one thread instead (see learnloop.estimators), so a server's idle
# OpenMP threads do not spin.
from learnloop import exceptions
from learnloop._version import __version__
from learnloop.core import hooks

# Optuna imports tqdm.auto, which in a Jupyter kernel without ipywidgets warns "IProgress not
# found" on import: about a widget bar learnloop never draws (its notebook progress is plain
# HTML), so the warning is only noise under the first cell that trains. Only that message,
# only from tqdm.auto.
warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm.auto")


def _inline_report(result: Result, data: Any) -> Any:
    """``result.report()``: the run's HTML report as a notebook value (the report layer is
    above the runs that make results, so the root, above both, connects them)."""
    from learnloop.report import inline_report

    return inline_report(result.run_id, result.store_url, data, result.model)


hooks.inline_report = _inline_report

if TYPE_CHECKING:
    from learnloop.certify import Certificate
    from learnloop.data import Schema
    from learnloop.explanations import Explanation
    from learnloop.runs.result import Result
    from learnloop.runs.train import train
    from learnloop.store.model_files import LoadedModel, explain, load_model

    load = load_model

# public name -> (module, attribute)
_LAZY = {
    "Certificate": ("learnloop.certify", "Certificate"),
    "Schema": ("learnloop.data", "Schema"),
    "Result": ("learnloop.runs.result", "Result"),
    "train": ("learnloop.runs.train", "train"),
    "LoadedModel": ("learnloop.store.model_files", "LoadedModel"),
    "load_model": ("learnloop.store.model_files", "load_model"),
    "load": ("learnloop.store.model_files", "load_model"),
    "explain": ("learnloop.store.model_files", "explain"),
    "Explanation": ("learnloop.explanations", "Explanation"),
}

__all__ = [
    "__version__",
    "exceptions",
    "train",
    "load",
    "load_model",
    "LoadedModel",
    "explain",
    "Explanation",
    "Result",
    "Certificate",
    "Schema",
]


def __getattr__(name: str) -> Any:
    """Import a public name (or a subpackage, as ``learnloop.store``) on first use; keep it."""
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
    elif not name.startswith("_") and importlib.util.find_spec(f"learnloop.{name}") is not None:
        value = importlib.import_module(f"learnloop.{name}")
    else:
        raise AttributeError(f"module 'learnloop' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
