"""Buffered messages: a message published with a time to live that no receiver waited for
is kept until it expires, for a receiver that subscribes later.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23

Written by hand, like 0001: plain SQLAlchemy types, never the live schema.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "buffered_message",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("business_key", sa.String(255)),
        sa.Column("correlation_key", sa.String(255)),
        sa.Column(
            "variables",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("published_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_buffered_message"),
    )
    op.create_index(
        "ix_buffered_message_name", "buffered_message", ["tenant_id", "name", "published_at"]
    )
    op.create_index(
        "ix_buffered_message_expires_at", "buffered_message", ["tenant_id", "expires_at"]
    )


def downgrade() -> None:
    op.drop_table("buffered_message")
