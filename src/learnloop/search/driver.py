"""The one driver of a search: every executor, every stop rule, every decision, written once.

:func:`drive` keeps the executor's slots busy and takes results as they come, in any order
(asynchronous successive halving: the best of a rung is promoted as soon as it is known):

1. **Stop** when asked by hand, when the deadline passes, or when nothing runs and no trial
   may start (``keep_going`` says no, or the next would not finish in time); take in the
   trials other processes finished once a second (``sync``).
2. **Start** the schedule's next job in each free slot, claimed in the store so that no two
   processes train one configuration, unless it cannot finish in the time left: a trial is
   not started when what trials like it took before their first scored step (its data's
   encoding included; scaled by rows from a smaller sample when it never ran on these rows)
   would end after the deadline, and the next job is asked for instead (a promotion to all
   the rows that no longer fits does not end a search that cheaper trials still fit). For a
   family that cannot be stopped between steps that is the whole fit; the others' monitors
   stop them at the deadline.
3. **Take** each outcome: write it to the study, keep the best model, offer it to the
   ensemble pool, and bring the deadline forward by what finishing with the best model
   would take. Return the model to look at: the first that passes the aim (a trial's or an
   ensemble's), the best single model past the threshold while the run's first look is
   still to make and its rule says the look is worth making now (``first_look``,
   :mod:`learnloop.search.look_rule`), or the best single model short of the aim for which
   a cross-validated (or held-out) estimate says a test look would pass.
4. **Drain** on the way out: ask what still runs to stop at its next step, take in what
   reports within ``DRAIN_S``, and write the rest failed.

A trial lost with its worker is written failed ("lost") and its configuration tried once
more. The executor decides only where a trial runs (:mod:`learnloop.search.executors`);
on every executor the search stops, ensembles, looks and keeps its deadline the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from learnloop.core import levers
from learnloop.exceptions import ClusterError
from learnloop.families import CANDIDATES, Candidate
from learnloop.search import look_rule
from learnloop.search.ensemble import Pool
from learnloop.search.trials import TrialRecord, config_key
from learnloop.search.values import FittedModel, Job, Outcome

if TYPE_CHECKING:
    from learnloop.search.search import Search

__all__ = ["drive", "Reserve", "expected_cost", "SYNC_EVERY_S", "POLL_S", "DRAIN_S"]

SYNC_EVERY_S = 1.0  # how often the search reads trials other processes finished
POLL_S = 0.25  # how long the driver waits for a result before it looks at the clock again
DRAIN_S = 3.0  # after a stop, how long the driver waits for running trials to report
MAX_CLAIMS = 64  # named configurations skipped as taken before the sampler chooses
MAX_PASSED = 8  # jobs passed over as too costly for the time left before the search ends


@dataclass
class Reserve:
    """The seconds before the run's deadline kept free to finish in: what finishing with
    the best model takes (its test look, saving) and one more ensemble selection."""

    model: FittedModel | None = None  # the model ``finish_s`` was measured for
    finish_s: float = 0.0
    ensemble_s: float = 0.0  # the latest ensemble selection's seconds

    @property
    def seconds(self) -> float:
        return self.finish_s + self.ensemble_s


@dataclass
class _Flight:
    """The trials one ``drive`` call has in flight: Optuna trial and placeholder record."""

    open: dict[int, tuple[Any, TrialRecord]] = field(default_factory=dict)
    retried: set[int] = field(default_factory=set)
    late: bool = False  # the next trial would not finish in time: none more in this drive
    held: bool = False  # ``keep_going`` said no to the last trial asked for
    synced: float = -float("inf")


def drive(search: Search, deadline: float) -> FittedModel | None:
    """Run ``search``'s trials until one is worth a test look or ``deadline`` passes."""
    search.deadline = deadline
    _keep_time_to_finish(search, deadline)
    executor = search.executor
    executor.begin(search.problem, search.stop_requested)
    flight = _Flight()
    hit: FittedModel | None = None
    try:
        while hit is None and time.monotonic() < search.deadline:
            if search.stop_requested():
                break  # stopped by hand: what runs is drained below
            if time.monotonic() - flight.synced >= SYNC_EVERY_S:
                flight.synced = time.monotonic()
                hit = search.sync()
                if hit is not None:
                    break
            _fill(search, flight)
            if not executor.running:
                if flight.late or flight.held:
                    break  # nothing runs, and nothing more may start
                time.sleep(POLL_S)  # no free slot yet: wait for a worker
                continue
            left = max(search.deadline - time.monotonic(), 0.0)
            for outcome in executor.collect(min(POLL_S, left)):
                found = _take(search, flight, outcome, deadline)
                if found is not None and (hit is None or _better(search, found, hit)):
                    hit = found
    finally:
        _drain(search, flight)
    return hit


