"""What the user asked of one run, as one typed value.

Built once — by ``learnloop train`` or ``learnloop.train`` — and checked there; recorded with
the run (:meth:`RunSettings.to_record`, the run's ``options`` in the store) and read back by
``--resume``, ``learnloop worker`` and ``learnloop report`` (:meth:`RunSettings.from_record`),
so no other module unpacks a run's options by hand. The record's keys are those runs have
always been stored with, so runs recorded before this value existed read back the same.

On ``--resume`` the options given again are checked against the record
(:meth:`RunSettings.resumed_with`): a different value is refused, naming each option,
because the run's trials, splits and test looks were made under the recorded ones. Only
``budget`` may change (``RESUME_MAY_CHANGE``): it bounds the session that resumes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from learnloop.exceptions import UsageError

__all__ = ["RunSettings", "DEFAULT_BUDGET_S", "RESUME_MAY_CHANGE"]

DEFAULT_BUDGET_S = 60.0
# options a resumed run may be given anew: the time of the session that resumes it
RESUME_MAY_CHANGE = frozenset({"budget"})


@dataclass(frozen=True)
class RunSettings:
    """One run's settings: what is learned, how well, in how long, and from which files.

    ``data``, ``validation`` and ``test`` are paths another process can read again (None for a
    DataFrame); ``test_share`` is the share of rows the run's split kept for the test, fixed
    once the run is created so a resumed run splits the same way.
    """

    target: str | None = None
    task: str = "auto"
    metric: str | None = None
    threshold: float | None = None
    budget: float = DEFAULT_BUDGET_S
    confidence: float = 0.95
    seed: int = 0
    labels: str | None = None
    candidates: list[str] | None = None
    task_options: Mapping[str, Any] = field(default_factory=dict)
    data: str | None = None
    validation: str | None = None
    test: str | None = None
    test_share: float | None = None
    encoding: str | None = None  # of CSV/TSV files (--encoding); None: UTF-8, else detected

    def __post_init__(self) -> None:
        budget, confidence, seed = self.budget, self.confidence, self.seed
        number = isinstance(budget, int | float) and not isinstance(budget, bool)
        if not number or not math.isfinite(budget) or budget <= 0:
            raise UsageError(f"The budget must be a positive number of seconds; got {budget!r}.")
        if not 0.5 <= confidence < 1.0:
            raise UsageError(f"The confidence must be in [0.5, 1); got {confidence!r}.")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise UsageError(f"The seed must be a non-negative integer; got {seed!r}.")
        if self.threshold is not None:
            object.__setattr__(self, "threshold", float(self.threshold))
        object.__setattr__(self, "budget", float(budget))
        options = {k: v for k, v in dict(self.task_options or {}).items() if v is not None}
        object.__setattr__(self, "task_options", options)

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready form stored with the run (its ``options``)."""
        record = asdict(self)
        record["task_options"] = dict(self.task_options)
        return record

    def resumed_with(self, given: Mapping[str, Any]) -> RunSettings:
        """These recorded settings with the options given again on ``--resume`` (None: not
        given); UsageError naming every given option that differs from the record, but
        those of ``RESUME_MAY_CHANGE``, which replace the recorded value."""
        conflicts = []
        changed: dict[str, Any] = {}
        for name, value in given.items():
            if value is None or (name == "task" and str(value).strip().lower() == "auto"):
                continue
            if name == "task_options":
                recorded_options = dict(self.task_options)
                for key, v in dict(value).items():
                    if v is not None and recorded_options.get(key) != v:
                        conflicts.append(_conflict(key, recorded_options.get(key), v))
                continue
            recorded = getattr(self, name)
            if _same(recorded, value):
                continue
            if name in RESUME_MAY_CHANGE:
                changed[name] = value
            else:
                conflicts.append(_conflict(name, recorded, value))
        if conflicts:
            raise UsageError(
                "The run to resume was recorded with other settings: "
                + "; ".join(conflicts)
                + ". Give the recorded values (or leave them out), or start a new run."
            )
        return replace(self, **changed) if changed else self

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> RunSettings:
        """The settings a run was recorded with (keys it does not know are ignored)."""
        known = {k: record[k] for k in cls.__dataclass_fields__ if k in record}
        if known.get("budget") is None:
            known.pop("budget", None)
        if known.get("confidence") is None:
            known.pop("confidence", None)
        known["seed"] = int(known.get("seed") or 0)
        known["task"] = known.get("task") or "auto"
        return cls(**known)


def _same(recorded: Any, given: Any) -> bool:
    """Equal as settings: numbers by value, lists as lists."""
    if isinstance(recorded, int | float) and isinstance(given, int | float):
        return math.isclose(float(recorded), float(given), rel_tol=1e-12, abs_tol=0.0)
    if isinstance(recorded, list | tuple) and isinstance(given, list | tuple):
        return list(recorded) == list(given)
    return bool(recorded == given)


def _conflict(name: str, recorded: Any, given: Any) -> str:
    """'--metric roc_auc recorded, accuracy given' (the option as the command line spells it)."""
    return f"--{name.replace('_', '-')} {_shown(recorded)} recorded, {_shown(given)} given"


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
