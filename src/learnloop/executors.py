"""Where the loop's trials run: in this process (the default) or on the workers of a Dask cluster.

The process that called ``train`` stays the *owner* of the run: it alone holds the study,
the aim, the test looks and the test split. An executor only trains configurations it is
given and hands back what happened (the :class:`~learnloop.trials.TrialRecord`, the fitted
model, the aim's margin if the trial set it). The owner decides what to train next, writes
every trial to the study (``StudyBook.tell``), and certifies.

* :class:`InProcess` is today's loop: one trial at a time, in the owner's process, under a
  monitor that reads the owner's live state. ``Loop.run`` keeps its own sequential path for it.
* :class:`DaskExecutor` sends trials to the workers of a Dask scheduler (``tcp://HOST:8786``)
  or of a LocalCluster it starts (``local[:N]``). The training and validation parts go to
  the workers once per run (``scatter(..., broadcast=True)``), never once per trial; the
  test split never leaves the owner.

:meth:`Executor.drive` is the owner's side of asynchronous successive halving, written
once on top of four abstract methods (``slots``, ``submit``, ``collect``, ``stop_running``):
keep every slot busy, take results as they finish in any order, and as soon as one trial
passes the aim ask every running trial to stop at its next step (a cluster-wide stop signal
each remote monitor reads between steps), take in what they report, and return.

Faults. A worker that dies mid-trial loses only that trial: it is written failed (error
"worker lost") and its configuration is tried once more on the workers left. Dask itself
would quietly run the lost task again; each remote trial notes on the scheduler that it
started, so a second start is reported as the loss instead of running the trial twice. A
scheduler that goes away ends the run (:class:`~learnloop.exceptions.ClusterError`, exit 1;
``--resume`` continues it). A scheduler that cannot be reached is a usage error before any
run is created (:class:`~learnloop.exceptions.ClusterUnreachable`, exit 2).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import os
import re
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from learnloop.exceptions import ClusterError, ClusterUnreachable, UsageError
from learnloop.loop import FittedModel, Loop, Problem
from learnloop.trials import TrialRecord

if TYPE_CHECKING:
    from learnloop.aim import Aim

__all__ = [
    "Executor",
    "InProcess",
    "DaskExecutor",
    "TrialSpec",
    "Outcome",
    "open_executor",
    "parse_cluster",
    "CONNECT_TIMEOUT_S",
]

CONNECT_TIMEOUT_S = 10.0  # to reach a scheduler and see its first worker
POLL_S = 0.25  # how long the owner waits for a result before it looks at the clock again
STOP_CHECK_S = 0.2  # a remote monitor reads the stop signal at most this often
DRAIN_S = 3.0  # after a stop, how long the owner waits for running trials to report
LOST_AFTER_S = 5.0  # a scheduler unreachable this long has gone away
_LOCAL = re.compile(r"^local(?::(\d+))?$")


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as e:  # the core works without it
        raise UsageError(
            "--cluster needs Dask's distributed scheduler: pip install 'learnloop[dask]'."
        ) from e
    return distributed


@dataclass
class TrialSpec:
    """One trial as the owner sends it: the configuration and a snapshot of the owner's state."""

    number: int
    candidate: str
    params: dict[str, Any]
    rung: int
    n_rows: int
    families: list[str]
    aim: Aim  # a copy: the aim now (its margin may still be unknown)
    n_trials: int  # trials so far (the aim's winner's-curse allowance counts them)
    peers: list[list[tuple[int, float, float]]]  # finished peers' curves (median stopping)
    rung_cap_s: float
    seconds_left: float  # of the run's budget, when sent
    elapsed_s: float  # since the search started, when sent (curves keep the owner's clock)
    run_key: str = ""  # the run's key on the cluster (the stop signal, the start notes)
    epoch: int = 0  # which stop signal this trial obeys
    retry_of: int | None = None
    source: int | None = None  # promoted from


@dataclass
class Outcome:
    """What came back of one trial: its record, model, and what it taught the aim."""

    number: int
    record: TrialRecord | None  # None: the trial was lost (worker died, cancelled)
    model: FittedModel | None = None
    worker: str | None = None
    traceback: str = ""
    margin: tuple[float, float, float | None] | None = None  # (margin, se_val, target) if set
    time_to_threshold: float | None = None
    error: str = ""  # why it was lost
    meta: dict[str, Any] = field(default_factory=dict)


