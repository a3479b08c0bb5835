"""caseflow against SpiffWorkflow and pgbench, all measured in the same run.

    python -m bench.engine                 # the full run (about 3 minutes)
    python -m bench.engine --quick         # a smoke run (under 30 seconds)
    python -m bench.engine --backends memory,sqlite --seconds 10

Three BPMN processes (``bench/processes``) run unchanged on both engines; each is started
and driven to its end again and again for ``--seconds``, and every instance is checked
(COMPLETED, the right tasks, the loop's ``i == 1000``) before it counts. The ratios at the
end are what caseflow's performance targets are about; ``docs/benchmarks.md`` explains them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import itertools
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import (
    LOOP,
    LOOP_ITERATIONS,
    SEQUENTIAL,
    SPLIT,
    Result,
    measure,
    peak_memory,
)
from bench.postgres import DEFAULT_URL as DEFAULT_POSTGRES_URL

BACKENDS = ("core", "memory", "sqlite", "postgres")
# the backend column of the results: the execution core with no store, then the stores
CORE = "core"
MEMORY_STORE = "memory-store"
CLIENTS = 4
PGBENCH_THREADS = 2
SCRIPT_UNIT = "script tasks"
SHORT_LOOP = 100  # the loop started at i = 900: for "what grows with the iterations"

# the targets: (label, numerator, denominator, target)
TARGET_A = 10.0
TARGET_B = 100.0
TARGET_C_SPIFF = 1.5
TARGET_C_PGBENCH = 0.40
C_WINDOWS = 2  # target (c)'s windows, in --seconds (see measure_all)


@dataclass
class Run:
    """Everything one benchmark run measured."""

    args: argparse.Namespace
    results: list[Result] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    pgbench_tps: float | None = None
    pgbench_command: str = ""
    postgres_settings: dict[str, str] = field(default_factory=dict)
    row_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    peaks: dict[tuple[str, int], tuple[int, float] | str] = field(default_factory=dict)

    def add(self, result: Result) -> Result:
        self.results.append(result)
        _print_result(result)
        return result

    def note(self, message: str) -> None:
        self.messages.append(message)
        print(f"  ! {message}", flush=True)

    def find(self, scenario: str, engine: str, backend: str) -> Result | None:
        for result in self.results:
            if (result.scenario, result.engine, result.backend) == (scenario, engine, backend):
                return result
        return None


# ---------------------------------------------------------------------- formatting


def _rate(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:,.1f}"
    return f"{value:.3f}"


def _print_result(result: Result) -> None:
    if result.error:
        print(f"  {result.scenario:<24} {result.engine:<9} {result.backend:<12} FAILED:"
              f" {result.error}", flush=True)
        return
    print(f"  {result.scenario:<24} {result.engine:<9} {result.backend:<12}"
          f" {_rate(result.instances_per_s):>10} inst/s {_rate(result.completions_per_s):>10}"
          f" {result.unit}/s  ({result.instances} in {result.seconds:.1f} s)", flush=True)
    if result.note:
        print(f"  {'':<24} {result.note}", flush=True)


def _table(rows: list[list[str]], header: list[str], right: Iterable[int] = ()) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    right = set(right)

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _bytes(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    return f"{n / 1024:.0f} KiB"


# ---------------------------------------------------------------------- the sides


def load_spiff(run: Run) -> Any:
    """SpiffWorkflow's side (bench.spiff.SpiffBench), or None with the reason noted."""
    print("\nSpiffWorkflow (baseline)", flush=True)
    try:
        from bench.spiff import SpiffBench
    except ImportError as error:
        run.note(f"SpiffWorkflow is not installed ({error}); pip install -e '.[bench]'."
                 " The Spiff rows and ratios are skipped.")
        return None
    try:
        return SpiffBench()
    except Exception as error:  # noqa: BLE001 - report and go on without the baseline
        run.note(f"SpiffWorkflow could not parse the processes: {error}")
        return None


