"""Claim-next on PostgreSQL: caseflow's service beside its own statement run raw by pgbench.

    python -m bench.claim_next                      # the default run (a few minutes)
    python -m bench.claim_next --sustained 300      # plus 5 minutes of claim+complete
    python -m bench.claim_next --million            # 1M tasks: query latency and EXPLAIN
                                                    # (in caseflow_bench_work_1m, kept)
    python -m bench.claim_next --workers 8 --seconds 5 --skip-raw

Everything runs in a database of its own (default ``caseflow_bench_work``), emptied and
loaded here: 100,000 open tasks across 20 queues, users ``w0``... holding a role that
works all of them. For N = 1, 4, 8 concurrent workers (processes, each with its own
connection pool):

* **raw**: pgbench clients run the claim statement ``WorkService.claim_next`` sends
  (rendered from the same SQLAlchemy statement), nothing else;
* **claim**: workers call ``WorkService.claim_next`` in a loop;
* **claim+complete**: workers claim and complete through ``WorkService.complete``
  (the engine moves each process on, which opens the next task: the queue stays full).

Each prints claims/second, p50/p99 claim latency and the duplicates found (a task id
claimed twice), and the ratio to raw. Between phases the claimed tasks are reopened and
the tables vacuumed, so every phase starts from the same state.

``--sustained`` runs claim+complete with 8 workers for that long and prints the claim
rate per interval, with ``WorkService.vacuum_claimable()`` every ``--vacuum-every``
seconds (0: never; the server's autovacuum, if on, still runs).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from bench.claim_next_data import (
    DEFAULT_URL,
    MILLION_URL,
    Setup,
    load_tasks,
    prepare,
    sql_engine,
)
from bench.claim_next_raw import RawResult, run_pgbench

TARGET_RATIO = 0.5


@dataclass
class Phase:
    name: str
    workers: int
    claims: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # claim latencies, ms
    complete_latencies: list[float] = field(default_factory=list)
    duplicates: int = 0
    empty: int = 0
    errors: list[str] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)  # claim times, s from start
    vacuum_ms: list[float] = field(default_factory=list)  # vacuum_claimable durations

    @property
    def per_second(self) -> float:
        return self.claims / self.seconds if self.seconds else 0.0

    def p(self, q: float, values: list[float] | None = None) -> float | None:
        data = sorted(self.latencies if values is None else values)
        if not data:
            return None
        return data[min(len(data) - 1, int(len(data) * q))]


def _worker(url: str, user: str, mode: str, start_at: float, stop_at: float,
            out: Any) -> None:
    """Claim until ``stop_at``; ``mode``: ``claim`` only, ``complete`` each claimed task,
    or ``churn``: give each back to its queue (it returns to the head of the queue)."""
    from caseflow.runtime import ProcessEngine
    from caseflow.store import open_store
    from caseflow.work import WorkService

    store = open_store(url, pool_size=1, max_overflow=1)
    claims: list[float] = []
    completes: list[float] = []
    stamps: list[float] = []
    ids: list[str] = []
    errors: list[str] = []
    empty = 0
    try:
        work = WorkService(ProcessEngine(store))
        warm = work.claim_next(user)  # compile and cache the statements outside the window
        if warm is not None:
            if mode == "complete":
                work.complete(user, warm.id)
            else:
                work.unclaim(user, warm.id)
        while time.monotonic() < start_at:
            time.sleep(0.001)
        while True:
            t0 = time.monotonic()
            if t0 >= stop_at:
                break
            task = work.claim_next(user)
            t1 = time.monotonic()
            if task is None:
                empty += 1
                continue
            claims.append((t1 - t0) * 1000)
            stamps.append(t1 - start_at)
            ids.append(task.id)
            if mode == "complete":
                work.complete(user, task.id)
                completes.append((time.monotonic() - t1) * 1000)
            elif mode == "churn":
                work.unclaim(user, task.id)
                completes.append((time.monotonic() - t1) * 1000)
    except Exception as error:  # noqa: BLE001 - reported by the parent
        errors.append(f"{user}: {type(error).__name__}: {error}")
    finally:
        store.close()
    out.put((claims, completes, stamps, ids, errors, empty))


def run_workers(url: str, workers: int, seconds: float, *, mode: str,
                vacuum_every: float = 0.0, feed_every: float = 0.0) -> Phase:
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    start_at = time.monotonic() + 2.0 + 0.1 * workers  # time to connect and warm up
    stop_at = start_at + seconds
    procs = [
        ctx.Process(target=_worker, args=(url, f"w{n}", mode, start_at, stop_at, out))
        for n in range(workers)
    ]
    for p in procs:
        p.start()
    stop_vacuum = threading.Event()
    vacuums: list[float] = []
    helpers = []
    if vacuum_every > 0:
        helpers.append(threading.Thread(
            target=_vacuum_loop, args=(url, vacuum_every, stop_vacuum, vacuums), daemon=True
        ))
    if feed_every > 0:
        helpers.append(threading.Thread(
            target=_feed_loop, args=(url, feed_every, stop_vacuum), daemon=True
        ))
    for helper in helpers:
        helper.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    stop_vacuum.set()
    for helper in helpers:
        helper.join(timeout=30)
    phase = Phase(mode, workers, seconds=seconds)
    every: list[str] = []
    for claims, completes, stamps, ids, errors, empty in results:
        phase.latencies += claims
        phase.complete_latencies += completes
        phase.stamps += stamps
        phase.errors += errors
        phase.empty += empty
        every += ids
    phase.claims = len(every)
    # tasks handed back (churn, the feeder) are claimed again later: no duplicates then
    phase.duplicates = 0 if mode == "churn" or feed_every else len(every) - len(set(every))
    phase.stamps.sort()
    phase.vacuum_ms = vacuums
    return phase


def _vacuum_loop(url: str, every: float, stop: threading.Event, took: list[float]) -> None:
    from caseflow.runtime import ProcessEngine
    from caseflow.store import open_store
    from caseflow.work import WorkService

    store = open_store(url, pool_size=1, max_overflow=0)
    try:
        work = WorkService(ProcessEngine(store))
        while not stop.wait(every):
            t0 = time.monotonic()
            work.vacuum_claimable()
            took.append((time.monotonic() - t0) * 1000)
    finally:
        store.close()


_REOPEN = (
    "WITH back AS (UPDATE user_task SET status = 'OPEN', assignee = NULL, "
    "claimed_at = NULL, claimed_by = NULL WHERE status = 'CLAIMED' "
    "RETURNING id, tenant_id, queue, priority, created_at) "
    "INSERT INTO work_queue_item (task_id, tenant_id, queue, priority, created_at) "
    "SELECT id, tenant_id, queue, priority, created_at FROM back"
)


def _feed_loop(url: str, every: float, stop: threading.Event) -> None:
    """Put claimed tasks back, in SQL, every ``every`` seconds: claim-only workers then
    never run dry, and the tasks come back at the head of their queues (they are old)."""
    engine = sql_engine(url)
    try:
        with engine.connect() as conn:
            while not stop.wait(every):
                conn.execute(text(_REOPEN))
    finally:
        engine.dispose()


def reopen(url: str) -> None:
    """Give every claimed task back to its queue, forget the claims, vacuum: the next
    phase starts where the load left off."""
    engine = sql_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text(_REOPEN))
            conn.execute(text("DELETE FROM work_task_history"))
            for table in ("work_queue_item", "user_task", "work_task_history"):
                conn.execute(text(f"VACUUM ANALYZE {table}"))
    finally:
        engine.dispose()


def vacuum_all(url: str) -> None:
    engine = sql_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()


def history_duplicates(url: str) -> int:
    """Tasks with more than one CLAIM row since the last reopen (raw runs)."""
    engine = sql_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(
                "SELECT count(*) - count(DISTINCT task_id) FROM work_task_history "
                "WHERE action = 'CLAIM'"
            )).scalar() or 0)
    finally:
        engine.dispose()


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=None,
                        help=f"default {DEFAULT_URL} ({MILLION_URL} with --million)")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--queues", type=int, default=20)
    parser.add_argument("--workers", default="1,4,8")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--skip-raw", action="store_true")
    parser.add_argument("--skip-complete", action="store_true")
    parser.add_argument("--sustained", type=float, default=0.0,
                        help="seconds of claim+complete with 8 workers (0: none)")
    parser.add_argument("--sustained-mode", choices=("claim", "complete", "churn"),
                        default="claim",
                        help="claim: claim only, a feeder reopens claimed tasks every "
                        "second (the claim path at full speed); complete: claim and "
                        "complete; churn: claim and unclaim")
    parser.add_argument("--vacuum-every", type=float, default=5.0)
    parser.add_argument("--interval", type=float, default=15.0)
    parser.add_argument("--only-sustained", action="store_true",
                        help="skip the N = 1, 4, 8 phases: only the sustained run")
    parser.add_argument("--million", action="store_true",
                        help="only the 1M-task query benchmark and EXPLAIN plans")
    parser.add_argument("--reload", action="store_true",
                        help="with --million: load the million tasks again")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",")]

    print(f"# caseflow claim-next benchmark  ({platform.python_version()}, "
          f"{platform.machine()}, {mp.cpu_count()} CPUs)")
    if args.million:
        from bench.claim_next_million import run_million

        return run_million(args.url or MILLION_URL, queues=args.queues, reload=args.reload)
    args.url = args.url or DEFAULT_URL
    if args.only_sustained:
        return only_sustained(args)

    setup: Setup = prepare(args.url, queues=args.queues, workers=max(counts))
    took = load_tasks(setup, open_tasks=args.tasks)
    print(f"loaded {args.tasks} open tasks in {args.queues} queues in {took:.1f}s")
    engine = sql_engine(args.url)
    with engine.connect() as conn:
        settings = {
            n: conn.execute(text(f"SHOW {n}")).scalar()
            for n in ("server_version", "synchronous_commit", "autovacuum", "shared_buffers")
        }
    engine.dispose()
    print("server:", ", ".join(f"{k}={v}" for k, v in settings.items()))

    raw: dict[int, RawResult] = {}
    claim: dict[int, Phase] = {}
    cycle: dict[int, Phase] = {}
    for n in counts:
        if not args.skip_raw:
            r = run_pgbench(args.url, n, args.seconds)
            raw[n] = r
            dup = history_duplicates(args.url)
            print(f"raw    N={n}: {r.per_second:8.0f} claims/s  p50 {fmt(r.p50_ms, 2)} ms  "
                  f"p99 {fmt(r.p99_ms, 2)} ms  duplicates {dup}"
                  + (f"  ERROR {r.error}" if r.error else ""))
            reopen(args.url)
        phase = run_workers(args.url, n, args.seconds, mode="claim")
        claim[n] = phase
        print(f"claim  N={n}: {phase.per_second:8.0f} claims/s  p50 {fmt(phase.p(0.5), 2)} ms  "
              f"p99 {fmt(phase.p(0.99), 2)} ms  duplicates {phase.duplicates}"
              + (f"  ERRORS {phase.errors[:2]}" if phase.errors else ""))
        reopen(args.url)
    if not args.skip_complete:
        for n in counts:
            phase = run_workers(args.url, n, args.seconds, mode="complete")
            cycle[n] = phase
            print(f"claim+complete N={n}: {phase.per_second:8.0f} claims/s  "
                  f"p50 {fmt(phase.p(0.5), 2)} ms  p99 {fmt(phase.p(0.99), 2)} ms  "
                  f"complete p50 {fmt(phase.p(0.5, phase.complete_latencies), 2)} ms  "
                  f"duplicates {phase.duplicates}"
                  + (f"  ERRORS {phase.errors[:2]}" if phase.errors else ""))
            vacuum_all(args.url)

    print()
    print("| workers | raw claims/s | claim_next claims/s | ratio | claim+complete claims/s "
          "| ratio | p50 / p99 claim ms (raw) | p50 / p99 claim ms (claim_next) | duplicates |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in counts:
        r = raw.get(n)
        c = claim[n]
        k = cycle.get(n)
        base = r.per_second if r and not r.error else None
        print(
            f"| {n} | {fmt(base, 0)} | {c.per_second:.0f} | "
            f"{fmt(c.per_second / base if base else None, 2)} | "
            f"{fmt(k.per_second if k else None, 0)} | "
            f"{fmt(k.per_second / base if base and k else None, 2)} | "
            f"{fmt(r.p50_ms if r else None, 2)} / {fmt(r.p99_ms if r else None, 2)} | "
            f"{fmt(c.p(0.5), 2)} / {fmt(c.p(0.99), 2)} | "
            f"{c.duplicates + (k.duplicates if k else 0)} |"
        )
    failed = any(p.duplicates or p.errors for p in (*claim.values(), *cycle.values()))
    top = max(counts)
    if top in raw and not raw[top].error:
        ratio = claim[top].per_second / raw[top].per_second
        verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
        print(f"\ntarget: claim_next at {top} workers >= {TARGET_RATIO:.0%} of raw: "
              f"{ratio:.0%} {verdict}")
    print(f"duplicates: {'NONE' if not failed else 'FOUND (or errors)'}")

    if args.sustained > 0:
        sustained(args, setup)
    return 1 if failed else 0


def only_sustained(args: argparse.Namespace) -> int:
    setup = prepare(args.url, queues=args.queues, workers=8)
    sustained(args, setup)
    return 0


def sustained(args: argparse.Namespace, setup: Setup) -> None:
    took = load_tasks(setup, open_tasks=args.tasks)
    every = f"every {args.vacuum_every:g}s" if args.vacuum_every > 0 else "never"
    print(f"\n# sustained: 8 workers, mode {args.sustained_mode}, for {args.sustained:.0f}s "
          f"(reloaded in {took:.0f}s); vacuum_claimable {every}")
    phase = run_workers(
        args.url, 8, args.sustained, mode=args.sustained_mode,
        vacuum_every=args.vacuum_every,
        feed_every=1.0 if args.sustained_mode == "claim" else 0.0,
    )
    width = args.interval
    buckets = int(args.sustained // width)
    counts = [0] * buckets
    for s in phase.stamps:
        b = int(s // width)
        if 0 <= b < buckets:
            counts[b] += 1
    rates = [c / width for c in counts]
    print("claims/s per interval:", " ".join(f"{r:.0f}" for r in rates))
    if rates:
        first, last = rates[0], rates[-1]
        print(f"first {first:.0f}/s, last {last:.0f}/s, min {min(rates):.0f}/s, "
              f"max {max(rates):.0f}/s, mean {statistics.mean(rates):.0f}/s; "
              f"last/first {last / first if first else 0:.2f}")
    vac = phase.vacuum_ms
    if vac:
        print(f"vacuum_claimable: {len(vac)} runs, median {statistics.median(vac):.0f} ms, "
              f"max {max(vac):.0f} ms")
    print(f"claims: {phase.claims}, p50 {fmt(phase.p(0.5), 2)} ms, "
          f"p99 {fmt(phase.p(0.99), 2)} ms, duplicates {phase.duplicates}, "
          f"errors {len(phase.errors)} {phase.errors[:2]}")
    engine = sql_engine(args.url)
    with engine.connect() as conn:
        dead = conn.execute(text(
            "SELECT n_dead_tup, (SELECT count(*) FROM work_queue_item) "
            "FROM pg_stat_user_tables WHERE relname = 'work_queue_item'"
        )).first()
        size = conn.execute(text(
            "SELECT pg_size_pretty(pg_relation_size('ix_work_queue_item_next'))"
        )).scalar()
    engine.dispose()
    if dead is not None:
        print(f"work_queue_item at the end: {dead[1]} live, {dead[0]} dead rows; "
              f"ix_work_queue_item_next {size}")


if __name__ == "__main__":
    sys.exit(main())
