"""Claim-next + complete over HTTP beside the same operations called in-process, on PostgreSQL.

    python -m bench.api                              # 8 clients, 20 s per side
    python -m bench.api --clients 8 --seconds 30 --server-workers 2 --tasks 20000

One database of its own (default ``caseflow_bench_api``), loaded as bench.claim_next loads
its own: ``--tasks`` open tasks across 20 queues; each task's process opens the same task
again when it is completed, so the queues never run dry. Then, in the same run:

* **in-process**: ``--clients`` worker processes, each with its own WorkService, loop
  ``claim_next`` then ``complete``;
* **HTTP**: the bench starts ``uvicorn caseflow.api.app:create_app --factory --workers N``
  (as one would run it behind a proxy: several worker processes, no job executor), and
  ``--clients`` client processes, each with a keep-alive httpx client and a development
  token of its own user, loop ``POST /api/v1/tasks/claim/next`` then
  ``POST /api/v1/tasks/{id}/complete``. Every request is authenticated (the token, then the
  user's roles and queues read from the database), audited and measured, as in production.

Each side prints pairs per second (one claim + one completion), p50/p99 latency of a pair
and of each request, and the HTTP/in-process ratios. Between the sides the claimed tasks
are reopened and the tables vacuumed (bench.claim_next.reopen).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench.claim_next import reopen
from bench.claim_next_data import load_tasks, prepare

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/caseflow_bench_api"


@dataclass
class Side:
    name: str
    clients: int
    seconds: float
    pairs: list[float] = field(default_factory=list)  # ms per claim + complete
    claims: list[float] = field(default_factory=list)
    completes: list[float] = field(default_factory=list)
    empty: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return len(self.pairs) / self.seconds if self.seconds else 0.0

    @staticmethod
    def p(values: list[float], q: float) -> float | None:
        data = sorted(values)
        return data[min(len(data) - 1, int(len(data) * q))] if data else None


def _in_process(url: str, user: str, start_at: float, stop_at: float, out: Any) -> None:
    from caseflow.runtime import ProcessEngine
    from caseflow.store import open_store
    from caseflow.work import WorkService

    store = open_store(url, pool_size=1, max_overflow=1)
    result: dict[str, Any] = {"pairs": [], "claims": [], "completes": [], "empty": 0,
                              "errors": []}
    try:
        work = WorkService(ProcessEngine(store))
        warm = work.claim_next(user)  # statements compiled and prepared before the window
        if warm is not None:
            work.complete(user, warm.id)
        while time.monotonic() < start_at:
            time.sleep(0.001)
        while (t0 := time.monotonic()) < stop_at:
            task = work.claim_next(user)
            t1 = time.monotonic()
            if task is None:
                result["empty"] += 1
                continue
            work.complete(user, task.id)
            t2 = time.monotonic()
            result["claims"].append((t1 - t0) * 1000)
            result["completes"].append((t2 - t1) * 1000)
            result["pairs"].append((t2 - t0) * 1000)
    except Exception as error:  # noqa: BLE001 - reported by the parent
        result["errors"].append(f"{user}: {type(error).__name__}: {error}")
    finally:
        store.close()
    out.put(result)


def _over_http(base: str, user: str, start_at: float, stop_at: float, out: Any) -> None:
    import httpx

    result: dict[str, Any] = {"pairs": [], "claims": [], "completes": [], "empty": 0,
                              "errors": []}
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            login = client.post("/api/v1/auth/dev-login", json={"userId": user})
            login.raise_for_status()
            client.headers["Authorization"] = f"Bearer {login.json()['token']}"
            warm = client.post("/api/v1/tasks/claim/next")
            if warm.status_code == 200:
                client.post(f"/api/v1/tasks/{warm.json()['id']}/complete").raise_for_status()
            while time.monotonic() < start_at:
                time.sleep(0.001)
            while (t0 := time.monotonic()) < stop_at:
                claimed = client.post("/api/v1/tasks/claim/next")
                t1 = time.monotonic()
                if claimed.status_code == 204:
                    result["empty"] += 1
                    continue
                claimed.raise_for_status()
                done = client.post(f"/api/v1/tasks/{claimed.json()['id']}/complete")
                done.raise_for_status()
                t2 = time.monotonic()
                result["claims"].append((t1 - t0) * 1000)
                result["completes"].append((t2 - t1) * 1000)
                result["pairs"].append((t2 - t0) * 1000)
    except Exception as error:  # noqa: BLE001 - reported by the parent
        result["errors"].append(f"{user}: {type(error).__name__}: {error}")
    out.put(result)


def run_side(name: str, target: Any, where: str, clients: int, seconds: float) -> Side:
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    start_at = time.monotonic() + 3.0 + 0.2 * clients
    stop_at = start_at + seconds
    procs = [
        ctx.Process(target=target, args=(where, f"w{n}", start_at, stop_at, out))
        for n in range(clients)
    ]
    for p in procs:
        p.start()
    side = Side(name, clients, seconds)
    for _ in procs:
        result = out.get(timeout=seconds + 180)
        side.pairs += result["pairs"]
        side.claims += result["claims"]
        side.completes += result["completes"]
        side.empty += result["empty"]
        side.errors += result["errors"]
    for p in procs:
        p.join(timeout=30)
    return side


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(url: str, workers: int) -> tuple[subprocess.Popen[str], str]:
    """uvicorn with ``workers`` processes serving caseflow on ``url``; waits until it
    answers."""
    import httpx

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEFLOW_")}
    env.update({
        "CASEFLOW_DATABASE_URL": url,
        "CASEFLOW_AUTH_MODE": "dev",  # a throw-away benchmark database
        "CASEFLOW_DEV_AUTH_ALLOW_POSTGRES": "1",
        "CASEFLOW_EXECUTOR": "false",
        "CASEFLOW_LOG_LEVEL": "WARNING",
    })
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "caseflow.api.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
         "--no-access-log", "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/api/v1/auth/config", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"the API server did not start:\n{process.communicate()[1]}")
        time.sleep(0.2)


def stop_server(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report(side: Side) -> None:
    print(
        f"{side.name:<11} {side.clients:>3} clients  {side.per_second:8.1f} pairs/s  "
        f"pair p50 {fmt(Side.p(side.pairs, 0.5)):>6} ms  p99 {fmt(Side.p(side.pairs, 0.99)):>6} ms"
        f"  | claim p50/p99 {fmt(Side.p(side.claims, 0.5))}/{fmt(Side.p(side.claims, 0.99))} ms"
        f"  complete p50/p99 {fmt(Side.p(side.completes, 0.5))}/"
        f"{fmt(Side.p(side.completes, 0.99))} ms  ({len(side.pairs)} pairs, {side.empty} empty)"
    )
    for error in side.errors[:5]:
        print(f"    error: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--queues", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--server-workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)

    print(f"# bench.api on {platform.node()} ({os.cpu_count()} CPUs), Python "
          f"{platform.python_version()}; {args.tasks} open tasks in {args.queues} queues; "
          f"{args.clients} clients x {args.seconds:.0f} s per side; uvicorn --workers "
          f"{args.server_workers}")
    setup = prepare(args.url, queues=args.queues, workers=args.clients)
    took = load_tasks(setup, open_tasks=args.tasks)
    print(f"# loaded in {took:.1f} s")

    local = run_side("in-process", _in_process, args.url, args.clients, args.seconds)
    report(local)
    reopen(args.url)

    process, base = start_server(args.url, args.server_workers)
    try:
        remote = run_side("HTTP", _over_http, base, args.clients, args.seconds)
    finally:
        stop_server(process)
    report(remote)

    if local.pairs and remote.pairs:
        ratio = remote.per_second / local.per_second
        p99_local = Side.p(local.pairs, 0.99) or 0.0
        p99_remote = Side.p(remote.pairs, 0.99) or 0.0
        print(f"HTTP / in-process: throughput {ratio:.2f}x, pair p99 "
              f"{p99_remote / p99_local if p99_local else 0:.2f}x "
              f"(+{p99_remote - p99_local:.1f} ms)")
    return 1 if local.errors or remote.errors else 0


if __name__ == "__main__":
    sys.exit(main())
