"""Trials on the workers of a Dask cluster: a scheduler's (``tcp://HOST:8786``) or a
LocalCluster started here (``local[:N]``).

The process that called ``train`` stays the *owner* of the run: it alone holds the study,
the aim, the test looks and the test split, and its driver decides everything. This
executor only trains the trials it is given and hands back what happened. The training and
validation parts go to the workers once per run (``scatter(..., broadcast=True)``), never
once per trial; the test split never leaves the owner. Each worker thread is a slot.

The stop: ``stop()`` raises a cluster-wide signal on the scheduler that every running
trial's monitor reads between steps (at most every ``STOP_CHECK_S``).

Faults. A worker that dies mid-trial loses only that trial: it comes back lost (the driver
writes it failed, "worker lost", and tries its configuration once more on the workers
left). Each remote trial notes on the scheduler the worker it started on, so the owner
sees the loss as soon as that worker leaves the scheduler's list (about a second), without
waiting for Dask to run the task again on a worker that is busy; and should Dask run it
again, the second start is reported as the loss instead of running the trial twice. A
scheduler that goes away ends the run (:class:`~learnloop.exceptions.ClusterError`, exit 1;
``--resume`` continues it). A scheduler that cannot be reached is a usage error before any
run is created (:class:`~learnloop.exceptions.ClusterUnreachable`, exit 2).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from learnloop.exceptions import ClusterError, ClusterUnreachable, UsageError
from learnloop.search.executors._base import Executor
from learnloop.search.fit import train_trial
from learnloop.search.values import Outcome, Problem, TrialSpec

__all__ = ["DaskExecutor", "run_remote_trial", "TrialLost", "CONNECT_TIMEOUT_S"]

CONNECT_TIMEOUT_S = 10.0  # to reach a scheduler and see its first worker
STOP_CHECK_S = 0.2  # a remote monitor reads the stop signal at most this often
LOST_AFTER_S = 5.0  # a scheduler unreachable this long has gone away


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as e:  # the core works without it
        raise UsageError(
            "--cluster needs Dask's distributed scheduler: pip install 'learnloop[dask]'."
        ) from e
    return distributed


class DaskExecutor(Executor):
    """Trials on the workers of a Dask scheduler, or of a LocalCluster started here.

    Connecting checks that the scheduler answers, that it has a worker within
    ``CONNECT_TIMEOUT_S``, and that the scheduler and the workers can import learnloop (they
    run in the same environment as this process, as Dask expects); any failure is a
    :class:`ClusterUnreachable` naming the address. Each worker thread is one slot: a trial
    trains with one thread, so a worker started with ``--nthreads 8`` runs eight at once.
    """

    def __init__(self, address: str, *, local: bool = False, local_workers: int | None = None):
        distributed = _import_distributed()
        # the owner speaks for the run: one line when the cluster fails, not Dask's tracebacks
        logging.getLogger("distributed").setLevel(logging.CRITICAL)
        self._cluster: Any = None
        self.run_key = f"learnloop-{uuid.uuid4().hex[:12]}"
        self.epoch = 0
        self._futures: dict[Any, int] = {}
        self._data: Any = None
        self._slots, self._slots_at = 0, -math.inf
        self._workers: set[str] = set()  # the scheduler's workers' addresses, when last seen
        self._lost_checked_at = -math.inf
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
        self._look_at_workers()
        return self._slots

    def _look_at_workers(self) -> None:
        """The scheduler's workers (their threads are the slots), at most once a second."""
        if time.monotonic() - self._slots_at < 1.0:
            return
        try:
            workers = self.client.scheduler_info(n_workers=-1)["workers"]
            self._slots = sum(w.get("nthreads", 1) for w in workers.values())
            self._workers = set(workers)
        except Exception:
            self._slots = 0  # the scheduler is not answering; collect() will tell
        self._slots_at = time.monotonic()

    @property
    def running(self) -> int:
        return len(self._futures)

    def begin(self, problem: Problem, should_stop: Callable[[], bool]) -> None:
        if self._data is None:  # the training and validation parts go out once per run
            try:
                self._data = self.client.scatter(problem, broadcast=True, hash=False)
            except Exception:
                self._check_scheduler(now=True)
                raise

    def submit(self, spec: TrialSpec) -> None:
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
        lost = self._lost_with_their_workers()
        if lost or not self._futures:
            return lost
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

    def stop(self) -> None:
        try:
            self.client.set_metadata([self.run_key, "stop", str(self.epoch)], True)
        except Exception:  # a gone scheduler: its trials are gone with it
            pass
        self.epoch += 1

    def forget(self) -> None:
        for future in self._futures:
            try:
                future.cancel()
            except Exception:  # a closed client: its futures are gone with it
                pass
        self._futures.clear()

    def close(self) -> None:
        client, self._futures = getattr(self, "client", None), {}
        if client is not None:
            try:
                if client.status == "running":
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
    def _lost_with_their_workers(self) -> list[Outcome]:
        """Trials whose worker left the cluster mid-trial (the worker each noted it started
        on is no longer a worker of the scheduler): lost, their futures dropped."""
        if not self._futures or time.monotonic() - self._lost_checked_at < 1.0:
            return []
        self._lost_checked_at = time.monotonic()
        self._look_at_workers()
        try:
            started = self.client.get_metadata([self.run_key, "started"], {})
        except Exception:
            return []  # the scheduler is not answering: _check_scheduler tells
        out = []
        for future, number in list(self._futures.items()):
            where = started.get(str(number))
            if where is None or where in self._workers:
                continue
            del self._futures[future]
            try:
                future.cancel()  # Dask would run it again on a worker left
            except Exception:
                pass
            out.append(Outcome(number, None, worker=where, error=f"worker lost: {where} left."))
        return out

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


def _check_worker() -> str:
    """Runs on the scheduler and each worker: can it import what unpickling a trial needs?"""
    from learnloop.search import fit

    return fit.__name__


def run_remote_trial(problem: Problem, spec: TrialSpec) -> Outcome:
    """Train one trial on a Dask worker (runs there, in a worker thread)."""
    import distributed

    worker = distributed.get_worker()
    client = distributed.get_client()
    started_key = [spec.run_key, "started", str(spec.number)]
    first = client.get_metadata(started_key, None)
    if first is not None:
        raise TrialLost(spec.number, first)
    client.set_metadata(started_key, worker.address)
    outcome = train_trial(problem, spec, n_jobs=1, should_stop=_StopSignal(client, spec))
    outcome.worker = worker.address
    return outcome


class _StopSignal:
    """The run's stop signal on the scheduler, read at most every ``STOP_CHECK_S``."""

    def __init__(self, client: Any, spec: TrialSpec) -> None:
        self.client = client
        self.key = [spec.run_key, "stop", str(spec.epoch)]
        self._checked = -math.inf
        self._stop = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self._stop and now - self._checked >= STOP_CHECK_S:
            self._checked = now
            try:
                self._stop = bool(self.client.get_metadata(self.key, False))
            except Exception:  # the scheduler is gone: nobody will take this result
                self._stop = True
        return self._stop
