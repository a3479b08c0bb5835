"""Where caseflow's time goes in one benchmark scenario: cProfile on CPU time, by module.

    python -m bench.profile --backend memory --scenario sequential_10 --instances 300
    python -m bench.profile --backend postgres --scenario sequential_10 --instances 50

Prints wall and CPU time per completion, CPU time grouped by package/module, the top
functions, and (SQL backends) the statements and round trips each completion costs.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.measure import LOOP, PROCESS_KEYS, SEQUENTIAL
from bench.postgres import DEFAULT_URL as DEFAULT_POSTGRES_URL


def _group(filename: str, name: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/")[1].split("/", maxsplit=1)[0]
    if "/src/caseflow/" in filename:
        module = filename.split("/src/caseflow/")[1].removesuffix(".py")
        return "caseflow." + module.replace("/", ".")
    if "/bench/" in filename:
        return "bench (the driver)"
    if filename == "~":
        return f"builtin {name}"
    return "stdlib " + filename.rsplit("/", 1)[-1]


@contextmanager
def _count_statements(counts: Counter[str]) -> Iterator[None]:
    """Count psycopg statements and pipeline syncs (PostgreSQL) while the block runs."""
    try:
        import psycopg
    except ImportError:
        yield
        return
    cursor = psycopg.Cursor
    connection = psycopg.Connection
    originals = {
        (cursor, "execute"): cursor.execute,
        (cursor, "executemany"): cursor.executemany,
        (connection, "commit"): connection.commit,
        (connection, "execute"): connection.execute,
    }

    def wrap(key: tuple[Any, str], label: str) -> Any:
        original = originals[key]

        def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            counts[label] += 1
            return original(self, *args, **kwargs)

        return counted

    for key in originals:
        setattr(key[0], key[1], wrap(key, f"{key[0].__name__}.{key[1]}"))
    try:
        yield
    finally:
        for (owner, attribute), original in originals.items():
            setattr(owner, attribute, original)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("memory", "sqlite", "postgres"), default="memory")
    parser.add_argument("--scenario", choices=PROCESS_KEYS, default=SEQUENTIAL)
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)

    from bench.caseflow_side import CaseflowBench, close_engine, open_engine

    with tempfile.TemporaryDirectory(prefix="caseflow-profile-") as tmp:
        options: dict[str, Any] = {}
        if args.backend == "memory":
            url = "memory://"
        elif args.backend == "sqlite":
            url = f"sqlite:///{Path(tmp) / 'profile.db'}"
        else:
            from bench.postgres import empty_caseflow_tables, ensure_database

            url = args.postgres_url
            ensure_database(url)
            empty_caseflow_tables(url)
            options["migrate"] = False
        engine = open_engine(url, **options)
        try:
            bench = CaseflowBench(engine)
            run_one = bench.runner(args.scenario)
            for n in range(5):
                run_one(-1 - n)
            profiler = cProfile.Profile(time.process_time)
            statements: Counter[str] = Counter()
            completions = 0
            wall, cpu = time.perf_counter(), time.process_time()
            with _count_statements(statements):
                profiler.enable()
                for n in range(args.instances):
                    completions += run_one(n)
                profiler.disable()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        finally:
            close_engine(engine)

    unit = "script task" if args.scenario == LOOP else "user task completion"
    print(f"{args.scenario} on {args.backend}: {args.instances} instances, {completions} {unit}s"
          " (under cProfile: absolute times are inflated, shares are what matter)")
    print(f"  wall {1e6 * wall / completions:,.0f} us and CPU {1e6 * cpu / completions:,.0f} us"
          f" per {unit}; {1e3 * wall / args.instances:,.2f} ms per instance")
    if statements:
        per = ", ".join(f"{k} {v / args.instances:.1f}" for k, v in sorted(statements.items()))
        print(f"  psycopg calls per instance: {per}")
    stats = pstats.Stats(profiler)
    groups: defaultdict[str, float] = defaultdict(float)
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        groups[_group(filename, name)] += tottime
    total = sum(groups.values()) or 1.0
    print("\nCPU time by module (own time):")
    for key, value in sorted(groups.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"  {100 * value / total:5.1f}%  {key}")
    print()
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
