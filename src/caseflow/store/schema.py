"""The tables that hold caseflow's state: SQLAlchemy Core, no ORM.

Each runtime record of :mod:`caseflow.engine.state` is one row of one table here, with
columns named like the record's fields, so mapping is a zip and operators can read the
rows with plain SQL. The Alembic migrations in ``caseflow.store.migrations`` own the
schema; a test keeps them equal to this metadata on SQLite and PostgreSQL.

Keys are text (UUIDs, v7 where the caller wants order) made by the caller, never
sequences. Runtime rows carry ``tenant_id`` and it is part of their primary key
``(id, tenant_id)`` (``id`` first, so a lookup by id alone still uses it): a distributed
PostgreSQL can then shard by tenant. Timestamps are timezone-aware and stored in UTC.

Secondary indexes serve queries that may or may not name a tenant (the port's queries
take ``tenant_id=None`` for "any"), so ``tenant_id`` comes after the columns a query
always names, where it still filters inside the index. Partial indexes keep write cost
down where only some rows qualify (open tasks, unsuspended external tasks, each value
column of ``variable``); their predicates are spelled as the queries spell them.

Variables are typed columns (see :data:`variable`) so that "tasks whose process
variable ``region`` is ``'north'``" is an indexed SQL join, not a scan of blobs::

    SELECT t.* FROM user_task t
    JOIN variable v ON v.instance_id = t.instance_id AND v.tenant_id = t.tenant_id
    WHERE v.scope_id IS NULL AND v.name = 'region' AND v.text_value = 'north'
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ID_LENGTH = 64
"""Room for a UUID in any text form, and for readable ids in tests and fixtures."""

INDEXED_TEXT_MAX_BYTES = 1024
"""A string variable longer than this (UTF-8) goes to ``variable.long_text``, unindexed.

A B-tree entry on PostgreSQL must stay under ~2.7 kB, and ``(tenant_id, name,
text_value)`` is indexed, so long strings cannot share the indexed column.
"""


class UTCDateTime(TypeDecorator[datetime]):
    """An aware timestamp, stored in UTC; always read back aware (UTC).

    PostgreSQL has ``timestamptz``; SQLite has no time zones, so the value is stored as
    naive UTC text and given its zone back on the way out. A naive value is refused:
    it is a bug at the caller, and guessing its zone would hide it.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(DateTime())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: caseflow stores aware timestamps only")
        if dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def _json() -> Any:
    """JSON on SQLite, JSONB (indexable, containment queries) on PostgreSQL."""
    return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def _id(name: str, *, nullable: bool = False) -> Column[str]:
    return Column(name, String(ID_LENGTH), nullable=nullable)


def _tenant() -> Column[str]:
    return Column("tenant_id", String(ID_LENGTH), nullable=False)


def _in(column: str, values: tuple[str, ...] | frozenset[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in sorted(values))})"


# Tables whose rows are updated in place by most commands (revision, token position,
# locks, end of an activity): room in each page lets PostgreSQL update them without
# touching their indexes (HOT updates).
_HOT = {"fillfactor": 80}

INSTANCE_STATUSES = ("ACTIVE", "SUSPENDED", "COMPLETED", "TERMINATED", "ERROR")
DEFINITION_STATUSES = ("Draft", "Testing", "Deployed", "Deprecated")
TASK_STATUSES = ("OPEN", "CLAIMED", "COMPLETED", "CANCELLED", "DELEGATED", "ESCALATED")
OPEN_TASK_STATUSES = ("CLAIMED", "DELEGATED", "ESCALATED", "OPEN")
EXECUTION_STATES = ("waiting", "joining", "scope")
VARIABLE_TYPES = (
    "null", "string", "integer", "decimal", "float", "boolean", "date", "datetime", "json",
)
CANDIDATE_KINDS = ("user", "group")

OPEN_TASK_PREDICATE = _in("status", OPEN_TASK_STATUSES)
_OPEN_TASK = OPEN_TASK_PREDICATE

# --- definitions ----------------------------------------------------------------------

