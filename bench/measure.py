"""Timing loops and the result record shared by every driver."""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROCESSES = Path(__file__).with_name("processes")

SEQUENTIAL = "sequential_10"
SPLIT = "split_choice"
LOOP = "script_loop_1000"
PROCESS_KEYS = (SEQUENTIAL, SPLIT, LOOP)

LOOP_ITERATIONS = 1000  # the loop's `i < 1000`: a finished instance has i == 1000
SEQUENTIAL_TASKS = 10
SPLIT_TASKS = 3  # two parallel tasks, then one of two behind the choice


def process_source(key: str) -> bytes:
    return (PROCESSES / f"{key}.bpmn").read_bytes()


def split_amount(n: int) -> int:
    """Alternate both branches of the choice: odd runs go above 100, even runs below."""
    return 150 if n % 2 else 50


def split_branch(amount: int) -> str:
    return "review_large" if amount > 100 else "review_small"


class BenchFailure(Exception):
    """A run did not do what it must (unfinished instance, wrong variable): no figure."""


@dataclass
class Result:
    scenario: str
    engine: str
    backend: str
    instances: int = 0
    completions: int = 0  # user tasks completed, or script executions for the loop
    seconds: float = 0.0
    unit: str = "user tasks"
    note: str = ""
    error: str | None = None

    @property
    def instances_per_s(self) -> float | None:
        if self.error or self.seconds <= 0:
            return None
        return self.instances / self.seconds

    @property
    def completions_per_s(self) -> float | None:
        if self.error or self.seconds <= 0:
            return None
        return self.completions / self.seconds


# one instance driven to its end: returns how many completions it made (and checks itself)
RunOne = Callable[[int], int]


def measure(
    scenario: str,
    engine: str,
    backend: str,
    run_one: RunOne,
    seconds: float,
    *,
    unit: str = "user tasks",
    warmup: int = 1,
    min_instances: int = 1,
) -> Result:
    """Run instances back to back for ``seconds`` (at least ``min_instances``)."""
    result = Result(scenario, engine, backend, unit=unit)
    try:
        for n in range(warmup):
            run_one(-1 - n)
        gc.collect()
        completions = 0
        count = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            completions += run_one(count)
            count += 1
            now = time.perf_counter()
            if now >= deadline and count >= min_instances:
                break
        result.seconds = now - start
        result.instances = count
        result.completions = completions
    except Exception as error:  # noqa: BLE001 - any failure becomes a row with the reason
        result.error = f"{type(error).__name__}: {error}"
    return result


def peak_memory(run: Callable[[], object]) -> tuple[int, float]:
    """Peak bytes allocated by Python while ``run`` runs (tracemalloc) and its wall time."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before, elapsed