class Executor(ABC):
    """Where trials run. One owner loop drives one executor; not thread-safe.

    Subclasses implement ``slots`` (trials that may run at once now), ``submit`` (start
    one, never blocking on it), ``collect`` (the trials that finished, in any order,
    waiting up to ``timeout`` for the first), ``stop_running`` (ask every running trial to
    stop at its next step; trials submitted afterwards are not affected) and ``close``.
    ``remote`` says whether trials run outside the owner's process (``Loop.run`` hands
    the run to :meth:`drive` only then).
    """

    remote: bool = True
    where: str = ""  # for messages: "the Dask scheduler at tcp://..."
    run_id: str = ""  # the run it serves (named in the message if the cluster goes away)

    def __init__(self) -> None:
        # trials submitted and not yet told: number -> (Optuna trial, placeholder record)
        self._open: dict[int, tuple[Any, TrialRecord]] = {}

    @abstractmethod
    def slots(self) -> int: ...

    @abstractmethod
    def submit(self, problem: Problem, spec: TrialSpec) -> None: ...

    @abstractmethod
    def collect(self, timeout: float) -> list[Outcome]: ...

    @abstractmethod
    def stop_running(self) -> None: ...

    @property
    @abstractmethod
    def running(self) -> int: ...

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Release the workers (idempotent)."""

    # ------------------------------------------------------------ the owner's side
    def drive(self, loop: Loop, deadline: float) -> FittedModel | None:
        """Run ``loop``'s trials here until one passes the aim or ``deadline`` passes."""
        loop.deadline = deadline
        retried: set[int] = set()
        passed: FittedModel | None = None
        try:
            while passed is None and time.monotonic() < deadline:
                if loop.stop_requested():
                    break  # stopped by hand: the running trials are drained below
                if loop.keep_going is not None and not loop.keep_going():
                    break
                if time.monotonic() - loop._synced >= 1.0:
                    passed = loop.sync()
                    if passed is not None:
                        break
                stalled = self._fill(loop, deadline)
                if not self.running:
                    if stalled:
                        break  # not even a first step would finish in time
                    time.sleep(POLL_S)  # no worker yet: wait for one
                    continue
                for outcome in self.collect(min(POLL_S, max(deadline - time.monotonic(), 0))):
                    model = self._take(loop, outcome, retried)
                    if model is not None and loop.aim.passed(model.score, len(loop.trials)):
                        if passed is None or loop.problem.metric.better(model.score, passed.score):
                            passed = model
        finally:
            self._drain(loop, retried)
        return passed

    def _fill(self, loop: Loop, deadline: float) -> bool:
        """Start trials while a slot is free; True if the next one would not fit in time."""
        while self.running < self.slots():
            left = deadline - time.monotonic()
            job = loop._next_job()  # claimed, as in the in-process loop
            if loop._expected_first_step(job[0], job[2]) > left:
                return True
            trial, cand, record = loop._start_trial(*job)
            self._submit_new(loop, trial, record, left, source=job[3])
        return False

    def _submit_new(
        self,
        loop: Loop,
        trial: Any,
        record: TrialRecord,
        left: float,
        source: int | None = None,
        retry_of: int | None = None,
    ) -> None:
        spec = TrialSpec(
            number=record.number,
            candidate=record.candidate,
            params=record.params,
            rung=record.rung,
            n_rows=record.n_rows,
            families=[f.name for f in loop.families],
            aim=copy.deepcopy(loop.aim),
            n_trials=len(loop.trials),
            peers=loop.peer_curves(record),
            rung_cap_s=loop.rung_trial_cap(),
            seconds_left=left,
            elapsed_s=time.monotonic() - loop.started,
            retry_of=retry_of,
            source=source,
        )
        self._open[record.number] = (trial, record)
        self.submit(loop.problem, spec)

    def _take(self, loop: Loop, outcome: Outcome, retried: set[int]) -> FittedModel | None:
        """Write a finished (or lost) trial to the study; retry a lost one once."""
        trial, record = self._open.pop(outcome.number)
        metric = loop.problem.metric
        if outcome.record is None:  # lost with its worker: failed, and tried once more
            record.status, record.stop_reason, record.error = "failed", "lost", outcome.error
            loop._finish_trial(trial, record, None, "", worker=outcome.worker)
            if outcome.meta.get("retry", True) and record.number not in retried:
                retried.add(record.number)
                left = loop.deadline - time.monotonic()
                if left > 0:
                    fixed = (record.candidate, record.params, record.rung)
                    new_trial, _, new = loop._start_trial(*_job(*fixed), retry_of=record.number)
                    retried.add(new.number)
                    self._submit_new(loop, new_trial, new, left, retry_of=record.number)
            return None
        vars(record).update(vars(outcome.record))  # the placeholder becomes the real record
        if outcome.margin is not None and loop.aim.margin is None:
            loop.aim.margin, loop.aim.se_val, loop.aim.target = outcome.margin
        ttt = outcome.time_to_threshold
        if ttt is not None and (loop.time_to_threshold is None or ttt < loop.time_to_threshold):
            loop.time_to_threshold = ttt
        if record.score is not None and metric.better(record.score, loop.best_score):
            loop.best_score = record.score
        loop._finish_trial(trial, record, outcome.model, outcome.traceback, worker=outcome.worker)
        return outcome.model

    def _drain(self, loop: Loop, retried: set[int]) -> None:
        """Stop what still runs, take in what reports within DRAIN_S, fail the rest."""
        if not self._open:
            return
        self.stop_running()
        until = time.monotonic() + DRAIN_S
        while self._open and time.monotonic() < until:
            try:
                outcomes = self.collect(POLL_S)
            except ClusterError:
                break
            for outcome in outcomes:
                outcome.meta["retry"] = False
                self._take(loop, outcome, retried)
        for _number, (trial, record) in list(self._open.items()):
            record.status, record.stop_reason = "failed", "interrupted"
            record.error = "still running when the run stopped"
            loop._finish_trial(trial, record, None, "")
        self._open.clear()
        self.forget()

    def forget(self) -> None:  # noqa: B027 - nothing to drop by default
        """Drop trials that were given up on (they no longer report)."""


