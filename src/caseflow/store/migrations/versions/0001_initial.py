"""The initial schema: definitions, runtime rows, history, idempotency log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand. Types are plain SQLAlchemy types (the Python-side ``UTCDateTime``
decorator makes no DDL of its own), so this file never imports the live schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOT = {"fillfactor": 80}  # rows updated in place: room for HOT updates
OPEN_TASK = "status IN ('CLAIMED', 'DELEGATED', 'ESCALATED', 'OPEN')"


def _id(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.String(64), nullable=nullable)


def _ts(name: str, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _str(name: str, length: int = 255, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.String(length), nullable=nullable)


def _json(name: str, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(
        name,
        sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql"),
        nullable=nullable,
    )


def _partial(where: str) -> dict[str, Any]:
    return {"postgresql_where": sa.text(where), "sqlite_where": sa.text(where)}


def _instance_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["instance_id", "tenant_id"],
        ["process_instance.id", "process_instance.tenant_id"],
        name=f"fk_{table}_instance_id_process_instance",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    # --- definitions ---
    op.create_table(
        "deployment",
        _id("id"),
        _id("tenant_id"),
        _str("name", nullable=False),
        _str("resource_name", nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        _str("content_hash", 128, nullable=False),
        _ts("deployed_at", nullable=False),
        _str("deployed_by"),
        sa.PrimaryKeyConstraint("id", name="pk_deployment"),
    )
    op.create_index("ix_deployment_tenant_deployed_at", "deployment", ["tenant_id", "deployed_at"])

    op.create_table(
        "process_definition",
        _id("id"),
        _id("tenant_id"),
        _str("key", nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _id("deployment_id"),
        _str("content_hash", 128, nullable=False),
        _ts("deployed_at", nullable=False),
        sa.Column("name", sa.Text()),
        _str("resource_name"),
        _str("version_tag"),
        _str("category"),
        _str("procedure_code"),
        sa.Column("sla_target_hours", sa.Float()),
        _str("status", 16, nullable=False),
        _str("deployed_by"),
        sa.PrimaryKeyConstraint("id", name="pk_process_definition"),
        sa.UniqueConstraint(
            "tenant_id", "key", "version", name="uq_process_definition_tenant_id_key_version"
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"], ["deployment.id"],
            name="fk_process_definition_deployment_id_deployment",
        ),
        sa.CheckConstraint(
            "status IN ('Deployed', 'Deprecated', 'Draft', 'Testing')",
            name="ck_process_definition_status",
        ),
    )
    op.create_index("ix_process_definition_deployment_id", "process_definition", ["deployment_id"])

    # --- runtime ---
    op.create_table(
        "process_instance",
        _id("id"),
        _id("tenant_id"),
        _id("definition_id"),
        _str("process_key", nullable=False),
        _str("status", 16, nullable=False),
        _ts("started_at", nullable=False),
        _str("business_key"),
        _str("case_id"),
        _str("started_by"),
        _id("parent_instance_id", nullable=True),
        _id("parent_execution_id", nullable=True),
        _id("root_instance_id", nullable=True),
        _ts("ended_at"),
        sa.Column("end_reason", sa.Text()),
        _ts("suspended_at"),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_process_instance"),
        sa.ForeignKeyConstraint(
            ["definition_id"], ["process_definition.id"],
            name="fk_process_instance_definition_id_process_definition",
        ),
        sa.CheckConstraint(
            "status IN ('ACTIVE', 'COMPLETED', 'ERROR', 'SUSPENDED', 'TERMINATED')",
            name="ck_process_instance_status",
        ),
        postgresql_with=HOT,
    )
    op.create_index("ix_process_instance_definition_id", "process_instance", ["definition_id"])
    op.create_index(
        "ix_process_instance_key_status",
        "process_instance",
        ["process_key", "status", "tenant_id"],
    )
    op.create_index(
        "ix_process_instance_business_key", "process_instance", ["business_key", "tenant_id"]
    )
    op.create_index("ix_process_instance_case_id", "process_instance", ["case_id", "tenant_id"])
    op.create_index("ix_process_instance_parent", "process_instance", ["parent_instance_id"])

    op.create_table(
        "execution",
        _id("id"),
        _id("tenant_id"),
        _id("instance_id"),
        _str("element_id", nullable=False),
        _str("state", 16, nullable=False),
        _ts("created_at", nullable=False),
        _id("parent_id", nullable=True),
        _str("arrived_via"),
        sa.Column("is_mi_body", sa.Boolean(), nullable=False),
        sa.Column("loop_counter", sa.Integer()),
        _id("history_id", nullable=True),
        _id("called_instance_id", nullable=True),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_execution"),
        _instance_fk("execution"),
        sa.CheckConstraint(
            "state IN ('joining', 'scope', 'waiting')", name="ck_execution_state"
        ),
        postgresql_with=HOT,
    )
    op.create_index("ix_execution_instance", "execution", ["instance_id", "tenant_id"])

    op.create_table(
        "variable",
        _id("id"),
        _id("tenant_id"),
        _id("instance_id"),
        _id("scope_id", nullable=True),
        _str("name", nullable=False),
        _str("type", 16, nullable=False),
        sa.Column("text_value", sa.Text()),
        sa.Column("long_text", sa.Text()),
        sa.Column("long_value", sa.BigInteger()),
        sa.Column("double_value", sa.Float()),
        _ts("time_value"),
        _json("json_value"),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_variable"),
        _instance_fk("variable"),
        sa.CheckConstraint(
            "type IN ('boolean', 'date', 'datetime', 'decimal', 'float', 'integer', 'json', "
            "'null', 'string')",
            name="ck_variable_type",
        ),
    )
    op.create_index("ix_variable_instance", "variable", ["instance_id", "tenant_id"])
    for column, name in (
        ("text_value", "ix_variable_text"),
        ("long_value", "ix_variable_long"),
        ("double_value", "ix_variable_double"),
        ("time_value", "ix_variable_time"),
    ):
        op.create_index(
            name, "variable", ["name", column, "tenant_id"], **_partial(f"{column} IS NOT NULL")
        )

    op.create_table(
        "user_task",
        _id("id"),
        _id("tenant_id"),
        _id("instance_id"),
        _id("execution_id"),
        _str("element_id", nullable=False),
        _str("process_key", nullable=False),
        _id("definition_id"),
        sa.Column("name", sa.Text()),
        _str("status", 16, nullable=False),
        _ts("created_at", nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        _str("assignee"),
        _str("form_key"),
        _str("queue"),
        _ts("due_at"),
        _ts("follow_up_at"),
        _str("business_key"),
        _str("case_id"),
        _ts("completed_at"),
        _str("completed_by"),
        _str("outcome"),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_user_task"),
        _instance_fk("user_task"),
        sa.CheckConstraint(
            "status IN ('CANCELLED', 'CLAIMED', 'COMPLETED', 'DELEGATED', 'ESCALATED', 'OPEN')",
            name="ck_user_task_status",
        ),
    )
    op.create_index("ix_user_task_instance", "user_task", ["instance_id", "tenant_id"])
    op.create_index(
        "ix_user_task_status_priority",
        "user_task",
        ["status", sa.literal_column("priority DESC"), "created_at", "tenant_id"],
    )
    op.create_index("ix_user_task_assignee", "user_task", ["assignee", "status", "tenant_id"])
    op.create_index(
        "ix_user_task_queue_open",
        "user_task",
        ["queue", sa.literal_column("priority DESC"), "created_at", "tenant_id"],
        **_partial(OPEN_TASK),
    )
    op.create_index(
        "ix_user_task_due_open",
        "user_task",
        ["due_at", "tenant_id"],
        **_partial(f"due_at IS NOT NULL AND {OPEN_TASK}"),
    )

    op.create_table(
        "task_candidate",
        _id("task_id"),
        _id("tenant_id"),
        _str("kind", 8, nullable=False),
        _str("value", nullable=False),
        sa.PrimaryKeyConstraint("task_id", "tenant_id", "kind", "value", name="pk_task_candidate"),
        sa.ForeignKeyConstraint(
            ["task_id", "tenant_id"],
            ["user_task.id", "user_task.tenant_id"],
            name="fk_task_candidate_task_id_user_task",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("kind IN ('group', 'user')", name="ck_task_candidate_kind"),
    )
    op.create_index(
        "ix_task_candidate_lookup", "task_candidate", ["kind", "value", "tenant_id", "task_id"]
    )

    op.create_table(
        "external_task",
        _id("id"),
        _id("tenant_id"),
        _id("instance_id"),
        _id("execution_id"),
        _str("element_id", nullable=False),
        _str("process_key", nullable=False),
        _id("definition_id"),
        _str("topic", nullable=False),
        _ts("created_at", nullable=False),
        sa.Column("retries", sa.Integer()),
        sa.Column("priority", sa.Integer(), nullable=False),
        _str("lock_owner"),
        _ts("lock_expires_at"),
        sa.Column("error_message", sa.Text()),
        sa.Column("error_details", sa.Text()),
        _str("business_key"),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_external_task"),
        _instance_fk("external_task"),
        postgresql_with=HOT,
    )
    op.create_index("ix_external_task_instance", "external_task", ["instance_id", "tenant_id"])
    op.create_index(
        "ix_external_task_fetch",
        "external_task",
        ["topic", sa.literal_column("priority DESC"), "created_at", "tenant_id"],
        postgresql_where=sa.text("NOT suspended"),
        sqlite_where=sa.text("suspended = 0"),
    )

    op.create_table(
        "event_subscription",
        _id("id"),
        _id("tenant_id"),
        _id("instance_id"),
        _id("execution_id"),
        _str("element_id", nullable=False),
        _str("kind", 32, nullable=False),
        _str("event_name", nullable=False),
        _ts("created_at", nullable=False),
        _str("correlation_key"),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_event_subscription"),
        _instance_fk("event_subscription"),
    )
    op.create_index(
        "ix_event_subscription_instance", "event_subscription", ["instance_id", "tenant_id"]
    )
    op.create_index(
        "ix_event_subscription_event",
        "event_subscription",
        ["tenant_id", "kind", "event_name", "correlation_key"],
    )

    op.create_table(
        "job",
        _id("id"),
        _id("tenant_id"),
        _str("kind", 32, nullable=False),
        _ts("due_at", nullable=False),
        _ts("created_at", nullable=False),
        _id("instance_id", nullable=True),
        _id("execution_id", nullable=True),
        _str("element_id"),
        _id("definition_id", nullable=True),
        _json("payload", nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        _str("lock_owner"),
        _ts("lock_expires_at"),
        sa.Column("error_message", sa.Text()),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_job"),
        _instance_fk("job"),
        postgresql_with=HOT,
    )
    op.create_index("ix_job_instance", "job", ["instance_id", "tenant_id"])
    op.create_index("ix_job_due", "job", ["due_at", "tenant_id"])

    op.create_table(
        "incident",
        _id("id"),
        _id("tenant_id"),
        _id("instance_id"),
        _str("kind", 64, nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        _ts("created_at", nullable=False),
        _id("execution_id", nullable=True),
        _str("element_id"),
        _id("external_task_id", nullable=True),
        _id("job_id", nullable=True),
        _ts("resolved_at"),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_incident"),
        _instance_fk("incident"),
    )
    op.create_index("ix_incident_instance", "incident", ["instance_id", "tenant_id"])
    op.create_index(
        "ix_incident_open", "incident", ["created_at", "tenant_id"],
        **_partial("resolved_at IS NULL"),
    )

    # --- history and idempotency ---
    op.create_table(
        "activity_history",
        _id("id"),
        _id("tenant_id"),
        _id("instance_id"),
        _id("execution_id"),
        _str("element_id", nullable=False),
        _str("element_type", 64, nullable=False),
        _ts("started_at", nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("element_name", sa.Text()),
        _ts("ended_at"),
        _str("outcome", 16),
        _id("called_instance_id", nullable=True),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_activity_history"),
        postgresql_with=HOT,
    )
    op.create_index(
        "ix_activity_history_instance",
        "activity_history",
        ["instance_id", "tenant_id", "started_at", "seq"],
    )

    op.create_table(
        "command_log",
        _id("tenant_id"),
        _str("key", nullable=False),
        _str("command", 64, nullable=False),
        _json("result", nullable=False),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key", name="pk_command_log"),
    )
    op.create_index("ix_command_log_created_at", "command_log", ["created_at"])


def downgrade() -> None:
    for table in (
        "command_log",
        "activity_history",
        "incident",
        "job",
        "event_subscription",
        "external_task",
        "task_candidate",
        "user_task",
        "variable",
        "execution",
        "process_instance",
        "process_definition",
        "deployment",
    ):
        op.drop_table(table)
