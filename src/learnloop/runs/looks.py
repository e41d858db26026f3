"""A run's test looks across sessions: the schedule resumes where it stopped.

The error rate ``alpha = 1 - confidence`` is spent across a run's looks at its test split
(``certify.LookPolicy``: look k spends ``alpha * share_k``). A run stopped by hand and
resumed is one run with one test split, so its looks are one family: each look is recorded
in the store *before* the test split is read (``Store.begin_look``; a look killed half-way
still counts as spent) and its certificate after (``Store.end_look``, never overwritten).
A resumed session takes up the schedule at the next look with the alpha left for it, or
has no look left (every planned look made, or one already met) and keeps the certificate
recorded. Re-starting the schedule at look 1 on every resume would spend alpha again each
time: in 3,000 simulated runs of models exactly at the threshold, stopped after one or two
looks and resumed up to six times, the recorded schedule claimed "met" 3.8% of the time,
the restarted one 17.2% (``tests/test_resume_looks.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from learnloop.certify import Certificate, LookPolicy

__all__ = ["LookSchedule", "certificate_record", "no_look_left_message", "resumed_message"]


@dataclass
class LookSchedule:
    """The looks a run has made (recorded by earlier sessions and this one) and the next.

    ``recorded`` holds the store's rows (``Store.looks``): ``look``, ``planned``,
    ``alpha`` and the ``certificate`` dict (None if the look was killed before it ended).
    """

    policy: LookPolicy
    recorded: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.recorded:  # the plan the run started with, whatever this session would pick
            self.policy.planned = int(self.recorded[0]["planned"])

    @property
    def made(self) -> int:
        """Looks made so far by every session of the run."""
        return len(self.recorded)

    @property
    def next_look(self) -> int:
        """The number (1-based) of the next look."""
        return self.made + 1

    @property
    def spent(self) -> float:
        """The error rate the looks made have spent."""
        return float(sum(r["alpha"] for r in self.recorded))

    @property
    def met(self) -> dict[str, Any] | None:
        """The certificate of a look that met the threshold, if one did."""
        return next((c for c in self.certificates() if c.get("met")), None)

    @property
    def left(self) -> bool:
        """Whether a look may still be made: looks remain and none has met."""
        return self.made < self.policy.planned and self.met is None

    @property
    def first_pass_look(self) -> bool:
        """Whether a look at the first model past the threshold may be made (the
        ``first_look`` lever): only by the session that makes the run's first look; a
        resumed session goes on with the schedule."""
        return self.made == 0

    def alpha_next(self) -> float:
        """The error rate the next look spends (what is left of alpha for it)."""
        return self.policy.alpha_at(self.next_look)

    def certificates(self) -> list[dict[str, Any]]:
        """The certificates the run's looks issued, in order (killed looks left out)."""
        return [r["certificate"] for r in self.recorded if r.get("certificate")]

    def add(self, look: int, alpha: float, model: dict[str, Any]) -> dict[str, Any]:
        """Note look ``look`` as made (before its certificate exists); its record."""
        row = {"look": look, "planned": self.policy.planned, "alpha": alpha, "model": model}
        self.recorded.append({**row, "certificate": None})
        return self.recorded[-1]


def certificate_record(cert: Certificate) -> dict[str, Any]:
    """A certificate as the store keeps it (NaN and infinities as None, valid JSON)."""
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for k, v in cert.to_dict().items()
    }


def no_look_left_message(run_id: str, schedule: LookSchedule, alpha: float) -> str:
    """One line: the run has no test look left, and which recorded certificate stands."""
    certs = schedule.certificates()
    met = schedule.met
    stands = met if met is not None else (certs[-1] if certs else None)
    if stands is None:
        standing = "no certificate was completed"
    else:
        verdict = {True: "met", False: "not met", None: "no threshold"}[stands.get("met")]
        standing = (
            f"the certificate of look {stands['look']} stands ({stands['metric']} "
            f"{_g(stands.get('test_score'))}, bound {_g(stands.get('test_bound'))}: {verdict})"
        )
    why = (
        f"look {met['look']} already met the threshold"
        if met is not None
        else f"its {schedule.made} of {schedule.policy.planned} looks spent alpha "
        f"{schedule.spent:.3g} of {alpha:.3g}"
    )
    return (
        f"Run {run_id} has no test look left: {why}; {standing} (`learnloop runs show "
        f"{run_id}` lists every look)."
    )


def resumed_message(schedule: LookSchedule) -> str:
    """One line for a resumed run: the looks made and the one this session may make next."""
    return (
        f"Test looks: {schedule.made} of {schedule.policy.planned} made (alpha "
        f"{schedule.spent:.3g} spent); this session continues at look {schedule.next_look} "
        f"with alpha {schedule.alpha_next():.3g}."
    )


def _g(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"