def spiff_in_memory(spiff: Any, seconds: float) -> list[Result]:
    return [
        measure(key, "spiff", "memory", spiff.runner(key), seconds) for key in (SEQUENTIAL, SPLIT)
    ]


def spiff_with_json(spiff: Any, seconds: float) -> list[Result]:
    return [
        measure(key, "spiff", "memory+json", spiff.runner(key, json_round_trip=True), seconds)
        for key in (SEQUENTIAL, SPLIT)
    ]


def spiff_loop(run: Run, spiff: Any, seconds: float, quick: bool) -> None:
    from bench.spiff import VERSION

    # the loop takes seconds per instance in SpiffWorkflow: no warm-up, one instance minimum
    loop = run.add(measure(LOOP, "spiff", "memory", spiff.runner(LOOP), seconds,
                           unit=SCRIPT_UNIT, warmup=0))
    if loop.error:
        run.note(f"SpiffWorkflow could NOT complete the {LOOP_ITERATIONS}-iteration loop:"
                 f" {loop.error}")
    try:
        unpatched = spiff.check_loop_without_patch()
    except Exception as error:  # noqa: BLE001 - only informative
        unpatched = f"the check without it failed: {type(error).__name__}: {error}"
    run.note(f"SpiffWorkflow's TaskIterator max_depth is raised for this run; {unpatched}")
    if not quick:
        print("  peak memory of one loop run (tracemalloc; slow) ...", flush=True)
        label = f"spiff {VERSION}"
        try:
            for iterations in (SHORT_LOOP, LOOP_ITERATIONS):
                start = LOOP_ITERATIONS - iterations
                run.peaks[(label, iterations)] = peak_memory(lambda s=start: spiff.run_loop_once(s))
        except Exception as error:  # noqa: BLE001 - reported in the table
            run.peaks[(label, LOOP_ITERATIONS)] = f"failed: {error}"


def around(
    run: Run, baseline: Callable[[float], list[Result]], middle: Callable[[], None],
    seconds: float,
) -> None:
    """A baseline measured in two halves, just before and just after ``middle`` (what it
    is compared with): this machine's speed drifts over a run, and a ratio of two windows
    a minute apart would carry that drift; around each other, both sides see the same."""
    first = baseline(seconds / 2)
    middle()
    for a, b in zip(first, baseline(seconds / 2), strict=True):
        run.add(_joined(a, b))


def _joined(a: Result, b: Result) -> Result:
    """Two windows of one measurement as one."""
    return Result(
        a.scenario, a.engine, a.backend,
        instances=a.instances + b.instances,
        completions=a.completions + b.completions,
        seconds=a.seconds + b.seconds,
        unit=a.unit,
        error=a.error or b.error,
    )


def _caseflow_backend(
    run: Run, backend: str, fresh_store: Callable[[], tuple[str, dict[str, Any]]],
    seconds: float, *, clients: bool,
) -> None:
    """Every scenario on ``backend`` starts from an empty store that ``fresh_store`` gives."""
    from bench.caseflow_side import CaseflowBench, close_engine, open_engine

    store: dict[str, Any] = {}

    def scenario(body: Callable[[CaseflowBench], None]) -> bool:
        try:
            url, options = fresh_store()
            engine = open_engine(url, **options)
        except Exception as error:  # noqa: BLE001 - the backend is skipped with the reason
            run.note(f"caseflow on {backend} could not start: {type(error).__name__}: {error}")
            return False
        store.update(url=url, options=options)
        try:
            body(CaseflowBench(engine))
        finally:
            close_engine(engine)
        return True

    for key in (SEQUENTIAL, SPLIT):
        if not scenario(lambda bench, key=key: run.add(
                measure(key, "caseflow", backend, bench.runner(key), seconds))):
            return

    def loop(bench: CaseflowBench) -> None:
        run.add(measure(LOOP, "caseflow", backend, bench.runner(LOOP), seconds,
                        unit=SCRIPT_UNIT))
        # the same process started at i = 900 runs 100 iterations: what grows with them?
        for iterations in (LOOP_ITERATIONS, SHORT_LOOP):
            start = LOOP_ITERATIONS - iterations
            try:
                instance_id = bench.loop_once(start)
                run.row_counts[f"{backend} x{iterations}"] = bench.row_counts(instance_id)
            except Exception as error:  # noqa: BLE001 - reported, the run goes on
                run.note(f"row count after the loop on {backend} failed: {error}")
            if backend == MEMORY_STORE:
                label = ("caseflow memory-store", iterations)
                try:
                    run.peaks[label] = peak_memory(lambda s=start: bench.loop_once(s))
                except Exception as error:  # noqa: BLE001 - reported in the table
                    run.peaks[label] = f"failed: {error}"

    scenario(loop)
    if clients:
        # for information, CLIENTS threads sharing one engine in this process (the
        # target's figure, CLIENTS processes, is measured by durable_clients)
        scenario(lambda bench: run.add(bench.concurrent_sequential(CLIENTS, seconds, backend)))


