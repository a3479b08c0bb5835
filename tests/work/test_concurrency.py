"""Racing workers: claim-next hands each task to exactly one of them; a completion waits
for a concurrent change of its task and sees it."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from caseflow.clock import ManualClock
from caseflow.errors import Forbidden
from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import Store, TaskQuery
from caseflow.store import open_store
from caseflow.store.sql import SqlStore
from caseflow.work import WorkService
from tests.work.conftest import one_task_process

TASKS = 160


def _organise(work: WorkService, workers: int) -> None:
    work.create_queue("q1")
    work.create_queue("q2")
    work.create_role("clerks", "Clerks", queue="q1")
    work.assign_queue("q2", "clerks")
    for i in range(workers):
        work.create_user(f"w{i}", f"Worker {i}")
        work.grant(f"w{i}", "clerks", by="admin")
    work.engine.deploy(one_task_process("a", queue="q1"))
    work.engine.deploy(one_task_process("b", queue="q2"))


def _race(stores: list[Store], clock: ManualClock, *, spread: bool) -> None:
    services = [WorkService(ProcessEngine(s, clock=clock)) for s in stores]
    _organise(services[0], len(services))
    engine = services[0].engine
    for i in range(TASKS):
        engine.start("a" if i % 2 else "b")
    claimed: list[list[str]] = [[] for _ in services]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(services))

    def worker(n: int) -> None:
        try:
            barrier.wait()
            while True:
                task = services[n].claim_next(f"w{n}")
                if task is None:
                    return
                assert task.assignee == f"w{n}"
                claimed[n].append(task.id)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(len(services))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    every = [task_id for mine in claimed for task_id in mine]
    assert len(every) == TASKS
    assert len(set(every)) == TASKS  # nobody got a task twice
    opened = {t.id for t in engine.tasks(TaskQuery(limit=1000))}
    assert set(every) == opened
    if spread:  # they really raced (SQLite's one writer may well serve one thread only)
        assert sum(1 for mine in claimed if mine) > 1
    work = services[0]
    claims = Counter(
        h.task_id for task_id in every for h in work.task_history(task_id) if h.action == "CLAIM"
    )
    assert set(claims.values()) == {1}


@pytest.mark.postgres
def test_eight_workers_claim_every_task_exactly_once_on_postgres(
    postgres_stores: Callable[[], Store], clock: ManualClock
) -> None:
    _race([postgres_stores() for _ in range(8)], clock, spread=True)


def test_four_workers_claim_every_task_exactly_once_on_sqlite(
    tmp_path: Path, clock: ManualClock
) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    stores = [open_store(url) for _ in range(4)]
    try:
        _race(list(stores), clock, spread=False)
    finally:
        for s in stores:
            s.close()


@pytest.mark.postgres
def test_a_completion_waits_for_a_concurrent_change_and_sees_it(
    postgres_stores: Callable[[], Store], clock: ManualClock
) -> None:
    store = postgres_stores()
    work = WorkService(ProcessEngine(store, clock=clock))
    _organise(work, 2)
    instance = work.engine.start("a")
    [task] = work.engine.tasks(TaskQuery(instance_id=instance.id))
    work.claim("w0", task.id)
    assert isinstance(store, SqlStore)
    locked = threading.Event()
    release = threading.Event()

    def manager() -> None:
        # another session takes the task's row lock and hands the task to w1
        with store.engine.begin() as conn:
            conn.execute(sa.text("SELECT id FROM user_task WHERE id = :id FOR UPDATE"),
                         {"id": task.id})
            locked.set()
            release.wait(10)
            conn.execute(sa.text("UPDATE user_task SET assignee = 'w1' WHERE id = :id"),
                         {"id": task.id})

    other = threading.Thread(target=manager)
    other.start()
    assert locked.wait(10)
    outcome: list[BaseException | None] = []

    def complete() -> None:
        try:
            work.complete("w0", task.id)
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - checked below
            outcome.append(error)

    completing = threading.Thread(target=complete)
    completing.start()
    time.sleep(0.3)
    assert outcome == []  # still waiting for the row lock
    release.set()
    other.join(10)
    completing.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], Forbidden), outcome
    now = work.task("w1", task.id)
    assert (now.status, now.assignee) == ("CLAIMED", "w1")
    assert work.engine.instance_record(instance.id).status == "ACTIVE"


@pytest.mark.postgres
def test_prepared_statements_lost_by_the_session_are_prepared_again(
    postgres_stores: Callable[[], Store], clock: ManualClock
) -> None:
    store = postgres_stores()
    assert isinstance(store, SqlStore)
    work = WorkService(ProcessEngine(store, clock=clock))
    _organise(work, 1)
    for _ in range(3):
        work.engine.start("a")
    first = work.claim_next("w0")  # prepares claim-next and, below, the task lock
    assert first is not None
    work.unclaim("w0", first.id)
    with store.engine.connect() as conn:  # the pool hands back its warmest connection
        conn.exec_driver_sql("DEALLOCATE ALL")
        conn.commit()
    again = work.claim_next("w0")
    assert again is not None
    with store.engine.connect() as conn:
        conn.exec_driver_sql("DEALLOCATE ALL")
        conn.commit()
    assert work.unclaim("w0", again.id).status == "OPEN"
