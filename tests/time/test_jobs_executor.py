"""The job executor on every backend, with a clock the tests move."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import pytest

from caseflow.clock import ManualClock
from caseflow.engine.state import Job
from caseflow.errors import IllegalState
from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import TaskQuery, Transaction
from caseflow.time.jobs import JobExecutor, JobLockLost, RetryPolicy, describe
from tests.bpmn import chain, process

from .test_jobs_store import instance_with_jobs

LOCK = timedelta(minutes=5)
POLICY = RetryPolicy(base=timedelta(seconds=10), cap=timedelta(minutes=1), jitter=0.0)


def due_job(clock: ManualClock, after: timedelta = timedelta(0), **kw: object) -> Job:
    return Job(
        id=kw.pop("id", None) or f"job-{random.getrandbits(64):016x}",  # type: ignore[arg-type]
        kind=kw.pop("kind", "test"),  # type: ignore[arg-type]
        due_at=clock.now() + after,
        created_at=clock.now(),
        **kw,  # type: ignore[arg-type]
    )


def insert(engine: ProcessEngine, *jobs: Job) -> None:
    with engine.store.transaction() as tx:
        tx.insert_jobs(jobs)


def get(engine: ProcessEngine, job_id: str) -> Job | None:
    with engine.store.transaction() as tx:
        return tx.get_job(job_id)


def executor(engine: ProcessEngine, node: str = "n1", **kw: object) -> JobExecutor:
    options: dict[str, object] = {"lock_for": LOCK, "retry_policy": POLICY, "max_workers": 1}
    options.update(kw)
    return JobExecutor(engine, node_id=node, **options)  # type: ignore[arg-type]


class Recorder:
    """A handler for kind "test": remembers what ran, fails while told to."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.fail_with: Exception | None = None
        self.lock = threading.Lock()

    def body(self, tx: Transaction, job: Job) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        with self.lock:
            self.ran.append(job.id)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def with_test_kind(ex: JobExecutor, recorder: Recorder) -> JobExecutor:
    ex.register_in_transaction("test", recorder.body)
    return ex


# --- running ------------------------------------------------------------------------------


def test_run_once_runs_due_jobs_once_and_deletes_them(
    engine: ProcessEngine, clock: ManualClock, recorder: Recorder
) -> None:
    a, b = due_job(clock, timedelta(seconds=1)), due_job(clock, timedelta(seconds=1))
    later = due_job(clock, timedelta(hours=1))
    insert(engine, a, b, later)
    ex = with_test_kind(executor(engine, batch_size=10), recorder)
    assert ex.run_once() == 0  # one second away
    clock.advance(timedelta(seconds=1))
    assert ex.run_once() == 2
    assert sorted(recorder.ran) == sorted([a.id, b.id])
    assert get(engine, a.id) is None and get(engine, b.id) is None
    assert get(engine, later.id) == later
    assert ex.run_once() == 0
    clock.advance(timedelta(hours=1))
    assert ex.run_until_idle() == 1
    assert ex.stats.executed == 3 and ex.stats.failed == 0


def test_batches_and_workers(engine: ProcessEngine, clock: ManualClock, recorder: Recorder) -> None:
    jobs = [due_job(clock, timedelta(seconds=i)) for i in range(7)]
    insert(engine, *jobs)
    clock.advance(timedelta(minutes=1))
    ex = with_test_kind(executor(engine, batch_size=3, max_workers=3), recorder)
    assert [ex.run_once() for _ in range(4)] == [3, 3, 1, 0]
    assert sorted(recorder.ran) == sorted(j.id for j in jobs)


def test_only_kinds_with_a_handler_are_acquired(
    engine: ProcessEngine, clock: ManualClock, recorder: Recorder
) -> None:
    mine, foreign = due_job(clock), due_job(clock, kind="report")
    insert(engine, mine, foreign)
    ex = with_test_kind(executor(engine), recorder)
    assert ex.kinds == ["async-continuation", "test", "timer"]
    assert ex.run_once() == 1
    assert get(engine, foreign.id) == foreign  # untouched, not locked
    ex.register("report", lambda job, node: None)
    assert ex.run_once() == 1


def test_suspended_instances_jobs_wait(
    engine: ProcessEngine, clock: ManualClock, recorder: Recorder
) -> None:
    instance_with_jobs(engine.store, clock.now(), status="SUSPENDED")
    ex = executor(engine)
    ex.register("timer", lambda job, node: recorder.ran.append(job.id))
    assert ex.run_once() == 0
    assert recorder.ran == []