def _job(candidate: str, params: dict[str, Any], rung: int) -> tuple[Any, Any, int, None]:
    from learnloop.candidates import CANDIDATES

    return CANDIDATES[candidate], params, rung, None


class InProcess(Executor):
    """Today's loop: one trial at a time in the owner's process (``Loop.run``'s own path)."""

    remote = False
    where = "in process"

    def slots(self) -> int:
        return 1

    def submit(self, problem: Problem, spec: TrialSpec) -> None:
        raise NotImplementedError("Loop.run trains in process itself")

    def collect(self, timeout: float) -> list[Outcome]:
        return []

    def stop_running(self) -> None:
        pass

    @property
    def running(self) -> int:
        return 0


def parse_cluster(text: str) -> tuple[str, int | None]:
    """``("local", N or None)`` or ``("address", text)``; UsageError for anything else."""
    text = text.strip()
    local = _LOCAL.match(text)
    if local:
        n = int(local.group(1)) if local.group(1) else None
        if n is not None and n < 1:
            raise UsageError(f"--cluster local:{n} needs at least one worker; write local:2.")
        return "local", n
    if re.match(r"^(tcp|tls|ws|wss|inproc|ucx)://[^/\s]+$", text):
        return "address", None
    raise UsageError(
        f"The cluster '{text}' is neither a Dask scheduler address (tcp://HOST:8786) nor local[:N]."
    )


def open_executor(cluster: str | None) -> Executor | None:
    """The executor ``--cluster`` names (None: in process), connected and checked."""
    if not cluster:
        return None
    kind, n = parse_cluster(cluster)
    return DaskExecutor(cluster.strip(), local_workers=n, local=kind == "local")