def durable_clients(run: Run, seconds: float, postgres_url: str) -> None:
    """Target (c)'s figure: CLIENTS processes, each with its own engine and pool, on an
    emptied PostgreSQL store (this process's engine deploys the processes first)."""
    from bench.caseflow_side import close_engine, concurrent_processes, open_engine
    from bench.postgres import checkpoint, empty_caseflow_tables

    try:
        empty_caseflow_tables(postgres_url)
        close_engine(open_engine(postgres_url, migrate=False))
    except Exception as error:  # noqa: BLE001 - the row is skipped with the reason
        run.note(f"caseflow on postgres could not start: {type(error).__name__}: {error}")
        return
    failed = checkpoint(postgres_url)  # as before pgbench's windows
    if failed:
        run.note(f"no CHECKPOINT before the durable window ({failed})")
    run.add(concurrent_processes(postgres_url, {"migrate": False}, CLIENTS, seconds, "postgres"))


def run_core(run: Run, seconds: float) -> None:
    """caseflow's execution core with no store: target (a)'s figure, and the loop."""
    print("\ncaseflow core", flush=True)
    from bench.caseflow_core import CoreBench

    core = CoreBench()
    for key in (SEQUENTIAL, SPLIT):
        run.add(measure(key, "caseflow", CORE, core.runner(key), seconds))
    run.add(measure(LOOP, "caseflow", CORE, core.runner(LOOP), seconds, unit=SCRIPT_UNIT))


def run_caseflow(run: Run, backends: list[str], seconds: float, postgres_url: str) -> None:
    print("\ncaseflow", flush=True)
    try:
        # the engine must import before anything runs
        importlib.import_module("caseflow.runtime")
        importlib.import_module("caseflow.store")
    except Exception as error:  # noqa: BLE001 - the whole side is skipped with the reason
        run.note(f"caseflow does not import: {type(error).__name__}: {error}")
        return
    if "memory" in backends:
        _caseflow_backend(run, MEMORY_STORE, lambda: ("memory://", {}), seconds, clients=False)
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory(prefix="caseflow-bench-") as tmp:
            files = itertools.count(1)

            def sqlite_file() -> tuple[str, dict[str, Any]]:
                return f"sqlite:///{Path(tmp) / f'bench-{next(files)}.db'}", {}

            _caseflow_backend(run, "sqlite", sqlite_file, seconds, clients=False)
    if "postgres" in backends:
        from bench.postgres import PostgresUnavailable, empty_caseflow_tables, ensure_database

        try:
            ensure_database(postgres_url)
        except PostgresUnavailable as error:
            run.note(f"PostgreSQL unavailable at {postgres_url}: {error} -- rows skipped")
            return

        def emptied() -> tuple[str, dict[str, Any]]:
            empty_caseflow_tables(postgres_url)  # migrates, then TRUNCATE every caseflow table
            return postgres_url, {"migrate": False}

        _caseflow_backend(run, "postgres", emptied, seconds, clients=True)