# --- failures -----------------------------------------------------------------------------


def test_retry_policy_backs_off_exponentially_up_to_a_cap() -> None:
    policy = RetryPolicy(base=timedelta(seconds=10), cap=timedelta(seconds=60), jitter=0.0)
    job = Job(id="j", kind="timer", due_at=ManualClock().now(), created_at=ManualClock().now())
    delays = []
    for retries in (3, 2, 1, 0, -5):
        job.retries = retries
        delays.append(policy.delay(job).total_seconds())
    assert delays == [10, 20, 40, 60, 60]
    job.retries = 50  # an operator's generous retry starts again from the base
    assert policy.delay(job) == timedelta(seconds=10)
    jittery = RetryPolicy(base=timedelta(seconds=10), cap=timedelta(seconds=60), jitter=0.5)
    job.retries = 2
    rng = random.Random(7)
    seen = {jittery.delay(job, rng).total_seconds() for _ in range(200)}
    assert min(seen) >= 10 and max(seen) <= 20 and len(seen) > 100
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=1.0)
    with pytest.raises(ValueError, match="base"):
        RetryPolicy(base=timedelta(minutes=2), cap=timedelta(minutes=1))


def test_a_failing_job_backs_off_then_raises_an_incident_then_an_operator_retries_it(
    engine: ProcessEngine, clock: ManualClock, recorder: Recorder
) -> None:
    inst, (job,) = instance_with_jobs(engine.store, clock.now())
    ex = executor(engine)
    calls: list[str] = []

    def flaky(j: Job, node: str) -> None:
        calls.append(j.id)
        if recorder.fail_with is not None:
            raise recorder.fail_with
        with engine.store.transaction() as tx:
            assert tx.lock_job_for_execution(j.id, node, clock.now()) is not None
            state = tx.load_instance(j.instance_id or "")
            assert state is not None
            state.jobs.remove(state.jobs.rows[j.id])
            tx.save(state)

    ex.register("timer", flaky)
    recorder.fail_with = RuntimeError("service down")
    for left, wait in ((2, 10), (1, 20), (0, 40)):
        assert ex.run_once() == 1
        failed = get(engine, job.id)
        assert failed is not None
        assert failed.retries == left
        assert failed.error_message == "RuntimeError: service down"
        assert failed.due_at == clock.now() + timedelta(seconds=wait)
        assert failed.lock_owner is None
        clock.advance(timedelta(seconds=wait - 1))
        assert ex.run_once() == 0  # still backing off
        clock.advance(timedelta(seconds=1))
    assert ex.run_once() == 0  # out of retries: waits for an operator
    [incident] = engine.incidents(inst.id)
    assert (incident.kind, incident.job_id, incident.element_id) == ("failedJob", job.id, "timer1")
    assert ex.stats.failed == 3 and len(calls) == 3

    recorder.fail_with = None
    with engine.store.transaction() as tx:
        assert tx.set_job_retries(job.id, 1, clock.now())
    assert engine.incidents(inst.id) == []
    assert ex.run_once() == 1
    assert get(engine, job.id) is None
    assert ex.stats.executed == 1


def test_a_lost_lock_is_not_a_failure(
    engine: ProcessEngine, clock: ManualClock, recorder: Recorder
) -> None:
    job = due_job(clock)
    insert(engine, job)
    slow = with_test_kind(executor(engine, "slow"), recorder)
    fast = with_test_kind(executor(engine, "fast"), recorder)
    [mine] = slow.acquire(10)
    clock.advance(LOCK)  # slow stalls; its lock expires and fast takes the job and runs it
    assert fast.run_once() == 1
    assert slow.execute(mine) == "lost"  # seen from its own copy of the lock
    assert recorder.ran == [job.id]

    other = due_job(clock)
    insert(engine, other)
    [mine] = slow.acquire(10)
    with engine.store.transaction() as tx:  # an operator resets it while slow holds it
        tx.set_job_retries(other.id, 7, clock.now())
    assert slow.execute(mine) == "lost"  # the lock check in the transaction refused it
    again = get(engine, other.id)
    assert again is not None
    assert (again.retries, again.error_message) == (7, None)
    assert (slow.stats.lost, slow.stats.failed, slow.stats.executed) == (2, 0, 0)
    assert fast.run_once() == 1
    assert recorder.ran == [job.id, other.id]