class DaskExecutor(Executor):
    """Trials on the workers of a Dask scheduler, or of a LocalCluster started here.

    Connecting checks that the scheduler answers, that it has a worker within
    ``CONNECT_TIMEOUT_S``, and that the scheduler and the workers can import learnloop (they
    run in the same environment as this process, as Dask expects); any failure is a
    :class:`ClusterUnreachable` naming the address. Each worker thread is one slot: a trial
    trains with one thread, so a worker started with ``--nthreads 8`` runs eight at once.
    """

    def __init__(self, address: str, *, local: bool = False, local_workers: int | None = None):
        super().__init__()
        distributed = _import_distributed()
        # the owner speaks for the run: one line when the cluster fails, not Dask's tracebacks
        logging.getLogger("distributed").setLevel(logging.CRITICAL)
        self._cluster: Any = None
        self.run_key = f"learnloop-{uuid.uuid4().hex[:12]}"
        self.epoch = 0
        self._futures: dict[Any, int] = {}
        self._data: Any = None
        self._slots, self._slots_at = 0, -math.inf
        self._unreachable_since: float | None = None
        try:
            if local:
                n = local_workers or max(1, min(os.cpu_count() or 1, 4))
                self._cluster = distributed.LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                self.where = f"a local cluster of {n} workers ({self._cluster.scheduler_address})"
                self.client = distributed.Client(self._cluster, timeout=CONNECT_TIMEOUT_S)
            else:
                self.where = f"the Dask scheduler at {address}"
                self.client = distributed.Client(
                    address, timeout=CONNECT_TIMEOUT_S, set_as_default=False
                )
            self.client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
            self.client.run_on_scheduler(_check_worker)  # it unpickles the tasks
            self.client.run(_check_worker)
        except Exception as e:
            self.close()
            reason = _reason(e)
            raise ClusterUnreachable(f"Cannot use {self.where or address}: {reason}") from e

    # ---------------------------------------------------------------- contract
    def slots(self) -> int:
        if time.monotonic() - self._slots_at >= 1.0:
            try:
                workers = self.client.scheduler_info(n_workers=-1)["workers"]
                self._slots = sum(w.get("nthreads", 1) for w in workers.values())
            except Exception:
                self._slots = 0  # the scheduler is not answering; collect() will tell
            self._slots_at = time.monotonic()
        return self._slots

    @property
    def running(self) -> int:
        return len(self._futures)

    def submit(self, problem: Problem, spec: TrialSpec) -> None:
        if self._data is None:  # the training and validation parts go out once per run
            try:
                self._data = self.client.scatter(problem, broadcast=True, hash=False)
            except Exception:
                self._check_scheduler(now=True)
                raise
        spec.run_key, spec.epoch = self.run_key, self.epoch
        try:
            future = self.client.submit(
                run_remote_trial,
                self._data,
                spec,
                key=f"{self.run_key}-trial-{spec.number}",
                pure=False,
                retries=0,
            )
        except Exception:
            self._check_scheduler(now=True)
            raise
        self._futures[future] = spec.number

    def collect(self, timeout: float) -> list[Outcome]:
        distributed = _import_distributed()
        self._check_scheduler()
        if not self._futures:
            return []
        try:
            done, _ = self.client.sync(  # distributed.wait, on this client (not the default)
                distributed.client._wait,
                list(self._futures),
                timeout=max(timeout, 0.01),
                return_when="FIRST_COMPLETED",
            )
        except TimeoutError:
            return []
        except Exception:  # CancelledError and comm errors: the scheduler went away
            self._check_scheduler(now=True, lost=True)
            raise
        out = []
        for future in done:
            number = self._futures.pop(future)
            out.append(self._outcome(number, future))
        return out

    def stop_running(self) -> None:
        try:
            self.client.set_metadata([self.run_key, "stop", str(self.epoch)], True)
        except Exception:  # a gone scheduler: its trials are gone with it
            pass
        self.epoch += 1

    def forget(self) -> None:
        for future in self._futures:
            future.cancel()
        self._futures.clear()

    def close(self) -> None:
        client, self._futures = getattr(self, "client", None), {}
        if client is not None:
            try:
                if client.status == "running":
                    client.run(_forget_run, self.run_key)
                    client.set_metadata([self.run_key], None)
            except Exception:
                pass
            try:
                client.close(timeout=5)
            except Exception:
                pass
            self.client = None
        if self._cluster is not None:
            try:
                self._cluster.close(timeout=10)
            except Exception:
                pass
            self._cluster = None

    # ------------------------------------------------------------------ helpers
    def _outcome(self, number: int, future: Any) -> Outcome:
        if future.status == "finished":
            try:
                return future.result(timeout=30)
            except Exception as e:  # the result was lost on its way back
                return Outcome(number, None, error=f"result lost: {_reason(e)}")
        if future.status == "error":
            exc = future.exception(timeout=30)
            if isinstance(exc, asyncio.CancelledError):
                self._check_scheduler(now=True, lost=True)
            lost = getattr(exc, "lost_on", None)
            if lost is not None or type(exc).__name__ == "KilledWorker":
                return Outcome(number, None, worker=lost, error=f"worker lost: {_reason(exc)}")
            # a candidate's own errors come back as failed records: this is the cluster's
            raise ClusterError(
                f"{self.where.capitalize()} could not run trial {number}: {_reason(exc)}"
            )
        # cancelled without being asked to: the client lost the scheduler (Dask cancels
        # every future then), whether or not it is still trying to reconnect
        self._check_scheduler(now=True, lost=True)
        return Outcome(number, None, error=f"trial {future.status} on the cluster")

    def _check_scheduler(self, now: bool = False, lost: bool = False) -> None:
        """ClusterError once the scheduler has been unreachable for LOST_AFTER_S (or is lost)."""
        if not lost and self.client is not None and self.client.status == "running":
            self._unreachable_since = None
            return
        since = self._unreachable_since = self._unreachable_since or time.monotonic()
        if now or time.monotonic() - since >= LOST_AFTER_S:
            resume = f"; resume it with `learnloop train ... --resume {self.run_id}`"
            raise ClusterError(f"Lost {self.where} mid-run" + (resume if self.run_id else "") + ".")


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text.rstrip(".") + "."


