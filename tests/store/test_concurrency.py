"""Real concurrency: threads with transactions of their own, on the real databases."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from caseflow.errors import ConcurrencyConflict
from caseflow.runtime.ports import TopicRequest
from caseflow.store.sql import SqlStore

from .records import at, deploy, external_task, started, variable


def _run_all(workers: list[Callable[[], Any]]) -> list[Any]:
    results: list[Any] = [None] * len(workers)

    def run(i: int) -> None:
        try:
            results[i] = workers[i]()
        except Exception as error:  # noqa: BLE001 - handed back to the test to assert on
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.postgres
def test_two_lockers_never_get_the_same_external_task(pg_store: SqlStore) -> None:
    d = deploy(pg_store)
    state, ex = started(pg_store, d)
    with pg_store.transaction() as tx:
        s = tx.load_instance(state.instance.id)
        assert s is not None
        for i in range(60):
            s.external_tasks.add(external_task(s.instance, ex, created_at=at(i), priority=i % 3))
        tx.save(s)

    # all four first claims are open at once: had a locker waited on another's row
    # locks instead of skipping them, the barrier inside the transaction would time out
    holding = threading.Barrier(4, timeout=20)
    topics = [TopicRequest("verify", 60_000)]

    def locker(worker: str) -> Callable[[], list[str]]:
        def lock() -> list[str]:
            with pg_store.transaction() as tx:
                got = [t.id for t in tx.lock_external_tasks(worker, topics, 4, at(100))]
                holding.wait()
            while True:
                with pg_store.transaction() as tx:
                    batch = tx.lock_external_tasks(worker, topics, 4, at(100))
                if not batch:
                    return got
                got.extend(t.id for t in batch)

        return lock

    results = _run_all([locker(f"w{i}") for i in range(4)])
    assert not [r for r in results if isinstance(r, BaseException)]
    claimed = [task_id for r in results for task_id in r]
    assert len(claimed) == 60
    assert len(set(claimed)) == 60


@pytest.mark.postgres
def test_concurrent_saves_of_one_instance_let_exactly_one_win(pg_store: SqlStore) -> None:
    d = deploy(pg_store)
    state, _ = started(pg_store, d)
    barrier = threading.Barrier(2)

    def writer(name: str) -> Callable[[], str]:
        def write() -> str:
            with pg_store.transaction() as tx:
                s = tx.load_instance(state.instance.id)
                assert s is not None
                barrier.wait()  # both have read revision 1
                s.variables.add(variable(s.instance, name, name, "string"))
                tx.save(s)
                time.sleep(0.05)  # the loser's UPDATE waits on our row lock, then finds 0 rows
            return name

        return write

    results = _run_all([writer("a"), writer("b")])
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if isinstance(r, ConcurrencyConflict)]
    assert len(winners) == 1
    assert len(losers) == 1
    with pg_store.transaction() as tx:
        names = [v.name for v in tx.instance_variables(state.instance.id)]
        loaded = tx.load_instance(state.instance.id)
    assert names == winners
    assert loaded is not None
    assert loaded.instance.revision == 2


def test_sqlite_writers_wait_for_each_other_instead_of_failing(sqlite_store: SqlStore) -> None:
    d = deploy(sqlite_store)
    state, _ = started(sqlite_store, d)

    def writer(n: int) -> int:
        for attempt in range(50):
            try:
                with sqlite_store.transaction() as tx:
                    s = tx.load_instance(state.instance.id)
                    assert s is not None
                    s.variables.add(variable(s.instance, f"v{n}", n, "integer"))
                    time.sleep(0.005)  # hold the writer lock a moment
                    tx.save(s)
                return attempt
            except ConcurrencyConflict:
                continue
        raise AssertionError("never got through")

    results = _run_all([lambda n=n: writer(n) for n in range(6)])  # type: ignore[misc]
    assert results == [0] * 6  # BEGIN IMMEDIATE: each read the latest revision, none retried
    with sqlite_store.transaction(read_only=True) as tx:
        assert len(tx.instance_variables(state.instance.id)) == 6


def test_sqlite_readers_do_not_queue_behind_a_writer(sqlite_store: SqlStore) -> None:
    d = deploy(sqlite_store)
    state, _ = started(sqlite_store, d)
    writing = threading.Event()
    done = threading.Event()

    def writer() -> None:
        with sqlite_store.transaction() as tx:  # holds the writer lock until done
            s = tx.load_instance(state.instance.id)
            assert s is not None
            s.variables.add(variable(s.instance, "late", 1, "integer"))
            tx.save(s)
            writing.set()
            done.wait(timeout=30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(timeout=30)
        started_at = time.monotonic()
        with sqlite_store.transaction(read_only=True) as tx:
            loaded = tx.load_instance(state.instance.id)
        assert time.monotonic() - started_at < 5
        assert loaded is not None
        assert len(loaded.variables) == 0  # the writer has not committed
    finally:
        done.set()
        thread.join(timeout=30)
