"""The outbox loses its index by instance: no reader looks events up that way.

Readers follow the log in commit order (``ix_outbox_event_position``) or find one event
by id; ``GET /events?instanceId=`` narrows the stream as it reads it. The index took an
entry for every event written, three or four per completed task.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23

Written by hand, like 0001: plain SQLAlchemy types, never the live schema.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_outbox_event_instance", table_name="outbox_event")


def downgrade() -> None:
    op.create_index("ix_outbox_event_instance", "outbox_event", ["instance_id", "seq"])
