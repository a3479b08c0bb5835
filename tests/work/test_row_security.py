"""PostgreSQL row-level security on the task tables: what a restricted database role sees
with raw SQL, whatever it asks for (migration 0008, docs/security.md)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from caseflow.runtime import ProcessEngine
from caseflow.store.sql import SqlStore
from caseflow.work import WorkService
from tests.work.conftest import Org, one_task_process

pytestmark = pytest.mark.postgres

TABLES = (
    "user_task", "task_candidate", "work_queue_item", "work_task_history",
    "process_instance", "variable", "work_escalation",
)


@pytest.fixture
def pg_org(
    postgres_stores: Any, clock: Any, pg_admin: sa.Engine, postgres_schema: str
) -> Org:
    store = postgres_stores()
    engine = ProcessEngine(store, clock=clock)
    work = WorkService(engine)
    work.create_queue("intake")
    work.create_queue("legal")
    work.create_role("clerks", "Clerks", queue="intake")
    work.create_role("lawyers", "Lawyers", queue="legal")
    work.create_role("reviewers", "Reviewers")  # no queue: works tasks naming it
    for user_id, role in (("lan", "clerks"), ("chi", "lawyers"), ("rev", "reviewers")):
        work.create_user(user_id, user_id.title())
        work.grant(user_id, role, by="admin")
    work.create_user("out", "Outsider")
    engine.deploy(one_task_process("intake_case", groups="clerks"))
    engine.deploy(one_task_process("legal_case", groups="lawyers"))
    engine.deploy(one_task_process("review_case", groups="reviewers"))
    engine.deploy(one_task_process("personal_case", users="out"))
    return Org(work, engine)


@pytest.fixture
def restricted_role(pg_admin: sa.Engine, postgres_schema: str) -> Iterator[str]:
    """A role that may read the task tables and nothing more (not their owner)."""
    role = f"caseflow_rls_{uuid.uuid4().hex[:12]}"
    with pg_admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} NOLOGIN")
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {postgres_schema} TO {role}")
        for table in TABLES:
            conn.exec_driver_sql(f"GRANT SELECT ON {postgres_schema}.{table} TO {role}")
    yield role
    with pg_admin.begin() as conn:
        conn.exec_driver_sql(f"DROP OWNED BY {role}")
        conn.exec_driver_sql(f"DROP ROLE {role}")


def as_user(
    org: Org, role: str, user: str | None, sql: str, params: dict[str, Any] | None = None
) -> list[Any]:
    """``sql`` run by ``role`` in a session whose ``caseflow.user_id`` is ``user``."""
    store = org.engine.store
    assert isinstance(store, SqlStore)
    with store.engine.connect() as conn, conn.begin():
        conn.exec_driver_sql(f"SET LOCAL ROLE {role}")
        if user is not None:
            conn.execute(sa.text("SELECT set_config('caseflow.user_id', :u, true)"), {"u": user})
        rows = list(conn.execute(sa.text(sql), params or {}))
        conn.rollback()
    return rows


def test_a_worker_reads_only_the_tasks_of_their_queues(pg_org: Org, restricted_role: str) -> None:
    intake = pg_org.start("intake_case")
    legal = pg_org.start("legal_case")
    every = "SELECT id FROM user_task ORDER BY id"
    assert {r.id for r in as_user(pg_org, restricted_role, "lan", every)} == {intake}
    assert {r.id for r in as_user(pg_org, restricted_role, "chi", every)} == {legal}
    # asking for the other queue's task by id or by queue finds nothing
    assert as_user(pg_org, restricted_role, "lan", "SELECT * FROM user_task WHERE id = :id",
                   {"id": legal}) == []
    assert as_user(pg_org, restricted_role, "lan",
                   "SELECT count(*) AS n FROM user_task WHERE queue = 'legal'")[0].n == 0
    # nor its candidates, its history or its place in the claimable set
    for sql in (
        "SELECT task_id FROM task_candidate",
        "SELECT task_id FROM work_task_history",
        "SELECT task_id FROM work_queue_item",
    ):
        assert {r.task_id for r in as_user(pg_org, restricted_role, "lan", sql)} == {intake}
    # no user named: nothing; a user without grants: nothing
    assert as_user(pg_org, restricted_role, None, every) == []
    assert as_user(pg_org, restricted_role, "out", every) == []
    assert as_user(pg_org, restricted_role, "nobody", every) == []
    # the owner (caseflow itself) still sees every task
    assert len(pg_org.work.tasks("lan")) == 1
    assert {t.id for t in pg_org.engine.tasks()} == {intake, legal}


def test_candidates_assignees_and_grant_validity(pg_org: Org, restricted_role: str) -> None:
    review = pg_org.start("review_case")  # candidate group reviewers, no queue
    personal = pg_org.start("personal_case")  # candidate user out
    intake = pg_org.start("intake_case")
    every = "SELECT id FROM user_task"
    assert {r.id for r in as_user(pg_org, restricted_role, "rev", every)} == {review}
    assert {r.id for r in as_user(pg_org, restricted_role, "out", every)} == {personal}
    pg_org.work.claim("lan", intake)
    assert {r.id for r in as_user(pg_org, restricted_role, "lan", every)} == {intake}
    # an ended grant stops working at once, even for the task the user holds (as in the API)
    [grant] = pg_org.work.grants("lan")
    pg_org.work.revoke(grant.id, by="admin")
    assert as_user(pg_org, restricted_role, "lan", every) == []
    # so does deactivation
    pg_org.work.deactivate_user("rev", by="admin")
    assert as_user(pg_org, restricted_role, "rev", every) == []


def test_a_restricted_role_cannot_write_tasks(
    pg_org: Org, restricted_role: str, pg_admin: sa.Engine, postgres_schema: str
) -> None:
    intake = pg_org.start("intake_case")
    with pg_admin.begin() as conn:
        conn.exec_driver_sql(f"GRANT UPDATE ON {postgres_schema}.user_task TO {restricted_role}")
    store = pg_org.engine.store
    assert isinstance(store, SqlStore)
    with store.engine.connect() as conn, conn.begin():
        conn.exec_driver_sql(f"SET LOCAL ROLE {restricted_role}")
        conn.execute(sa.text("SELECT set_config('caseflow.user_id', 'lan', true)"))
        changed = conn.execute(
            sa.text("UPDATE user_task SET priority = 99 WHERE id = :id"), {"id": intake}
        )
        assert changed.rowcount == 0  # no policy allows an update: no row qualifies
        conn.rollback()
    [task] = pg_org.work.tasks("lan")
    assert task.priority != 99


def test_case_data_follows_the_tasks(pg_org: Org, restricted_role: str) -> None:
    intake = pg_org.start("intake_case", variables={"dossier": "intake data"})
    legal = pg_org.start("legal_case", variables={"dossier": "legal data"})
    pg_org.work.create_role("bosses", "Bosses", can_manage=True)
    pg_org.work.assign_queue("legal", "bosses")
    pg_org.work.create_user("boss", "Boss")
    pg_org.work.grant("boss", "bosses", by="admin")
    pg_org.work.escalate("boss", legal, comment="slow")
    instance = {t.id: t.instance_id for t in pg_org.engine.tasks()}
    dossiers = "SELECT text_value FROM variable WHERE name = 'dossier'"
    assert [r.text_value for r in as_user(pg_org, restricted_role, "lan", dossiers)] == [
        "intake data"
    ]
    assert {r.id for r in as_user(pg_org, restricted_role, "lan",
                                  "SELECT id FROM process_instance")} == {instance[intake]}
    assert as_user(pg_org, restricted_role, "lan", "SELECT id FROM work_escalation") == []
    assert len(as_user(pg_org, restricted_role, "chi", "SELECT id FROM work_escalation")) == 1
    assert as_user(pg_org, restricted_role, None, dossiers) == []
    assert as_user(pg_org, restricted_role, "out", "SELECT id FROM process_instance") == []
    # the owner reads every variable still
    assert pg_org.engine.variables(instance[legal])["dossier"] == "legal data"
