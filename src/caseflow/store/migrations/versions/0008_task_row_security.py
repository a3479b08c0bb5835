"""Row-level security on the task tables (PostgreSQL): a second wall behind the API.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23

A database role other than the tables' owner (a reporting tool, a support login, a
service talking SQL directly) sees, in ``user_task``, ``task_candidate``,
``work_queue_item`` and ``work_task_history``, only the rows of tasks the user named by
the session setting ``caseflow.user_id`` may work now, by the rule WorkService applies
(``works``): in a queue a valid grant of theirs covers (a role bound or assigned to the
queue), or naming them or one of their validly held roles' codes as candidates; the user
and the role active, the grant valid at ``now()``. Being the assignee is not enough: when
the grant ends, so does the access, as in the API. Without
the setting, such a role sees nothing; it can write nothing (only SELECT has a policy).
The tenant is ``caseflow.tenant_id`` (default ``default``).

The owner (what caseflow itself connects as) is not subject to the policies (no FORCE),
nor is a superuser or a role with BYPASSRLS. The grant rule runs in SECURITY DEFINER
functions with a fixed search_path, so the restricted role needs no privilege on the
organisation tables, and the policies do not recurse into each other.

Nothing on SQLite (no row-level security there; the API is the only wall).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("user_task", "task_candidate", "work_queue_item", "work_task_history")

_SETTINGS = """
CREATE FUNCTION caseflow_rls_user() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT NULLIF(current_setting('caseflow.user_id', true), '') $$;

CREATE FUNCTION caseflow_rls_tenant() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT COALESCE(NULLIF(current_setting('caseflow.tenant_id', true), ''), 'default') $$;
"""

# the user's valid grants now: the roles (their codes) and the queues they cover
_GRANTS = """
CREATE FUNCTION caseflow_rls_roles() RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp
AS $$
  SELECT COALESCE(array_agg(DISTINCT r.code), '{{}}')
  FROM work_grant g
  JOIN work_role r ON r.id = g.role_id AND r.tenant_id = g.tenant_id
  JOIN work_user u ON u.id = g.user_id AND u.tenant_id = g.tenant_id
  WHERE g.user_id = caseflow_rls_user() AND g.tenant_id = caseflow_rls_tenant()
    AND g.valid_from <= now() AND (g.valid_until IS NULL OR g.valid_until > now())
    AND r.active AND u.active
$$;

CREATE FUNCTION caseflow_rls_queues() RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp
AS $$
  SELECT COALESCE(array_agg(DISTINCT q.name), '{{}}')
  FROM work_grant g
  JOIN work_role r ON r.id = g.role_id AND r.tenant_id = g.tenant_id
  JOIN work_user u ON u.id = g.user_id AND u.tenant_id = g.tenant_id
  JOIN work_queue q ON q.tenant_id = r.tenant_id AND q.active AND (
    q.id = r.queue_id
    OR EXISTS (SELECT 1 FROM work_queue_assignment a
               WHERE a.role_id = r.id AND a.queue_id = q.id AND a.tenant_id = r.tenant_id
                 AND a.active))
  WHERE g.user_id = caseflow_rls_user() AND g.tenant_id = caseflow_rls_tenant()
    AND g.valid_from <= now() AND (g.valid_until IS NULL OR g.valid_until > now())
    AND r.active AND u.active
$$;

CREATE FUNCTION caseflow_rls_user_active() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp
AS $$
  SELECT EXISTS (SELECT 1 FROM work_user u
                 WHERE u.id = caseflow_rls_user() AND u.tenant_id = caseflow_rls_tenant()
                   AND u.active)
$$;

-- may the session's user work task (p_task, p_tenant): the row given is user_task's
CREATE FUNCTION caseflow_rls_task_visible(p_task text, p_tenant text, p_queue text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp
AS $$
  SELECT p_tenant = caseflow_rls_tenant() AND caseflow_rls_user() IS NOT NULL AND (
    p_queue = ANY (caseflow_rls_queues())
    OR EXISTS (
      SELECT 1 FROM task_candidate c
      WHERE c.task_id = p_task AND c.tenant_id = p_tenant AND (
        (c.kind = 'group' AND c.value = ANY (caseflow_rls_roles()))
        OR (c.kind = 'user' AND c.value = caseflow_rls_user() AND caseflow_rls_user_active())
      )
    )
  )
$$;

-- the task of a candidate / history row, looked up as the owner
CREATE FUNCTION caseflow_rls_task_id_visible(p_task text, p_tenant text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp
AS $$
  SELECT EXISTS (
    SELECT 1 FROM user_task t
    WHERE t.id = p_task AND t.tenant_id = p_tenant
      AND caseflow_rls_task_visible(t.id, t.tenant_id, t.queue)
  )
$$;
"""

_POLICIES = """
CREATE POLICY caseflow_task_read ON user_task FOR SELECT
  USING (caseflow_rls_task_visible(id, tenant_id, queue));
CREATE POLICY caseflow_task_read ON task_candidate FOR SELECT
  USING (caseflow_rls_task_id_visible(task_id, tenant_id));
CREATE POLICY caseflow_task_read ON work_task_history FOR SELECT
  USING (caseflow_rls_task_id_visible(task_id, tenant_id));
CREATE POLICY caseflow_task_read ON work_queue_item FOR SELECT
  USING (tenant_id = caseflow_rls_tenant()
         AND queue IN (SELECT unnest(caseflow_rls_queues())));
"""

_FUNCTIONS = (
    "caseflow_rls_task_id_visible(text, text)",
    "caseflow_rls_task_visible(text, text, text)",
    "caseflow_rls_user_active()",
    "caseflow_rls_queues()",
    "caseflow_rls_roles()",
    "caseflow_rls_tenant()",
    "caseflow_rls_user()",
)


def _quoted_schema() -> str:
    schema = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar()
    return '"' + str(schema).replace('"', '""') + '"'


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_SETTINGS)
    op.execute(_GRANTS.format(schema=_quoted_schema()))
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(_POLICIES)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP POLICY IF EXISTS caseflow_task_read ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for function in _FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
