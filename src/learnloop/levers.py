"""The levers that cut time to a certified model, each one switchable off for an ablation.

The benchmark measures what each lever buys by turning it off in turn
(``LEARNLOOP_ABLATE=refit,ensemble`` in the environment, or :func:`ablated`); a user never
needs to. Every lever is on by default.

- ``refit``: before a test look, the chosen configuration is refitted on training plus
  validation rows (the test split is still unseen; the certified model is the saved one).
- ``cv_look``: when the search stalls short of the aim, a cross-validated estimate of the
  finalists decides whether a test look is worth spending.
- ``local``: cost-frugal local search from the best configuration before the global sampler.
- ``ensemble``: greedy ensemble selection over the trials' validation predictions.
- ``portfolio``: the portfolio order learned from data sets' meta-features.
- ``split``: the test split sized from the threshold (own splits only).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["LEVERS", "ENV", "enabled", "ablated"]

LEVERS = ("refit", "cv_look", "local", "ensemble", "portfolio", "split")
ENV = "LEARNLOOP_ABLATE"


def _off() -> set[str]:
    names = {n.strip() for n in os.environ.get(ENV, "").split(",") if n.strip()}
    unknown = names - set(LEVERS)
    if unknown:
        raise ValueError(f"{ENV} names unknown levers {sorted(unknown)}; known: {LEVERS}.")
    return names


def enabled(lever: str) -> bool:
    """Whether ``lever`` is on (not listed in ``$LEARNLOOP_ABLATE``)."""
    if lever not in LEVERS:
        raise ValueError(f"Unknown lever {lever!r}; known: {LEVERS}.")
    return lever not in _off()


@contextmanager
def ablated(*levers: str) -> Iterator[None]:
    """Turn ``levers`` off inside the block (tests and the benchmark's ablation)."""
    before = os.environ.get(ENV)
    os.environ[ENV] = ",".join(sorted(_off() | set(levers)))
    _off()  # fail on an unknown name at once
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before