# ------------------------------------------------------------------ the worker's side
class TrialLost(RuntimeError):
    """A trial started a second time: the worker that first ran it died mid-trial."""

    def __init__(self, number: int, lost_on: str) -> None:
        super().__init__(f"trial {number} was running on {lost_on} when that worker died")
        self.number, self.lost_on = number, lost_on

    def __reduce__(self) -> Any:
        return (TrialLost, (self.number, self.lost_on))


# run key -> the encoded samples this worker made for that run (kept between its trials)
_REMOTE_CACHES: dict[str, dict[Any, Any]] = {}


def _check_worker() -> str:
    import learnloop

    return learnloop.__name__


def _forget_run(run_key: str) -> None:
    _REMOTE_CACHES.pop(run_key, None)


def run_remote_trial(problem: Problem, spec: TrialSpec) -> Outcome:
    """Train one configuration on a Dask worker (runs there, in a worker thread)."""
    import distributed

    from learnloop.candidates import CANDIDATES

    worker = distributed.get_worker()
    client = distributed.get_client()
    started_key = [spec.run_key, "started", str(spec.number)]
    first = client.get_metadata(started_key, None)
    if first is not None:
        raise TrialLost(spec.number, first)
    client.set_metadata(started_key, worker.address)

    loop = RemoteLoop(problem, spec, client)  # one per trial: a worker may run several at once
    loop._cache = _REMOTE_CACHES.setdefault(spec.run_key, {})
    cand = CANDIDATES[spec.candidate]
    record = TrialRecord(spec.number, spec.candidate, spec.params, spec.rung, spec.n_rows)
    had_margin = spec.aim.margin is not None
    model = loop._fit(cand, spec.params, spec.n_rows, record)
    aim = loop.aim
    return Outcome(
        spec.number,
        record,
        model,
        worker=worker.address,
        traceback=loop._traceback if record.status == "failed" else "",
        margin=(aim.margin, aim.se_val, aim.target)
        if not had_margin and aim.margin is not None
        else None,
        time_to_threshold=loop.time_to_threshold,
    )


class RemoteLoop(Loop):
    """A worker's stand-in for the owner's loop during one trial: same monitor, no study.

    It answers the monitor's questions (the aim, the peers, the clock, the budget) from
    the snapshot in its :class:`TrialSpec`, and reads the run's stop signal between steps.
    """

    def __init__(self, problem: Problem, spec: TrialSpec, client: Any) -> None:
        super().__init__(
            problem,
            None,  # type: ignore[arg-type]  # a remote loop never asks or tells
            threshold=spec.aim.threshold,
            alpha_first_look=spec.aim.alpha_first_look,
            n_jobs=1,
            candidates=spec.families,
        )
        self.client = client
        self.spec = spec
        self.aim = spec.aim
        now = time.monotonic()
        self.started = now - spec.elapsed_s  # curve times on the owner's clock
        self.deadline = now + spec.seconds_left
        self._checked = -math.inf
        self._stop = False

    def effective_target(self) -> float | None:
        return self.aim.current(self.spec.n_trials)

    def peer_curves(self, record: TrialRecord) -> list[list[tuple[int, float, float]]]:
        return self.spec.peers

    def rung_trial_cap(self) -> float:
        return self.spec.rung_cap_s

    def stop_requested(self) -> bool:
        now = time.monotonic()
        if not self._stop and now - self._checked >= STOP_CHECK_S:
            self._checked = now
            key = [self.spec.run_key, "stop", str(self.spec.epoch)]
            try:
                self._stop = bool(self.client.get_metadata(key, False))
            except Exception:  # the scheduler is gone: nobody will take this result
                self._stop = True
        return self._stop
