"""The job storage contract (``Transaction.acquire_jobs`` and friends) on every backend.

Time is passed in, never read: the tests say what "now" is and move it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from caseflow.engine.state import InstanceRecord, Job
from caseflow.errors import ConcurrencyConflict
from caseflow.runtime.ports import Store
from tests.store.records import T0, at, deploy, execution, new_id, new_state

LOCK = timedelta(minutes=5)


def loose_job(**kw: object) -> Job:
    """A job of no instance (a timer start event of a definition)."""
    return Job(
        id=str(kw.pop("id", new_id())),
        kind=kw.pop("kind", "timer"),  # type: ignore[arg-type]
        due_at=kw.pop("due_at", at(0)),  # type: ignore[arg-type]
        created_at=T0,
        **kw,  # type: ignore[arg-type]
    )


def instance_with_jobs(
    store: Store, *due: datetime, status: str = "ACTIVE", tenant_id: str = "default", **kw: object
) -> tuple[InstanceRecord, list[Job]]:
    d = deploy(store, f"p{new_id()[:8]}", tenant_id=tenant_id)
    state = new_state(d, status=status)
    ex = state.executions.add(execution(state.instance, "timer1"))
    jobs = [
        state.jobs.add(
            Job(
                id=new_id(),
                kind="timer",
                due_at=when,
                created_at=T0,
                instance_id=state.instance.id,
                execution_id=ex.id,
                element_id="timer1",
                definition_id=d.id,
                payload={"n": i},
                tenant_id=tenant_id,
                **kw,  # type: ignore[arg-type]
            )
        )
        for i, when in enumerate(due)
    ]
    with store.transaction() as tx:
        tx.save(state)
    return state.instance, jobs


def acquire(store: Store, node: str, now: datetime, limit: int = 10, **kw: object) -> list[Job]:
    with store.transaction() as tx:
        return tx.acquire_jobs(node, now, limit, LOCK, **kw)  # type: ignore[arg-type]


def ids(jobs: list[Job]) -> list[str]:
    return [j.id for j in jobs]


# --- acquire ------------------------------------------------------------------------------


def test_acquire_takes_due_jobs_earliest_first_and_locks_them(store: Store) -> None:
    inst, (late, early, future) = instance_with_jobs(store, at(2), at(1), at(10))
    with store.transaction() as tx:
        revision = tx.load_instance(inst.id).instance.revision  # type: ignore[union-attr]

    got = acquire(store, "n1", at(5))

    assert ids(got) == [early.id, late.id]
    for job in got:
        assert job.lock_owner == "n1"
        assert job.lock_expires_at == at(5) + LOCK
    with store.transaction() as tx:
        assert tx.get_job(future.id) == future
        assert tx.get_job(early.id) == got[0]
        state = tx.load_instance(inst.id)
        assert state is not None
        assert state.instance.revision == revision  # a lock is not a change of the instance
        assert {j.id: j.lock_owner for j in state.jobs} == {
            early.id: "n1", late.id: "n1", future.id: None,
        }


def test_a_locked_job_is_not_acquired_again_until_its_lock_expires(store: Store) -> None:
    _, (job,) = instance_with_jobs(store, at(0))
    assert ids(acquire(store, "n1", at(1))) == [job.id]
    assert acquire(store, "n2", at(1)) == []
    assert acquire(store, "n2", at(1) + LOCK - timedelta(microseconds=1)) == []
    taken = acquire(store, "n2", at(1) + LOCK)
    assert ids(taken) == [job.id]
    assert taken[0].lock_owner == "n2"
    assert taken[0].lock_expires_at == at(1) + 2 * LOCK


def test_acquire_respects_limit_and_kinds_and_tenants(store: Store) -> None:
    jobs = [loose_job(due_at=at(i)) for i in range(5)]
    other_kind = loose_job(kind="async-continuation", due_at=at(-1))
    other_tenant = loose_job(due_at=at(-2), tenant_id="acme")
    with store.transaction() as tx:
        tx.insert_jobs([*jobs, other_kind, other_tenant])
    assert acquire(store, "n1", at(10), limit=0) == []
    assert ids(acquire(store, "n1", at(10), limit=2, kinds=["timer"], tenant_ids=["default"])) == [
        jobs[0].id, jobs[1].id,
    ]
    assert ids(acquire(store, "n1", at(10), kinds=["async-continuation"])) == [other_kind.id]
    assert ids(acquire(store, "n1", at(10), tenant_ids=["acme"])) == [other_tenant.id]
    assert ids(acquire(store, "n1", at(10))) == ids(jobs[2:])


def test_jobs_of_suspended_instances_and_without_retries_are_skipped(store: Store) -> None:
    _, (suspended,) = instance_with_jobs(store, at(0), status="SUSPENDED")
    _, (spent,) = instance_with_jobs(store, at(0), retries=0)
    _, (due,) = instance_with_jobs(store, at(0))
    assert ids(acquire(store, "n1", at(1))) == [due.id]
    with store.transaction() as tx:
        assert tx.get_job(suspended.id) == suspended
        assert tx.get_job(spent.id) == spent


def test_an_acquire_rolled_back_leaves_the_job_unlocked(store: Store) -> None:
    (job,) = [loose_job()]
    with store.transaction() as tx:
        tx.insert_jobs([job])
    with pytest.raises(RuntimeError), store.transaction() as tx:
        assert tx.acquire_jobs("n1", at(1), 5, LOCK)
        raise RuntimeError("node died")
    assert ids(acquire(store, "n2", at(1))) == [job.id]


# --- executing ----------------------------------------------------------------------------


# the engine has a job's instance read along (PostgreSQL: in the locking round trip)
READ_AHEAD = pytest.mark.parametrize("ahead", [None, ("jobs", "tasks")], ids=["alone", "ahead"])


@READ_AHEAD
def test_lock_for_execution_only_while_the_lock_is_held(
    store: Store, ahead: tuple[str, ...] | None
) -> None:
    (job,) = [loose_job()]
    with store.transaction() as tx:
        tx.insert_jobs([job])
        assert tx.lock_job_for_execution(job.id, "n1", at(1), read_ahead=ahead) is None
    acquire(store, "n1", at(1))
    with store.transaction() as tx:
        locked = tx.lock_job_for_execution(job.id, "n1", at(2), read_ahead=ahead)
        assert locked is not None
        assert locked.lock_owner == "n1"
        assert tx.lock_job_for_execution(job.id, "n2", at(2), read_ahead=ahead) is None
        expired = at(1) + LOCK
        assert tx.lock_job_for_execution(job.id, "n1", expired, read_ahead=ahead) is None
        assert tx.lock_job_for_execution("missing", "n1", at(2), read_ahead=ahead) is None
    acquire(store, "n2", at(1) + LOCK)  # taken over
    with store.transaction() as tx:
        assert tx.lock_job_for_execution(job.id, "n1", at(2), read_ahead=ahead) is None
        taken = tx.lock_job_for_execution(job.id, "n2", at(1) + LOCK, read_ahead=ahead)
        assert taken is not None


@READ_AHEAD
def test_lock_for_execution_of_an_instance_job_among_its_others(
    store: Store, ahead: tuple[str, ...] | None
) -> None:
    inst, (first, second) = instance_with_jobs(store, at(0), at(5))
    assert ids(acquire(store, "n1", at(1))) == [first.id]
    with store.transaction() as tx:
        assert tx.lock_job_for_execution(second.id, "n1", at(2), read_ahead=ahead) is None
        locked = tx.lock_job_for_execution(first.id, "n1", at(2), read_ahead=ahead)
        assert locked is not None and locked.instance_id == inst.id
        state = tx.load_instance(inst.id)
        assert state is not None
        assert sorted(j.id for j in state.jobs) == sorted([first.id, second.id])
    with store.transaction() as tx:  # another node's lock: nothing of it to read along
        assert tx.lock_job_for_execution(first.id, "n2", at(2), read_ahead=ahead) is None
        state = tx.load_instance(inst.id)
        assert state is not None and len(state.jobs) == 2


def test_release_gives_the_job_back_only_from_its_owner(store: Store) -> None:
    (job,) = [loose_job()]
    with store.transaction() as tx:
        tx.insert_jobs([job])
    acquire(store, "n1", at(1))
    with store.transaction() as tx:
        tx.release_job(job.id, "n2")
        assert tx.get_job(job.id).lock_owner == "n1"  # type: ignore[union-attr]
        tx.release_job(job.id, "n1")
        tx.release_job("missing", "n1")
    assert ids(acquire(store, "n2", at(1))) == [job.id]


# --- failures, incidents, retries ---------------------------------------------------------


def test_failures_count_down_retries_then_raise_an_incident(store: Store) -> None:
    inst, (job,) = instance_with_jobs(store, at(0))
    assert job.retries == 3
    now = at(1)
    for left in (2, 1):
        acquire(store, "n1", now)
        with store.transaction() as tx:
            assert tx.record_job_failure(job.id, "n2", "not mine", now, now) is None
            failed = tx.record_job_failure(job.id, "n1", f"boom {left}", now + LOCK, now)
        assert failed is not None
        assert (failed.retries, failed.error_message, failed.due_at) == (left, f"boom {left}",
                                                                        now + LOCK)
        assert (failed.lock_owner, failed.lock_expires_at) == (None, None)
        assert acquire(store, "n1", now + LOCK - timedelta(seconds=1)) == []  # backing off
        now += LOCK
        with store.transaction() as tx:
            assert tx.open_incidents(inst.id) == []
    acquire(store, "n1", now)
    with store.transaction() as tx:
        failed = tx.record_job_failure(job.id, "n1", "boom 0", now + LOCK, now)
    assert failed is not None and failed.retries == 0
    with store.transaction() as tx:
        (incident,) = tx.open_incidents(inst.id)
        assert tx.get_job(job.id) == failed  # it stays, for an operator to retry
    assert (incident.kind, incident.job_id, incident.message) == ("failedJob", job.id, "boom 0")
    assert (incident.instance_id, incident.execution_id, incident.element_id) == (
        inst.id, job.execution_id, "timer1",
    )
    assert incident.created_at == now
    assert acquire(store, "n1", now + 10 * LOCK) == []

    with store.transaction() as tx:
        assert tx.set_job_retries(job.id, 2, now + LOCK)
        assert not tx.set_job_retries("missing", 2, now)
        with pytest.raises(ValueError, match="retries"):
            tx.set_job_retries(job.id, -1, now)
    with store.transaction() as tx:
        assert tx.open_incidents(inst.id) == []
        retried = tx.get_job(job.id)
    assert retried is not None
    assert (retried.retries, retried.lock_owner, retried.error_message) == (2, None, "boom 0")
    assert ids(acquire(store, "n2", now + LOCK)) == [job.id]


def test_a_job_of_no_instance_runs_out_of_retries_without_an_incident(store: Store) -> None:
    job = loose_job(retries=1)
    with store.transaction() as tx:
        tx.insert_jobs([job])
    acquire(store, "n1", at(1))
    with store.transaction() as tx:
        failed = tx.record_job_failure(job.id, "n1", "boom", at(2), at(1))
    assert failed is not None and failed.retries == 0
    with store.transaction() as tx:
        assert tx.open_incidents() == []
        assert tx.query_jobs(kind="timer")[0].error_message == "boom"


def test_set_retries_takes_the_lock_away(store: Store) -> None:
    (job,) = [loose_job()]
    with store.transaction() as tx:
        tx.insert_jobs([job])
    acquire(store, "n1", at(1))
    with store.transaction() as tx:
        assert tx.set_job_retries(job.id, 5, at(1))
        assert tx.lock_job_for_execution(job.id, "n1", at(1)) is None
    assert acquire(store, "n2", at(1))[0].retries == 5


# --- queries, jobs of no instance ---------------------------------------------------------


def test_query_insert_and_delete_jobs(store: Store) -> None:
    inst, (j1, j2) = instance_with_jobs(store, at(3), at(1))
    d = deploy(store, "starter")
    start = loose_job(definition_id=d.id, due_at=at(2), payload={"cycle": "R/P1D"})
    other = loose_job(kind="async-continuation", due_at=at(4))
    with store.transaction() as tx:
        tx.insert_jobs([start, other])
        with pytest.raises(ValueError, match=r"InstanceState\.jobs"):
            tx.insert_jobs([replace(j1, id=new_id())])
    with store.transaction() as tx:
        assert ids(tx.query_jobs()) == [j2.id, start.id, j1.id, other.id]
        assert ids(tx.query_jobs(instance_id=inst.id)) == [j2.id, j1.id]
        assert ids(tx.query_jobs(kind="timer", limit=2)) == [j2.id, start.id]
        assert tx.query_jobs(definition_id=d.id) == [start]
        assert tx.get_job(start.id) == start
        assert tx.get_job("missing") is None
    with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
        tx.insert_jobs([replace(start, due_at=at(9))])
    with store.transaction() as tx:
        tx.delete_jobs([start.id, "missing"])
        tx.delete_jobs([])
    with store.transaction() as tx:
        assert ids(tx.query_jobs()) == [j2.id, j1.id, other.id]


# --- PostgreSQL: concurrent nodes ---------------------------------------------------------


@pytest.mark.postgres
def test_concurrent_acquires_skip_each_others_rows(postgres_stores: Callable[[], Store]) -> None:
    node1, node2 = postgres_stores(), postgres_stores()
    jobs = [loose_job(due_at=at(i)) for i in range(6)]
    with node1.transaction() as tx:
        tx.insert_jobs(jobs)
    with node1.transaction() as tx1:
        first = tx1.acquire_jobs("n1", at(10), 4, LOCK)
        with node2.transaction() as tx2:  # tx1 not committed: its rows are skipped, no wait
            second = tx2.acquire_jobs("n2", at(10), 4, LOCK)
    assert ids(first) == ids(jobs[:4])
    assert ids(second) == ids(jobs[4:])


@pytest.mark.postgres
def test_a_node_whose_lock_was_taken_over_cannot_execute(
    postgres_stores: Callable[[], Store],
) -> None:
    node1, node2 = postgres_stores(), postgres_stores()
    (job,) = [loose_job()]
    with node1.transaction() as tx:
        tx.insert_jobs([job])
    acquire(node1, "n1", at(0))
    # n1 is slow; its lock expires and n2 takes the job over and runs it
    assert ids(acquire(node2, "n2", at(0) + LOCK)) == [job.id]
    with node2.transaction() as tx2:
        assert tx2.lock_job_for_execution(job.id, "n2", at(0) + LOCK) is not None
        with node1.transaction() as tx1:  # refused at once: no wait for n2's row lock
            assert tx1.lock_job_for_execution(job.id, "n1", at(1)) is None
            assert tx1.lock_job_for_execution(job.id, "n1", at(1), read_ahead=("jobs",)) is None
        tx2.delete_jobs([job.id])
    with node1.transaction() as tx1:
        assert tx1.get_job(job.id) is None


@pytest.mark.postgres
def test_acquire_uses_the_due_index(postgres_stores: Callable[[], Store]) -> None:
    """On a big table the acquire query reads the due index, not the whole table."""
    import sqlalchemy as sa

    from caseflow.store.sql import SqlStore

    store = postgres_stores()
    assert isinstance(store, SqlStore)
    with store.transaction() as tx:
        tx.insert_jobs([loose_job(due_at=at(i)) for i in range(2000)])
    with store.engine.begin() as conn:
        conn.execute(sa.text("ANALYZE job"))
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))  # tiny tables: force the plan
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                sa.text(
                    "EXPLAIN SELECT id, tenant_id FROM job WHERE due_at <= :now AND retries > 0"
                    " AND (lock_expires_at IS NULL OR lock_expires_at <= :now)"
                    " ORDER BY due_at LIMIT 10 FOR UPDATE SKIP LOCKED"
                ),
                {"now": at(5)},
            )
        )
    assert "ix_job_due" in plan, plan
