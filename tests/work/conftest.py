"""Human-work fixtures: an engine with a WorkService on SQLite and on PostgreSQL.

``caseflow.work`` keeps its organisation in tables, so it runs on the SQL stores only;
the in-memory store is refused (tested in test_organisation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from caseflow.clock import ManualClock
from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import Store, TaskQuery
from caseflow.work import WorkService
from tests.bpmn import chain, process


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_store(request: pytest.FixtureRequest) -> Store:
    if request.param == "sqlite":
        found: Store = request.getfixturevalue("sqlite_store")
        return found
    make: Callable[[], Store] = request.getfixturevalue("postgres_stores")
    return make()


@pytest.fixture
def engine(sql_store: Store, clock: ManualClock) -> ProcessEngine:
    return ProcessEngine(sql_store, clock=clock)


@pytest.fixture
def work(engine: ProcessEngine) -> WorkService:
    return WorkService(engine)


def user_task(
    task_id: str = "t",
    *,
    groups: str | None = None,
    users: str | None = None,
    queue: str | None = None,
    assignee: str | None = None,
    priority: str | None = None,
    name: str = "Review",
) -> str:
    attrs = [f'id="{task_id}"', f'name="{name}"']
    if groups:
        attrs.append(f'camunda:candidateGroups="{groups}"')
    if users:
        attrs.append(f'camunda:candidateUsers="{users}"')
    if queue:
        attrs.append(f'caseflow:queue="{queue}"')
    if assignee:
        attrs.append(f'camunda:assignee="{assignee}"')
    if priority:
        attrs.append(f'camunda:priority="{priority}"')
    return f"<userTask {' '.join(attrs)}/>"


def one_task_process(key: str = "p", **task: str) -> str:
    """start -> one user task -> end."""
    return process(
        f'<startEvent id="s"/>{user_task(**task)}<endEvent id="e"/>' + chain("s", "t", "e"),
        id=key,
    )


@dataclass
class Org:
    """The organisation most tests use.

    Departments ``intake`` and ``legal``; queues ``intake`` and ``legal`` in them; role
    ``clerks`` works intake (bound), ``lawyers`` works legal (bound), ``supervisors``
    manages both (queue assignments); users lan and binh (clerks), chi (lawyers), sup
    (supervisors), and out (no grant at all).
    """

    work: WorkService
    engine: ProcessEngine

    def start(self, key: str = "p", **kwargs: object) -> str:
        """Start ``key`` and give the id of the one open task it made."""
        instance = self.engine.start(key, **kwargs)  # type: ignore[arg-type]
        [task] = self.engine.tasks(TaskQuery(instance_id=instance.id))
        return task.id


@pytest.fixture
def org(work: WorkService, engine: ProcessEngine) -> Org:
    work.create_department("intake", "Intake")
    work.create_department("legal", "Legal")
    work.create_queue("intake", department="intake")
    work.create_queue("legal", department="legal")
    work.create_role("clerks", "Clerks", type="DEPARTMENT", department="intake", queue="intake")
    work.create_role("lawyers", "Lawyers", type="DEPARTMENT", department="legal", queue="legal")
    work.create_role("supervisors", "Supervisors", type="SYSTEM", can_manage=True)
    work.assign_queue("intake", "supervisors")
    work.assign_queue("legal", "supervisors")
    for user_id, name, role in (
        ("lan", "Lan", "clerks"),
        ("binh", "Binh", "clerks"),
        ("chi", "Chi", "lawyers"),
        ("sup", "Supervisor", "supervisors"),
    ):
        work.create_user(user_id, name, department="intake" if role == "clerks" else None)
        work.grant(user_id, role, by="admin", primary=True)
    work.create_user("out", "Outsider")
    engine.deploy(one_task_process(groups="clerks"))
    return Org(work, engine)