def _better(search: Search, a: FittedModel, b: FittedModel) -> bool:
    return search.problem.metric.better(a.score, b.score)


# ------------------------------------------------------------------------ starting
def _fill(search: Search, flight: _Flight) -> None:
    """Start trials while a slot is free, ``keep_going`` agrees and the next one fits."""
    executor, keep_going = search.executor, search.hooks.keep_going
    flight.held = False
    while not flight.late and executor.running < executor.slots():
        if keep_going is not None and not keep_going():
            flight.held = True  # not now: asked again on the next round
            return
        job = _next_fitting_job(search)
        if job is None:
            flight.late = True  # no job's first step would finish in time
            return
        _start(search, flight, job)


def _next_fitting_job(search: Search) -> Job | None:
    """The schedule's next job whose first step would end before the deadline; up to
    ``MAX_PASSED`` jobs that would not are passed over (None: none fits)."""
    for _ in range(MAX_PASSED):
        job = _next_job(search)
        if expected_cost(search, job) <= search.deadline - time.monotonic():
            return job
        if job.sampled:
            return None  # the sampler's next choice would cost as much
    return None


def _next_job(search: Search) -> Job:
    """The schedule's next job, claimed: one no other process on the run has taken.

    A configuration the schedule names (portfolio entry, promotion, local move) is claimed
    in the store before it starts (``claim``: an atomic insert), so processes that read the
    same trials never train it twice; one another process holds is skipped and the
    schedule asked again.
    """
    schedule = search.schedule
    for _ in range(MAX_CLAIMS):
        job = schedule.next_job(search.trials, search.problem.metric)
        if job.candidate is None or job.params is None:
            return job
        key = config_key(job.candidate.name, job.params, job.rung)
        if key not in schedule.taken and search.hooks.claim(key, search.worker):
            return job
        schedule.taken.add(key)
    return Job(None, None, 0)  # the sampler chooses


def expected_cost(search: Search, job: Job) -> float:
    """Seconds until a trial like ``job`` has a model: what trials of its family took to
    their first scored step on its rows (data preparation included), or on the largest
    smaller sample scaled up by rows; for a family not seen yet, the slowest first step of
    any family on these rows; the costliest family's when the sampler chooses. Zero when
    nothing has run yet (the first trial is started: nothing better is known)."""
    families = [job.candidate] if job.candidate is not None else search.families
    return max((_family_cost(search, c, job.rung) for c in families), default=0.0)


def _family_cost(search: Search, cand: Candidate, rung: int) -> float:
    n_rows = search.schedule.rows_for(cand, rung)
    seen: dict[int, list[float]] = {}
    others = [0.0]  # first steps of other families on these rows
    for t in search.trials:
        if t.first_step_s is None or t.n_rows > n_rows:
            continue
        if t.candidate == cand.name:
            seen.setdefault(t.n_rows, []).append(t.first_step_s)
        elif t.n_rows == n_rows:
            others.append(t.first_step_s)
    if not seen:
        return max(others)
    if n_rows in seen:  # its encoding is made (cached): the quickest start
        return min(seen[n_rows])
    rows = max(seen)  # a new sample to encode too: the slowest start, scaled by rows
    return max(seen[rows]) * n_rows / max(rows, 1)


