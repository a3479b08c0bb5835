"""The job executor: timers, async continuations and their retries, run by any number of nodes.

Jobs are rows (DESIGN: "Jobs, not threads"). An executor node loops:

1. **acquire** a batch of due jobs in one short transaction
   (:meth:`~caseflow.runtime.ports.Transaction.acquire_jobs`: ``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, so nodes never wait on each other nor take the same rows), writing its lock
   (``lock_owner``, ``lock_expires_at = now + lock_for``);
2. **run** each job on a worker thread through the handler registered for its kind, each in
   its own transaction that starts with
   :meth:`~caseflow.runtime.ports.Transaction.lock_job_for_execution`. That re-check, with the
   row lock it takes, is the once-only guarantee: a node whose lock expired and was taken over
   cannot get past it, and a node past it holds the row until it commits, so the other node's
   acquire skips the row;
3. on an exception, **record the failure** in a new transaction: one retry fewer, the
   message, the next attempt backed off exponentially (:class:`RetryPolicy`); at zero retries
   the store raises an incident and the job waits for an operator's ``set_job_retries``.

A node that dies mid-job leaves its lock behind; it expires after ``lock_for`` and another
node acquires the job again. ``lock_for`` is therefore the longest a job may run (and the
longest a dead node delays its jobs): minutes, not seconds, outside tests.

Losing a lock is not a failure: ``ProcessEngine.execute_job`` (and
:meth:`JobExecutor.register_in_transaction`) raise :class:`~caseflow.errors.IllegalState`
when ``lock_job_for_execution`` says the lock is gone; the executor then checks the row and,
if the job is no longer its own (done elsewhere, taken over, expired), counts it as lost and
moves on, without touching it.

Shutdown is graceful: :meth:`JobExecutor.run_forever` returns when its ``stop`` event is set,
after the jobs already running have finished; jobs acquired but not started are released
(``release_job``) so another node can take them at once instead of after ``lock_for``.

Polling alone drives the loop (``poll_interval`` when nothing was due); :meth:`JobExecutor.wake`
cuts a wait short, for a caller that knows a job just became due.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from caseflow.engine.state import Job
from caseflow.errors import ConcurrencyConflict, IllegalState

if TYPE_CHECKING:
    from caseflow.runtime.ports import Transaction
    from caseflow.runtime.process_engine import ProcessEngine

log = logging.getLogger("caseflow.jobs")

JobHandler = Callable[[Job, str], None]
"""Runs one acquired job ``(job, node_id)`` in transaction(s) of its own; raises on failure."""

TransactionalBody = Callable[["Transaction", Job], None]
"""The work of a job inside the executing transaction (see ``register_in_transaction``)."""

ENGINE_KINDS: tuple[str, ...] = ("timer", "async-continuation")
MAX_ERROR_MESSAGE = 4000


class JobLockLost(IllegalState):
    """The node no longer holds the job's lock: it expired and another node took the job,
    an operator reset it, or it is gone. Not a failure of the job."""

    code = "job_lock_lost"

    def __init__(self, job_id: str, node_id: str) -> None:
        super().__init__(f"job '{job_id}' is not locked by node '{node_id}'")
        self.job_id = job_id
        self.node_id = node_id


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When a failed job is tried again: ``base * 2**attempt``, at most ``cap``.

    ``attempt`` counts the failures before this one, from the retries left
    (``initial_retries - job.retries``; the store's default is 3). ``jitter`` takes up to
    that fraction off at random, so jobs that failed together (a service down) do not all
    come back in the same instant.
    """

    base: timedelta = timedelta(seconds=10)
    cap: timedelta = timedelta(minutes=30)
    jitter: float = 0.2
    initial_retries: int = 3

    def __post_init__(self) -> None:
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"jitter is a fraction in [0, 1), not {self.jitter}")
        if self.base < timedelta(0) or self.cap < self.base:
            raise ValueError("a retry policy needs 0 <= base <= cap")

    def delay(self, job: Job, rng: random.Random | None = None) -> timedelta:
        """How long to wait after ``job`` (as acquired, before its failure is counted)."""
        attempt = min(max(self.initial_retries - job.retries, 0), 62)
        seconds = min(self.cap.total_seconds(), self.base.total_seconds() * 2**attempt)
        if self.jitter:
            seconds *= 1.0 - self.jitter * (rng or random).random()
        return timedelta(seconds=seconds)


