"""Two executor nodes (two OS processes) on one PostgreSQL: every job fires exactly once,
even when one node is killed (SIGKILL) in the middle of the run."""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from caseflow.engine.state import Job
from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import Store, Transaction
from caseflow.store.sql import SqlStore
from caseflow.time.jobs import JobExecutor
from tests.pg import POSTGRES_URL

JOBS = 10_000
LOCK_FOR = timedelta(seconds=2)
KIND = "fire"

FIRED_TABLE = """
CREATE TABLE job_fired (
    job_id varchar(64) PRIMARY KEY,
    node_id text NOT NULL,
    fired_at timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""


def fire(tx: Transaction, job: Job, node_id: str) -> None:
    """The job's work: one row, in the transaction that deletes the job (a second firing
    of the same job would break the primary key and be recorded as a failure)."""
    conn: sa.Connection = tx.conn  # type: ignore[attr-defined]
    conn.execute(
        sa.text("INSERT INTO job_fired (job_id, node_id) VALUES (:job, :node)"),
        {"job": job.id, "node": node_id},
    )


def node_main(url: str, schema: str, node_id: str, results: Any) -> None:
    """One executor node, in a process of its own (spawned: nothing inherited), stopped by
    SIGTERM as ``caseflow executor`` is. (No multiprocessing.Event: a process killed while
    waiting on one leaves it broken for everybody else.)"""
    store = SqlStore(url, schema=schema, pool_size=8)
    engine = ProcessEngine(store)
    executor = JobExecutor(
        engine,
        node_id=node_id,
        batch_size=64,
        max_workers=4,
        lock_for=LOCK_FOR,
        poll_interval=timedelta(milliseconds=50),
    )
    executor.register_in_transaction(KIND, lambda tx, job: fire(tx, job, node_id))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    executor.run_forever(stop)
    results.put((node_id, executor.stats.as_dict()))
    store.close()


def count(store: SqlStore, sql: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


@pytest.mark.postgres
def test_two_nodes_fire_every_job_once_even_when_one_is_killed(
    postgres_stores: Callable[[], Store], postgres_schema: str
) -> None:
    store = postgres_stores()
    assert isinstance(store, SqlStore)
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS job_fired"))
        conn.execute(sa.text(FIRED_TABLE))
    now = datetime.now(UTC)
    jobs = [
        Job(id=f"fire-{i:05d}", kind=KIND, due_at=now, created_at=now)  # type: ignore[arg-type]
        for i in range(JOBS)
    ]
    with store.transaction() as tx:
        tx.insert_jobs(jobs)

    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    nodes = {
        name: ctx.Process(
            target=node_main,
            args=(POSTGRES_URL, postgres_schema, name, results),
            name=name,
        )
        for name in ("victim", "survivor")
    }
    started = time.monotonic()
    try:
        for process in nodes.values():
            process.start()
        # kill the victim mid-run, once both nodes are busy
        wait_for(
            lambda: count(store, "SELECT count(DISTINCT node_id) FROM job_fired") == 2
            and count(store, "SELECT count(*) FROM job_fired") >= JOBS // 4,
            45,
            "both nodes to fire jobs",
        )
        nodes["victim"].kill()
        nodes["victim"].join(10)
        killed_at = count(store, "SELECT count(*) FROM job_fired")
        with store.engine.connect() as conn:
            orphans = set(
                conn.execute(
                    sa.text("SELECT id FROM job WHERE lock_owner = 'victim'")
                ).scalars()
            )
        assert killed_at < JOBS, "the victim died after the work was done: nothing tested"

        wait_for(
            lambda: count(store, "SELECT count(*) FROM job_fired") >= JOBS,
            90,  # ~10 s on an idle 2-core machine; room for a loaded CI box
            "the survivor to finish every job",
        )
        nodes["survivor"].terminate()  # SIGTERM: a graceful stop
        nodes["survivor"].join(20)
        assert nodes["survivor"].exitcode == 0
        name, stats = results.get(timeout=5)
    finally:
        for process in nodes.values():
            if process.is_alive():
                process.kill()
                process.join(5)
    elapsed = time.monotonic() - started
    print(f"\n{JOBS} jobs, victim killed at {killed_at} holding {len(orphans)}: {elapsed:.1f} s;"
          f" survivor {stats}")

    assert name == "survivor"
    with store.engine.connect() as conn:
        fired: dict[str, str] = dict(
            conn.execute(sa.text("SELECT job_id, node_id FROM job_fired")).all()  # type: ignore[arg-type]
        )
        left = conn.execute(sa.text("SELECT count(*) FROM job")).scalar_one()
        conn.execute(sa.text("DROP TABLE job_fired"))
        conn.commit()
    assert len(fired) == JOBS  # each job fired: none lost ...
    assert set(fired) == {j.id for j in jobs}
    assert left == 0
    assert stats["failed"] == 0 and stats["errors"] == 0  # ... and none fired twice
    assert orphans, "the victim held no locks when killed: nothing was taken over"
    assert {fired[j] for j in orphans} == {"survivor"}  # taken over after the lock expired
    by_node = {n: sum(1 for v in fired.values() if v == n) for n in ("victim", "survivor")}
    assert by_node["victim"] > 0 and by_node["survivor"] > 0
