"""How a trial is written to and read from the run's Optuna study — in this module only.

A trial is an Optuna trial whose parameters are ``family`` plus the family's own
parameters prefixed ``<family>.``; everything else the loop knows of it (rung, sample size,
learning curve, stop reason, worker, error) is a user attribute. :class:`StudyBook` asks
and tells; :func:`record_from` and :func:`trial_dict` read finished trials back, for the
loop (resume, workers) and for ``runs show`` alike.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any

import optuna

from learnloop.core import Output
from learnloop.families import CANDIDATES, Candidate
from learnloop.metrics import Metric

__all__ = [
    "TrialRecord",
    "StudyBook",
    "SeenTrial",
    "config_key",
    "record_from",
    "trial_dict",
    "STATES",
]

STATES = {
    optuna.trial.TrialState.COMPLETE: "complete",
    optuna.trial.TrialState.PRUNED: "pruned",
    optuna.trial.TrialState.FAIL: "failed",
    optuna.trial.TrialState.RUNNING: "running",
    optuna.trial.TrialState.WAITING: "waiting",
}


@dataclass
class TrialRecord:
    """What one trial did: configuration, data size, learning curve, outcome."""

    number: int
    candidate: str
    params: dict[str, Any]
    rung: int
    n_rows: int
    status: str = "running"  # complete | pruned | failed | running
    score: float | None = None
    best_step: int = 0
    steps: int = 0
    stop_reason: str = ""
    seconds: float = 0.0
    curve: list[tuple[int, float, float]] = field(default_factory=list)
    error: str | None = None
    first_step_s: float | None = None  # time to the first scored step, data preparation included


@dataclass
class SeenTrial:
    """A trial of the study as another process (or a killed run) left it."""

    number: int
    key: str  # its configuration at its rung (see config_key)
    promoted_from: int | None
    running: bool
    record: TrialRecord | None  # None while it runs


def config_key(candidate: str, params: dict[str, Any], rung: int) -> str:
    """One configuration at one rung, the same however its numbers were stored."""
    plain = {
        k: float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
        for k, v in params.items()
    }
    return json.dumps([candidate, plain, rung], sort_keys=True, default=str)


def _family_params(ft: optuna.trial.FrozenTrial) -> tuple[str, dict[str, Any]]:
    family = ft.user_attrs.get("candidate") or ft.params.get("family", "")
    prefix = f"{family}."
    return family, {k[len(prefix) :]: v for k, v in ft.params.items() if k.startswith(prefix)}


def record_from(ft: optuna.trial.FrozenTrial) -> TrialRecord:
    """A trial of the study as the loop's own record."""
    a = ft.user_attrs
    family, params = _family_params(ft)
    return TrialRecord(
        number=ft.number,
        candidate=family,
        params=params,
        rung=a.get("rung", 0),
        n_rows=a.get("n_rows", 0),
        status=STATES.get(ft.state, "failed") if ft.state.is_finished() else "running",
        score=a.get("score"),
        best_step=a.get("best_step", 0),
        steps=a.get("steps", 0),
        stop_reason=a.get("stop_reason", ""),
        seconds=a.get("seconds", 0.0),
        curve=[tuple(c) for c in a.get("curve") or []],
        error=a.get("error"),
    )


def trial_dict(ft: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """One trial as plain JSON: number, candidate, params, status, score and curve."""
    record = record_from(ft)
    a = ft.user_attrs
    return {
        "number": ft.number,
        "candidate": record.candidate or None,
        "params": record.params,
        "status": STATES.get(ft.state, ft.state.name.lower()),
        "score": record.score,
        "scores": [{"step": s, "score": v, "t": at} for s, v, at in record.curve],
        "rung": a.get("rung"),
        "n_rows": a.get("n_rows"),
        "steps": a.get("steps"),
        "best_step": a.get("best_step"),
        "stop_reason": a.get("stop_reason"),
        "seconds": a.get("seconds"),
        "worker": a.get("worker"),
        "retry_of": a.get("retry_of"),
        "error": record.error,
        "started": ft.datetime_start.isoformat(timespec="seconds") if ft.datetime_start else None,
        "finished": (
            ft.datetime_complete.isoformat(timespec="seconds") if ft.datetime_complete else None
        ),
    }


class StudyBook:
    """The run's study as the loop writes and reads it.

    Not thread-safe: one loop owns one StudyBook. Several processes may share the study
    through its storage (workers, a resumed run); :meth:`seen` reads what they left.
    """

    def __init__(self, study: optuna.Study, worker: str) -> None:
        self.study = study
        self.worker = worker

    def ask(
        self,
        families: list[Candidate],
        fixed: tuple[Candidate, dict[str, Any]] | None,
        rung: int,
        source: int | None,
        output: Output,
        n_rows: int,
        retry_of: int | None = None,
    ) -> tuple[Any, Candidate, dict[str, Any]]:
        """A new trial: ``fixed``'s configuration, or one the sampler proposes."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if fixed is not None:
                cand, params = fixed
                values = {"family": cand.name, **{cand.key(k): v for k, v in params.items()}}
                self.study.enqueue_trial(values, skip_if_exists=False)
            trial = self.study.ask()
            family = trial.suggest_categorical("family", [c.name for c in families])
            chosen = CANDIDATES[family]
            sampled = chosen.search_space(trial, output, n_rows)
        trial.set_user_attr("rung", rung)
        trial.set_user_attr("worker", self.worker)
        if source is not None:
            trial.set_user_attr("promoted_from", source)
        if retry_of is not None:  # the same configuration again: its worker died mid-trial
            trial.set_user_attr("retry_of", retry_of)
        return trial, chosen, sampled

    def tell(
        self,
        trial: Any,
        record: TrialRecord,
        metric: Metric,
        traceback: str = "",
        worker: str | None = None,
    ) -> None:
        """Write a finished trial's outcome and close it in the study.

        ``worker`` is where it ran when that is not this process (a Dask worker's address).
        """
        if worker is not None:
            trial.set_user_attr("worker", worker)
        for key, value in (
            ("candidate", record.candidate),
            ("n_rows", record.n_rows),
            ("steps", record.steps),
            ("best_step", record.best_step),
            ("stop_reason", record.stop_reason),
            ("seconds", round(record.seconds, 4)),
            ("curve", record.curve),
            ("score", record.score),
            ("error", record.error),
        ):
            trial.set_user_attr(key, value)
        if record.status == "failed":
            if traceback:
                trial.set_user_attr("traceback", traceback)
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        elif record.status == "pruned":
            trial.report(metric.to_loss(record.score), record.steps)  # type: ignore[arg-type]
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(trial, metric.to_loss(record.score))  # type: ignore[arg-type]

    def seen(self, known: set[int]) -> list[SeenTrial]:
        """Trials of the study not in ``known``: running ones and finished ones."""
        out = []
        for ft in self.study.get_trials(deepcopy=False):
            if ft.number in known:
                continue
            family, params = _family_params(ft)
            key = config_key(family, params, ft.user_attrs.get("rung", 0))
            finished = ft.state.is_finished()
            out.append(
                SeenTrial(
                    ft.number,
                    key,
                    ft.user_attrs.get("promoted_from"),
                    ft.state == optuna.trial.TrialState.RUNNING,
                    record_from(ft) if finished else None,
                )
            )
        return out