def _start(search: Search, flight: _Flight, job: Job, retry_of: int | None = None) -> None:
    """Ask the study for the trial (the sampler fills in a missing configuration), submit it."""
    fixed = None if job.sampled else (job.candidate, job.params)
    problem = search.problem
    trial, cand, params = search.book.ask(
        search.families,
        fixed,  # type: ignore[arg-type]
        job.rung,
        job.source,
        problem.task.output,
        problem.n_train,
        retry_of=retry_of,
    )
    record = TrialRecord(
        trial.number, cand.name, params, job.rung, search.schedule.rows_for(cand, job.rung)
    )
    search.trials.append(record)
    spec = search.spec(record)
    spec.retry_of = retry_of
    flight.open[record.number] = (trial, record)
    search.executor.submit(spec)


# ------------------------------------------------------------------------- taking
def _take(search: Search, flight: _Flight, outcome: Outcome, deadline: float) -> FittedModel | None:
    """Write an outcome to the study and decide on it: the model to look at, if any."""
    if not _tell(search, flight, outcome):
        return None
    model = outcome.model
    n_trials = len(search.trials)
    if model is not None and search.aim.passed(model.score, n_trials):
        return model
    early = _first_look(search) if model is not None else None
    if early is not None:
        return early
    selecting = time.monotonic()
    ensemble = _ensemble(search, model)
    search.reserve.ensemble_s = time.monotonic() - selecting
    _keep_time_to_finish(search, deadline)
    if ensemble is not None and search.aim.passed(ensemble.score, n_trials):
        return ensemble
    if model is not None and model is search.best_single and _worth_a_look(search, model):
        return model
    return None


def _tell(search: Search, flight: _Flight, outcome: Outcome) -> bool:
    """Write a finished (or lost) trial to the study; retry a lost one once. True if it
    finished (complete, pruned or failed), False if it was lost."""
    trial, record = flight.open.pop(outcome.number)
    if outcome.record is None:  # lost with its worker: failed, and tried once more
        record.status, record.stop_reason, record.error = "failed", "lost", outcome.error
        _told(search, trial, record, None, "", outcome.worker)
        if outcome.retry and record.number not in flight.retried:
            _retry(search, flight, record)
        return False
    vars(record).update(vars(outcome.record))  # the placeholder becomes the real record
    search.note(outcome)
    _told(search, trial, record, outcome.model, outcome.traceback, outcome.worker)
    return True


def _retry(search: Search, flight: _Flight, record: TrialRecord) -> None:
    """The configuration of a trial lost with its worker, once more, if there is time."""
    flight.retried.add(record.number)
    if search.deadline - time.monotonic() <= 0:
        return
    job = Job(CANDIDATES[record.candidate], record.params, record.rung)
    _start(search, flight, job, retry_of=record.number)
    flight.retried.add(search.trials[-1].number)


def _told(
    search: Search,
    trial: Any,
    record: TrialRecord,
    model: FittedModel | None,
    traceback: str,
    worker: str | None,
) -> None:
    search.book.tell(trial, record, search.problem.metric, traceback, worker=worker)
    search.keep_if_best(model)
    search.keep_if_first_guess(record, model)
    if search.hooks.on_trial is not None:
        search.hooks.on_trial(record, search)


def _ensemble(search: Search, model: FittedModel | None) -> FittedModel | None:
    """Offer a complete trial's model to the ensemble pool; a better ensemble, if any.

    Greedy ensemble selection (:mod:`learnloop.search.ensemble`), for tasks whose
    predictions average and while the ``ensemble`` lever is on. The ensemble is scored,
    kept and aimed like a trial's model. A worker joined to another process's run makes
    none: an ensemble is not a trial that process could refit.
    """
    problem = search.problem
    if model is None or search.joined or not problem.task.ensembles:
        return None
    if not levers.enabled("ensemble"):
        return None
    record = next((t for t in reversed(search.trials) if t.number == model.trial), None)
    if record is None or record.status != "complete":
        return None
    if search.pool is None:
        search.pool = Pool(problem)
    if not search.pool.offer(model):
        return None
    ensemble = search.pool.build()
    if ensemble is None:
        return None
    assert ensemble.val_prediction is not None
    search.note_ensemble(ensemble)
    search.keep_if_best(ensemble)
    return ensemble


