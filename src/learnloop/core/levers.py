"""The levers that cut time to a certified model, each one switchable off for an ablation.

The benchmark measures what each lever buys by turning it off in turn
(``LEARNLOOP_ABLATE=refit,ensemble`` in the environment, or :func:`ablated`); a user never
needs to. Every lever is on by default except those in ``OFF_BY_DEFAULT``, which did not pay
on the benchmark and are turned on with ``LEARNLOOP_ENABLE=portfolio``.

- ``refit``: before a test look, the chosen configuration is refitted on training plus
  validation rows (the test split is still unseen; the certified model is the saved one).
- ``cv_look``: when the search stalls short of the aim, a cross-validated estimate of the
  finalists decides whether a test look is worth spending.
- ``local``: cost-frugal local search from the best configuration before the global sampler.
- ``ensemble``: greedy ensemble selection over the trials' validation predictions.
- ``portfolio``: the portfolio order learned from data sets' meta-features (off by default:
  in the ablation it made time to threshold no shorter, and its leave-one-out replay was
  twice as slow on the hard thresholds; see bench/PORTFOLIO_RESULTS.md).
- ``split``: the test split sized from the threshold (own splits only).
- ``cv_select``: where the validation split is tiny, the model looked at is chosen among the
  best few configurations by cross-validation over training + validation rows (off by
  default: on wine and iris it left the test score where the validation split's choice
  put it, ratios 0.996-1.002 over 5 seeds; see bench/SMALL_DATA_RESULTS.md).
- ``first_look``: while the run's first test look is still to make, the best model past the
  threshold on validation, short of the aim, may get it: at its own share of alpha
  (``cheap_first_look``, below) or, with that lever off, when the rule of
  ``learnloop.search.look_rule`` says so: a predicted chance of passing of at least 25%, and
  the aim not expected within a tenth of the time left (the look then spends look 1's share
  of alpha, as it would at the aim; bench/NEAR_THRESHOLD_RESULTS.md).
- ``look_rule``: that rule; switched off, ``first_look`` looks at the first model past the
  threshold at once (which cost the later looks alpha where a few more trials reach the aim:
  breast cancer at accuracy >= 0.9, certified after 2 trials without it, after the whole
  20-s budget with it).
- ``cheap_first_look``: the run's first look, when it goes to a model short of the aim,
  spends a share of alpha planned for it (30%; the later looks share the other 70%), and
  is made at once, at the first model past the threshold whose predicted chance of
  passing at that alpha is at least 25% (``look_rule.early_call``); until then, and at a
  better model if it fails, the rule above still times a look at the plan's next share;
  switched off, the rule alone times the first look, at look 1's full share.
- ``end_refit``: a run without a threshold keeps, at the end of its search, the time to
  refit its best model on training + validation rows before its one test look (off by
  default: on four real tables at 60 s, bench/TABLES_VS_PEERS_RESULTS.md, see there).
- ``early_look``: a model trained on a sample of the training rows that passes the threshold
  on validation, short of the aim, gets a test look when its score on the training rows its
  sample left out says the look passes (off by default: it fired on no run of the
  benchmark; with ``first_look`` on it is asked only where that lever's rule waits).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["LEVERS", "ENV", "ENABLE_ENV", "OFF_BY_DEFAULT", "enabled", "ablated"]

LEVERS = (
    "refit",
    "cv_look",
    "local",
    "ensemble",
    "portfolio",
    "split",
    "cv_select",
    "early_look",
    "first_look",
    "look_rule",
    "cheap_first_look",
    "end_refit",
)
OFF_BY_DEFAULT = frozenset({"portfolio", "cv_select", "early_look", "end_refit"})
ENV = "LEARNLOOP_ABLATE"
ENABLE_ENV = "LEARNLOOP_ENABLE"


def _named(variable: str) -> set[str]:
    names = {n.strip() for n in os.environ.get(variable, "").split(",") if n.strip()}
    unknown = names - set(LEVERS)
    if unknown:
        raise ValueError(f"{variable} names unknown levers {sorted(unknown)}; known: {LEVERS}.")
    return names


def _off() -> set[str]:
    return _named(ENV)


def enabled(lever: str) -> bool:
    """Whether ``lever`` is on: not listed in ``$LEARNLOOP_ABLATE``, and for a lever that is
    off by default, listed in ``$LEARNLOOP_ENABLE``."""
    if lever not in LEVERS:
        raise ValueError(f"Unknown lever {lever!r}; known: {LEVERS}.")
    if lever in _off():
        return False
    return lever not in OFF_BY_DEFAULT or lever in _named(ENABLE_ENV)


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