def pgbench_window(run: Run, seconds: float, postgres_url: str, *, initialise: bool
                   ) -> float | None:
    """pgbench's TPC-B tps over one window (None, with the reason noted, if it fails)."""
    from bench.postgres import PostgresUnavailable, pgbench, server_settings

    if initialise:
        try:
            run.postgres_settings = server_settings(postgres_url)
        except PostgresUnavailable as error:
            run.note(f"PostgreSQL unavailable: {error} -- pgbench skipped")
            return None
        except Exception as error:  # noqa: BLE001 - no server: skip
            first_line = str(error).splitlines()[0] if str(error) else ""
            run.note(f"PostgreSQL unavailable: {type(error).__name__}: {first_line}"
                     " -- pgbench skipped")
            return None
    result = pgbench(postgres_url, clients=CLIENTS, threads=PGBENCH_THREADS, seconds=seconds,
                     initialise=initialise)
    run.pgbench_command = result.command
    if result.error:
        run.note(f"{result.error} -- the pgbench ratio is skipped")
        return None
    print(f"  pgbench TPC-B (built in), {CLIENTS} clients, -j {PGBENCH_THREADS}:"
          f" {_rate(result.tps)} tps", flush=True)
    return result.tps


# ---------------------------------------------------------------------- the report


def _ratio_row(label: str, num: float | None, den: float | None, target: float,
               why_missing: str) -> list[str]:
    if num is None or den is None or den == 0:
        return [label, "-", f">= {target:g}x", f"n/a ({why_missing})"]
    ratio = num / den
    verdict = "PASS" if ratio >= target else "MISS"
    shown = f"{ratio:.2f}x" if ratio < 10 else f"{ratio:,.0f}x"
    return [label, shown, f">= {target:g}x", f"{verdict}  ({_rate(num)} / {_rate(den)})"]


def _rate_of(run: Run, scenario: str, engine: str, backend: str, *, instances: bool = False
             ) -> float | None:
    result = run.find(scenario, engine, backend)
    if result is None:
        return None
    return result.instances_per_s if instances else result.completions_per_s


def _info(row: list[str]) -> list[str]:
    """A ratio shown for information: the goal column says so, no verdict."""
    label, shown, goal, verdict = row
    return [label, shown, f"({goal}; info)", verdict.replace("PASS", "info").replace(
        "MISS", "info")]


