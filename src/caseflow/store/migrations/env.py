"""Alembic's entry point, driven from code (no alembic.ini): see caseflow.store.migrate.

``config.attributes["connection"]`` carries the connection to migrate; offline mode
(``--sql``) renders the script for the URL in the ``sqlalchemy.url`` option instead.
"""

from __future__ import annotations

from alembic import context

from caseflow.store.schema import metadata

# Any constant will do; it only has to be the same for every caseflow node.
MIGRATION_LOCK_ID = 0x63617365666C6F77  # "caseflow"

config = context.config


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run caseflow's migrations through caseflow.store.migrate.upgrade()")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # nodes starting together: one migrates, the others wait and then find it done
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