def test_illegal_state_while_still_holding_the_lock_is_a_failure(
    engine: ProcessEngine, clock: ManualClock, recorder: Recorder
) -> None:
    job = due_job(clock)
    insert(engine, job)
    ex = with_test_kind(executor(engine), recorder)
    recorder.fail_with = IllegalState("the order was cancelled")
    assert ex.run_once() == 1
    failed = get(engine, job.id)
    assert failed is not None
    assert failed.retries == 2
    assert failed.error_message == "IllegalState: the order was cancelled"
    assert isinstance(JobLockLost("j", "n"), IllegalState)
    assert len(describe(RuntimeError("x" * 10_000))) == 4000


# --- the engine's own jobs ----------------------------------------------------------------


def test_timers_and_async_continuations_run_through_the_engine(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    doc = process(
        '<startEvent id="s"/><intermediateCatchEvent id="wait"><timerEventDefinition>'
        "<timeDuration>PT2H</timeDuration></timerEventDefinition></intermediateCatchEvent>"
        '<scriptTask id="calc" scriptFormat="python" camunda:asyncBefore="true">'
        "<script>fee = amount * rate</script></scriptTask>"
        '<userTask id="t"/><endEvent id="e"/>' + chain("s", "wait", "calc", "t", "e")
    )
    engine.deploy(doc)
    inst = engine.start("p", variables={"amount": 100})
    ex = executor(engine)
    assert ex.run_once() == 0
    clock.advance(timedelta(hours=2))
    assert ex.run_once() == 1  # the timer fires; the script waits behind asyncBefore
    [job] = engine.jobs(inst.id)
    assert job.kind == "async-continuation"
    assert ex.run_once() == 1  # `rate` is missing: a failure, backed off
    failed = get(engine, job.id)
    assert failed is not None
    assert failed.retries == 2 and "rate" in (failed.error_message or "")
    assert engine.instance(inst.id).active_elements == ["calc"]
    engine.set_variables(inst.id, {"rate": 2})
    clock.advance(timedelta(seconds=10))
    assert ex.run_once() == 1
    assert engine.variables(inst.id)["fee"] == 200
    assert [t.element_id for t in engine.tasks(TaskQuery(instance_id=inst.id))] == ["t"]
    assert (ex.stats.executed, ex.stats.failed) == (2, 1)


# --- the loop and its shutdown ------------------------------------------------------------


def test_run_forever_stops_gracefully_releasing_what_it_did_not_start(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    jobs = [due_job(clock, timedelta(seconds=i)) for i in range(4)]
    insert(engine, *jobs)
    clock.advance(timedelta(minutes=1))
    started, finish = threading.Event(), threading.Event()
    ran: list[str] = []

    def blocking(tx: Transaction, job: Job) -> None:
        ran.append(job.id)
        started.set()
        assert finish.wait(10)

    ex = executor(engine, batch_size=4, max_workers=1, poll_interval=timedelta(milliseconds=20))
    ex.register_in_transaction("test", blocking)
    stop = threading.Event()
    loop = threading.Thread(target=ex.run_forever, args=(stop,))
    loop.start()
    assert started.wait(10)
    stop.set()
    finish.set()
    loop.join(10)
    assert not loop.is_alive()
    assert ran == [jobs[0].id]  # the running job finished ...
    assert get(engine, jobs[0].id) is None
    for job in jobs[1:]:  # ... the others went back, at once acquirable by another node
        back = get(engine, job.id)
        assert back is not None and back.lock_owner is None
    assert (ex.stats.acquired, ex.stats.executed, ex.stats.released) == (4, 1, 3)


def test_run_forever_keeps_polling_and_can_be_woken(
    engine: ProcessEngine, clock: ManualClock, recorder: Recorder
) -> None:
    ex = with_test_kind(
        executor(engine, batch_size=8, max_workers=2, poll_interval=timedelta(seconds=30)),
        recorder,
    )
    stop = threading.Event()
    loop = threading.Thread(target=ex.run_forever, args=(stop,))
    loop.start()
    try:
        job = due_job(clock)
        insert(engine, job)
        ex.wake()  # without it, the next poll would be 30 s away
        for _ in range(500):
            if recorder.ran:
                break
            threading.Event().wait(0.01)
        assert recorder.ran == [job.id]
    finally:
        stop.set()
        loop.join(10)
    assert not loop.is_alive()


def test_executor_rejects_nonsense(engine: ProcessEngine) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        JobExecutor(engine, batch_size=0)
    with pytest.raises(ValueError, match="lock_for"):
        JobExecutor(engine, lock_for=timedelta(0))
    assert JobExecutor(engine).node_id != JobExecutor(engine).node_id
