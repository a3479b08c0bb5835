"""The migrations own the schema: together they must equal the declared metadata."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from caseflow.engine.state import (
    ActivityRecord,
    EventSubscription,
    Execution,
    ExternalTaskRecord,
    Incident,
    InstanceRecord,
    Job,
    UserTaskRecord,
    Variable,
)
from caseflow.runtime.ports import (
    BufferedMessage,
    CommandRecord,
    DefinitionRecord,
    DeploymentRecord,
)
from caseflow.store import open_store, schema
from caseflow.store.memory import MemoryStore
from caseflow.store.migrate import current_revision, downgrade, head_revision, upgrade
from caseflow.store.sql import SqlStore, create_engine_for, normalise_url
from tests.pg import POSTGRES_URL, drop_schema, new_schema


def _diff(engine: sa.Engine, metadata: sa.MetaData = schema.metadata) -> list[object]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'schema.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine(pg_admin: sa.Engine) -> Iterator[sa.Engine]:
    name = new_schema(pg_admin)
    engine = create_engine_for(POSTGRES_URL, schema=name)
    yield engine
    engine.dispose()
    drop_schema(pg_admin, name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest) -> sa.Engine:
    engine: sa.Engine = request.getfixturevalue(f"{request.param}_engine")
    return engine


def test_the_migrations_build_exactly_the_declared_schema(empty_engine: sa.Engine) -> None:
    assert current_revision(empty_engine) is None
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    assert _diff(empty_engine) == []


def test_the_comparison_would_see_a_difference(empty_engine: sa.Engine) -> None:
    upgrade(empty_engine)
    changed = sa.MetaData()
    for table in schema.metadata.sorted_tables:
        table.to_metadata(changed)
    sa.Table("variable", changed, sa.Column("extra", sa.Integer), extend_existing=True)
    assert _diff(empty_engine, changed) != []


def test_downgrade_to_base_and_up_again(empty_engine: sa.Engine) -> None:
    upgrade(empty_engine)
    upgrade(empty_engine)  # a second run has nothing to do
    downgrade(empty_engine, "base")
    assert sa.inspect(empty_engine).get_table_names() == ["alembic_version"]
    upgrade(empty_engine)
    assert _diff(empty_engine) == []


@pytest.mark.parametrize(
    ("record", "table", "not_columns", "extra_columns"),
    [
        (DeploymentRecord, schema.deployment, (), ()),
        (DefinitionRecord, schema.process_definition, (), ()),
        (InstanceRecord, schema.process_instance, (), ()),
        (Execution, schema.execution, (), ()),
        (
            UserTaskRecord,
            schema.user_task,
            ("candidate_users", "candidate_groups"),
            # kept by the human-work layer (caseflow.work), not by the engine's record
            tuple(c for c in schema.WORK_TASK_COLUMNS if c != "claimed_at"),
        ),
        (ExternalTaskRecord, schema.external_task, (), ()),
        (EventSubscription, schema.event_subscription, (), ()),
        (Job, schema.job, (), ()),
        (Incident, schema.incident, (), ()),
        (ActivityRecord, schema.activity_history, (), ("seq",)),
        (CommandRecord, schema.command_log, (), ()),
        (BufferedMessage, schema.buffered_message, (), ()),
        (
            Variable,
            schema.variable,
            ("value",),
            ("text_value", "long_text", "long_value", "double_value", "time_value", "json_value"),
        ),
    ],
)
def test_every_record_field_is_a_column(
    record: type, table: sa.Table, not_columns: tuple[str, ...], extra_columns: tuple[str, ...]
) -> None:
    expected = {f.name for f in fields(record)} - set(not_columns) | set(extra_columns)
    assert set(table.c.keys()) == expected


def test_runtime_rows_carry_the_tenant_in_their_key() -> None:
    for table in (*schema.RUNTIME_TABLES, schema.process_instance, schema.activity_history):
        assert "tenant_id" in table.primary_key.columns, table.name


def test_naive_timestamps_are_refused() -> None:
    decorator = schema.UTCDateTime()
    with pytest.raises(ValueError, match="naive"):
        decorator.process_bind_param(datetime(2025, 1, 1), sa.create_engine("sqlite://").dialect)  # noqa: DTZ001


def test_urls() -> None:
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(ValueError, match="unsupported"):
        create_engine_for("mysql://u@h/db")
    with pytest.raises(ValueError, match="psycopg"):
        create_engine_for("postgresql+asyncpg://u@h/db")
    with pytest.raises(ValueError, match="schema"):
        create_engine_for("sqlite:///x.db", schema="s")


def test_open_store(tmp_path: Path) -> None:
    assert isinstance(open_store("memory://"), MemoryStore)
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")  # SQLite: migrated by default
    assert isinstance(store, SqlStore)
    assert current_revision(store.engine) == head_revision()
    store.close()
    store = open_store(f"sqlite:///{tmp_path / 'b.db'}", migrate=False)
    assert isinstance(store, SqlStore)
    assert current_revision(store.engine) is None
    store.close()
    memory = open_store("sqlite://")  # an in-memory database, migrated, one connection
    assert isinstance(memory, SqlStore)
    with memory.transaction() as tx:
        assert tx.latest_definition("x") is None
    memory.close()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_store: SqlStore) -> None:
    with sqlite_store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


@pytest.mark.postgres
def test_postgres_sessions_run_in_utc(pg_store: SqlStore) -> None:
    with pg_store.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW timezone").scalar() == "UTC"


@pytest.mark.postgres
def test_postgres_leaves_room_for_in_place_updates(pg_store: SqlStore) -> None:
    with pg_store.engine.connect() as conn:
        options = dict(conn.exec_driver_sql(
            "SELECT relname, reloptions FROM pg_class WHERE relnamespace = "
            "current_schema()::regnamespace AND relkind = 'r'"
        ).all())
    assert options["process_instance"] == ["fillfactor=80"]
    assert options["execution"] == ["fillfactor=80"]
    assert options["variable"] is None


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("table", "where", "index"),
    [
        ("process_instance", "business_key = $1 AND tenant_id = $2",
         "ix_process_instance_business_key"),
        ("process_instance", "case_id = $1 AND tenant_id = $2", "ix_process_instance_case_id"),
        ("process_instance", "parent_instance_id = $1 AND $2 <> ''",
         "ix_process_instance_parent"),
        ("user_task", "assignee = $1 AND tenant_id = $2", "ix_user_task_assignee"),
    ],
)
def test_a_lookup_by_value_finds_the_index_of_rows_that_have_one(
    pg_store: SqlStore, table: str, where: str, index: str
) -> None:
    """The sparse columns' indexes hold only rows with a value (0011); a prepared lookup
    by value, planned once for any value, must still be able to use them."""
    with pg_store.engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # empty tables: force it
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        conn.exec_driver_sql(
            f"PREPARE lookup(text, text) AS SELECT * FROM {table} WHERE {where}"
        )
        plan = "\n".join(
            row[0] for row in conn.exec_driver_sql("EXPLAIN EXECUTE lookup('x', 'default')")
        )
        conn.exec_driver_sql("DEALLOCATE lookup")
    assert index in plan, plan
