"""Store-level fixtures on top of the shared backends in ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from caseflow.runtime.ports import Store
from caseflow.store.sql import SqlStore


@pytest.fixture
def pg_store(postgres_stores: Callable[[], Store]) -> SqlStore:
    """A PostgreSQL store on this session's emptied schema."""
    store = postgres_stores()
    assert isinstance(store, SqlStore)
    return store
