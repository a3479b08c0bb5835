"""Event delivery (caseflow.events): the outbox's commit order, consumers, webhooks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

Written by hand, like 0001: plain SQLAlchemy types, never the live schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.String(64), nullable=nullable)


def _ts(name: str, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _seq() -> sa.Column[Any]:
    return sa.Column(
        "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
        autoincrement=True,
    )


def upgrade() -> None:
    op.add_column("outbox_event", sa.Column("xid", sa.BigInteger()))
    if op.get_bind().dialect.name == "postgresql":
        # every writer gets it, whatever statement it uses (caseflow's own sets it too)
        op.execute(
            "ALTER TABLE outbox_event ALTER COLUMN xid SET DEFAULT"
            " (pg_current_xact_id()::text::bigint)"
        )
    op.create_index("ix_outbox_event_position", "outbox_event", ["xid", "seq"])
    op.create_table(
        "event_consumer",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("position_xid", sa.BigInteger(), nullable=False),
        sa.Column("position_seq", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(128)),
        _ts("lease_expires_at"),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_event_consumer"),
    )
    op.create_table(
        "webhook",
        _id("id"),
        sa.Column("tenant_id", sa.String(64)),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("secret", sa.String(255), nullable=False),
        sa.Column(
            "event_types",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True), "postgresql"
            ),
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text()),
        _ts("created_at", nullable=False),
        sa.Column("created_by", sa.String(64)),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook"),
    )
    op.create_table(
        "webhook_delivery",
        _seq(),
        _id("webhook_id"),
        _id("event_id"),
        sa.Column("event_type", sa.String(64), nullable=False),
        _id("instance_id", nullable=True),
        sa.Column("ordering_key", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at", nullable=False),
        sa.Column("lease_owner", sa.String(128)),
        _ts("lease_expires_at"),
        sa.Column("last_status_code", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        _ts("created_at", nullable=False),
        _ts("delivered_at"),
        sa.PrimaryKeyConstraint("seq", name="pk_webhook_delivery"),
        sa.ForeignKeyConstraint(
            ["webhook_id"], ["webhook.id"], ondelete="CASCADE",
            name="fk_webhook_delivery_webhook_id_webhook",
        ),
        sa.CheckConstraint(
            "status IN ('DEAD', 'DELIVERED', 'PENDING')", name="ck_webhook_delivery_status"
        ),
    )
    op.create_index(
        "ix_webhook_delivery_order", "webhook_delivery", ["webhook_id", "ordering_key", "seq"]
    )
    op.create_index("ix_webhook_delivery_due", "webhook_delivery", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("webhook_delivery")
    op.drop_table("webhook")
    op.drop_table("event_consumer")
    op.drop_index("ix_outbox_event_position", table_name="outbox_event")
    with op.batch_alter_table("outbox_event") as batch:
        batch.drop_column("xid")