def _first_look(search: Search) -> FittedModel | None:
    """With the ``first_look`` lever, while the run's first look is still to make: the best
    single model past the threshold on validation, short of the aim, gets that look when
    the rule says so (:mod:`learnloop.search.look_rule`: a fair chance that it passes, and
    the aim not expected soon); with the ``look_rule`` lever off, the first such model at
    once. With ``cheap_first_look`` (the default) the look spends a smaller share of alpha
    planned for it, and is made at the first model whose chance of passing at that alpha is
    fair (:func:`look_rule.early_call`); until then, and if it fails, the rule still times a
    look at the plan's next share. A look's error rate is fixed by its plan and
    number, whatever decides when it is made."""
    aim, metric, model = search.aim, search.problem.metric, search.best_single
    if not (levers.enabled("first_look") and aim.first_pass_look and aim.passable):
        return None
    if search.joined or aim.threshold is None or aim.looks_failed or model is None:
        return None
    if not metric.meets(model.score, aim.threshold) or not aim.worth_a_look(model.score):
        return None
    finished = [t.score for t in search.trials if t.status != "running"]
    if levers.enabled("cheap_first_look") and aim.alpha_early is not None:
        early = look_rule.early_call(aim, model.trial, model.score, finished, search.problem.n_test)
        if early is not None and early.look:
            search.look_call = early
            search.early_look = model  # if it fails, the rule below may still time a look
            return model
    if levers.enabled("look_rule"):  # the look at look 1's share (or the next, after an early)
        now = time.monotonic()
        started = search.started if search.started is not None else now
        decision = look_rule.call(
            aim,
            model.trial,
            model.score,
            finished,
            now - started,
            search.deadline - now,
            search.problem.n_test,
        )
        search.look_call = decision
        if decision is None or not decision.look:
            return None
    aim.first_pass_look = False
    return model


def _worth_a_look(search: Search, model: FittedModel) -> bool:
    """Short of the aim, but a cross-validated estimate says a test look would pass (asked
    once the first-look rule has had its trial after the first pass: the estimate costs
    folds of fits, the rule nothing)."""
    aim, advisor = search.aim, search.advisor
    if not (advisor.usable and aim.passable and aim.looks_failed == 0):
        return False
    if not aim.worth_a_look(model.score):  # an early look failed on a model as good
        return False
    said = search.look_call
    if aim.first_pass_look and said is not None and said.since_pass < look_rule.MIN_AFTER:
        return False  # the first-look rule decides after the next trial, at no cost
    return advisor.says_look(model, search.n_jobs, search.deadline)


def _keep_time_to_finish(search: Search, deadline: float) -> None:
    """Bring the search's deadline forward from ``deadline`` by what finishing with the
    best model so far would take (and one more ensemble selection after the last trial),
    so that the whole run ends within its budget."""
    best, finish, reserve = search.best_model(), search.hooks.finish_seconds, search.reserve
    if finish is None or best is None:
        return
    if best is not reserve.model:
        reserve.model, reserve.finish_s = best, finish(best)
    search.deadline = min(search.deadline, deadline - reserve.seconds)


# ------------------------------------------------------------------------ draining
def _drain(search: Search, flight: _Flight) -> None:
    """Stop what still runs, take in what reports within DRAIN_S, fail the rest."""
    if not flight.open:
        return
    executor = search.executor
    executor.stop()
    until = time.monotonic() + DRAIN_S
    while flight.open and executor.running and time.monotonic() < until:
        try:
            outcomes = executor.collect(POLL_S)
        except ClusterError:
            break
        for outcome in outcomes:
            outcome.retry = False
            _tell(search, flight, outcome)
    for trial, record in list(flight.open.values()):
        record.status, record.stop_reason = "failed", "interrupted"
        record.error = "still running when the run stopped"
        _told(search, trial, record, None, "", None)
    flight.open.clear()
    executor.forget()