@dataclass(slots=True)
class ExecutorStats:
    """What a node did since it started (read them for metrics and tests)."""

    acquired: int = 0
    executed: int = 0  # the handler returned
    failed: int = 0  # a failure was recorded (retries counted down)
    lost: int = 0  # the lock was gone before or while the job ran: someone else has it
    released: int = 0  # acquired, not started, given back at shutdown
    errors: int = 0  # the executor's own trouble (database down while acquiring, ...)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def default_node_id() -> str:
    """Unique per process: a restarted node must not inherit its predecessor's locks."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= MAX_ERROR_MESSAGE else text[: MAX_ERROR_MESSAGE - 3] + "..."


class JobExecutor:
    """One node's job loop over ``engine.store``; see the module docstring.

    ``batch_size`` is how many jobs one acquire may lock (and how many a node holds at most,
    running or queued); ``max_workers`` threads run them. Time comes from
    ``engine.clock`` (tests move a ``ManualClock``); ``poll_interval`` is real time.
    """

    def __init__(
        self,
        engine: ProcessEngine,
        *,
        node_id: str | None = None,
        batch_size: int = 32,
        lock_for: timedelta = timedelta(minutes=5),
        poll_interval: timedelta = timedelta(seconds=1),
        max_workers: int = 4,
        retry_policy: RetryPolicy | None = None,
        tenant_ids: Sequence[str] | None = None,
        engine_kinds: Sequence[str] = ENGINE_KINDS,
        rng: random.Random | None = None,
    ) -> None:
        if batch_size < 1 or max_workers < 1:
            raise ValueError("batch_size and max_workers must be at least 1")
        if lock_for <= timedelta(0):
            raise ValueError("lock_for must be positive")
        self.engine = engine
        self.node_id = node_id or default_node_id()
        self.batch_size = batch_size
        self.lock_for = lock_for
        self.poll_interval = poll_interval
        self.max_workers = max_workers
        self.retry_policy = retry_policy or RetryPolicy()
        self.tenant_ids = None if tenant_ids is None else list(tenant_ids)
        self.stats = ExecutorStats()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._handlers: dict[str, JobHandler] = {}
        for kind in engine_kinds:
            self._handlers[kind] = self._execute_in_engine
        self._stats_lock = threading.Lock()
        self._wake = threading.Event()
        # run_forever's bookkeeping: jobs acquired and not yet finished, queued or running
        self._held = 0
        self._held_changed = threading.Condition()
        # acquire again once half the batch is done: batches, not a job at a time
        self._refill_at = max(1, batch_size // 2)

    # ------------------------------------------------------------------ handlers

    def register(self, kind: str, handler: JobHandler) -> None:
        """Run jobs of ``kind`` with ``handler``; it gets the job and this node's id and must
        itself check the lock inside its transaction (``lock_job_for_execution``)."""
        self._handlers[kind] = handler

    def register_in_transaction(self, kind: str, body: TransactionalBody) -> None:
        """Run jobs of ``kind`` as ``body(tx, job)`` inside one transaction that first checks
        and row-locks the job and afterwards deletes it (retried on ConcurrencyConflict).

        For jobs of no instance: a job of an instance is changed through its
        ``InstanceState`` by the engine (``execute_job``).
        """
        store, clock = self.engine.store, self.engine.clock
        attempts = max(self.engine.max_attempts, 1)

        def handler(job: Job, node_id: str) -> None:
            for attempt in range(attempts):
                try:
                    with store.transaction() as tx:
                        locked = tx.lock_job_for_execution(job.id, node_id, clock.now())
                        if locked is None:
                            raise JobLockLost(job.id, node_id)
                        body(tx, locked)
                        tx.delete_jobs([job.id])
                    return
                except ConcurrencyConflict:
                    if attempt + 1 >= attempts:
                        raise
                    time.sleep(self._rng.uniform(0, 0.002 * (attempt + 1)))

        self._handlers[kind] = handler

    @property
    def kinds(self) -> list[str]:
        """The kinds this node acquires: those it has a handler for."""
        return sorted(self._handlers)

    def _execute_in_engine(self, job: Job, node_id: str) -> None:
        self.engine.execute_job(job.id, node_id, definition_id=job.definition_id)

    # ------------------------------------------------------------------ one job

    def _count(self, **deltas: int) -> None:
        with self._stats_lock:
            for name, delta in deltas.items():
                setattr(self.stats, name, getattr(self.stats, name) + delta)

    def acquire(self, limit: int) -> list[Job]:
        """Lock up to ``limit`` due jobs of this node's kinds for this node."""
        with self.engine.store.transaction() as tx:
            jobs = tx.acquire_jobs(
                self.node_id,
                self.engine.clock.now(),
                limit,
                self.lock_for,
                kinds=self.kinds,
                tenant_ids=self.tenant_ids,
            )
        self._count(acquired=len(jobs))
        return jobs

    def execute(self, job: Job) -> str:
        """Run one acquired job; what became of it: executed, failed, lost or error."""
        if job.lock_expires_at is not None and job.lock_expires_at <= self.engine.clock.now():
            self._count(lost=1)  # waited too long in the queue: it may be elsewhere by now
            return "lost"
        handler = self._handlers.get(job.kind)
        try:
            if handler is None:
                raise IllegalState(f"no handler for jobs of kind '{job.kind}' on this node")
            handler(job, self.node_id)
        except Exception as error:  # noqa: BLE001 - a failing job is recorded, never lost
            return self._failed(job, error)
        self._count(executed=1)
        return "executed"

    def _failed(self, job: Job, error: Exception) -> str:
        try:
            with self.engine.store.transaction() as tx:
                now = self.engine.clock.now()
                current = tx.get_job(job.id)
                if isinstance(error, IllegalState) and not self._still_ours(current, now):
                    self._count(lost=1)
                    log.debug("job %s: lock lost (%s)", job.id, error)
                    return "lost"
                next_due = now + self.retry_policy.delay(current or job, self._rng)
                recorded = tx.record_job_failure(
                    job.id, self.node_id, describe(error), next_due, now
                )
        except Exception:  # the lock expires and the job comes back
            self._count(errors=1)
            log.exception("job %s: could not record its failure", job.id)
            return "error"
        if recorded is None:
            self._count(lost=1)
            return "lost"
        self._count(failed=1)
        log.warning(
            "job %s (%s) failed, %d retries left, next at %s: %s",
            job.id, job.kind, recorded.retries, recorded.due_at.isoformat(), describe(error),
            exc_info=error if recorded.retries == 0 else None,
        )
        return "failed"

    def _still_ours(self, job: Job | None, now: datetime) -> bool:
        return (
            job is not None
            and job.lock_owner == self.node_id
            and job.lock_expires_at is not None
            and job.lock_expires_at > now
        )

    def release(self, jobs: Sequence[Job]) -> None:
        """Give back acquired jobs that were not started."""
        if not jobs:
            return
        try:
            with self.engine.store.transaction() as tx:
                for job in jobs:
                    tx.release_job(job.id, self.node_id)
        except Exception:  # unreleased locks expire by themselves
            self._count(errors=1)
            log.exception("could not release %d job(s); their locks will expire", len(jobs))
            return
        self._count(released=len(jobs))

    # ------------------------------------------------------------------ loops

    def run_once(self) -> int:
        """Acquire one batch and run it to the end (``max_workers`` at a time); how many
        jobs were acquired. For tests, the CLI's ``--once`` and cron-style use."""
        jobs = self.acquire(self.batch_size)
        if self.max_workers == 1 or len(jobs) <= 1:
            for job in jobs:
                self.execute(job)
        else:
            with ThreadPoolExecutor(self.max_workers, thread_name_prefix="caseflow-job") as pool:
                list(pool.map(self.execute, jobs))
        return len(jobs)

    def run_until_idle(self, max_batches: int = 1000) -> int:
        """``run_once`` until nothing is due (or ``max_batches``); jobs acquired in all."""
        total = 0
        for _ in range(max_batches):
            done = self.run_once()
            total += done
            if done == 0:
                break
        return total

    def wake(self) -> None:
        """Cut the current idle wait short (a job just became due)."""
        self._wake.set()

    def run_forever(self, stop: threading.Event) -> None:
        """Acquire and run jobs until ``stop`` is set; then finish the running jobs, release
        the queued ones, and return."""
        work: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        workers = [
            threading.Thread(
                target=self._work, args=(work, stop), name=f"caseflow-job-{i}", daemon=True
            )
            for i in range(self.max_workers)
        ]
        for worker in workers:
            worker.start()
        refill_at = self._refill_at
        log.info("job executor %s started (%s)", self.node_id, ", ".join(self.kinds))
        try:
            while not stop.is_set():
                with self._held_changed:
                    free = self.batch_size - self._held
                if free < refill_at:
                    with self._held_changed:
                        self._held_changed.wait_for(
                            lambda: self.batch_size - self._held >= refill_at or stop.is_set(),
                            timeout=self.poll_interval.total_seconds(),
                        )
                    continue
                try:
                    jobs = self.acquire(free)
                except Exception:  # the database may come back
                    self._count(errors=1)
                    log.exception("job executor %s: acquiring failed", self.node_id)
                    jobs = []
                if jobs:
                    with self._held_changed:
                        self._held += len(jobs)
                    for job in jobs:
                        work.put(job)
                if not jobs:  # nothing due right now (or all of it taken by other nodes)
                    self._idle(stop)
        finally:
            stop.set()  # also when leaving by an exception: workers release what is queued
            for _ in workers:
                work.put(None)
            for worker in workers:
                worker.join()
            log.info("job executor %s stopped: %s", self.node_id, self.stats.as_dict())

    def _idle(self, stop: threading.Event) -> None:
        deadline = time.monotonic() + self.poll_interval.total_seconds()
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self._wake.wait(min(left, 0.05)):
                self._wake.clear()
                return

    def _work(self, work: queue.SimpleQueue[Job | None], stop: threading.Event) -> None:
        while True:
            job = work.get()
            if job is None:
                return
            try:
                if stop.is_set():  # acquired, not started: another node may have it now
                    self.release([job])
                else:
                    self.execute(job)
            finally:
                with self._held_changed:
                    self._held -= 1
                    if self.batch_size - self._held == self._refill_at:  # wake the acquirer
                        self._held_changed.notify_all()


__all__ = [
    "ENGINE_KINDS",
    "ExecutorStats",
    "JobExecutor",
    "JobHandler",
    "JobLockLost",
    "RetryPolicy",
    "TransactionalBody",
    "default_node_id",
    "describe",
]