deployment = Table(
    "deployment",
    metadata,
    _id("id"),
    _tenant(),
    Column("name", String(255), nullable=False),
    Column("resource_name", String(255), nullable=False),
    Column("source", Text, nullable=False),
    Column("content_hash", String(128), nullable=False),
    Column("deployed_at", UTCDateTime, nullable=False),
    Column("deployed_by", String(255)),
    PrimaryKeyConstraint("id"),
    Index("ix_deployment_tenant_deployed_at", "tenant_id", "deployed_at"),
)

process_definition = Table(
    "process_definition",
    metadata,
    _id("id"),
    _tenant(),
    Column("key", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    _id("deployment_id"),
    Column("content_hash", String(128), nullable=False),
    Column("deployed_at", UTCDateTime, nullable=False),
    Column("name", Text),
    Column("resource_name", String(255)),
    Column("version_tag", String(255)),
    Column("category", String(255)),
    Column("procedure_code", String(255)),
    Column("sla_target_hours", Float),
    Column("status", String(16), nullable=False),
    Column("deployed_by", String(255)),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("tenant_id", "key", "version"),
    ForeignKeyConstraint(["deployment_id"], ["deployment.id"]),
    CheckConstraint(_in("status", DEFINITION_STATUSES), name="status"),
    Index("ix_process_definition_deployment_id", "deployment_id"),
)

# --- runtime: one process instance and its rows ---------------------------------------

process_instance = Table(
    "process_instance",
    metadata,
    _id("id"),
    _tenant(),
    _id("definition_id"),
    Column("process_key", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("business_key", String(255)),
    Column("case_id", String(255)),
    Column("started_by", String(255)),
    _id("parent_instance_id", nullable=True),
    _id("parent_execution_id", nullable=True),
    _id("root_instance_id", nullable=True),
    Column("ended_at", UTCDateTime),
    Column("end_reason", Text),
    Column("suspended_at", UTCDateTime),
    Column("revision", BigInteger, nullable=False),
    PrimaryKeyConstraint("id", "tenant_id"),
    ForeignKeyConstraint(["definition_id"], ["process_definition.id"]),
    CheckConstraint(_in("status", INSTANCE_STATUSES), name="status"),
    Index("ix_process_instance_definition_id", "definition_id"),
    Index("ix_process_instance_key_status", "process_key", "status", "tenant_id"),
    Index("ix_process_instance_business_key", "business_key", "tenant_id"),
    Index("ix_process_instance_case_id", "case_id", "tenant_id"),
    Index("ix_process_instance_parent", "parent_instance_id"),
    postgresql_with=_HOT,
)


def _instance_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["instance_id", "tenant_id"],
        ["process_instance.id", "process_instance.tenant_id"],
        ondelete="CASCADE",
    )


execution = Table(
    "execution",
    metadata,
    _id("id"),
    _tenant(),
    _id("instance_id"),
    Column("element_id", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    _id("parent_id", nullable=True),
    Column("arrived_via", String(255)),
    Column("is_mi_body", Boolean, nullable=False),
    Column("loop_counter", Integer),
    _id("history_id", nullable=True),
    _id("called_instance_id", nullable=True),
    PrimaryKeyConstraint("id", "tenant_id"),
    _instance_fk(),
    CheckConstraint(_in("state", EXECUTION_STATES), name="state"),
    Index("ix_execution_instance", "instance_id", "tenant_id"),
    postgresql_with=_HOT,
)

variable = Table(
    "variable",
    metadata,
    _id("id"),
    _tenant(),
    _id("instance_id"),
    _id("scope_id", nullable=True),
    Column("name", String(255), nullable=False),
    Column("type", String(16), nullable=False),
    # One typed column per kind of comparison. A query by value picks the column by type:
    #   string, decimal (exact, canonical text), date/datetime (ISO text) -> text_value
    #   integer, boolean (0/1)                                   -> long_value
    #   integer, decimal (approximate), float                    -> double_value
    #   date, datetime (UTC instant)                              -> time_value
    #   json                                                      -> json_value
    # Strings over INDEXED_TEXT_MAX_BYTES go to long_text instead of text_value.
    Column("text_value", Text),
    Column("long_text", Text),
    Column("long_value", BigInteger),
    Column("double_value", Float),
    Column("time_value", UTCDateTime),
    Column("json_value", _json()),
    PrimaryKeyConstraint("id", "tenant_id"),
    _instance_fk(),
    CheckConstraint(_in("type", VARIABLE_TYPES), name="type"),
    Index("ix_variable_instance", "instance_id", "tenant_id"),
    Index(
        "ix_variable_text",
        "name", "text_value", "tenant_id",
        postgresql_where=text("text_value IS NOT NULL"),
        sqlite_where=text("text_value IS NOT NULL"),
    ),
    Index(
        "ix_variable_long",
        "name", "long_value", "tenant_id",
        postgresql_where=text("long_value IS NOT NULL"),
        sqlite_where=text("long_value IS NOT NULL"),
    ),
    Index(
        "ix_variable_double",
        "name", "double_value", "tenant_id",
        postgresql_where=text("double_value IS NOT NULL"),
        sqlite_where=text("double_value IS NOT NULL"),
    ),
    Index(
        "ix_variable_time",
        "name", "time_value", "tenant_id",
        postgresql_where=text("time_value IS NOT NULL"),
        sqlite_where=text("time_value IS NOT NULL"),
    ),
)

user_task = Table(
    "user_task",
    metadata,
    _id("id"),
    _tenant(),
    _id("instance_id"),
    _id("execution_id"),
    Column("element_id", String(255), nullable=False),
    Column("process_key", String(255), nullable=False),
    _id("definition_id"),
    Column("name", Text),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("assignee", String(255)),
    Column("form_key", String(255)),
    Column("queue", String(255)),
    Column("due_at", UTCDateTime),
    Column("follow_up_at", UTCDateTime),
    Column("business_key", String(255)),
    Column("case_id", String(255)),
    Column("completed_at", UTCDateTime),
    Column("completed_by", String(255)),
    Column("outcome", String(255)),
    PrimaryKeyConstraint("id", "tenant_id"),
    _instance_fk(),
    CheckConstraint(_in("status", TASK_STATUSES), name="status"),
    Index("ix_user_task_instance", "instance_id", "tenant_id"),
    Index("ix_user_task_assignee", "assignee", "status", "tenant_id"),
    Index(
        "ix_user_task_due_open",
        "due_at", "tenant_id",
        postgresql_where=text(f"due_at IS NOT NULL AND {_OPEN_TASK}"),
        sqlite_where=text(f"due_at IS NOT NULL AND {_OPEN_TASK}"),
    ),
)

# "open tasks (in my queues), highest priority first, then oldest"
Index(
    "ix_user_task_status_priority",
    user_task.c.status, user_task.c.priority.desc(), user_task.c.created_at, user_task.c.tenant_id,
)
Index(
    "ix_user_task_queue_open",
    user_task.c.queue, user_task.c.priority.desc(), user_task.c.created_at, user_task.c.tenant_id,
    postgresql_where=text(_OPEN_TASK),
    sqlite_where=text(_OPEN_TASK),
)

task_candidate = Table(
    "task_candidate",
    metadata,
    _id("task_id"),
    _tenant(),
    Column("kind", String(8), nullable=False),
    Column("value", String(255), nullable=False),
    PrimaryKeyConstraint("task_id", "tenant_id", "kind", "value"),
    ForeignKeyConstraint(
        ["task_id", "tenant_id"], ["user_task.id", "user_task.tenant_id"], ondelete="CASCADE"
    ),
    CheckConstraint(_in("kind", CANDIDATE_KINDS), name="kind"),
    # "tasks for group X" / "tasks for user Y": an index range, then the task by its key
    Index("ix_task_candidate_lookup", "kind", "value", "tenant_id", "task_id"),
)

external_task = Table(
    "external_task",
    metadata,
    _id("id"),
    _tenant(),
    _id("instance_id"),
    _id("execution_id"),
    Column("element_id", String(255), nullable=False),
    Column("process_key", String(255), nullable=False),
    _id("definition_id"),
    Column("topic", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("retries", Integer),
    Column("priority", Integer, nullable=False),
    Column("lock_owner", String(255)),
    Column("lock_expires_at", UTCDateTime),
    Column("error_message", Text),
    Column("error_details", Text),
    Column("business_key", String(255)),
    Column("suspended", Boolean, nullable=False),
    PrimaryKeyConstraint("id", "tenant_id"),
    _instance_fk(),
    Index("ix_external_task_instance", "instance_id", "tenant_id"),
    postgresql_with=_HOT,
)
# fetch-and-lock: by topic, highest priority then oldest, only what can be fetched
Index(
    "ix_external_task_fetch",
    external_task.c.topic, external_task.c.priority.desc(), external_task.c.created_at,
    external_task.c.tenant_id,
    # the very text SQLAlchemy renders for ``~suspended``, so each planner sees the match
    postgresql_where=text("NOT suspended"),
    sqlite_where=text("suspended = 0"),
)

event_subscription = Table(
    "event_subscription",
    metadata,
    _id("id"),
    _tenant(),
    _id("instance_id"),
    _id("execution_id"),
    Column("element_id", String(255), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("event_name", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("correlation_key", String(255)),
    PrimaryKeyConstraint("id", "tenant_id"),
    _instance_fk(),
    Index("ix_event_subscription_instance", "instance_id", "tenant_id"),
    Index("ix_event_subscription_event", "tenant_id", "kind", "event_name", "correlation_key"),
)

job = Table(
    "job",
    metadata,
    _id("id"),
    _tenant(),
    Column("kind", String(32), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    _id("instance_id", nullable=True),
    _id("execution_id", nullable=True),
    Column("element_id", String(255)),
    _id("definition_id", nullable=True),
    Column("payload", _json(), nullable=False),
    Column("retries", Integer, nullable=False),
    Column("lock_owner", String(255)),
    Column("lock_expires_at", UTCDateTime),
    Column("error_message", Text),
    PrimaryKeyConstraint("id", "tenant_id"),
    _instance_fk(),
    Index("ix_job_instance", "instance_id", "tenant_id"),
    # acquisition: due jobs, earliest first
    Index("ix_job_due", "due_at", "tenant_id"),
    postgresql_with=_HOT,
)

incident = Table(
    "incident",
    metadata,
    _id("id"),
    _tenant(),
    _id("instance_id"),
    Column("kind", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    _id("execution_id", nullable=True),
    Column("element_id", String(255)),
    _id("external_task_id", nullable=True),
    _id("job_id", nullable=True),
    Column("resolved_at", UTCDateTime),
    PrimaryKeyConstraint("id", "tenant_id"),
    _instance_fk(),
    Index("ix_incident_instance", "instance_id", "tenant_id"),
    Index(
        "ix_incident_open",
        "created_at", "tenant_id",
        postgresql_where=text("resolved_at IS NULL"),
        sqlite_where=text("resolved_at IS NULL"),
    ),
)

# --- history and idempotency ----------------------------------------------------------

activity_history = Table(
    "activity_history",
    metadata,
    _id("id"),
    _tenant(),
    _id("instance_id"),
    _id("execution_id"),
    Column("element_id", String(255), nullable=False),
    Column("element_type", String(64), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    # position within the command that wrote it: one command stamps one ``now`` on all
    Column("seq", Integer, nullable=False),
    Column("element_name", Text),
    Column("ended_at", UTCDateTime),
    Column("outcome", String(16)),
    _id("called_instance_id", nullable=True),
    PrimaryKeyConstraint("id", "tenant_id"),
    # no foreign key: history outlives the runtime rows it describes
    Index("ix_activity_history_instance", "instance_id", "tenant_id", "started_at", "seq"),
    postgresql_with=_HOT,
)

command_log = Table(
    "command_log",
    metadata,
    _tenant(),
    Column("key", String(255), nullable=False),
    Column("command", String(64), nullable=False),
    Column("result", _json(), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "key"),
    Index("ix_command_log_created_at", "created_at"),
)

RUNTIME_TABLES: tuple[Table, ...] = (
    execution, variable, user_task, external_task, event_subscription, job, incident,
)
ALL_TABLES: tuple[Table, ...] = tuple(metadata.sorted_tables)
