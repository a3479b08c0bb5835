"""Business calendars and their overrides (caseflow.time).

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03

Written by hand, like 0001: plain SQLAlchemy types, never the live schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.String(64), nullable=nullable)


def _ts(name: str, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _json(name: str, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(
        name,
        sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql"),
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "business_calendar",
        _id("id"),
        _id("tenant_id"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("zone", sa.String(64), nullable=False),
        _json("weekly_hours", nullable=False),
        _json("makeup_hours"),
        sa.Column("holiday_country", sa.String(8)),
        sa.Column("holiday_subdivision", sa.String(16)),
        sa.Column("description", sa.Text()),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_business_calendar"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_business_calendar_tenant_id_name"),
    )
    op.create_table(
        "calendar_override",
        _id("id"),
        _id("tenant_id"),
        _id("calendar_id"),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _json("hours"),
        sa.Column("reason", sa.Text()),
        _ts("created_at", nullable=False),
        sa.Column("created_by", sa.String(255)),
        sa.PrimaryKeyConstraint("id", "tenant_id", name="pk_calendar_override"),
        sa.ForeignKeyConstraint(
            ["calendar_id", "tenant_id"],
            ["business_calendar.id", "business_calendar.tenant_id"],
            name="fk_calendar_override_calendar_id_business_calendar",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "calendar_id", "tenant_id", "day", name="uq_calendar_override_calendar_id_tenant_id_day"
        ),
        sa.CheckConstraint(
            "kind IN ('HOLIDAY', 'WORKING_DAY')", name="ck_calendar_override_kind"
        ),
    )


def downgrade() -> None:
    op.drop_table("calendar_override")
    op.drop_table("business_calendar")
