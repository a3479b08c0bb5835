"""Jobs fired per second by caseflow's job executor, beside raw SKIP LOCKED clients, same run.

    python -m bench.jobs                       # 1, 2 and 4 processes, with BPMN timers
    python -m bench.jobs --quick               # a smoke run
    python -m bench.jobs --processes 2 --jobs 50000 --rounds 3

Every measurement starts from the same table: ``--jobs`` due jobs of kind ``fire`` in
``job`` (no instance), and an empty ``job_fired`` table with a primary key on the job id.
"Firing" a job is one row of work: in one transaction, check and row-lock the job, insert
its row into ``job_fired`` and delete the job. Two ways to do it, with the same number of
processes and of database sessions (``--workers`` threads per process):

* **raw**: plain psycopg clients, no caseflow: ``UPDATE job ... WHERE (id, tenant_id) IN
  (SELECT ... ORDER BY due_at FOR UPDATE SKIP LOCKED LIMIT n) RETURNING``, then per job
  ``SELECT ... FOR UPDATE``, ``INSERT``, ``DELETE``, ``COMMIT``: the statements caseflow
  issues, as a hand-written worker would.
* **caseflow**: ``caseflow.time.jobs.JobExecutor`` processes (``run_forever``, the loop
  ``caseflow executor`` runs) with the ``fire`` kind registered through
  ``register_in_transaction``: acquire through the store port, run on worker threads,
  ``lock_job_for_execution``, the insert, ``delete_jobs``, commit.
* **BPMN timers**: the same ``JobExecutor`` processes running real timer jobs
  (``kind="timer"``) through ``ProcessEngine.execute_job``: ``--timer-jobs`` instances each
  waiting at an intermediate timer that is due, moved on to their end event (load the
  instance, move the token, save it, delete the job). The whole engine path; this is the
  figure judged against the raw baseline (``--no-timers`` skips it and judges the bare jobs).

The clock runs from the moment every process is connected and told to go, to the last
``fired_at`` (the server's ``clock_timestamp()``), so start-up is not counted. Each run is
checked: every job fired exactly once (count, primary key) and none left in ``job``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import platform
import signal
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from bench.postgres import PostgresUnavailable, ensure_database
from bench.postgres import server_settings as pg_settings

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/caseflow_bench_jobs"
KIND = "fire"
TARGET = 0.5  # caseflow must reach at least half of the raw clients' rate

FIRED_TABLE = """
CREATE TABLE IF NOT EXISTS job_fired (
    job_id varchar(64) PRIMARY KEY,
    node_id text NOT NULL,
    fired_at timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""
ACQUIRE = """
UPDATE job SET lock_owner = %(node)s, lock_expires_at = %(until)s
WHERE (id, tenant_id) IN (
    SELECT due.id, due.tenant_id FROM job AS due
    WHERE due.due_at <= %(now)s AND due.retries > 0
      AND (due.lock_expires_at IS NULL OR due.lock_expires_at <= %(now)s)
      AND due.kind = ANY(%(kinds)s)
      AND NOT EXISTS (SELECT 1 FROM process_instance i WHERE i.id = due.instance_id
                      AND i.tenant_id = due.tenant_id AND i.status = 'SUSPENDED')
    ORDER BY due.due_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING id
"""
LOCK = """
SELECT id FROM job WHERE id = %(id)s AND lock_owner = %(node)s AND lock_expires_at > %(now)s
FOR UPDATE
"""
FIRE = "INSERT INTO job_fired (job_id, node_id) VALUES (%(job)s, %(node)s)"
DELETE = "DELETE FROM job WHERE id = ANY(%(ids)s)"


RUNTIME_TABLES = (
    "deployment", "process_definition", "process_instance", "execution", "variable",
    "user_task", "task_candidate", "external_task", "event_subscription", "job", "incident",
    "activity_history", "command_log",
)


def reset_tables(url: str) -> None:
    """The newest schema, with caseflow's runtime tables empty (no other table touched)."""
    from caseflow.store.migrate import upgrade

    upgrade(url)
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute(f"TRUNCATE {', '.join(RUNTIME_TABLES)} CASCADE")
        conn.execute(FIRED_TABLE)
        conn.execute("TRUNCATE job_fired")


def libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# --- the workers (each in a spawned process) ---------------------------------------------


def raw_process(url: str, node: str, workers: int, batch: int, ready: Any, go: Any) -> None:
    """``workers`` threads, each a plain psycopg client with its own connection."""
    limit = max(1, batch // workers)  # the executor shares one batch among its workers
    connections = [psycopg.connect(libpq_url(url)) for _ in range(workers)]
    ready.put(node)
    go.wait()

    def client(conn: psycopg.Connection[Any], name: str) -> None:
        while True:
            now = dt.datetime.now(dt.UTC)
            params = {"node": name, "until": now + dt.timedelta(minutes=5), "now": now,
                      "kinds": [KIND], "limit": limit}
            ids = [r[0] for r in conn.execute(ACQUIRE, params).fetchall()]
            conn.commit()
            if not ids:
                return
            for job_id in ids:
                now = dt.datetime.now(dt.UTC)
                row = conn.execute(LOCK, {"id": job_id, "node": name, "now": now}).fetchone()
                if row is not None:
                    conn.execute(FIRE, {"job": job_id, "node": name})
                    conn.execute(DELETE, {"ids": [job_id]})
                conn.commit()

    threads = [
        threading.Thread(target=client, args=(conn, f"{node}-{i}"))
        for i, conn in enumerate(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for conn in connections:
        conn.close()


def caseflow_process(
    url: str, node: str, workers: int, batch: int, ready: Any, go: Any, kinds: str
) -> None:
    """One ``JobExecutor`` node, stopped by SIGTERM like ``caseflow executor``."""
    import logging

    from sqlalchemy import text

    from caseflow.runtime import ProcessEngine
    from caseflow.store import open_store
    from caseflow.time.jobs import JobExecutor

    logging.getLogger("caseflow.jobs").setLevel(logging.ERROR)  # failures end the run
    store = open_store(url, pool_size=workers + 2)
    engine = ProcessEngine(store)
    executor = JobExecutor(
        engine,
        node_id=node,
        batch_size=batch,
        max_workers=workers,
        lock_for=dt.timedelta(minutes=5),
        poll_interval=dt.timedelta(milliseconds=50),
        engine_kinds=("timer",) if kinds == "timers" else (),
    )
    if kinds == "fire":
        fire = text(FIRE.replace("%(job)s", ":job").replace("%(node)s", ":node"))

        def body(tx: Any, job: Any) -> None:
            tx.conn.execute(fire, {"job": job.id, "node": node})

        executor.register_in_transaction(KIND, body)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    with store.transaction() as tx:  # connect before the clock starts
        tx.get_job("warm-up")
    ready.put(node)
    go.wait()
    executor.run_forever(stop)
    store.close()


# --- one measurement -----------------------------------------------------------------------


@dataclass
class Run:
    mode: str
    processes: int
    workers: int
    jobs: int
    seconds: float
    error: str | None = None

    @property
    def rate(self) -> float | None:
        return None if self.error or self.seconds <= 0 else self.jobs / self.seconds


def load_fire_jobs(conn: psycopg.Connection[Any], count: int) -> None:
    conn.execute("TRUNCATE job, job_fired")
    now = dt.datetime.now(dt.UTC)
    with conn.cursor().copy(
        "COPY job (id, tenant_id, kind, due_at, created_at, payload, retries) FROM STDIN"
    ) as copy:
        for i in range(count):
            copy.write_row((f"fire-{i:07d}", "default", KIND, now, now, "{}", 3))
    conn.commit()
    conn.execute("ANALYZE job")
    conn.commit()


TIMER_PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
             targetNamespace="http://caseflow.example/bench">
  <process id="bench_timer" isExecutable="true">
    <startEvent id="s"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>
    <intermediateCatchEvent id="wait">
      <timerEventDefinition><timeDuration>PT0S</timeDuration></timerEventDefinition>
    </intermediateCatchEvent>
    <sequenceFlow id="f2" sourceRef="wait" targetRef="e"/>
    <endEvent id="e"/>
  </process>
</definitions>
"""


def load_timer_instances(url: str, conn: psycopg.Connection[Any], count: int) -> None:
    """``count`` instances waiting at a timer that is already due."""
    from caseflow.runtime import ProcessEngine
    from caseflow.store import open_store

    reset_tables(url)
    store = open_store(url)
    try:
        engine = ProcessEngine(store)
        engine.deploy(TIMER_PROCESS, resource_name="bench_timer.bpmn")
        for _ in range(count):
            engine.start("bench_timer")
    finally:
        store.close()
    conn.execute("ANALYZE")
    conn.commit()


def finished(conn: psycopg.Connection[Any], mode: str, count: int) -> bool:
    if mode == "timers":
        sql = "SELECT count(*) FROM process_instance WHERE status = 'COMPLETED'"
    else:
        sql = "SELECT count(*) FROM job_fired"
    row = conn.execute(sql).fetchone()
    conn.commit()
    return row is not None and int(row[0]) >= count


def last_fired(conn: psycopg.Connection[Any], mode: str) -> dt.datetime:
    sql = (
        "SELECT max(ended_at) FROM process_instance" if mode == "timers"
        else "SELECT max(fired_at) FROM job_fired"
    )
    row = conn.execute(sql).fetchone()
    conn.commit()
    assert row is not None and row[0] is not None
    return row[0]  # type: ignore[no-any-return]


def first_failure(conn: psycopg.Connection[Any]) -> str | None:
    row = conn.execute(
        "SELECT error_message FROM job WHERE error_message IS NOT NULL LIMIT 1"
    ).fetchone()
    conn.commit()
    return None if row is None else str(row[0]).splitlines()[0]


def check(conn: psycopg.Connection[Any], mode: str, count: int) -> str | None:
    left = conn.execute("SELECT count(*) FROM job").fetchone()
    if mode == "timers":
        done = conn.execute(
            "SELECT count(*) FROM process_instance WHERE status = 'COMPLETED'"
        ).fetchone()
        conn.commit()
        if done is None or done[0] != count:
            return f"{done} of {count} instances completed"
    else:
        fired = conn.execute("SELECT count(*), count(DISTINCT job_id) FROM job_fired").fetchone()
        conn.commit()
        if fired is None or fired[0] != count or fired[1] != count:
            return f"fired {fired} for {count} jobs"
    if left is None or left[0] != 0:
        return f"{left} jobs left"
    return None


def measure(url: str, mode: str, processes: int, workers: int, batch: int, jobs: int,
            timeout: float) -> Run:
    conn = psycopg.connect(libpq_url(url))
    try:
        if mode == "timers":
            load_timer_instances(url, conn, jobs)
        else:
            load_fire_jobs(conn, jobs)
        ctx = multiprocessing.get_context("spawn")
        ready, go = ctx.Queue(), ctx.Event()
        procs = []
        for p in range(processes):
            node = f"{mode}-{p}"
            if mode == "raw":
                args: tuple[Any, ...] = (url, node, workers, batch, ready, go)
                procs.append(ctx.Process(target=raw_process, args=args))
            else:
                kinds = "timers" if mode == "timers" else "fire"
                args = (url, node, workers, batch, ready, go, kinds)
                procs.append(ctx.Process(target=caseflow_process, args=args))
        for proc in procs:
            proc.start()
        try:
            for _ in procs:
                ready.get(timeout=60)
            row = conn.execute("SELECT clock_timestamp()").fetchone()
            conn.commit()
            assert row is not None
            started: dt.datetime = row[0]
            go.set()
            deadline = time.monotonic() + timeout
            while not finished(conn, mode, jobs):
                if time.monotonic() > deadline:
                    return Run(mode, processes, workers, jobs, 0.0, f"timed out ({timeout} s)")
                if not any(p.is_alive() for p in procs) and not finished(conn, mode, jobs):
                    return Run(mode, processes, workers, jobs, 0.0, "the workers stopped early")
                failure = first_failure(conn)
                if failure is not None:
                    return Run(mode, processes, workers, jobs, 0.0, f"a job failed: {failure}")
                time.sleep(0.02)
            seconds = (last_fired(conn, mode) - started).total_seconds()
        finally:
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()  # SIGTERM: executors finish what runs and stop
            for proc in procs:
                proc.join(30)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
        error = check(conn, mode, jobs)
        return Run(mode, processes, workers, jobs, seconds, error)
    finally:
        conn.close()


# --- the run -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.jobs", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--postgres-url",
                        default=os.environ.get("CASEFLOW_BENCH_JOBS_URL", DEFAULT_URL))
    parser.add_argument("--processes", default="1,2,4", help="process counts, e.g. 1,2,4")
    parser.add_argument("--workers", type=int, default=4,
                        help="threads (database sessions) per process, both sides")
    parser.add_argument("--batch", type=int, default=64, help="jobs per acquire, per process")
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per measurement")
    parser.add_argument("--rounds", type=int, default=2,
                        help="measurements per row (raw and caseflow alternate); the median")
    parser.add_argument("--no-timers", dest="timers", action="store_false",
                        help="skip the real BPMN timers (ProcessEngine.execute_job)")
    parser.add_argument("--timer-jobs", type=int, default=5_000,
                        help="instances waiting at a due timer, per timer measurement")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few jobs, one round")
    return parser.parse_args(argv)


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.jobs, args.rounds, args.timer_jobs = 2_000, 1, 500
    counts = [int(p) for p in args.processes.split(",") if p.strip()]
    url = args.postgres_url
    try:
        ensure_database(url)
        reset_tables(url)
        settings = pg_settings(url)
    except PostgresUnavailable as error:
        print(f"PostgreSQL unavailable: {error}")
        return 1
    print(f"caseflow job executor vs raw SKIP LOCKED clients; {platform.python_version()},"
          f" {os.cpu_count()} CPUs, PostgreSQL {settings.get('server_version')}"
          f" (fsync={settings.get('fsync')}, synchronous_commit="
          f"{settings.get('synchronous_commit')})")
    print(f"{args.jobs:,} jobs per measurement, {args.workers} sessions per process,"
          f" batch {args.batch}, median of {args.rounds}\n")
    failures = 0
    rows = []
    for processes in counts:
        runs: dict[str, list[Run]] = {"raw": [], "caseflow": []}
        for _ in range(args.rounds):
            for mode in ("raw", "caseflow"):
                run = measure(url, mode, processes, args.workers, args.batch, args.jobs,
                              timeout=max(120.0, args.jobs / 50))
                runs[mode].append(run)
                if run.error:
                    print(f"  {mode} x{processes}: FAILED: {run.error}")
                    failures += 1
            if args.timers:
                run = measure(url, "timers", processes, args.workers, args.batch,
                              args.timer_jobs, timeout=max(120.0, args.timer_jobs / 10))
                runs.setdefault("timers", []).append(run)
                if run.error:
                    print(f"  timers x{processes}: FAILED: {run.error}")
                    failures += 1
        raw = _median(runs["raw"])
        ours = _median(runs["caseflow"])
        timers = _median(runs["timers"]) if args.timers else None
        ratio = None if raw is None or ours is None else ours / raw
        timer_ratio = None if raw is None or timers is None else timers / raw
        judged = timer_ratio if args.timers else ratio
        verdict = "n/a" if judged is None else ("PASS" if judged >= TARGET else "MISS")
        rows.append((processes, raw, ours, ratio, timers, timer_ratio, verdict))
        print(f"  {processes} process(es): raw {fmt(raw)}/s, caseflow bare jobs {fmt(ours)}/s"
              f" ({_ratio(ratio)})"
              + (f", BPMN timers {fmt(timers)}/s ({_ratio(timer_ratio)})" if args.timers else "")
              + f" {verdict}")
        sys.stdout.flush()

    judged_on = "BPMN timers / raw" if args.timers else "bare jobs / raw"
    print(f"\nverdict on {judged_on}\n")
    print("| processes | sessions | raw SKIP LOCKED jobs/s | caseflow bare jobs/s | bare / raw |"
          " BPMN timers/s | timers / raw | target ≥ 0.50 |")
    print("|---|---|---|---|---|---|---|---|")
    for processes, raw, ours, ratio, timers, timer_ratio, verdict in rows:
        print(f"| {processes} | {processes * args.workers} | {fmt(raw)} | {fmt(ours)} |"
              f" {_ratio(ratio)} | {fmt(timers)} | {_ratio(timer_ratio)} | {verdict} |")
    return 1 if failures else 0


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _median(runs: list[Run]) -> float | None:
    rates = [r.rate for r in runs if r.rate is not None]
    return statistics.median(rates) if rates else None


if __name__ == "__main__":
    raise SystemExit(main())
