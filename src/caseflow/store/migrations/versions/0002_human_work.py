"""Human work: organisation, queues, routing rules, the claimable set, task history, cases.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02

Written by hand, like 0001: plain SQLAlchemy types, never the live schema. Besides the
``work_*`` tables it adds the work columns of ``user_task`` (claim, delegation,
escalation, form data) and, on PostgreSQL, storage parameters for the two tables a claim
rewrites: room on each page for a task's successive versions, and autovacuum thresholds
that do not wait for a fifth of a table to die first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USER_TASK_STORAGE = (
    "fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02, "
    "autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_insert_scale_factor = 0.05, "
    "autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 1"
)
USER_TASK_STORAGE_NAMES = (
    "fillfactor", "autovacuum_vacuum_scale_factor", "autovacuum_vacuum_threshold",
    "autovacuum_vacuum_insert_scale_factor", "autovacuum_analyze_scale_factor",
    "autovacuum_vacuum_cost_delay",
)
QUEUE_ITEM_STORAGE = {
    "autovacuum_vacuum_scale_factor": 0,
    "autovacuum_vacuum_threshold": 500,
    "autovacuum_vacuum_insert_scale_factor": 0,
    "autovacuum_vacuum_insert_threshold": 1000,
    "autovacuum_analyze_scale_factor": 0.05,
    "autovacuum_vacuum_cost_delay": 0,
}

TASK_ACTIONS = (
    "'ASSIGN', 'CANCEL', 'CLAIM', 'COMMENT', 'COMPLETE', 'CREATE', 'DELEGATE', 'ESCALATE', "
    "'OVERFLOW', 'REASSIGN', 'RESOLVE', 'UNCLAIM', 'UPDATE'"
)


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


def _bool(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Boolean(), nullable=False)


def _fk(table: str, columns: list[str], target: str, **kw: Any) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [*columns, "tenant_id"],
        [f"{target}.id", f"{target}.tenant_id"],
        name=f"fk_{table}_{columns[0]}_{target}",
        **kw,
    )


def _partial(where: str) -> dict[str, Any]:
    return {"postgresql_where": sa.text(where), "sqlite_where": sa.text(where)}


def upgrade() -> None:
    # --- user_task: the work columns ---
    for column in (
        _ts("claimed_at"),
        _str("claimed_by"),
        _str("owner"),
        sa.Column("task_type", sa.String(32), nullable=False, server_default="USER_TASK"),
        sa.Column("escalation_level", sa.Integer(), nullable=False, server_default=sa.text("0")),
        _ts("escalated_at"),
        _json("task_data"),
        _json("form_data"),
        sa.Column("outcome_reason", sa.Text()),
    ):
        op.add_column("user_task", column)
    op.create_index(
        "ix_user_task_owner", "user_task", ["owner", "tenant_id"],
        **_partial("owner IS NOT NULL"),
    )
    op.create_index(
        "ix_user_task_case", "user_task", ["case_id", "tenant_id"],
        **_partial("case_id IS NOT NULL"),
    )
    op.create_index(
        "ix_user_task_business_key", "user_task", ["business_key", "tenant_id"],
        **_partial("business_key IS NOT NULL"),
    )
    op.create_index(
        "ix_user_task_claimable",
        "user_task",
        ["tenant_id", sa.literal_column("priority DESC"), "created_at", "id", "queue"],
        **_partial("assignee IS NULL AND status IN ('ESCALATED', 'OPEN')"),
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE user_task SET ({USER_TASK_STORAGE})")

    # --- organisation ---
    op.create_table(
        "work_department",
        _id("id"),
        _id("tenant_id"),
        _str("code", 64, nullable=False),
        _str("name", nullable=False),
        _id("parent_id", nullable=True),
        sa.Column("description", sa.Text()),
        _bool("active"),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_work_department"),
        sa.UniqueConstraint("tenant_id", "code", name="uq_work_department_tenant_id_code"),
        _fk("work_department", ["parent_id"], "work_department"),
    )
    op.create_table(
        "work_user",
        _str("id", nullable=False),
        _id("tenant_id"),
        _str("name", nullable=False),
        _str("email"),
        _id("department_id", nullable=True),
        sa.Column("experience_level", sa.Integer(), nullable=False),
        _bool("active"),
        _ts("created_at", nullable=False),
        _ts("deactivated_at"),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_work_user"),
        _fk("work_user", ["department_id"], "work_department"),
        sa.CheckConstraint(
            "experience_level BETWEEN 1 AND 4", name="ck_work_user_experience_level"
        ),
    )
    op.create_table(
        "work_queue",
        _id("id"),
        _id("tenant_id"),
        _str("name", nullable=False),
        _str("type", 16, nullable=False),
        _id("department_id", nullable=True),
        sa.Column("description", sa.Text()),
        sa.Column("max_capacity", sa.Integer()),
        sa.Column("sla_minutes", sa.Integer()),
        _json("priority_weights"),
        _id("overflow_queue_id", nullable=True),
        sa.Column("min_experience", sa.Integer()),
        _bool("active"),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_work_queue"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_work_queue_tenant_id_name"),
        _fk("work_queue", ["department_id"], "work_department"),
        _fk("work_queue", ["overflow_queue_id"], "work_queue"),
        sa.CheckConstraint(
            "type IN ('OVERFLOW', 'PRIORITY', 'SPECIALIZED', 'STANDARD')", name="ck_work_queue_type"
        ),
    )
    op.create_table(
        "work_role",
        _id("id"),
        _id("tenant_id"),
        _str("code", nullable=False),
        _str("name", nullable=False),
        _str("type", 16, nullable=False),
        _id("department_id", nullable=True),
        _id("queue_id", nullable=True),
        _bool("can_manage"),
        sa.Column("description", sa.Text()),
        _bool("active"),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_work_role"),
        sa.UniqueConstraint("tenant_id", "code", name="uq_work_role_tenant_id_code"),
        _fk("work_role", ["department_id"], "work_department"),
        _fk("work_role", ["queue_id"], "work_queue"),
        sa.CheckConstraint(
            "type IN ('CUSTOM', 'DEPARTMENT', 'SYSTEM')", name="ck_work_role_type"
        ),
    )
    op.create_table(
        "work_grant",
        _id("id"),
        _id("tenant_id"),
        _str("user_id", nullable=False),
        _id("role_id"),
        _str("granted_by", nullable=False),
        _ts("granted_at", nullable=False),
        _ts("valid_from", nullable=False),
        _ts("valid_until"),
        _bool("is_primary"),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_work_grant"),
        sa.ForeignKeyConstraint(
            ["user_id", "tenant_id"], ["work_user.id", "work_user.tenant_id"],
            name="fk_work_grant_user_id_work_user",
        ),
        _fk("work_grant", ["role_id"], "work_role"),
    )
    op.create_index(
        "ix_work_grant_user",
        "work_grant",
        ["user_id", "tenant_id", "role_id", "valid_from", "valid_until"],
    )
    op.create_index("ix_work_grant_role", "work_grant", ["role_id", "tenant_id"])

    # --- skills ---
    op.create_table(
        "work_skill",
        _id("id"),
        _id("tenant_id"),
        _str("code", 64, nullable=False),
        _str("name", nullable=False),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_work_skill"),
        sa.UniqueConstraint("tenant_id", "code", name="uq_work_skill_tenant_id_code"),
    )
    op.create_table(
        "work_user_skill",
        _str("user_id", nullable=False),
        _id("tenant_id"),
        _id("skill_id"),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "tenant_id", "skill_id", name="pk_work_user_skill"),
        sa.ForeignKeyConstraint(
            ["user_id", "tenant_id"], ["work_user.id", "work_user.tenant_id"],
            name="fk_work_user_skill_user_id_work_user", ondelete="CASCADE",
        ),
        _fk("work_user_skill", ["skill_id"], "work_skill"),
        sa.CheckConstraint("level BETWEEN 1 AND 5", name="ck_work_user_skill_level"),
    )
    op.create_table(
        "work_queue_skill",
        _id("queue_id"),
        _id("tenant_id"),
        _id("skill_id"),
        sa.Column("min_level", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("queue_id", "tenant_id", "skill_id", name="pk_work_queue_skill"),
        _fk("work_queue_skill", ["queue_id"], "work_queue", ondelete="CASCADE"),
        _fk("work_queue_skill", ["skill_id"], "work_skill"),
        sa.CheckConstraint("min_level BETWEEN 1 AND 5", name="ck_work_queue_skill_min_level"),
    )

    # --- queues: who works them, how tasks get there ---
    op.create_table(
        "work_queue_assignment",
        _id("id"),
        _id("tenant_id"),
        _id("queue_id"),
        _id("role_id"),
        _str("strategy", 32, nullable=False),
        _bool("auto_assign"),
        sa.Column("max_tasks_per_user", sa.Integer(), nullable=False),
        sa.Column("priority_level", sa.Integer(), nullable=False),
        _bool("active"),
        _str("last_assigned_user"),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_work_queue_assignment"),
        sa.UniqueConstraint(
            "tenant_id", "queue_id", "role_id",
            name="uq_work_queue_assignment_tenant_id_queue_id_role_id",
        ),
        _fk("work_queue_assignment", ["queue_id"], "work_queue"),
        _fk("work_queue_assignment", ["role_id"], "work_role"),
        sa.CheckConstraint(
            "strategy IN ('LEAST_LOADED', 'PRIORITY_WEIGHTED', 'ROUND_ROBIN', 'SKILL_BASED')",
            name="ck_work_queue_assignment_strategy",
        ),
    )
    op.create_index(
        "ix_work_queue_assignment_role",
        "work_queue_assignment",
        ["role_id", "tenant_id", "queue_id"],
    )
    op.create_table(
        "work_routing_rule",
        _id("id"),
        _id("tenant_id"),
        _str("name", nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _str("process_key"),
        _str("element_id"),
        sa.Column("condition", sa.Text()),
        _id("queue_id"),
        sa.Column("priority", sa.Integer()),
        _bool("active"),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_work_routing_rule"),
        _fk("work_routing_rule", ["queue_id"], "work_queue"),
    )
    op.create_index(
        "ix_work_routing_rule_order", "work_routing_rule", ["tenant_id", "position"]
    )

    # --- the claimable set ---
    op.create_table(
        "work_queue_item",
        _id("task_id"),
        _id("tenant_id"),
        _str("queue", nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("task_id", "tenant_id", name="pk_work_queue_item"),
        postgresql_with=QUEUE_ITEM_STORAGE,
    )
    op.create_index(
        "ix_work_queue_item_next",
        "work_queue_item",
        [
            "tenant_id", sa.literal_column("priority DESC"), "created_at", "task_id", "queue",
        ],
    )
    op.create_index(
        "ix_work_queue_item_queue",
        "work_queue_item",
        [
            "tenant_id", "queue", sa.literal_column("priority DESC"), "created_at", "task_id",
        ],
    )

    # --- history and cases ---
    op.create_table(
        "work_task_history",
        _id("id"),
        _id("tenant_id"),
        _id("task_id"),
        _id("instance_id"),
        _str("action", 16, nullable=False),
        _str("action_by", nullable=False),
        _ts("action_at", nullable=False),
        _str("old_status", 16),
        _str("new_status", 16),
        _str("old_assignee"),
        _str("new_assignee"),
        _str("queue"),
        sa.Column("comment", sa.Text()),
        _json("data"),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_work_task_history"),
        sa.CheckConstraint(f"action IN ({TASK_ACTIONS})", name="ck_work_task_history_action"),
    )
    op.create_index(
        "ix_work_task_history_task",
        "work_task_history",
        ["task_id", "tenant_id", "action_at", "id"],
    )
    op.create_index(
        "ix_work_task_history_instance", "work_task_history", ["instance_id", "tenant_id"]
    )
    op.create_index(
        "ix_work_task_history_actor",
        "work_task_history",
        ["action_by", "tenant_id", "action_at"],
    )
    op.create_table(
        "work_case",
        _id("id"),
        _id("tenant_id"),
        _str("case_id", nullable=False),
        _id("instance_id"),
        _str("process_key", nullable=False),
        _str("business_key"),
        _str("initiated_by"),
        _ts("initiated_at", nullable=False),
        _id("current_department_id", nullable=True),
        _id("previous_department_id", nullable=True),
        _str("current_queue"),
        _ts("updated_at", nullable=False),
        _json("routing_history", nullable=False),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_work_case"),
        sa.UniqueConstraint(
            "tenant_id", "case_id", "instance_id",
            name="uq_work_case_tenant_id_case_id_instance_id",
        ),
    )
    op.create_index("ix_work_case_instance", "work_case", ["instance_id", "tenant_id"])
    op.create_index(
        "ix_work_case_department", "work_case", ["current_department_id", "tenant_id"]
    )


def downgrade() -> None:
    for table in (
        "work_case",
        "work_task_history",
        "work_queue_item",
        "work_routing_rule",
        "work_queue_assignment",
        "work_queue_skill",
        "work_user_skill",
        "work_skill",
        "work_grant",
        "work_role",
        "work_queue",
        "work_user",
        "work_department",
    ):
        op.drop_table(table)
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE user_task RESET ({', '.join(USER_TASK_STORAGE_NAMES)})")
    for index in (
        "ix_user_task_claimable", "ix_user_task_business_key", "ix_user_task_case",
        "ix_user_task_owner",
    ):
        op.drop_index(index, table_name="user_task")
    for column in (
        "outcome_reason", "form_data", "task_data", "escalated_at", "escalation_level",
        "task_type", "owner", "claimed_by", "claimed_at",
    ):
        op.drop_column("user_task", column)
