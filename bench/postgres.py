"""The PostgreSQL side: the benchmark database, its empty tables, and pgbench as a ceiling."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/caseflow_bench"
PGBENCH_DATABASE = "pgbench_bench"
PGBENCH_SCALE = 4


class PostgresUnavailable(Exception):
    pass


def _url(url: str) -> URL:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise PostgresUnavailable(f"not a PostgreSQL URL: {url}")
    if parsed.drivername != "postgresql+psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _admin_execute(url: URL, *statements: str) -> list[object]:
    """Run statements on the server's ``postgres`` database, outside a transaction."""
    engine = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            results = []
            for statement in statements:
                result = connection.execute(text(statement))
                results.append(result.scalar() if result.returns_rows else None)
            return results
    finally:
        engine.dispose()


def ensure_database(url: str, name: str | None = None) -> None:
    """Create the database ``name`` (default: the URL's) if it does not exist."""
    parsed = _url(url)
    name = name or parsed.database
    if not name or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise PostgresUnavailable(f"unusable database name {name!r}")
    try:
        (exists,) = _admin_execute(
            parsed, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"
        )
        if not exists:
            _admin_execute(parsed, f'CREATE DATABASE "{name}"')
    except Exception as error:
        raise PostgresUnavailable(f"{type(error).__name__}: {error}".splitlines()[0]) from error


def empty_caseflow_tables(url: str) -> None:
    """Migrate the database to the newest schema and empty every caseflow table.

    TRUNCATE leaves the tables as a fresh install has them: never analysed, so the
    planner judges them by their real size. No VACUUM ANALYZE here: it would record
    them as empty, and the plans each connection caches early in a five-second run
    (a sequential scan is the cheapest way through an empty table) would stay in use
    while the tables grow, long before autovacuum analyses them again.
    """
    from caseflow.store import schema
    from caseflow.store.migrate import upgrade

    parsed = _url(url)
    upgrade(parsed.render_as_string(hide_password=False))
    engine = create_engine(parsed)
    try:
        with engine.begin() as connection:
            # only the tables the migrations made: the model may be ahead of them while
            # a table is being added
            present = set(connection.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )).scalars())
            tables = ", ".join(f'"{t.name}"' for t in schema.metadata.sorted_tables
                               if t.name in present)
            connection.execute(text(f"TRUNCATE {tables}"))
    finally:
        engine.dispose()


def checkpoint(url: str) -> str | None:
    """A CHECKPOINT now, so that none starts inside the window measured next (the
    server's own come every ``checkpoint_timeout``, and their writes and fsyncs, spread
    over minutes, would land in one window and not in another); None, or why it failed
    (the window is then measured anyway)."""
    try:
        _admin_execute(_url(url), "CHECKPOINT")
    except Exception as error:  # noqa: BLE001 - e.g. a role without pg_checkpoint
        return f"{type(error).__name__}: {error}".splitlines()[0]
    return None


def server_settings(url: str) -> dict[str, str]:
    names = ("server_version", "fsync", "synchronous_commit", "wal_level", "shared_buffers")
    values = _admin_execute(_url(url), *(f"SHOW {n}" for n in names))
    return {n: str(v) for n, v in zip(names, values, strict=True)}


@dataclass
class PgbenchResult:
    tps: float | None
    seconds: float
    command: str
    error: str | None = None


def _pgbench_env(parsed: URL) -> tuple[list[str], dict[str, str]]:
    args = []
    if parsed.host:
        args += ["-h", parsed.host]
    if parsed.port:
        args += ["-p", str(parsed.port)]
    if parsed.username:
        args += ["-U", parsed.username]
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return args, env


def pgbench(url: str, *, clients: int, threads: int, seconds: float,
            initialise: bool = True) -> PgbenchResult:
    """pgbench's built-in TPC-B-like script against the same server, in its own database."""
    binary = shutil.which("pgbench")
    duration = max(1, math.ceil(seconds))
    command = f"pgbench -n -c {clients} -j {threads} -T {duration} {PGBENCH_DATABASE}"
    if binary is None:
        return PgbenchResult(None, 0.0, command, "pgbench not found on PATH")
    parsed = _url(url)
    try:
        ensure_database(url, PGBENCH_DATABASE)
    except PostgresUnavailable as error:
        return PgbenchResult(None, 0.0, command, str(error))
    args, env = _pgbench_env(parsed)
    try:
        if initialise:
            subprocess.run(
                [binary, *args, "-i", "-q", "-s", str(PGBENCH_SCALE), PGBENCH_DATABASE],
                env=env, check=True, capture_output=True, text=True, timeout=300,
            )
        checkpoint(url)  # as before caseflow's window (see checkpoint)
        start = time.perf_counter()
        run = subprocess.run(
            [binary, *args, "-n", "-c", str(clients), "-j", str(threads), "-T", str(duration),
             PGBENCH_DATABASE],
            env=env, check=True, capture_output=True, text=True, timeout=duration + 120,
        )
        elapsed = time.perf_counter() - start
    except subprocess.CalledProcessError as error:
        detail = (error.stderr or error.stdout or "").strip().splitlines()
        last = detail[-1] if detail else str(error)
        return PgbenchResult(None, 0.0, command, f"pgbench failed: {last}")
    except subprocess.TimeoutExpired:
        return PgbenchResult(None, 0.0, command, "pgbench timed out")
    found = re.search(r"tps = ([0-9.]+) \((?:without|excluding)", run.stdout)
    if found is None:
        found = re.search(r"tps = ([0-9.]+)", run.stdout)
    if found is None:
        return PgbenchResult(None, elapsed, command, f"no tps in pgbench output: {run.stdout!r}")
    return PgbenchResult(float(found.group(1)), elapsed, command)
