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
    Date,
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


def _set(column: str) -> dict[str, Any]:
    """An index of the rows whose ``column`` holds a value: it is only ever looked up by
    value, and most rows leave it empty (they then cost the index nothing)."""
    where = text(f"{column} IS NOT NULL")
    return {"postgresql_where": where, "sqlite_where": where}

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
    # the columns most instances leave empty: indexed where they hold a value (0011)
    Index("ix_process_instance_business_key", "business_key", "tenant_id", **_set("business_key")),
    Index("ix_process_instance_case_id", "case_id", "tenant_id", **_set("case_id")),
    Index("ix_process_instance_parent", "parent_instance_id", **_set("parent_instance_id")),
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
        **_set("text_value"),
    ),
    Index(
        "ix_variable_long",
        "name", "long_value", "tenant_id",
        **_set("long_value"),
    ),
    Index(
        "ix_variable_double",
        "name", "double_value", "tenant_id",
        **_set("double_value"),
    ),
    Index(
        "ix_variable_time",
        "name", "time_value", "tenant_id",
        **_set("time_value"),
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
    Index("ix_user_task_assignee", "assignee", "status", "tenant_id", **_set("assignee")),
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

# messages published with a time to live that no receiver waited for: a receiver that
# subscribes before ``expires_at`` takes the oldest it may (runtime.ports.BufferedMessage)
buffered_message = Table(
    "buffered_message",
    metadata,
    _id("id"),
    _tenant(),
    Column("name", String(255), nullable=False),
    Column("business_key", String(255)),
    Column("correlation_key", String(255)),
    Column("variables", _json(), nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("id", "tenant_id"),
    Index("ix_buffered_message_name", "tenant_id", "name", "published_at"),
    Index("ix_buffered_message_expires_at", "tenant_id", "expires_at"),
)

# --- the outbox (caseflow.events) ----------------------------------------------------

# events written in the transaction of the change they report; ``seq`` orders them
# (per instance, the order they were added in); delivery state lives beside, not here
outbox_event = Table(
    "outbox_event",
    metadata,
    Column(
        "seq",
        BigInteger().with_variant(Integer, "sqlite"),  # SQLite: the rowid, increasing
        primary_key=True,
        autoincrement=True,
    ),
    _id("id"),
    _tenant(),
    Column("type", String(64), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("payload", _json(), nullable=False),
    _id("instance_id", nullable=True),
    _id("task_id", nullable=True),
    # PostgreSQL: the id of the transaction that wrote the row (pg_current_xact_id()),
    # by which readers order committed events safely; NULL on SQLite (one writer at a
    # time: there ``seq`` is commit order)
    Column("xid", BigInteger),
    UniqueConstraint("id"),
    Index("ix_outbox_event_position", "xid", "seq"),
)

# a reader of the outbox and how far it got, in commit order: ``(xid, seq)``; a lease
# lets one node at a time advance it
event_consumer = Table(
    "event_consumer",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("position_xid", BigInteger, nullable=False),
    Column("position_seq", BigInteger, nullable=False),
    Column("lease_owner", String(128)),
    Column("lease_expires_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
)

# where events are POSTed; ``event_types`` NULL: every type; ``tenant_id`` NULL: every tenant
webhook = Table(
    "webhook",
    metadata,
    _id("id"),
    Column("tenant_id", String(ID_LENGTH)),
    Column("name", String(255), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("secret", String(255), nullable=False),
    Column("event_types", _json()),
    Column("active", Boolean, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("description", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(ID_LENGTH)),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("id"),
)

# one event for one webhook: the delivery log. Fanned out in commit order, so ``seq``
# orders one webhook's deliveries; a delivery is attempted only when no earlier one of
# its ``ordering_key`` (the instance) is still PENDING. DEAD: out of attempts.
WEBHOOK_DELIVERY_STATUSES = ("PENDING", "DELIVERED", "DEAD")
webhook_delivery = Table(
    "webhook_delivery",
    metadata,
    Column(
        "seq",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    _id("webhook_id"),
    _id("event_id"),
    Column("event_type", String(64), nullable=False),
    _id("instance_id", nullable=True),
    Column("ordering_key", String(ID_LENGTH), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(128)),
    Column("lease_expires_at", UTCDateTime),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    ForeignKeyConstraint(["webhook_id"], ["webhook.id"], ondelete="CASCADE"),
    CheckConstraint(_in("status", WEBHOOK_DELIVERY_STATUSES), name="status"),
    Index("ix_webhook_delivery_order", "webhook_id", "ordering_key", "seq"),
    Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
)

# --- business calendars (caseflow.time) ------------------------------------------------

OVERRIDE_KINDS = ("HOLIDAY", "WORKING_DAY")

# working hours as JSON: {"mon": ["08:00-12:00", "13:00-17:00"], ...}; holidays come
# from the ``holidays`` package for ``holiday_country`` plus the overrides below
business_calendar = Table(
    "business_calendar",
    metadata,
    _id("id"),
    _tenant(),
    Column("name", String(255), nullable=False),
    Column("zone", String(64), nullable=False),
    Column("weekly_hours", _json(), nullable=False),
    Column("makeup_hours", _json()),
    Column("holiday_country", String(8)),
    Column("holiday_subdivision", String(16)),
    Column("description", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("id", "tenant_id"),
    UniqueConstraint("tenant_id", "name"),
)

# an administrator's decision about one date: a decree's day off or a worked Saturday
calendar_override = Table(
    "calendar_override",
    metadata,
    _id("id"),
    _tenant(),
    _id("calendar_id"),
    Column("day", Date, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("hours", _json()),
    Column("reason", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(255)),
    PrimaryKeyConstraint("id", "tenant_id"),
    ForeignKeyConstraint(
        ["calendar_id", "tenant_id"],
        ["business_calendar.id", "business_calendar.tenant_id"],
        ondelete="CASCADE",
    ),
    UniqueConstraint("calendar_id", "tenant_id", "day"),
    CheckConstraint(_in("kind", OVERRIDE_KINDS), name="kind"),
)

# --- human work (caseflow.work): organisation, queues, routing, task history, cases ---
#
# Keys are the caller's text ids with ``tenant_id``, like the runtime rows. No foreign key
# points from these tables at runtime rows: the routing listener writes them in the
# command's transaction *before* the engine inserts the instance and its tasks.

ROLE_TYPES = ("SYSTEM", "DEPARTMENT", "CUSTOM")
QUEUE_TYPES = ("STANDARD", "PRIORITY", "SPECIALIZED", "OVERFLOW")
ASSIGNMENT_STRATEGIES = ("ROUND_ROBIN", "LEAST_LOADED", "SKILL_BASED", "PRIORITY_WEIGHTED")
TASK_ACTIONS = (
    "CREATE", "ASSIGN", "OVERFLOW", "CLAIM", "UNCLAIM", "COMPLETE", "DELEGATE", "RESOLVE",
    "REASSIGN", "ESCALATE", "CANCEL", "COMMENT", "UPDATE",
)
CLAIMABLE_TASK_STATUSES = ("ESCALATED", "OPEN")

# user_task: what the human-work layer keeps beyond the engine's record (claimed_at is in
# the record: it is set as a task is created, before the row is written)
WORK_TASK_COLUMNS = (
    "claimed_at", "claimed_by", "owner", "task_type", "escalation_level", "escalated_at",
    "task_data", "form_data", "outcome_reason",
)
for _column in (
    Column("claimed_at", UTCDateTime),
    Column("claimed_by", String(255)),
    Column("owner", String(255)),  # a delegated task's owner; the delegate is the assignee
    Column("task_type", String(32), nullable=False, server_default="USER_TASK"),
    Column("escalation_level", Integer, nullable=False, server_default=text("0")),
    Column("escalated_at", UTCDateTime),
    Column("task_data", _json()),
    Column("form_data", _json()),
    Column("outcome_reason", Text),
):
    user_task.append_column(_column)
Index(
    "ix_user_task_owner", user_task.c.owner, user_task.c.tenant_id,
    **_set("owner"),
)
Index(
    "ix_user_task_case", user_task.c.case_id, user_task.c.tenant_id,
    **_set("case_id"),
)
Index(
    "ix_user_task_business_key", user_task.c.business_key, user_task.c.tenant_id,
    **_set("business_key"),
)
# "tasks I could claim", best first: unassigned open tasks only, in the lists' order
_CLAIMABLE_TASK = "assignee IS NULL AND " + _in("status", CLAIMABLE_TASK_STATUSES)
Index(
    "ix_user_task_claimable",
    user_task.c.tenant_id, user_task.c.priority.desc(), user_task.c.created_at, user_task.c.id,
    user_task.c.queue,  # the grant check reads it: counts need not visit the table
    postgresql_where=text(_CLAIMABLE_TASK),
    sqlite_where=text(_CLAIMABLE_TASK),
)
# Each task row is rewritten a few times (routed, claimed, completed): room for those
# versions on the same page, and a vacuum that keeps up with a busy claim queue.
USER_TASK_STORAGE = {
    "fillfactor": 80,
    "autovacuum_vacuum_scale_factor": 0.02,
    "autovacuum_vacuum_threshold": 1000,
    "autovacuum_vacuum_insert_scale_factor": 0.05,
    "autovacuum_analyze_scale_factor": 0.02,
    "autovacuum_vacuum_cost_delay": 1,
}
# The claimable set turns over completely: vacuum it at a small fixed number of dead
# rows, at full speed (it is small, so each run is short).
QUEUE_ITEM_STORAGE = {
    "autovacuum_vacuum_scale_factor": 0,
    "autovacuum_vacuum_threshold": 500,
    "autovacuum_vacuum_insert_scale_factor": 0,
    "autovacuum_vacuum_insert_threshold": 1000,
    "autovacuum_analyze_scale_factor": 0.05,
    "autovacuum_vacuum_cost_delay": 0,
}
user_task.dialect_kwargs["postgresql_with"] = USER_TASK_STORAGE


def _tenant_fk(columns: list[str], table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        [*columns, "tenant_id"], [f"{table}.id", f"{table}.tenant_id"]
    )


work_department = Table(
    "work_department",
    metadata,
    _id("id"),
    _tenant(),
    Column("code", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    _id("parent_id", nullable=True),
    Column("description", Text),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("id", "tenant_id"),
    UniqueConstraint("tenant_id", "code"),
    _tenant_fk(["parent_id"], "work_department"),
)

work_user = Table(
    "work_user",
    metadata,
    Column("id", String(255), nullable=False),  # the login / subject the caller acts as
    _tenant(),
    Column("name", String(255), nullable=False),
    Column("email", String(255)),
    _id("department_id", nullable=True),
    Column("experience_level", Integer, nullable=False),  # 1 junior .. 4 expert
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("deactivated_at", UTCDateTime),
    PrimaryKeyConstraint("id", "tenant_id"),
    _tenant_fk(["department_id"], "work_department"),
    CheckConstraint("experience_level BETWEEN 1 AND 4", name="experience_level"),
)

work_queue = Table(
    "work_queue",
    metadata,
    _id("id"),
    _tenant(),
    Column("name", String(255), nullable=False),  # what user_task.queue holds
    Column("type", String(16), nullable=False),
    _id("department_id", nullable=True),
    Column("description", Text),
    Column("max_capacity", Integer),  # open tasks; NULL: unbounded
    Column("sla_minutes", Integer),
    Column("priority_weights", _json()),  # {"<min priority>": weight, ...}
    _id("overflow_queue_id", nullable=True),
    Column("min_experience", Integer),  # skill-based assignment: the least experience
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("id", "tenant_id"),
    UniqueConstraint("tenant_id", "name"),
    _tenant_fk(["department_id"], "work_department"),
    _tenant_fk(["overflow_queue_id"], "work_queue"),
    CheckConstraint(_in("type", QUEUE_TYPES), name="type"),
)

work_role = Table(
    "work_role",
    metadata,
    _id("id"),
    _tenant(),
    Column("code", String(255), nullable=False),  # what BPMN candidate groups name
    Column("name", String(255), nullable=False),
    Column("type", String(16), nullable=False),
    _id("department_id", nullable=True),
    _id("queue_id", nullable=True),  # the queue its holders work, if any
    Column("can_manage", Boolean, nullable=False),  # reassign, escalate, cancel, ...
    Column("description", Text),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("id", "tenant_id"),
    UniqueConstraint("tenant_id", "code"),
    _tenant_fk(["department_id"], "work_department"),
    _tenant_fk(["queue_id"], "work_queue"),
    CheckConstraint(_in("type", ROLE_TYPES), name="type"),
)

work_grant = Table(
    "work_grant",
    metadata,
    _id("id"),
    _tenant(),
    Column("user_id", String(255), nullable=False),
    _id("role_id"),
    Column("granted_by", String(255), nullable=False),
    Column("granted_at", UTCDateTime, nullable=False),
    Column("valid_from", UTCDateTime, nullable=False),
    Column("valid_until", UTCDateTime),  # exclusive; NULL: until revoked
    Column("is_primary", Boolean, nullable=False),
    PrimaryKeyConstraint("id", "tenant_id"),
    ForeignKeyConstraint(["user_id", "tenant_id"], ["work_user.id", "work_user.tenant_id"]),
    _tenant_fk(["role_id"], "work_role"),
    # "does this user hold a valid grant of a role that ...": one index range per user
    Index("ix_work_grant_user", "user_id", "tenant_id", "role_id", "valid_from", "valid_until"),
    Index("ix_work_grant_role", "role_id", "tenant_id"),
)

work_skill = Table(
    "work_skill",
    metadata,
    _id("id"),
    _tenant(),
    Column("code", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    PrimaryKeyConstraint("id", "tenant_id"),
    UniqueConstraint("tenant_id", "code"),
)

work_user_skill = Table(
    "work_user_skill",
    metadata,
    Column("user_id", String(255), nullable=False),
    _tenant(),
    _id("skill_id"),
    Column("level", Integer, nullable=False),  # 1 .. 5
    PrimaryKeyConstraint("user_id", "tenant_id", "skill_id"),
    ForeignKeyConstraint(
        ["user_id", "tenant_id"], ["work_user.id", "work_user.tenant_id"], ondelete="CASCADE"
    ),
    _tenant_fk(["skill_id"], "work_skill"),
    CheckConstraint("level BETWEEN 1 AND 5", name="level"),
)

work_queue_skill = Table(
    "work_queue_skill",
    metadata,
    _id("queue_id"),
    _tenant(),
    _id("skill_id"),
    Column("min_level", Integer, nullable=False),
    PrimaryKeyConstraint("queue_id", "tenant_id", "skill_id"),
    ForeignKeyConstraint(
        ["queue_id", "tenant_id"], ["work_queue.id", "work_queue.tenant_id"], ondelete="CASCADE"
    ),
    _tenant_fk(["skill_id"], "work_skill"),
    CheckConstraint("min_level BETWEEN 1 AND 5", name="min_level"),
)

work_queue_assignment = Table(
    "work_queue_assignment",
    metadata,
    _id("id"),
    _tenant(),
    _id("queue_id"),
    _id("role_id"),
    Column("strategy", String(32), nullable=False),
    Column("auto_assign", Boolean, nullable=False),
    Column("max_tasks_per_user", Integer, nullable=False),
    Column("priority_level", Integer, nullable=False),  # several auto-assigning: highest first
    Column("active", Boolean, nullable=False),
    Column("last_assigned_user", String(255)),  # the round-robin cursor
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("id", "tenant_id"),
    UniqueConstraint("tenant_id", "queue_id", "role_id"),
    _tenant_fk(["queue_id"], "work_queue"),
    _tenant_fk(["role_id"], "work_role"),
    CheckConstraint(_in("strategy", ASSIGNMENT_STRATEGIES), name="strategy"),
    Index("ix_work_queue_assignment_role", "role_id", "tenant_id", "queue_id"),
)

work_routing_rule = Table(
    "work_routing_rule",
    metadata,
    _id("id"),
    _tenant(),
    Column("name", String(255), nullable=False),
    Column("position", Integer, nullable=False),  # lowest first; the first match wins
    Column("process_key", String(255)),  # NULL: any process
    Column("element_id", String(255)),  # NULL: any user task
    Column("condition", Text),  # an expression over the task's variables; NULL: always
    _id("queue_id"),
    Column("priority", Integer),  # set the task's priority too; NULL: leave it
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("id", "tenant_id"),
    _tenant_fk(["queue_id"], "work_queue"),
    Index("ix_work_routing_rule_order", "tenant_id", "position"),
)

# The claimable set: one row per open, unassigned task that sits in a queue. Claiming
# deletes the row, so claim-next reads a small table whose index holds nothing else;
# its dead entries (claims since the last vacuum) are what a claim walks past, and a
# vacuum of this table is quick however many tasks user_task keeps.
work_queue_item = Table(
    "work_queue_item",
    metadata,
    _id("task_id"),
    _tenant(),
    Column("queue", String(255), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("task_id", "tenant_id"),
    postgresql_with=QUEUE_ITEM_STORAGE,
)
# claim-next over several queues: one ordered range, the queue checked inside the index
Index(
    "ix_work_queue_item_next",
    work_queue_item.c.tenant_id, work_queue_item.c.priority.desc(),
    work_queue_item.c.created_at, work_queue_item.c.task_id, work_queue_item.c.queue,
)
# claim-next in one queue
Index(
    "ix_work_queue_item_queue",
    work_queue_item.c.tenant_id, work_queue_item.c.queue, work_queue_item.c.priority.desc(),
    work_queue_item.c.created_at, work_queue_item.c.task_id,
)

work_task_history = Table(
    "work_task_history",
    metadata,
    _id("id"),
    _tenant(),
    _id("task_id"),
    _id("instance_id"),
    Column("action", String(16), nullable=False),
    Column("action_by", String(255), nullable=False),
    Column("action_at", UTCDateTime, nullable=False),
    Column("old_status", String(16)),
    Column("new_status", String(16)),
    Column("old_assignee", String(255)),
    Column("new_assignee", String(255)),
    Column("queue", String(255)),
    Column("comment", Text),
    Column("data", _json()),
    PrimaryKeyConstraint("id", "tenant_id"),
    # no foreign key: history outlives the task rows, and is written before them
    CheckConstraint(_in("action", TASK_ACTIONS), name="action"),
    Index("ix_work_task_history_task", "task_id", "tenant_id", "action_at", "id"),
    Index("ix_work_task_history_instance", "instance_id", "tenant_id"),
    Index("ix_work_task_history_actor", "action_by", "tenant_id", "action_at"),
)

# seed 001's case_workflow_mapping: which department holds a case now, and before
work_case = Table(
    "work_case",
    metadata,
    _id("id"),
    _tenant(),
    Column("case_id", String(255), nullable=False),
    _id("instance_id"),
    Column("process_key", String(255), nullable=False),
    Column("business_key", String(255)),
    Column("initiated_by", String(255)),
    Column("initiated_at", UTCDateTime, nullable=False),
    _id("current_department_id", nullable=True),
    _id("previous_department_id", nullable=True),
    Column("current_queue", String(255)),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("routing_history", _json(), nullable=False),  # [{at, task_id, element_id, ...}]
    PrimaryKeyConstraint("id", "tenant_id"),
    UniqueConstraint("tenant_id", "case_id", "instance_id"),
    Index("ix_work_case_instance", "instance_id", "tenant_id"),
    Index("ix_work_case_department", "current_department_id", "tenant_id"),
)

# --- SLA and escalation (caseflow.work.sla, caseflow.work.escalation) -----------------

SLA_TRIGGERS = ("AT_RISK", "BREACHED")
ESCALATION_ACTIONS = ("NONE", "REASSIGN", "ADD_CANDIDATES", "MOVE_TO_QUEUE")
ESCALATION_TARGETS = ("SUPERVISOR", "PARENT_DEPARTMENT", "QUEUE")
ESCALATION_KINDS = ("AUTOMATIC", "MANUAL")

# a user task's service level, fixed when it is routed; its status is worked out from
# these instants and the clock (at_risk_at is already in business time)
work_task_sla = Table(
    "work_task_sla",
    metadata,
    _id("task_id"),
    _tenant(),
    _id("instance_id"),
    Column("started_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("at_risk_at", UTCDateTime, nullable=False),
    Column("source", String(32), nullable=False),  # task, queue, definition, bpmn
    Column("calendar", String(255), nullable=False),
    Column("ended_at", UTCDateTime),  # completed or cancelled
    Column("breached_at", UTCDateTime),  # when the breach was reported (once)
    PrimaryKeyConstraint("task_id", "tenant_id"),
    # no foreign key: written in the command that creates the task, before its row
    Index("ix_work_task_sla_instance", "instance_id", "tenant_id"),
    Index("ix_work_task_sla_due", "tenant_id", "due_at"),
)

# a process instance's service level: its definition's SLA target hours from its start
work_instance_sla = Table(
    "work_instance_sla",
    metadata,
    _id("instance_id"),
    _tenant(),
    Column("started_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("at_risk_at", UTCDateTime, nullable=False),
    Column("calendar", String(255), nullable=False),
    PrimaryKeyConstraint("instance_id", "tenant_id"),
    Index("ix_work_instance_sla_due", "tenant_id", "due_at"),
)

# which business calendar a queue's or a department's SLAs are counted in
work_sla_calendar = Table(
    "work_sla_calendar",
    metadata,
    _id("id"),
    _tenant(),
    _id("queue_id", nullable=True),
    _id("department_id", nullable=True),
    _id("calendar_id"),
    PrimaryKeyConstraint("id", "tenant_id"),
    UniqueConstraint("tenant_id", "queue_id", "department_id"),
    _tenant_fk(["queue_id"], "work_queue"),
    _tenant_fk(["department_id"], "work_department"),
    _tenant_fk(["calendar_id"], "business_calendar"),
    CheckConstraint(
        "(queue_id IS NULL) <> (department_id IS NULL)", name="one_target"
    ),
)

# a queue's escalation policy: one row per trigger and level
work_escalation_policy = Table(
    "work_escalation_policy",
    metadata,
    _id("id"),
    _tenant(),
    _id("queue_id"),
    Column("trigger", String(16), nullable=False),
    Column("level", Integer, nullable=False),  # the level this step raises the task to
    Column("action", String(16), nullable=False),
    Column("target", String(32)),
    _id("target_queue_id", nullable=True),
    Column("priority_step", Integer),  # NULL: the service's default step
    Column("repeat_minutes", Integer),  # BREACHED: business minutes to the next level
    Column("max_level", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("id", "tenant_id"),
    UniqueConstraint("tenant_id", "queue_id", "trigger", "level"),
    _tenant_fk(["queue_id"], "work_queue"),
    _tenant_fk(["target_queue_id"], "work_queue"),
    CheckConstraint(_in("trigger", SLA_TRIGGERS), name="trigger"),
    CheckConstraint(_in("action", ESCALATION_ACTIONS), name="action"),
    CheckConstraint("level >= 1 AND max_level >= 1", name="levels"),
)

# the escalation log (seed 000): every escalation, automatic or manual, and its resolution
work_escalation = Table(
    "work_escalation",
    metadata,
    _id("id"),
    _tenant(),
    _id("task_id"),
    _id("instance_id"),
    Column("kind", String(16), nullable=False),
    Column("trigger", String(16), nullable=False),  # AT_RISK, BREACHED, MANUAL
    Column("reason", Text),
    Column("level", Integer, nullable=False),
    Column("from_user", String(255)),
    Column("to_user", String(255)),
    Column("from_queue", String(255)),
    Column("to_queue", String(255)),
    Column("escalated_by", String(255), nullable=False),
    Column("escalated_at", UTCDateTime, nullable=False),
    Column("resolved_by", String(255)),
    Column("resolved_at", UTCDateTime),
    Column("resolution", Text),
    PrimaryKeyConstraint("id", "tenant_id"),
    CheckConstraint(_in("kind", ESCALATION_KINDS), name="kind"),
    Index("ix_work_escalation_task", "task_id", "tenant_id", "escalated_at"),
    Index(
        "ix_work_escalation_open", "tenant_id", "escalated_at",
        postgresql_where=text("resolved_at IS NULL"), sqlite_where=text("resolved_at IS NULL"),
    ),
)

# --- the HTTP API (caseflow.api) -----------------------------------------------------

# keys of machine clients: only a salted SHA-256 of the secret is kept; ``user_id`` is
# whom the key acts as
api_key = Table(
    "api_key",
    metadata,
    _id("id"),
    _tenant(),
    Column("name", String(255), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("salt", String(64), nullable=False),
    Column("secret_hash", String(128), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("last_used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    PrimaryKeyConstraint("id"),
    Index("ix_api_key_tenant_user", "tenant_id", "user_id"),
)

# every state-changing API call, appended, never changed (PostgreSQL: a trigger refuses
# UPDATE and DELETE)
audit_log = Table(
    "audit_log",
    metadata,
    Column(
        "seq",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("tenant_id", String(ID_LENGTH)),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(255)),
    Column("actor_kind", String(16)),
    Column("method", String(16), nullable=False),
    Column("route", String(512), nullable=False),
    Column("path", String(2048), nullable=False),
    Column("target_ids", _json()),
    Column("client_ip", String(64)),
    Column("status", Integer, nullable=False),
    Column("request_id", String(128)),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_actor_at", "actor", "at"),
)

# form-js schemas deployed beside the BPMN (``.form`` resources), by form key and version
form_resource = Table(
    "form_resource",
    metadata,
    _id("id"),
    _tenant(),
    Column("form_key", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    _id("deployment_id"),
    Column("resource_name", String(255), nullable=False),
    Column("content", Text, nullable=False),
    Column("content_hash", String(128), nullable=False),
    Column("deployed_at", UTCDateTime, nullable=False),
    Column("deployed_by", String(255)),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("tenant_id", "form_key", "version"),
    Index("ix_form_resource_deployment", "deployment_id"),
)

# secrets the server keeps per database (the development-token signing key)
server_secret = Table(
    "server_secret",
    metadata,
    Column("name", String(64), nullable=False),
    Column("value", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("name"),
)

WORK_TABLES: tuple[Table, ...] = (
    work_department, work_user, work_queue, work_role, work_grant, work_skill,
    work_user_skill, work_queue_skill, work_queue_assignment, work_routing_rule,
    work_queue_item, work_task_history, work_case, work_task_sla, work_instance_sla,
    work_sla_calendar, work_escalation_policy, work_escalation,
)

RUNTIME_TABLES: tuple[Table, ...] = (
    execution, variable, user_task, external_task, event_subscription, job, incident,
)
ALL_TABLES: tuple[Table, ...] = tuple(metadata.sorted_tables)
