"""Row-level security on the case data around tasks (PostgreSQL): instances, their
variables and the escalation log, by the rule of 0008.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23

0008 walls off the task tables; a restricted role could still read every case's process
variables (the case data itself), instances and escalation reasons. Here a role other than
the owner sees a ``process_instance`` row, its ``variable`` rows, and a ``work_escalation``
row, only when the user named by ``caseflow.user_id`` may work a task of that instance now
(``caseflow_rls_task_visible``). Only SELECT has a policy; the owner is not subject to it.

Nothing on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = {
    "process_instance": "caseflow_rls_instance_visible(id, tenant_id)",
    "variable": "caseflow_rls_instance_visible(instance_id, tenant_id)",
    "work_escalation": "caseflow_rls_task_id_visible(task_id, tenant_id)",
}

_FUNCTION = """
CREATE FUNCTION caseflow_rls_instance_visible(p_instance text, p_tenant text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp
AS $$
  SELECT EXISTS (
    SELECT 1 FROM user_task t
    WHERE t.instance_id = p_instance AND t.tenant_id = p_tenant
      AND caseflow_rls_task_visible(t.id, t.tenant_id, t.queue)
  )
$$;
"""


def _quoted_schema() -> str:
    schema = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar()
    return '"' + str(schema).replace('"', '""') + '"'


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION.format(schema=_quoted_schema()))
    for table, rule in TABLES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY caseflow_case_read ON {table} FOR SELECT USING ({rule})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP POLICY IF EXISTS caseflow_case_read ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION IF EXISTS caseflow_rls_instance_visible(text, text)")
