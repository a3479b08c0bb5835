"""The HTTP API (caseflow.api): API keys, the append-only audit log, deployed forms,
server secrets.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23

Written by hand, like 0001: plain SQLAlchemy types, never the live schema. On PostgreSQL a
trigger makes ``audit_log`` append-only: UPDATE and DELETE raise.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(128), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("last_used_at", _TS),
        sa.Column("revoked_at", _TS),
        sa.PrimaryKeyConstraint("id", name="pk_api_key"),
    )
    op.create_index("ix_api_key_tenant_user", "api_key", ["tenant_id", "user_id"])
    op.create_table(
        "audit_log",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("tenant_id", sa.String(64)),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(255)),
        sa.Column("actor_kind", sa.String(16)),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("route", sa.String(512), nullable=False),
        sa.Column("path", sa.String(2048), nullable=False),
        sa.Column(
            "target_ids",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True), "postgresql"
            ),
        ),
        sa.Column("client_ip", sa.String(64)),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(128)),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor_at", "audit_log", ["actor", "at"])
    op.create_table(
        "form_resource",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("form_key", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.String(64), nullable=False),
        sa.Column("resource_name", sa.String(255), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(128), nullable=False),
        sa.Column("deployed_at", _TS, nullable=False),
        sa.Column("deployed_by", sa.String(255)),
        sa.PrimaryKeyConstraint("id", name="pk_form_resource"),
        sa.UniqueConstraint(
            "tenant_id", "form_key", "version", name="uq_form_resource_tenant_id_form_key_version"
        ),
    )
    op.create_index("ix_form_resource_deployment", "form_resource", ["deployment_id"])
    op.create_table(
        "server_secret",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_server_secret"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION caseflow_audit_log_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION caseflow_audit_log_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS caseflow_audit_log_append_only()")
    op.drop_table("server_secret")
    op.drop_table("form_resource")
    op.drop_table("audit_log")
    op.drop_table("api_key")
