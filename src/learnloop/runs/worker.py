"""``learnloop worker RUN``: join a run from another process or machine.

A worker re-reads the run's recorded data and options, makes the same seeded splits,
and runs trials in the run's Optuna study (the store's RDB storage serialises ask and
tell, so trial numbers never collide). Between trials it reads the run: it stops when
the run is finished or any trial has passed the target. When its own trial passes the
target it records that on the run (``target_trial``); the ``train`` process that owns the
run takes the trial in, refits it and certifies it on the test split, which a worker
never looks at.
"""

from __future__ import annotations

import os
import time
from typing import Any

from learnloop.certify import LookPolicy
from learnloop.core.settings import RunSettings
from learnloop.exceptions import StoreError, UsageError
from learnloop.runs.dataset import dataset_for
from learnloop.runs.looks import LookSchedule
from learnloop.search import Aim, Hooks, Problem, Search
from learnloop.search.trials import TrialRecord
from learnloop.store import open_store

__all__ = ["work"]


def work(
    run_id: str,
    store: str | None = None,
    *,
    budget: float | None = None,
    n_jobs: int | None = None,
    on_trial: Any = None,
) -> dict[str, Any]:
    """Run trials of ``run_id`` (or the one run whose id starts so) until it finishes, the
    target is passed, or ``budget`` ends."""
    from learnloop.runs.train import _sampler

    st = open_store(store)
    run_id = st.resolve_run_id(run_id)  # a run's first characters will do
    settings, problem = _rebuild(st, run_id)
    threshold, seed = settings.threshold, settings.seed
    mine: list[int] = []

    def note(record: TrialRecord, loop: Search) -> None:
        mine.append(record.number)
        if on_trial is not None:
            on_trial(record, loop)

    def keep_going() -> bool:
        now = st.get_run(run_id)
        if now["status"] != "running" or now.get("target_trial") is not None:
            return False
        return not any(t.user_attrs.get("stop_reason") == "target" for t in st.trials(run_id))

    # aim as the owner does: at the alpha of the run's next test look (a resumed run's
    # looks go on from the ones it made)
    policy = LookPolicy(settings.confidence, threshold, problem.metric)
    looks = LookSchedule(policy, st.looks(run_id))
    alpha = looks.alpha_next() if looks.left else looks.policy.alpha_at(looks.policy.planned)
    loop = Search(
        problem,
        st.study(run_id, _sampler(seed + 1 + os.getpid() % 10_000)),
        Aim(problem.metric, threshold, alpha),
        candidates=settings.candidates,
        n_jobs=n_jobs or os.cpu_count() or 1,
        hooks=Hooks(
            on_trial=note,
            keep_going=keep_going,
            claim=lambda key, worker: bool(st.claim(run_id, key, worker)),
        ),
        joined=True,
    )
    started = time.monotonic()
    hit = loop.run(started + (budget or settings.budget))
    if hit is not None:
        st.update_run(run_id, target_trial=hit.trial)
    return {
        "run_id": run_id,
        "worker": loop.worker,
        "trials": mine,
        "target_trial": hit.trial if hit is not None else None,
        "elapsed_s": round(time.monotonic() - started, 3),
    }


def _rebuild(st: Any, run_id: str) -> tuple[RunSettings, Problem]:
    """The run's recorded settings, and its training and validation parts made again from
    its data file (the same seeded splits; refused if the data changed since)."""
    from learnloop.runs.train import problem_of

    run = st.get_run(run_id)
    if run["status"] != "running":
        raise UsageError(f"Run '{run_id}' is already finished ({run['status']}); nothing to join.")
    settings = RunSettings.from_record(run.get("options") or {})
    if not settings.data:
        raise StoreError(
            f"Run '{run_id}' was not started from a data file, so a worker cannot re-read it."
        )
    # read in the run's encoding; another file is refused before its columns are read
    dataset = dataset_for(settings.data, settings, run_fingerprint=run["fingerprint"])
    return settings, problem_of(dataset, settings.seed)
