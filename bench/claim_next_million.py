"""One million tasks: how the main human-work queries answer, and their plans.

    python -m bench.claim_next --million            # loads once, reuses the load after
    python -m bench.claim_next --million --reload   # load again

Loads 1,000,000 tasks (900,000 completed, 100,000 open in 20 queues, 3,200 of those
claimed by users w0..w63, 50 each) with their instances and three process variables
each, then times the queries as the service runs them (``WorkService`` on the real
connection pool) and prints ``EXPLAIN (ANALYZE, BUFFERS)`` of the statement each sent.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, text

from bench.claim_next_data import load_tasks, prepare, sql_engine
from caseflow.runtime import ProcessEngine
from caseflow.store import open_store
from caseflow.store.sql import SqlStore
from caseflow.work import TaskFilter, VariableFilter, WorkService
from caseflow.work import sql as work_sql

TOTAL = 1_000_000
OPEN = 100_000
ASSIGNED = 3_200
TARGET_MY_TASKS_P99_MS = 20.0


def _loaded(url: str) -> bool:
    engine = sql_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(text(
                "SELECT count(*) FROM user_task"
            )).scalar()
            return bool(found == TOTAL)
    except Exception:  # noqa: BLE001 - no schema yet
        return False
    finally:
        engine.dispose()


def _time(fn: Callable[[], Any], runs: int) -> tuple[float, float, float]:
    fn()  # warm: statement caches, prepared statements
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1], samples[-1]


def run_million(url: str, *, queues: int = 20, reload: bool = False) -> int:
    if reload or not _loaded(url):
        setup = prepare(url, queues=queues, workers=64)
        took = load_tasks(setup, open_tasks=OPEN, closed_tasks=TOTAL - OPEN,
                          assigned_open=ASSIGNED, assignees=64)
        print(f"loaded {TOTAL} tasks ({OPEN} open, {ASSIGNED} claimed) in {took:.0f}s")
    else:
        print(f"reusing the {TOTAL} tasks loaded before (--reload to load again)")
    store = open_store(url)
    assert isinstance(store, SqlStore)
    captured: list[tuple[str, Any]] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def _capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    work = WorkService(ProcessEngine(store))
    me = "w7"
    region = [VariableFilter("amount", "gt", 99_000), VariableFilter("region", "eq", "north")]
    queries: list[tuple[str, Callable[[], Any], int]] = [
        ("my open tasks (w7)", lambda: work.my_tasks(me), 1000),
        ("available in my queues, first page", lambda: work.available_tasks(me), 300),
        ("one queue, first page", lambda: work.tasks(me, TaskFilter(queues=["q03"])), 300),
        ("count available", lambda: work.count_tasks(me, TaskFilter(scope="available")), 20),
        ("by business key", lambda: work.tasks(me, TaskFilter(business_key="BK-999999")), 300),
        ("by case", lambda: work.tasks(me, TaskFilter(case_id="CASE-333333")), 300),
        ("by variables (amount > 99000 and region = north)",
         lambda: work.tasks(me, TaskFilter(variables=region)), 100),
        ("due before (none due): first page",
         lambda: work.tasks(me, TaskFilter(due_before=work.now())), 100),
        ("queue stats (20 queues)", work.queue_stats, 10),
    ]
    print("\n| query | p50 ms | p99 ms | max ms |\n|---|---|---|---|")
    plans: list[tuple[str, str, Any]] = []
    verdict = ""
    for name, fn, runs in queries:
        captured.clear()
        fn()
        statement, parameters = next(
            (s, p) for s, p in reversed(captured)
            if s.lstrip().upper().startswith("SELECT") and ("user_task" in s or "work_queue" in s)
        )
        plans.append((name, statement, parameters))
        p50, p99, top = _time(fn, runs)
        print(f"| {name} | {p50:.2f} | {p99:.2f} | {top:.2f} |")
        if name.startswith("my open tasks"):
            passed = "PASS" if p99 < TARGET_MY_TASKS_P99_MS else "MISS"
            verdict = (
                f"my open tasks p99 {p99:.2f} ms "
                f"(target < {TARGET_MY_TASKS_P99_MS:.0f}): {passed}"
            )
    p50, p99, top = _time(lambda: work.claim_next(me), 300)
    print(f"| claim_next (w7, all 20 queues) | {p50:.2f} | {p99:.2f} | {top:.2f} |")
    print(f"\n{verdict}\n")

    raw_engine = store.engine
    with raw_engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        for name, statement, parameters in plans:
            print(f"## {name}\n")
            rows = raw.execute(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters
            ).fetchall()
            print("\n".join(r[0] for r in rows))
            print()
        print("## claim_next (one statement; rolled back)\n")
        sql, fixed = store.compiled(work_sql.CLAIM_NEXT_PG)
        params = {**fixed, "tid": "default", "now": work.now(), "actor": me, "hid": "explain"}
        rows = raw.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params).fetchall()
        print("\n".join(r[0] for r in rows))
        raw.rollback()
    store.close()
    return 0
