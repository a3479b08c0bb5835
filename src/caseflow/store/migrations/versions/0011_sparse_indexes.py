"""Indexes on columns most rows leave empty hold only the rows that have a value.

An instance's parent, business key and case, and a task's assignee, are looked up by
value, never as "is empty" (unassigned tasks have ix_user_task_claimable). A full index
on such a column takes an entry for every row and, since an instance's row is updated by
most commands, a new entry on every update that cannot stay on its page: one
``WHERE column IS NOT NULL`` indexes only the rows that can be found through it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23

Written by hand, like 0001: plain SQLAlchemy types, never the live schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, table, columns, the column that is often empty)
_SPARSE = (
    ("ix_process_instance_business_key", "process_instance", ["business_key", "tenant_id"],
     "business_key"),
    ("ix_process_instance_case_id", "process_instance", ["case_id", "tenant_id"], "case_id"),
    ("ix_process_instance_parent", "process_instance", ["parent_instance_id"],
     "parent_instance_id"),
    ("ix_user_task_assignee", "user_task", ["assignee", "status", "tenant_id"], "assignee"),
)


def _partial(where: str) -> dict[str, Any]:
    return {"postgresql_where": sa.text(where), "sqlite_where": sa.text(where)}


def upgrade() -> None:
    for name, table, columns, column in _SPARSE:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, **_partial(f"{column} IS NOT NULL"))


def downgrade() -> None:
    for name, table, columns, _ in _SPARSE:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
