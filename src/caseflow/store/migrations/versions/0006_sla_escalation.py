"""SLA and escalation (caseflow.work.sla, caseflow.work.escalation): task and instance
service levels, the calendars of queues and departments, escalation policies and the
escalation log.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

Written by hand, like 0001: plain SQLAlchemy types, never the live schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.String(64), nullable=nullable)


def _ts(name: str, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _str(name: str, length: int = 255, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.String(length), nullable=nullable)


def _fk(table: str, columns: list[str], target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [*columns, "tenant_id"],
        [f"{target}.id", f"{target}.tenant_id"],
        name=f"fk_{table}_{columns[0]}_{target}",
    )


def _partial(where: str) -> dict[str, Any]:
    return {"postgresql_where": sa.text(where), "sqlite_where": sa.text(where)}


def upgrade() -> None:
    op.create_table(
        "work_task_sla",
        _id("task_id"),
        _id("tenant_id"),
        _id("instance_id"),
        _ts("started_at", nullable=False),
        _ts("due_at", nullable=False),
        _ts("at_risk_at", nullable=False),
        _str("source", 32, nullable=False),
        _str("calendar", nullable=False),
        _ts("ended_at"),
        _ts("breached_at"),
        sa.PrimaryKeyConstraint("task_id", "tenant_id", name="pk_work_task_sla"),
    )
    op.create_index(
        "ix_work_task_sla_instance", "work_task_sla", ["instance_id", "tenant_id"]
    )
    op.create_index("ix_work_task_sla_due", "work_task_sla", ["tenant_id", "due_at"])
    op.create_table(
        "work_instance_sla",
        _id("instance_id"),
        _id("tenant_id"),
        _ts("started_at", nullable=False),
        _ts("due_at", nullable=False),
        _ts("at_risk_at", nullable=False),
        _str("calendar", nullable=False),
        sa.PrimaryKeyConstraint("instance_id", "tenant_id", name="pk_work_instance_sla"),
    )
    op.create_index("ix_work_instance_sla_due", "work_instance_sla", ["tenant_id", "due_at"])
    op.create_table(
        "work_sla_calendar",
        _id("id"),
        _id("tenant_id"),
        _id("queue_id", nullable=True),
        _id("department_id", nullable=True),
        _id("calendar_id"),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_work_sla_calendar"),
        sa.UniqueConstraint(
            "tenant_id", "queue_id", "department_id",
            name="uq_work_sla_calendar_tenant_id_queue_id_department_id",
        ),
        _fk("work_sla_calendar", ["queue_id"], "work_queue"),
        _fk("work_sla_calendar", ["department_id"], "work_department"),
        _fk("work_sla_calendar", ["calendar_id"], "business_calendar"),
        sa.CheckConstraint(
            "(queue_id IS NULL) <> (department_id IS NULL)",
            name="ck_work_sla_calendar_one_target",
        ),
    )
    op.create_table(
        "work_escalation_policy",
        _id("id"),
        _id("tenant_id"),
        _id("queue_id"),
        _str("trigger", 16, nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        _str("action", 16, nullable=False),
        _str("target", 32),
        _id("target_queue_id", nullable=True),
        sa.Column("priority_step", sa.Integer()),
        sa.Column("repeat_minutes", sa.Integer()),
        sa.Column("max_level", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_work_escalation_policy"),
        sa.UniqueConstraint(
            "tenant_id", "queue_id", "trigger", "level",
            name="uq_work_escalation_policy_tenant_id_queue_id_trigger_level",
        ),
        _fk("work_escalation_policy", ["queue_id"], "work_queue"),
        _fk("work_escalation_policy", ["target_queue_id"], "work_queue"),
        sa.CheckConstraint(
            "trigger IN ('AT_RISK', 'BREACHED')", name="ck_work_escalation_policy_trigger"
        ),
        sa.CheckConstraint(
            "action IN ('ADD_CANDIDATES', 'MOVE_TO_QUEUE', 'NONE', 'REASSIGN')",
            name="ck_work_escalation_policy_action",
        ),
        sa.CheckConstraint(
            "level >= 1 AND max_level >= 1", name="ck_work_escalation_policy_levels"
        ),
    )
    op.create_table(
        "work_escalation",
        _id("id"),
        _id("tenant_id"),
        _id("task_id"),
        _id("instance_id"),
        _str("kind", 16, nullable=False),
        _str("trigger", 16, nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("level", sa.Integer(), nullable=False),
        _str("from_user"),
        _str("to_user"),
        _str("from_queue"),
        _str("to_queue"),
        _str("escalated_by", nullable=False),
        _ts("escalated_at", nullable=False),
        _str("resolved_by"),
        _ts("resolved_at"),
        sa.Column("resolution", sa.Text()),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_work_escalation"),
        sa.CheckConstraint("kind IN ('AUTOMATIC', 'MANUAL')", name="ck_work_escalation_kind"),
    )
    op.create_index(
        "ix_work_escalation_task", "work_escalation", ["task_id", "tenant_id", "escalated_at"]
    )
    op.create_index(
        "ix_work_escalation_open", "work_escalation", ["tenant_id", "escalated_at"],
        **_partial("resolved_at IS NULL"),
    )


def downgrade() -> None:
    for table in (
        "work_escalation", "work_escalation_policy", "work_sla_calendar", "work_instance_sla",
        "work_task_sla",
    ):
        op.drop_table(table)
