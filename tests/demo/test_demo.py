"""The demo data set: a living system on SQLite and PostgreSQL, loaded once only."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from caseflow.clock import ManualClock
from caseflow.demo import bpmn_resources, demo_form, form_resources, load_demo
from caseflow.model import parse_bpmn
from caseflow.model.elements import UserTask
from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import InstanceQuery, Store
from caseflow.store import open_store, schema
from caseflow.work import TaskFilter, WorkService

# Wednesday 18 November 2026, 10:30 in Ha Noi: office hours, the story ends here
NOW = dt.datetime(2026, 11, 18, 3, 30, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_store(request: pytest.FixtureRequest) -> Store:
    if request.param == "sqlite":
        found: Store = request.getfixturevalue("sqlite_store")
        return found
    make: Callable[[], Store] = request.getfixturevalue("postgres_stores")
    return make()


@pytest.fixture
def work(sql_store: Store) -> Iterator[WorkService]:
    yield WorkService(ProcessEngine(sql_store, clock=ManualClock(NOW)))


def _row_counts(store: Store) -> dict[str, int]:
    tables = [
        schema.work_department, schema.work_user, schema.work_grant, schema.work_queue,
        schema.work_task_history, schema.business_calendar, schema.work_escalation_policy,
        schema.work_task_sla, schema.job, schema.form_resource,
    ]
    engine: sa.Engine = store.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in tables
        }


def test_load_demo_builds_a_living_system_and_a_second_load_adds_nothing(
    work: WorkService,
) -> None:
    engine = work.engine
    summary = load_demo(engine, work, now=NOW)
    assert summary.cases_loaded and summary.changed
    assert sorted(summary.deployed) == ["case_routing:1", "dang_ky_ho_kinh_doanh:1"]
    assert len(summary.forms) == len(form_resources()) == 10

    # the organisation, in Vietnamese where it is Vietnamese
    departments = {d.code: d for d in work.departments()}
    assert departments["SKHDT"].name == "Sở Kế hoạch và Đầu tư"
    assert departments["MOTCUA"].name == "Bộ phận Một cửa"
    assert departments["DKKD"].parent_id == departments["SKHDT"].id
    assert {"INTAKE", "CLAIMS", "LEGAL", "FINANCE"} <= set(departments)
    assert work.user("an.nguyen").name == "Nguyễn Văn An"
    for user_id in ("binh.tran", "supervisor", "admin", "lan.ngo"):
        assert work.user(user_id).active
    bounded = [g for g in work.grants("dung.pham") if g.valid_until is not None]
    assert bounded and bounded[0].valid_until > NOW  # type: ignore[operator]
    queues = {q.name: q for q in work.queues()}
    assert {q.type for q in queues.values()} == {"STANDARD", "PRIORITY", "SPECIALIZED", "OVERFLOW"}
    assert queues["intake"].overflow_queue_id == queues["ops-overflow"].id
    assert all(q.sla_minutes for q in queues.values())

    # cases at every stage
    instances = engine.instances(InstanceQuery(limit=500))
    assert len(instances) >= 30
    statuses = Counter(i.status for i in instances)
    assert statuses["COMPLETED"] >= 3 and statuses["ACTIVE"] >= 20
    assert len(engine.incidents()) >= 1

    tasks = work.tasks("admin", TaskFilter(limit=500))
    by_element: dict[str, set[str | None]] = {}
    for task in tasks:
        by_element.setdefault(task.element_id, set()).add(task.queue)
    assert by_element["tiep_nhan"] == {"mot-cua"}
    assert by_element["tham_dinh"] == {"dkkd-tham-dinh"}
    assert by_element["claims_assessment"] <= {"claims", "claims-priority"}
    assert "claims-priority" in by_element["claims_assessment"]  # the high-value rule
    assert by_element["intake_review"] == {"intake", "ops-overflow"}  # intake is full
    assert by_element["supervisor_follow_up"] == {"escalations"}  # the timer fired
    assert all(t.due_at is not None for t in tasks)  # due dates from caseflow:sla
    breached = [t for t in tasks if t.due_at is not None and t.due_at < NOW]
    on_time = [t for t in tasks if t.due_at is not None and t.due_at >= NOW]
    assert len(breached) >= 5 and len(on_time) >= 5
    held = Counter(t.status for t in tasks)
    assert held["CLAIMED"] >= 2 and held["ESCALATED"] >= 3 and held["DELEGATED"] >= 1
    assert sum(t.assignee is not None for t in tasks) >= 6
    # the SLA checks ran as the story's clock passed the due dates
    kinds = Counter((e.kind, e.trigger) for e in work.escalations())
    assert kinds[("AUTOMATIC", "BREACHED")] >= 3 and kinds[("MANUAL", "MANUAL")] >= 1
    commented = [
        e for t in tasks for e in work.task_history(t.id) if e.action == "COMMENT"
    ]
    assert any("quá hạn" in (e.comment or "") for e in commented)
    assert any(s.overdue for s in work.queue_stats())

    # every task's form key names a stored form-js schema, as the deployment endpoint
    # keeps them (camunda-forms:deployment:<file> by file name)
    engine_sql: sa.Engine = work.store.engine
    with engine_sql.connect() as conn:
        forms = {
            r.resource_name: json.loads(r.content)
            for r in conn.execute(sa.select(schema.form_resource))
        }
    for task in tasks:
        assert task.form_key is not None
        stored = forms[task.form_key.removeprefix("camunda-forms:deployment:")]
        assert "outcome" in {c.get("key") for c in stored["components"]}

    # a case worker sees their queue's work and can take the next task
    taken = work.claim_next("an.nguyen")
    assert taken is not None and taken.queue == "mot-cua"
    work.unclaim("an.nguyen", taken.id)

    before = _row_counts(work.store)
    again = load_demo(engine, work, now=NOW + dt.timedelta(hours=1))
    assert not again.changed
    assert _row_counts(work.store) == before
    assert len(engine.instances(InstanceQuery(limit=500))) == len(instances)


def test_a_demo_case_runs_on_to_its_end(work: WorkService) -> None:
    engine = work.engine
    load_demo(engine, work, now=NOW)
    [approval] = work.tasks("hai.vu", TaskFilter(element_id="phe_duyet", scope="mine"))
    assert approval.business_key == "HKD-2611-0010"
    work.complete("hai.vu", approval.id, outcome="approve")
    [hand_over] = work.tasks("an.nguyen", TaskFilter(instance_id=approval.instance_id))
    assert hand_over.element_id == "tra_ket_qua" and hand_over.queue == "mot-cua"
    work.claim("an.nguyen", hand_over.id)
    work.complete("an.nguyen", hand_over.id, {"hinhThucTraKetQua": "truc_tuyen"},
                  outcome="complete")
    assert engine.instance_record(approval.instance_id).status == "COMPLETED"


def test_every_demo_process_validates_and_names_forms_that_exist() -> None:
    checker = ProcessEngine(open_store("memory://"))
    forms = {name for name, _ in form_resources()}
    for name, source in bpmn_resources():
        problems = checker.validate(source, resource_name=name)
        assert problems == [], (name, problems)
        for process in parse_bpmn(source).definitions.executable_processes:
            for node in process.all_nodes.values():
                if isinstance(node, UserTask):
                    assert node.sla and node.candidate_groups and node.form_key
                    schema_ = demo_form(node.form_key)
                    assert schema_ is not None, node.form_key
                    assert f"{schema_['id']}.form" in forms
                    keys = {c.get("key") for c in schema_["components"]}
                    assert "outcome" in keys
    for name, content in form_resources():
        parsed = json.loads(content)
        assert parsed["type"] == "default" and parsed["components"], name


@pytest.mark.postgres
def test_two_nodes_starting_together_load_the_demo_once(
    postgres_stores: Callable[[], Store],
) -> None:
    engines = [ProcessEngine(postgres_stores(), clock=ManualClock(NOW)) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        summaries = list(pool.map(lambda e: load_demo(e, WorkService(e), now=NOW), engines))
    assert sorted(s.cases_loaded for s in summaries) == [False, True]
    assert [s.changed for s in summaries].count(True) == 1
    loaded = next(s for s in summaries if s.cases_loaded)
    instances = engines[0].instances(InstanceQuery(limit=500))
    assert len(instances) == loaded.cases.started
    assert len({i.business_key for i in instances}) == len(instances)


def test_the_demo_loads_just_after_tet(sqlite_store: Store) -> None:
    """Nine working days before 25 February 2026 reach back across the nine days of Tết:
    the organisation must exist before the oldest case arrives."""
    after_tet = dt.datetime(2026, 2, 25, 3, 0, tzinfo=dt.UTC)
    engine = ProcessEngine(sqlite_store, clock=ManualClock(after_tet))
    summary = load_demo(engine, WorkService(engine), now=after_tet)
    assert summary.cases.started == len(engine.instances(InstanceQuery(limit=500))) >= 30
    oldest = min(i.started_at for i in engine.instances(InstanceQuery(limit=500)))
    assert oldest < after_tet - dt.timedelta(days=16)


def test_the_demo_loads_into_the_tenant_of_the_work_service(sqlite_store: Store) -> None:
    engine = ProcessEngine(sqlite_store, clock=ManualClock(NOW))
    work = WorkService(engine, tenant_id="so-khdt-ha-noi")
    summary = load_demo(engine, work, now=NOW)
    mine = engine.instances(InstanceQuery(tenant_id="so-khdt-ha-noi", limit=500))
    assert len(mine) == summary.cases.started
    assert not engine.instances(InstanceQuery(tenant_id="default", limit=1))
    assert work.tasks("an.nguyen", TaskFilter(queues=["mot-cua"]))
