"""Fixtures shared by every test: the storage backends and an engine on each.

The same engine tests run on memory, SQLite and PostgreSQL. Each test session (each
pytest-xdist worker) gets a PostgreSQL schema of its own, migrated once and emptied
before every test (see ``tests/pg.py`` for where the server comes from and when its
absence skips or fails the PostgreSQL cases).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from caseflow.clock import ManualClock
from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import Store
from caseflow.store import open_store
from caseflow.store.sql import SqlStore
from tests.pg import (
    POSTGRES_URL,
    drop_schema,
    empty_schema,
    new_schema,
    skip_or_fail_if_unreachable,
)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    """An engine on the PostgreSQL test database itself (to make and drop schemas)."""
    skip_or_fail_if_unreachable()
    engine = sa.create_engine(POSTGRES_URL)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_schema(pg_admin: sa.Engine) -> Iterator[str]:
    """This session's own schema on the test server, migrated to the newest revision."""
    name = new_schema(pg_admin)
    store = SqlStore(POSTGRES_URL, schema=name)
    try:
        store.migrate()
        yield name
    finally:
        store.close()
        drop_schema(pg_admin, name)


@pytest.fixture
def postgres_stores(pg_admin: sa.Engine, postgres_schema: str) -> Iterator[Callable[[], Store]]:
    """Open as many stores (separate pools, as separate nodes) on the emptied schema."""
    empty_schema(pg_admin, postgres_schema)
    opened: list[Store] = []

    def make() -> Store:
        store = open_store(POSTGRES_URL, schema=postgres_schema, migrate=False)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'caseflow.db'}")
    yield store
    store.close()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Store:
    """Every storage backend in turn."""
    if request.param == "memory":
        return open_store("memory://")
    if request.param == "sqlite":
        found: Store = request.getfixturevalue("sqlite_store")
        return found
    make: Callable[[], Store] = request.getfixturevalue("postgres_stores")
    return make()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def engine(store: Store, clock: ManualClock) -> ProcessEngine:
    return ProcessEngine(store, clock=clock)
