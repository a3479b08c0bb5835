"""caseflow driven through its public API: ProcessEngine over memory, SQLite or PostgreSQL."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from bench.measure import (
    LOOP,
    LOOP_ITERATIONS,
    PROCESS_KEYS,
    SEQUENTIAL,
    SEQUENTIAL_TASKS,
    SPLIT,
    SPLIT_TASKS,
    BenchFailure,
    Result,
    process_source,
    split_amount,
    split_branch,
)
from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import TaskQuery
from caseflow.store import open_store

COMPLETION_VARIABLES = {"approved": True}
MAX_USER_TASKS = 100  # no process here has more: a guard against a run that never ends

# caseflow's runtime tables (rows that exist while an instance runs) and its history table
RUNTIME_TABLES = (
    "execution", "variable", "user_task", "task_candidate", "external_task",
    "event_subscription", "job", "incident",
)
MEMORY_TABLES = {  # MemoryStore attribute -> the SQL table it stands for
    "executions": "execution", "variables": "variable", "tasks": "user_task",
    "external_tasks": "external_task", "subscriptions": "event_subscription", "jobs": "job",
    "incidents": "incident", "history": "activity_history",
}


def open_engine(url: str, **options: Any) -> ProcessEngine:
    engine = ProcessEngine(open_store(url, **options))
    for key in PROCESS_KEYS:
        engine.deploy(process_source(key), resource_name=f"{key}.bpmn")
    return engine


def close_engine(engine: ProcessEngine) -> None:
    close = getattr(engine.store, "close", None)
    if close is not None:
        close()


class CaseflowBench:
    def __init__(self, engine: ProcessEngine) -> None:
        self.engine = engine

    def _drive(
        self, key: str, variables: dict[str, Any], *, verify: bool = True
    ) -> tuple[str, list[str]]:
        """Start ``key`` and complete its open user tasks until there are none; with
        ``verify``, then check that the instance is COMPLETED (see verify_completed).

        As a client of the API works: one task query after the start finds the first
        tasks; from then on each ``complete_task`` returns the tasks it opened.
        """
        engine = self.engine
        instance = engine.start(key, variables=variables)
        pending = deque(engine.tasks(TaskQuery(instance_id=instance.id)))
        done: list[str] = []
        while pending:
            if len(done) > MAX_USER_TASKS:
                raise BenchFailure(f"caseflow {key}: still open tasks after {len(done)}"
                                   f" completions: {[t.element_id for t in pending]}")
            task = pending.popleft()
            pending.extend(engine.complete_task(task.id, COMPLETION_VARIABLES))
            done.append(task.element_id)
        if verify:
            self.verify_completed([instance.id])
        return instance.id, done

    def verify_completed(self, instance_ids: list[str]) -> None:
        """Each instance has really ended (a task list that ran dry is not proof)."""
        for instance_id in instance_ids:
            record = self.engine.instance_record(instance_id)
            if record.status != "COMPLETED":
                raise BenchFailure(f"caseflow {record.process_key}: instance {instance_id}"
                                   f" is {record.status} after its last task")

    def run_sequential(self, _n: int) -> int:
        return self.drive_sequential(verify=True)[1]

    def drive_sequential(self, *, verify: bool) -> tuple[str, int]:
        """One sequential_10 instance: its id and its completions (see _drive)."""
        instance_id, done = self._drive(SEQUENTIAL, {}, verify=verify)
        expected = [f"task_{i:02d}" for i in range(1, SEQUENTIAL_TASKS + 1)]
        if done != expected:
            raise BenchFailure(f"caseflow {SEQUENTIAL}: completed {done}")
        return instance_id, len(done)

    def run_split(self, n: int) -> int:
        amount = split_amount(n)
        _, done = self._drive(SPLIT, {"amount": amount})
        expected = {"check_documents", "check_payment", split_branch(amount)}
        if len(done) != SPLIT_TASKS or set(done) != expected:
            raise BenchFailure(f"caseflow {SPLIT} amount={amount}: completed {done}")
        return len(done)

    def run_loop(self, _n: int = 0) -> int:
        self.loop_once()
        return LOOP_ITERATIONS

    def loop_once(self, start: int = 0) -> str:
        """One loop instance from ``i = start`` (0: all 1,000 iterations); its id."""
        instance_id, done = self._drive(LOOP, {"i": start})
        if done:
            raise BenchFailure(f"caseflow {LOOP}: unexpected user tasks {done}")
        i = self.engine.variables(instance_id).get("i")
        if i != LOOP_ITERATIONS:
            raise BenchFailure(f"caseflow {LOOP}: instance {instance_id} finished with i={i!r}")
        return instance_id

    def runner(self, key: str) -> Callable[[int], int]:
        return {SEQUENTIAL: self.run_sequential, SPLIT: self.run_split, LOOP: self.run_loop}[key]

    # ------------------------------------------------------------------ concurrency

    def concurrent_sequential(self, clients: int, seconds: float, label: str) -> Result:
        """``clients`` threads, each driving its own sequential_10 instances, one engine.

        For information: the threads share one interpreter, so the GIL lets one of them
        run Python at a time. ``concurrent_processes`` is the figure the target uses.
        """
        result = Result(f"{SEQUENTIAL} x{clients} threads", "caseflow", label)
        counts = [(0, 0, 0.0)] * clients  # instances, completions, seconds to the last
        errors: list[BaseException] = []
        barrier = threading.Barrier(clients + 1)
        stop = threading.Event()

        def client(index: int) -> None:
            instances = completions = 0
            try:
                self.run_sequential(-1)  # warm-up, not counted
                barrier.wait()
                start = time.perf_counter()
                while not stop.is_set():
                    completions += self.run_sequential(instances)
                    instances += 1
                    counts[index] = (instances, completions, time.perf_counter() - start)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)
                stop.set()
                barrier.abort()

        threads = [threading.Thread(target=client, args=(i,), daemon=True)
                   for i in range(clients)]
        for thread in threads:
            thread.start()
        try:
            barrier.wait()
            start = time.perf_counter()
            time.sleep(seconds)
            # what was finished by now counts, each thread over the time it took
            snapshot = list(counts)
            elapsed = time.perf_counter() - start
        except threading.BrokenBarrierError:
            snapshot, elapsed = [], 0.0
        stop.set()
        for thread in threads:
            thread.join()
        if errors:
            result.error = f"{type(errors[0]).__name__}: {errors[0]}"
            return result
        result.instances = sum(c[0] for c in snapshot)
        result.completions = sum(c[1] for c in snapshot)
        rate = sum(c[1] / c[2] for c in snapshot if c[2] > 0)  # see concurrent_processes
        result.seconds = result.completions / rate if rate else elapsed
        return result

    # ------------------------------------------------------------------ state after a run

    def row_counts(self, instance_id: str) -> dict[str, int]:
        """Rows one instance has left in each runtime table and in history."""
        store = self.engine.store
        counts: dict[str, int] = {}
        sql_engine = getattr(store, "engine", None)
        if sql_engine is not None:
            from sqlalchemy import text

            with sql_engine.connect() as connection:
                counts["process_instance"] = connection.execute(
                    text("SELECT count(*) FROM process_instance WHERE id = :i"),
                    {"i": instance_id},
                ).scalar_one()
                for table in (*RUNTIME_TABLES, "activity_history"):
                    column = "task_id IN (SELECT id FROM user_task WHERE instance_id = :i)" \
                        if table == "task_candidate" else "instance_id = :i"
                    counts[table] = connection.execute(
                        text(f"SELECT count(*) FROM {table} WHERE {column}"), {"i": instance_id}
                    ).scalar_one()
            return counts
        counts["process_instance"] = int(instance_id in store.instances.rows)
        for attribute, table in MEMORY_TABLES.items():
            counts[table] = len(getattr(store, attribute).of_instance(instance_id))
        return counts


# ---------------------------------------------------------------------- clients as processes

# per client in the shared array, as of its last finished instance: instances,
# completions, CPU seconds and wall seconds since the start
_SLOTS = 4
_START_TIMEOUT_S = 300.0


def _process_client(
    url: str,
    options: dict[str, Any],
    index: int,
    ready: Any,
    stop: Any,
    counts: Any,
    errors: Any,
) -> None:
    """One client process: its own ProcessEngine and connection pool, like one of
    pgbench's connections. The parent deployed the processes.

    Each counted instance is checked to have COMPLETED, after the window: the check is
    the benchmark's, not work a client of the engine does, so it is not timed (Spiff's
    is an attribute read).
    """
    engine: ProcessEngine | None = None
    try:
        engine = ProcessEngine(open_store(url, **options))
        bench = CaseflowBench(engine)
        bench.run_sequential(-1)  # warm-up, not counted
        ready.wait(_START_TIMEOUT_S)
        cpu = time.process_time()
        start = time.perf_counter()
        instances = completions = 0
        finished: list[str] = []
        while not stop.is_set():
            instance_id, made = bench.drive_sequential(verify=False)
            finished.append(instance_id)
            completions += made
            instances += 1
            with counts.get_lock():
                at = index * _SLOTS
                counts[at : at + _SLOTS] = [
                    instances, completions, time.process_time() - cpu,
                    time.perf_counter() - start,
                ]
        bench.verify_completed(finished)
    except BaseException as error:  # noqa: BLE001 - reported to the parent
        errors.put(f"client {index}: {type(error).__name__}: {error}")
        ready.abort()
    finally:
        if engine is not None:
            close_engine(engine)


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            fields = [float(x) for x in stat.readline().split()[1:]]
    except OSError:
        return 0.0, 0.0
    hz = float(os.sysconf("SC_CLK_TCK"))
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return (sum(fields) - idle) / hz, sum(fields) / hz


def concurrent_processes(
    url: str, options: dict[str, Any], clients: int, seconds: float, label: str
) -> Result:
    """``clients`` OS processes (spawned), each with its own ProcessEngine and pool,
    each driving its own sequential_10 instances, as a client of the API does: the
    durable figure of target (c). The note gives the clients' Python CPU per
    completion and how busy the whole machine was in the window."""
    result = Result(f"{SEQUENTIAL} x{clients} clients", "caseflow", label)
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(clients + 1)
    stop = context.Event()
    counts = context.Array("d", clients * _SLOTS)
    errors = context.Queue()
    processes = [
        context.Process(
            target=_process_client,
            args=(url, options, i, ready, stop, counts, errors),
            daemon=True,
        )
        for i in range(clients)
    ]
    for process in processes:
        process.start()
    snapshot: list[float] = []
    elapsed = 0.0
    try:
        ready.wait(_START_TIMEOUT_S)
        start = time.perf_counter()
        busy0, total0 = _machine_busy()
        time.sleep(seconds)
        # what was finished by now counts, each client over the time it took: an
        # instance still in flight is neither counted nor timed
        with counts.get_lock():
            snapshot = list(counts)
        elapsed = time.perf_counter() - start
        busy1, total1 = _machine_busy()
    except threading.BrokenBarrierError:
        pass
    finally:
        stop.set()
        for process in processes:
            process.join(60)
            if process.is_alive():
                process.kill()
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    if problems or not snapshot:
        result.error = problems[0] if problems else "the clients did not start"
        return result
    result.instances = int(sum(snapshot[0::_SLOTS]))
    result.completions = int(sum(snapshot[1::_SLOTS]))
    # the clients' rates summed (each its completions over its own time to its last
    # finished instance), given as the seconds that make completions / seconds that sum
    done = zip(snapshot[1::_SLOTS], snapshot[3::_SLOTS], strict=True)
    rate = sum(c / t for c, t in done if t > 0)
    result.seconds = result.completions / rate if rate else elapsed
    if result.completions:
        cpu_ms = 1e3 * sum(snapshot[2::_SLOTS]) / result.completions
        cores = (busy1 - busy0) / elapsed if elapsed else 0.0
        share = (total1 - total0) / elapsed if elapsed else 0.0
        result.note = (
            f"client Python CPU {cpu_ms:.2f} ms per completion; the machine was busy"
            f" {cores:.1f} of {share:.0f} cores"
        )
    return result
