"""Fixtures shared by every test: the storage backends and an engine on each.

The same engine tests run on memory, SQLite and PostgreSQL. PostgreSQL comes from
``CASEFLOW_TEST_POSTGRES_URL`` (default: the local server's ``test`` database); each
test session (each pytest-xdist worker) gets a schema of its own, migrated once and
emptied before every test. When the server is not reachable the PostgreSQL cases are
skipped, unless ``CASEFLOW_REQUIRE_POSTGRES=1`` (as in CI), where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from caseflow.clock import ManualClock
from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import Store
from caseflow.store import open_store
from caseflow.store.sql import SqlStore, normalise_url

POSTGRES_URL = normalise_url(
    os.environ.get("CASEFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
)
REQUIRE_POSTGRES = os.environ.get("CASEFLOW_REQUIRE_POSTGRES") == "1"


def _unreachable() -> str | None:
    engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as error:
        return str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    finally:
        engine.dispose()
    return None


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    """A schema of this session's own on the test server, migrated to the newest revision."""
    problem = _unreachable()
    if problem is not None:
        message = f"PostgreSQL not reachable at {POSTGRES_URL}: {problem}"
        if REQUIRE_POSTGRES:
            pytest.fail(f"CASEFLOW_REQUIRE_POSTGRES=1 but {message}")
        pytest.skip(message)
    admin = sa.create_engine(POSTGRES_URL)
    name = f"cf_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {name}"))
    store = SqlStore(POSTGRES_URL, schema=name)
    try:
        store.migrate()
        yield name
    finally:
        store.close()
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        admin.dispose()


def _empty(schema: str) -> None:
    from caseflow.store.schema import metadata

    names = ", ".join(f"{schema}.{t.name}" for t in metadata.sorted_tables)
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {names} CASCADE"))
    engine.dispose()


@pytest.fixture
def postgres_stores(postgres_schema: str) -> Iterator[Callable[[], Store]]:
    """Open as many stores (separate pools, as separate nodes) on the emptied schema."""
    _empty(postgres_schema)
    opened: list[Store] = []

    def make() -> Store:
        store = open_store(POSTGRES_URL, schema=postgres_schema, migrate=False)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every storage backend in turn."""
    if request.param == "memory":
        s = open_store("memory://")
    elif request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'caseflow.db'}")
    else:
        s = request.getfixturevalue("postgres_stores")()
    yield s
    s.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def engine(store: Store, clock: ManualClock) -> ProcessEngine:
    return ProcessEngine(store, clock=clock)