def ratios(run: Run) -> list[list[str]]:
    """The targets. (a) is judged on the core row (no store: the analogue of Spiff in
    memory) and also shown for the ProcessEngine + MemoryStore row; (b) is judged on the
    memory-store row, as before, and shown for the core; (c) on CLIENTS processes."""
    spiff_mem = _rate_of(run, SEQUENTIAL, "spiff", "memory")
    spiff_split = _rate_of(run, SPLIT, "spiff", "memory")
    spiff_loop = _rate_of(run, LOOP, "spiff", "memory", instances=True)
    spiff_json = _rate_of(run, SEQUENTIAL, "spiff", "memory+json")
    concurrent = f"{SEQUENTIAL} x{CLIENTS} clients"
    return [
        _ratio_row(
            f"(a) {SEQUENTIAL}: caseflow core / Spiff memory, completions/s",
            _rate_of(run, SEQUENTIAL, "caseflow", CORE), spiff_mem, TARGET_A, "missing row",
        ),
        _ratio_row(
            f"(a) {SPLIT}: caseflow core / Spiff memory, completions/s",
            _rate_of(run, SPLIT, "caseflow", CORE), spiff_split, TARGET_A, "missing row",
        ),
        _info(_ratio_row(
            f"(a) {SEQUENTIAL}: caseflow memory-store / Spiff memory",
            _rate_of(run, SEQUENTIAL, "caseflow", MEMORY_STORE), spiff_mem, TARGET_A,
            "missing row",
        )),
        _info(_ratio_row(
            f"(a) {SPLIT}: caseflow memory-store / Spiff memory",
            _rate_of(run, SPLIT, "caseflow", MEMORY_STORE), spiff_split, TARGET_A,
            "missing row",
        )),
        _ratio_row(
            f"(b) {LOOP}: caseflow memory-store / Spiff memory, instances/s",
            _rate_of(run, LOOP, "caseflow", MEMORY_STORE, instances=True), spiff_loop,
            TARGET_B, "missing row",
        ),
        _info(_ratio_row(
            f"(b) {LOOP}: caseflow core / Spiff memory",
            _rate_of(run, LOOP, "caseflow", CORE, instances=True), spiff_loop, TARGET_B,
            "missing row",
        )),
        _ratio_row(
            f"(c) durable completions/s, PostgreSQL {CLIENTS} clients / Spiff memory+JSON",
            _rate_of(run, concurrent, "caseflow", "postgres"), spiff_json, TARGET_C_SPIFF,
            "missing row",
        ),
        _ratio_row(
            f"(c) durable completions/s, PostgreSQL {CLIENTS} clients / pgbench TPC-B tps",
            _rate_of(run, concurrent, "caseflow", "postgres"), run.pgbench_tps,
            TARGET_C_PGBENCH, "pgbench or PostgreSQL missing",
        ),
    ]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"Python {platform.python_version()}"]
    for name in ("caseflow", "SpiffWorkflow", "SQLAlchemy", "psycopg"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} not installed")
    return ", ".join(parts)


def report(run: Run) -> str:
    out: list[str] = []
    rows = []
    for r in run.results:
        if r.error:
            rows.append([r.scenario, r.engine, r.backend, "FAILED", "-", r.unit, r.error[:60]])
            continue
        rows.append([r.scenario, r.engine, r.backend, _rate(r.instances_per_s),
                     _rate(r.completions_per_s), r.unit, f"{r.instances} in {r.seconds:.1f} s"])
    if run.pgbench_tps is not None:
        rows.append(["pgbench TPC-B", "pgbench", "postgres", "-", _rate(run.pgbench_tps),
                     "transactions", run.pgbench_command])
    out.append(_table(rows, ["scenario", "engine", "backend", "instances/s", "completions/s",
                             "counted", "run"], right=(3, 4)))
    for r in run.results:
        if r.note and not r.error:
            out.append(f"  {r.scenario} ({r.backend}): {r.note}")
    out.append("")
    out.append(_table(ratios(run), ["target", "ratio", "goal", "verdict"]))
    if run.row_counts:
        out.append("")
        out.append(f"Rows one finished {LOOP} instance leaves, after {LOOP_ITERATIONS}"
                   f" iterations (x{LOOP_ITERATIONS}) and, started at"
                   f" i = {LOOP_ITERATIONS - SHORT_LOOP}, after {SHORT_LOOP} (x{SHORT_LOOP}):")
        tables = sorted({t for counts in run.row_counts.values() for t in counts},
                        key=lambda t: (t == "activity_history", t != "process_instance", t))
        columns = list(run.row_counts)
        count_rows = [[t, *(str(run.row_counts[c].get(t, "-")) for c in columns)]
                      for t in tables]
        count_rows.append(["runtime rows (all but history)",
                           *(str(sum(v for t, v in run.row_counts[c].items()
                                     if t != "activity_history")) for c in columns)])
        out.append(_table(count_rows, ["table", *columns], right=range(1, 1 + len(columns))))
    if run.peaks:
        out.append("")
        out.append(f"Peak Python memory for one {LOOP} instance (tracemalloc), by iterations run:")
        peak_rows = []
        for (name, iterations), value in sorted(run.peaks.items(), key=lambda kv: kv[0]):
            if isinstance(value, str):
                peak_rows.append([name, str(iterations), value, "-"])
            else:
                peak_rows.append([name, str(iterations), _bytes(value[0]),
                                  f"{value[1]:.2f} s under tracemalloc"])
        out.append(_table(peak_rows, ["engine", "iterations", "peak", "time"], right=(1, 2)))
    if run.postgres_settings:
        out.append("")
        out.append("PostgreSQL: " + ", ".join(f"{k}={v}" for k, v in
                                              run.postgres_settings.items()))
    if run.messages:
        out.append("")
        out.append("Notes:")
        out.extend(f"  - {m}" for m in run.messages)
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.engine",
        description="caseflow throughput against SpiffWorkflow and pgbench, same run.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="a short smoke run: 0.5 s per measurement, no Spiff tracemalloc")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated caseflow sides to run: core (the execution core,"
                        " no store), memory (ProcessEngine + MemoryStore), sqlite, postgres")
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds per measurement (default 5; 0.5 with --quick)")
    parser.add_argument("--postgres-url", default=os.environ.get("CASEFLOW_BENCH_POSTGRES_URL",
                                                                 DEFAULT_POSTGRES_URL),
                        help="the PostgreSQL database for caseflow (created if missing;"
                        " its caseflow tables are emptied). pgbench uses the database"
                        " 'pgbench_bench' on the same server.")
    parser.add_argument("--no-spiff", action="store_true", help="skip the SpiffWorkflow rows")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")
    args.backends = backends
    if args.seconds is None:
        args.seconds = 0.5 if args.quick else 5.0
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    return args


