"""The transactional outbox (caseflow.events): events written with the change they report.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Written by hand, like 0001: plain SQLAlchemy types, never the live schema.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_event",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "payload",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("instance_id", sa.String(64)),
        sa.Column("task_id", sa.String(64)),
        sa.PrimaryKeyConstraint("seq", name="pk_outbox_event"),
        sa.UniqueConstraint("id", name="uq_outbox_event_id"),
    )
    op.create_index("ix_outbox_event_instance", "outbox_event", ["instance_id", "seq"])


def downgrade() -> None:
    op.drop_table("outbox_event")
