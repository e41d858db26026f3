"""The search: what to train next, where it trains, and when to stop.

One driver runs every search, whatever the executor; the modules, from the bottom up:

- ``values``: the plain values (Problem, FittedModel, Job, TrialSpec, Outcome).
- ``aim``: the score to pass for a test look to be worth spending.
- ``monitor``: a trial's step-by-step stop rules; ``fit``: fitting one configuration
  (a trial, a refit, a fixed number of steps), callable without a search.
- ``portfolio``, ``local_search``, ``schedule``: what to train next, on how many rows.
- ``ensemble``: greedy ensemble selection; ``finalist``: the refit before a look and the
  cross-validated look decision.
- ``executors``: where a trial runs (in process, Dask).
- ``driver``: the loop itself; ``search``: its front door (:class:`Search`).
"""

from __future__ import annotations

from learnloop.search.aim import Aim
from learnloop.search.search import Hooks, Search
from learnloop.search.values import FittedModel, Job, Outcome, Problem, TrialSpec, predict_model

__all__ = [
    "Aim",
    "Hooks",
    "Search",
    "FittedModel",
    "Job",
    "Outcome",
    "Problem",
    "TrialSpec",
    "predict_model",
]
