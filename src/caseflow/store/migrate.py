"""Run caseflow's Alembic migrations from code: no alembic.ini, no working directory.

``caseflow db upgrade`` and the tests call :func:`upgrade`; a store opened with
``migrate=True`` calls it too. On PostgreSQL an advisory lock (in ``env.py``) lets many
nodes start at once: one migrates, the others wait and find nothing left to do.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None, *, url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged scripts (for tools that want one)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _run(target: Engine | Connection | str, revision: str, *, downgrade: bool = False) -> None:
    engine: Engine | None = None
    if isinstance(target, str):
        from caseflow.store.sql import create_engine_for

        engine = target = create_engine_for(target)
    try:
        if isinstance(target, Connection):
            _apply(target, revision, downgrade)
        else:
            with target.begin() as connection:
                _apply(connection, revision, downgrade)
    finally:
        if engine is not None:
            engine.dispose()


def _apply(connection: Connection, revision: str, downgrade: bool) -> None:
    config = alembic_config(connection)
    if downgrade:
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)


def upgrade(target: Engine | Connection | str, revision: str = "head") -> None:
    """Bring the schema at ``target`` (an engine, a connection or a URL) to ``revision``."""
    _run(target, revision)


def downgrade(target: Engine | Connection | str, revision: str) -> None:
    """Take the schema back to ``revision`` (``"base"``: drop every caseflow table)."""
    _run(target, revision, downgrade=True)


def head_revision() -> str | None:
    """The newest revision the packaged scripts know."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(target: Engine | Connection) -> str | None:
    """The revision the database at ``target`` is at (``None``: never migrated)."""
    if isinstance(target, Connection):
        return MigrationContext.configure(target).get_current_revision()
    with target.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
