"""Where caseflow's state lives: SQLite, PostgreSQL, or memory, behind one port.

``open_store(url)`` picks the adapter from the URL:

* ``memory://`` -> :class:`~caseflow.store.memory.MemoryStore`
* ``sqlite:///caseflow.db`` (the default), ``sqlite://`` (in memory)
* ``postgresql://...``, ``postgres://...``, ``postgresql+psycopg://...``
"""

from __future__ import annotations

from typing import Any

from caseflow.runtime.ports import Store

DEFAULT_URL = "sqlite:///caseflow.db"

__all__ = ["DEFAULT_URL", "open_store"]


def open_store(url: str | None = None, *, migrate: bool | None = None, **options: Any) -> Store:
    """The store for ``url`` (default ``sqlite:///caseflow.db``).

    ``migrate`` brings the schema up to date first; by default SQLite databases are
    migrated (an embedded file belongs to this process) and PostgreSQL ones are not
    (run ``caseflow db upgrade`` when deploying). ``options`` go to
    :class:`~caseflow.store.sql.SqlStore` (``echo``, ``schema``, ``pool_size`` ...).
    """
    url = url or DEFAULT_URL
    if url.startswith("memory:"):
        from caseflow.store.memory import MemoryStore

        return MemoryStore()
    from caseflow.store.sql import SqlStore

    store = SqlStore(url, **options)
    if migrate if migrate is not None else store.dialect == "sqlite":
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
    return store