def measure_all(run: Run, args: argparse.Namespace) -> None:
    """Every measurement, each judged pair next to each other: Spiff in memory around
    caseflow's core (target a), then the loop (b) and the stores, then Spiff with JSON
    and pgbench around the durable clients (c)."""
    seconds = args.seconds
    spiff = None if args.no_spiff else load_spiff(run)
    if "core" in args.backends:
        if spiff is not None:
            around(run, lambda s: spiff_in_memory(spiff, s), lambda: run_core(run, seconds),
                   seconds)
        else:
            run_core(run, seconds)
    elif spiff is not None:
        for result in spiff_in_memory(spiff, seconds):
            run.add(result)
    if spiff is not None:
        spiff_loop(run, spiff, seconds, args.quick)
    run_caseflow(run, args.backends, seconds, args.postgres_url)
    if "postgres" not in args.backends:
        if spiff is not None:
            for result in spiff_with_json(spiff, seconds):
                run.add(result)
        return
    tps: list[float | None] = []

    def baselines(window: float) -> list[Result]:
        results = spiff_with_json(spiff, window) if spiff is not None else []
        tps.append(pgbench_window(run, window, args.postgres_url, initialise=not tps))
        return results

    # target (c) over longer windows: its figure is the noisiest (five processes share two
    # cores, and a few seconds of a slower machine move it by a fifth)
    window = seconds * C_WINDOWS
    print(f"\ndurable clients ({CLIENTS} processes), between Spiff+JSON and pgbench windows"
          f" ({window:g} s each side)", flush=True)
    around(run, baselines, lambda: durable_clients(run, window, args.postgres_url), window)
    if tps and all(t is not None for t in tps):
        run.pgbench_tps = sum(t for t in tps if t is not None) / len(tps)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run = Run(args)
    began = time.perf_counter()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"caseflow engine benchmark  {now}")
    print(f"machine: {os.cpu_count()} CPUs, {_cpu_model()}, {platform.platform()}")
    print(f"{_versions()}")
    print(f"{args.seconds:g} s per measurement; backends: {', '.join(args.backends)};"
          f" load average at start {_load()}", flush=True)

    measure_all(run, args)

    print("\n" + "=" * 100)
    print(report(run))
    print(f"\ntotal time {time.perf_counter() - began:.0f} s; load average at the end {_load()}"
          " (other work on the machine lowers every figure; the ratios are the point)")
    failed = [r for r in run.results if r.error]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
