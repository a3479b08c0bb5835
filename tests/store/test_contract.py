"""The storage port's contract, run against every adapter (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from caseflow.engine.state import InstanceState
from caseflow.errors import ConcurrencyConflict, NotFound
from caseflow.runtime.ports import (
    CommandRecord,
    InstanceQuery,
    OutboxEvent,
    Store,
    SubscriptionQuery,
    TaskQuery,
    TopicRequest,
)
from caseflow.store import schema
from caseflow.store.sql import SqlStore

from .records import (
    T0,
    activity,
    at,
    definition,
    deploy,
    deployment,
    execution,
    external_task,
    incident,
    job,
    new_state,
    started,
    subscription,
    task,
    variable,
)


def load(store: Store, instance_id: str) -> InstanceState:
    """Load and touch every table, inside one transaction."""
    with store.transaction() as tx:
        state = tx.load_instance(instance_id)
        assert state is not None
        for table in state.tables().values():
            len(table)
    return state


def rows(state: InstanceState, name: str) -> dict[str, Any]:
    return dict(state.tables()[name].rows)


# --- definitions -------------------------------------------------------------------------


def test_deployments_and_definition_versions(store: Store) -> None:
    dep1 = deployment(deployed_by="ops")
    v1 = definition(dep1, "dossier", 1, name="Dossier", category="land", procedure_code="1.001",
                    sla_target_hours=72.5, version_tag="2025.1", resource_name="d.bpmn")
    other = definition(dep1, "permit", 1)
    dep2 = deployment(content_hash="h2")
    v2 = definition(dep2, "dossier", 2, status="Testing")
    elsewhere = definition(deployment("acme"), "dossier", 7)
    with store.transaction() as tx:
        tx.insert_deployment(dep1, [v1, other])
        tx.insert_deployment(dep2, [v2])
        tx.insert_deployment(deployment("acme", id=elsewhere.deployment_id), [elsewhere])
    with store.transaction() as tx:
        assert tx.latest_definition("dossier") == v2
        assert tx.latest_definition("dossier", "acme") == elsewhere
        assert tx.latest_definition("nothing") is None
        assert tx.get_definition(v1.id) == v1
        assert tx.get_definition("missing") is None
        assert tx.definition_version("dossier", 1) == v1
        assert tx.definition_version("dossier", 3) is None
        assert tx.list_definitions("dossier", "default") == [v1, v2]
        assert tx.list_definitions(tenant_id="default") == [v1, v2, other]
        assert len(tx.list_definitions()) == 4
        assert tx.deployment_source(dep1.id) == dep1
        assert tx.deployment_source("missing") is None
        tx.set_definition_status(v1.id, "Deprecated")
        with pytest.raises(NotFound):
            tx.set_definition_status("missing", "Deployed")
    with store.transaction() as tx:
        got = tx.get_definition(v1.id)
        assert got is not None
        assert got.status == "Deprecated"


def test_a_taken_definition_version_is_a_conflict(store: Store) -> None:
    dep = deployment()
    with store.transaction() as tx:
        tx.insert_deployment(dep, [definition(dep, "dossier", 1)])
    racer = deployment()
    with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
        tx.insert_deployment(racer, [definition(racer, "dossier", 1)])
    with store.transaction() as tx:
        assert tx.deployment_source(racer.id) is None
        assert len(tx.list_definitions("dossier")) == 1


# --- instances ---------------------------------------------------------------------------

VALUES: list[tuple[str, Any, str]] = [
    ("nothing", None, "null"),
    ("text", "Nguyễn Văn A — hồ sơ", "string"),
    ("empty", "", "string"),
    ("long_text", "đất " * 2000, "string"),
    ("small", 7, "integer"),
    ("big", 2**40 + 3, "integer"),
    ("negative", -(2**62), "integer"),
    ("huge", 2**70 + 1, "integer"),
    ("fee", Decimal("12345678901234567890.123456789"), "decimal"),
    ("trailing", Decimal("1.10"), "decimal"),
    ("tiny", Decimal("-1E-30"), "decimal"),
    ("ratio", 0.1, "float"),
    ("not_a_number", math.inf, "float"),
    ("yes", True, "boolean"),
    ("no", False, "boolean"),
    ("day", date(2025, 2, 28), "date"),
    ("moment", datetime(2025, 2, 28, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=7))),
     "datetime"),
    ("utc_moment", T0, "datetime"),
    ("doc", {"a": [1, 2.5, "x", None, True], "nested": {"k": "v"}}, "json"),
    ("list", [1, {"b": 2}], "json"),
    ("money_doc", {"fee": Decimal("1.10"), "items": [Decimal("0.5"), 3]}, "json"),
    ("typed_null", None, "decimal"),
]


def test_instance_round_trip_with_every_record_and_value_type(store: Store) -> None:
    d = deploy(store)
    state = new_state(d, business_key="HS-001", case_id="C-9", started_by="an",
                      root_instance_id="root", suspended_at=None, end_reason=None)
    inst = state.instance
    root = state.executions.add(execution(inst, "sub", state="scope"))
    body = state.executions.add(
        execution(inst, "review", parent_id=root.id, is_mi_body=True, state="scope")
    )
    ex = state.executions.add(
        execution(inst, "review", parent_id=body.id, loop_counter=2, history_id="h1",
                  arrived_via="flow_1")
    )
    for name, value, type_ in VALUES:
        state.variables.add(variable(inst, name, value, type_))
    state.variables.add(variable(inst, "local", 1, "integer", scope_id=ex.id))
    t = state.tasks.add(task(inst, ex, assignee="an", candidate_users=("binh", "an"),
                             candidate_groups=("reviewers",), priority=80, form_key="f1",
                             queue="land", due_at=at(60), follow_up_at=at(30),
                             business_key="HS-001", case_id="C-9"))
    x = state.external_tasks.add(external_task(inst, ex, retries=2, priority=5,
                                               error_message="e", error_details="trace",
                                               business_key="HS-001"))
    sub = state.subscriptions.add(subscription(inst, ex, correlation_key="HS-001"))
    j = state.jobs.add(job(inst, payload={"attempt": 1, "why": ["x"]}, execution_id=ex.id,
                           element_id="timer", definition_id=d.id))
    inc = state.incidents.add(incident(inst, execution_id=ex.id, element_id="review",
                                       external_task_id=x.id))
    with store.transaction() as tx:
        tx.save(state)
    assert state.instance.revision == 1
    assert not state.is_new

    loaded = load(store, inst.id)
    assert loaded.instance == state.instance
    assert rows(loaded, "executions") == rows(state, "executions")
    got = {v.name: v for v in loaded.variables}
    for name, value, type_ in VALUES:
        assert got[name].type == type_, name
        assert got[name].value == value, name
        assert type(got[name].value) is type(value), name
    assert got["trailing"].value.as_tuple() == Decimal("1.10").as_tuple()
    fee = got["money_doc"].value["fee"]  # decimals inside JSON stay exact
    assert (type(fee), fee.as_tuple()) == (Decimal, Decimal("1.10").as_tuple())
    assert got["moment"].value.utcoffset() is not None
    assert got["local"].scope_id == ex.id
    loaded_task = loaded.tasks.get(t.id)
    assert loaded_task == replace(t, candidate_users=("an", "binh"))
    assert rows(loaded, "external_tasks") == {x.id: x}
    assert rows(loaded, "subscriptions") == {sub.id: sub}
    assert rows(loaded, "jobs") == {j.id: j}
    assert rows(loaded, "incidents") == {inc.id: inc}
    with store.transaction() as tx:
        assert tx.load_instance("missing") is None
        assert {v.name for v in tx.instance_variables(inst.id)} == {n for n, _, _ in VALUES} | {
            "local"
        }
        assert tx.instance_variables(inst.id)[-1].name == "local"  # instance scope first


def test_timestamps_come_back_aware_in_utc(store: Store) -> None:
    d = deploy(store)
    state = new_state(d, started_at=datetime(2025, 1, 1, 9, tzinfo=timezone(timedelta(hours=7))))
    with store.transaction() as tx:
        tx.save(state)
    loaded = load(store, state.instance.id)
    assert loaded.instance.started_at == datetime(2025, 1, 1, 2, tzinfo=UTC)
    assert loaded.instance.started_at.utcoffset() is not None
    with store.transaction() as tx:
        (listed,) = tx.query_instances(InstanceQuery())
    assert listed.started_at.utcoffset() is not None


def test_journal_writes_inserts_updates_and_deletes(store: Store) -> None:
    d = deploy(store)
    state, ex = started(store, d)
    inst = state.instance
    with store.transaction() as tx:
        s = tx.load_instance(inst.id)
        assert s is not None
        e = s.executions.get(ex.id)
        assert e is not None
        e.element_id = "approve"
        s.executions.touch(e)
        s.variables.add(variable(s.instance, "amount", Decimal("10.5"), "decimal"))
        s.variables.add(variable(s.instance, "gone", 1, "integer"))
        t = s.tasks.add(task(s.instance, e, candidate_groups=("clerks",)))
        s.instance.business_key = "HS-2"
        s.instance_changed = True
        tx.save(s)
        assert s.instance.revision == 2
        # a second save in the same transaction writes only what changed since the first
        gone = next(v for v in s.variables if v.name == "gone")
        s.variables.remove(gone)
        amount = next(v for v in s.variables if v.name == "amount")
        amount.value = Decimal("11.25")
        s.variables.touch(amount)
        tx.save(s)
        assert s.instance.revision == 3
    loaded = load(store, inst.id)
    assert loaded.instance.revision == 3
    assert loaded.instance.business_key == "HS-2"
    assert [e.element_id for e in loaded.executions] == ["approve"]
    assert {v.name: v.value for v in loaded.variables} == {"amount": Decimal("11.25")}
    assert list(rows(loaded, "tasks")) == [t.id]

    with store.transaction() as tx:
        s = tx.load_instance(inst.id)
        assert s is not None
        lt = s.tasks.get(t.id)
        assert lt is not None
        lt.candidate_groups = ("clerks", "seniors")
        lt.candidate_users = ("chi",)
        lt.status = "CLAIMED"
        lt.assignee = "chi"
        s.tasks.touch(lt)
        e = next(iter(s.executions))
        s.executions.remove(e)
        tx.save(s)
    loaded = load(store, inst.id)
    lt = loaded.tasks.get(t.id)
    assert lt is not None
    assert (lt.status, lt.assignee) == ("CLAIMED", "chi")
    assert (lt.candidate_groups, lt.candidate_users) == (("clerks", "seniors"), ("chi",))
    assert len(loaded.executions) == 0

    with store.transaction() as tx:
        s = tx.load_instance(inst.id)
        assert s is not None
        s.tasks.remove(next(iter(s.tasks)))
        tx.save(s)
        assert tx.query_tasks(TaskQuery(candidate_group="clerks", include_closed=True)) == []
    assert len(load(store, inst.id).tasks) == 0


def test_other_tables_are_read_on_first_use_within_the_transaction(store: Store) -> None:
    d = deploy(store)
    state, ex = started(store, d)
    with store.transaction() as tx:
        s = tx.load_instance(state.instance.id)
        assert s is not None
        s.jobs.add(job(s.instance))
        s.tasks.add(task(s.instance, ex))
        tx.save(s)
    with store.transaction() as tx:
        s = tx.load_instance(state.instance.id)
        assert s is not None
        assert s.executions.loaded
        assert s.variables.loaded
        assert not s.tasks.loaded
        assert not s.jobs.loaded
        assert len(s.jobs) == 1
        assert s.jobs.loaded
        assert not s.tasks.loaded
    with pytest.raises(RuntimeError, match="transaction ended"):
        len(s.tasks)


def test_a_stale_save_is_a_conflict_and_writes_nothing(store: Store) -> None:
    d = deploy(store)
    state, ex = started(store, d)
    first = load(store, state.instance.id)
    second = load(store, state.instance.id)

    first.variables.add(variable(first.instance, "winner", "first", "string"))
    with store.transaction() as tx:
        tx.save(first)

    second.variables.add(variable(second.instance, "loser", "second", "string"))
    e = second.executions.get(ex.id)
    assert e is not None
    e.element_id = "elsewhere"
    second.executions.touch(e)
    second.tasks.add(task(second.instance, e))
    second.history.append(activity(second.instance, e))
    with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
        tx.save(second)
    assert second.instance.revision == 1  # untouched: the runtime reloads and retries

    loaded = load(store, state.instance.id)
    assert loaded.instance.revision == 2
    assert [v.name for v in loaded.variables] == ["winner"]
    assert [e.element_id for e in loaded.executions] == ["task"]
    assert len(loaded.tasks) == 0
    with store.transaction() as tx:
        assert tx.activity_history(state.instance.id) == []


def test_creating_the_same_instance_twice_is_a_conflict(store: Store) -> None:
    d = deploy(store)
    state, _ = started(store, d)
    twin = new_state(d, id=state.instance.id)
    with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
        tx.save(twin)


def test_an_error_rolls_back_everything(store: Store) -> None:
    d = deploy(store)
    state, ex = started(store, d)
    fresh = new_state(d)
    with pytest.raises(KeyError), store.transaction() as tx:
        s = tx.load_instance(state.instance.id)
        assert s is not None
        s.variables.add(variable(s.instance, "x", 1, "integer"))
        s.history.append(activity(s.instance, ex))
        tx.save(s)
        tx.save(fresh)
        tx.insert_command(CommandRecord("k1", "complete", {"ok": True}, T0))
        dep = deployment()
        tx.insert_deployment(dep, [definition(dep, "late")])
        tx.lock_external_tasks("w", [TopicRequest("verify", 1000)], 5, T0)
        raise KeyError("the command failed after writing")
    loaded = load(store, state.instance.id)
    assert loaded.instance.revision == 1
    assert len(loaded.variables) == 0
    with store.transaction() as tx:
        assert tx.load_instance(fresh.instance.id) is None
        assert tx.get_command("k1") is None
        assert tx.latest_definition("late") is None
        assert tx.activity_history(state.instance.id) == []


def test_saving_nothing_changes_nothing(store: Store) -> None:
    d = deploy(store)
    state, _ = started(store, d)
    with store.transaction() as tx:
        s = tx.load_instance(state.instance.id)
        assert s is not None
        tx.save(s)
        assert s.instance.revision == 1
    assert load(store, state.instance.id).instance.revision == 1


def test_a_variable_value_that_does_not_fit_its_type_is_refused(store: Store) -> None:
    d = deploy(store)
    state = new_state(d)
    state.variables.add(variable(state.instance, "n", "12", "integer"))
    with pytest.raises(ValueError, match="integer"), store.transaction() as tx:
        tx.save(state)


def test_records_handed_in_or_out_are_copies(store: Store) -> None:
    d = deploy(store)
    state = new_state(d)
    doc: dict[str, Any] = {"a": [1]}
    v = state.variables.add(variable(state.instance, "doc", doc, "json"))
    with store.transaction() as tx:
        tx.save(state)
    doc["a"].append(2)
    v.name = "renamed"
    loaded = load(store, state.instance.id)
    got = next(iter(loaded.variables))
    assert (got.name, got.value) == ("doc", {"a": [1]})
    got.value["a"].append(3)
    assert next(iter(load(store, state.instance.id).variables)).value == {"a": [1]}


# --- queries -----------------------------------------------------------------------------


def test_query_instances(store: Store) -> None:
    d = deploy(store)
    permit = deploy(store, "permit")
    acme = deploy(store, "dossier", tenant_id="acme")
    made = []
    for i, (defn, status, bk) in enumerate([
        (d, "ACTIVE", "A"), (d, "COMPLETED", "B"), (permit, "ACTIVE", "A"), (acme, "ACTIVE", "A"),
    ]):
        state = new_state(defn, status=status, business_key=bk, started_at=at(i),
                          case_id=f"C{i}", parent_instance_id="p" if i == 1 else None)
        with store.transaction() as tx:
            tx.save(state)
        made.append(state.instance)
    with store.transaction() as tx:
        def ids(**kw: Any) -> list[str]:
            return [i.id for i in tx.query_instances(InstanceQuery(**kw))]

        assert ids() == [m.id for m in reversed(made)]  # newest first
        assert ids(process_key="dossier") == [made[3].id, made[1].id, made[0].id]
        assert ids(process_key="dossier", tenant_id="default") == [made[1].id, made[0].id]
        assert ids(status="COMPLETED") == [made[1].id]
        assert ids(business_key="A", tenant_id="default") == [made[2].id, made[0].id]
        assert ids(definition_id=permit.id) == [made[2].id]
        assert ids(case_id="C3") == [made[3].id]
        assert ids(parent_instance_id="p") == [made[1].id]
        assert ids(limit=2, offset=1) == [made[2].id, made[1].id]
        assert tx.query_instances(InstanceQuery(business_key="A", tenant_id="acme"))[0] == made[3]


def test_query_tasks(store: Store) -> None:
    d = deploy(store)
    state, ex = started(store, d, business_key="HS-7")
    inst = state.instance
    other, other_ex = started(store, deploy(store, "permit"))
    t_low = task(inst, ex, priority=10, candidate_groups=("clerks",), created_at=at(1))
    t_high = task(inst, ex, priority=90, candidate_groups=("clerks", "leads"), created_at=at(5),
                  business_key="HS-7", element_id="approve")
    t_old = task(inst, ex, priority=90, candidate_users=("an",), assignee="binh",
                 created_at=at(0), status="CLAIMED")
    t_done = task(inst, ex, status="COMPLETED", candidate_groups=("clerks",),
                  completed_at=at(9), completed_by="an", outcome="approved")
    t_other = task(other.instance, other_ex, candidate_groups=("clerks",), created_at=at(2))
    with store.transaction() as tx:
        s = tx.load_instance(inst.id)
        o = tx.load_instance(other.instance.id)
        assert s is not None
        assert o is not None
        for t in (t_low, t_high, t_old, t_done):
            s.tasks.add(t)
        o.tasks.add(t_other)
        tx.save(s)
        tx.save(o)
    with store.transaction() as tx:
        def ids(**kw: Any) -> list[str]:
            return [t.id for t in tx.query_tasks(TaskQuery(**kw))]

        assert ids() == [t_old.id, t_high.id, t_other.id, t_low.id]  # priority, then age
        assert ids(candidate_group="clerks") == [t_high.id, t_other.id, t_low.id]
        assert ids(candidate_group="clerks", include_closed=True) == [
            t_high.id, t_done.id, t_other.id, t_low.id,
        ]
        assert ids(candidate_group="leads") == [t_high.id]
        assert ids(candidate_user="an") == [t_old.id]
        assert ids(assignee="binh") == [t_old.id]
        assert ids(instance_id=inst.id) == [t_old.id, t_high.id, t_low.id]
        assert ids(process_key="permit") == [t_other.id]
        assert ids(element_id="approve") == [t_high.id]
        assert ids(business_key="HS-7") == [t_high.id]
        assert ids(tenant_id="acme") == []
        assert ids(candidate_group="clerks", tenant_id="default", limit=2, offset=1) == [
            t_other.id, t_low.id,
        ]
        got = tx.query_tasks(TaskQuery(candidate_group="leads"))[0]
        assert got.candidate_groups == ("clerks", "leads")
        assert tx.get_task(t_done.id) == t_done
        assert tx.get_task("missing") is None


def test_find_subscriptions_and_open_incidents(store: Store) -> None:
    d = deploy(store)
    a, a_ex = started(store, d, business_key="A")
    b, b_ex = started(store, d, business_key="B")
    with store.transaction() as tx:
        sa_ = tx.load_instance(a.instance.id)
        sb = tx.load_instance(b.instance.id)
        assert sa_ is not None
        assert sb is not None
        m_a = sa_.subscriptions.add(subscription(sa_.instance, a_ex, "paid", correlation_key="A"))
        m_b = sb.subscriptions.add(subscription(sb.instance, b_ex, "paid", correlation_key="B",
                                                created_at=at(1)))
        sig = sb.subscriptions.add(subscription(sb.instance, b_ex, "alarm", kind="signal"))
        open_a = sa_.incidents.add(incident(sa_.instance))
        sa_.incidents.add(incident(sa_.instance, resolved_at=at(3)))
        open_b = sb.incidents.add(incident(sb.instance, created_at=at(2)))
        tx.save(sa_)
        tx.save(sb)
    with store.transaction() as tx:
        assert tx.find_subscriptions(SubscriptionQuery("message", "paid")) == [m_a, m_b]
        assert tx.find_subscriptions(SubscriptionQuery("message", "paid", "B")) == [m_b]
        assert tx.find_subscriptions(SubscriptionQuery("message", "paid", business_key="A")) == [
            m_a
        ]
        assert tx.find_subscriptions(
            SubscriptionQuery("message", "paid", instance_id=b.instance.id)
        ) == [m_b]
        assert tx.find_subscriptions(SubscriptionQuery("signal", "alarm")) == [sig]
        assert tx.find_subscriptions(SubscriptionQuery("message", "paid", tenant_id="acme")) == []
        assert tx.open_incidents() == [open_a, open_b]
        assert tx.open_incidents(b.instance.id) == [open_b]


# --- external tasks ----------------------------------------------------------------------


def _external_tasks(store: Store, specs: list[dict[str, Any]]) -> list[str]:
    d = deploy(store)
    state, ex = started(store, d)
    suspended, s_ex = started(store, d, status="SUSPENDED")
    made = []
    with store.transaction() as tx:
        s = tx.load_instance(state.instance.id)
        z = tx.load_instance(suspended.instance.id)
        assert s is not None
        assert z is not None
        for spec in specs:
            spec = dict(spec)
            if spec.pop("suspended", False):
                made.append(z.external_tasks.add(
                    external_task(z.instance, s_ex, suspended=True, **spec)
                ).id)
            else:
                made.append(s.external_tasks.add(external_task(s.instance, ex, **spec)).id)
        tx.save(s)
        tx.save(z)
    return made


def test_lock_external_tasks(store: Store) -> None:
    low, high, old_high, no_retries, suspended, retried, other_topic = _external_tasks(store, [
        {"priority": 1, "created_at": at(0)},
        {"priority": 9, "created_at": at(2)},
        {"priority": 9, "created_at": at(1)},
        {"retries": 0},
        {"suspended": True},
        {"retries": 2, "created_at": at(3)},
        {"topic": "archive", "created_at": at(4)},
    ])
    now = at(10)
    verify = [TopicRequest("verify", 60_000)]
    with store.transaction() as tx:
        first = tx.lock_external_tasks("w1", verify, 2, now)
    assert [t.id for t in first] == [old_high, high]
    assert {(t.lock_owner, t.lock_expires_at) for t in first} == {
        ("w1", now + timedelta(minutes=1))
    }
    with store.transaction() as tx:
        rest = tx.lock_external_tasks("w2", verify, 10, now)
        assert [t.id for t in rest] == [low, retried]
        assert tx.lock_external_tasks("w3", verify, 10, now) == []
        got = tx.get_external_task(high)
        assert got is not None
        assert got.lock_owner == "w1"
        assert tx.get_external_task("missing") is None
        # a worker extends only its own lock
        assert tx.extend_external_task_lock(high, "w1", now + timedelta(minutes=5))
        assert not tx.extend_external_task_lock(high, "w2", now + timedelta(minutes=9))
        assert not tx.extend_external_task_lock("missing", "w1", now)
    later = now + timedelta(minutes=2)  # w1's other lock and w2's locks have expired
    with store.transaction() as tx:
        again = tx.lock_external_tasks(
            "w4", [TopicRequest("verify", 1000), TopicRequest("archive", 5000)], 10, later
        )
    assert [t.id for t in again] == [old_high, low, retried, other_topic]
    until = {t.id: t.lock_expires_at for t in again}
    assert until[low] == later + timedelta(seconds=1)
    assert until[other_topic] == later + timedelta(seconds=5)
    with store.transaction() as tx:
        assert tx.lock_external_tasks("w5", verify, 0, later) == []
        assert tx.lock_external_tasks("w5", [], 5, later) == []
        assert tx.lock_external_tasks("w5", verify, 5, later + timedelta(hours=1),
                                      tenant_ids=["acme"]) == []
        mine = tx.lock_external_tasks("w5", verify, 5, later + timedelta(hours=1),
                                      tenant_ids=["default"])
    assert {t.id for t in mine} == {high, old_high, low, retried}
    assert no_retries not in {t.id for t in mine}
    assert suspended not in {t.id for t in mine}


def test_locking_does_not_change_the_instance_revision(store: Store) -> None:
    (made,) = _external_tasks(store, [{}])
    with store.transaction() as tx:
        task_ = tx.get_external_task(made)
        assert task_ is not None
        before = tx.load_instance(task_.instance_id)
        assert before is not None
        (locked,) = tx.lock_external_tasks("w", [TopicRequest("verify", 1000)], 1, T0)
    state = load(store, locked.instance_id)
    assert state.instance.revision == before.instance.revision
    assert next(iter(state.external_tasks)).lock_owner == "w"


# --- idempotency and history ------------------------------------------------------------


def test_command_log(store: Store) -> None:
    record = CommandRecord("req-1", "complete", {"task": "t1", "n": [1, 2]}, T0)
    with store.transaction() as tx:
        assert tx.get_command("req-1") is None
        tx.insert_command(record)
        tx.insert_command(replace(record, tenant_id="acme", result={}))
    with store.transaction() as tx:
        assert tx.get_command("req-1") == record
        got = tx.get_command("req-1", "acme")
        assert got is not None
        assert got.result == {}
    with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
        tx.insert_command(replace(record, result={"twin": True}))
    with store.transaction() as tx:
        assert tx.get_command("req-1") == record


def test_history_is_appended_then_updated(store: Store) -> None:
    d = deploy(store)
    state = new_state(d)
    inst = state.instance
    ex = state.executions.add(execution(inst))
    start = activity(inst, ex, "start", element_type="startEvent", ended_at=T0,
                     outcome="completed")
    review = activity(inst, ex, "review", element_name="Review")
    gateway = activity(inst, ex, "gw", element_type="exclusiveGateway")
    state.history.extend([start, review, gateway])
    gateway.ended_at = T0  # ended in the same command: written once, with its end
    gateway.outcome = "completed"
    state.history_updates[gateway.id] = gateway
    with store.transaction() as tx:
        tx.save(state)
    with store.transaction() as tx:
        s = tx.load_instance(inst.id)
        assert s is not None
        ended = replace(review, ended_at=at(5), outcome="completed", called_instance_id="child")
        s.history_updates[review.id] = ended
        end = activity(s.instance, ex, "end", element_type="endEvent", started_at=at(5),
                       ended_at=at(5), outcome="completed")
        s.history.append(end)
        tx.save(s)
        assert s.history == []
        assert s.history_updates == {}
    with store.transaction() as tx:
        got = tx.activity_history(inst.id)
    assert got == [start, ended, gateway, end]


def test_a_swallowed_conflict_still_rolls_the_transaction_back(store: Store) -> None:
    d = deploy(store)
    state, _ = started(store, d)
    stale = load(store, state.instance.id)
    fresh = load(store, state.instance.id)
    with store.transaction() as tx:
        tx.save(fresh)
        fresh.variables.add(variable(fresh.instance, "first", 1, "integer"))
        tx.save(fresh)
    other = new_state(d)
    with pytest.raises(ConcurrencyConflict, match="rolled back"), store.transaction() as tx:
        tx.save(other)
        stale.variables.add(variable(stale.instance, "stale", 1, "integer"))
        with pytest.raises(ConcurrencyConflict):
            tx.save(stale)
        tx.insert_command(CommandRecord("after", "x", {}, T0))
    with store.transaction() as tx:
        assert tx.load_instance(other.instance.id) is None
        assert tx.get_command("after") is None
        assert [v.name for v in tx.instance_variables(state.instance.id)] == ["first"]


def test_a_losing_save_is_a_conflict_even_where_its_rows_would_clash(store: Store) -> None:
    # the revision check comes before anything else the save writes: the loser's copy of
    # a row the winner inserted must not surface as a duplicate key, but as the race
    d = deploy(store)
    state, _ = started(store, d)
    winner = load(store, state.instance.id)
    loser = load(store, state.instance.id)
    both = variable(winner.instance, "decision", "approve", "string")
    winner.variables.add(both)
    with store.transaction() as tx:
        tx.save(winner)
    loser.variables.add(replace(both, value="reject"))
    with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
        tx.save(loser)
    with store.transaction() as tx:
        got = tx.instance_variables(state.instance.id)
    assert [(v.name, v.value) for v in got] == [("decision", "approve")]


def test_a_saved_task_keeps_what_another_transaction_changed_in_other_columns(
    store: Store,
) -> None:
    # the work layer claims and reprioritises tasks in transactions of its own; a command
    # that read the task before must write what it changed (the status), not undo those
    if not isinstance(store, SqlStore) or not store.is_postgres:
        pytest.skip("one writer at a time: no other transaction can write in between")
    d = deploy(store)
    state, ex = started(store, d)
    s = load(store, state.instance.id)
    t = s.tasks.add(task(s.instance, ex))
    with store.transaction() as tx:
        tx.save(s)
    with store.transaction() as tx:
        s = tx.load_instance(state.instance.id)
        assert s is not None
        mine = s.tasks.get(t.id)
        assert mine is not None
        with store.transaction() as other:  # commits while this one still runs
            other.conn.execute(
                sa.update(schema.user_task)
                .where(schema.user_task.c.id == t.id)
                .values(assignee="lan", status="CLAIMED", priority=80)
            )
        mine.status = "COMPLETED"
        mine.completed_at = at(5)
        s.tasks.touch(mine)
        tx.save(s)
    with store.transaction() as tx:
        got = tx.get_task(t.id)
    assert got is not None
    assert (got.status, got.completed_at, got.assignee, got.priority) == (
        "COMPLETED", at(5), "lan", 80,
    )


def test_a_naive_timestamp_is_refused_and_nothing_is_written(store: Store) -> None:
    # a timestamp without a zone is ambiguous; the databases keep instants in UTC
    if not isinstance(store, SqlStore):
        pytest.skip("the memory store keeps the objects it is given")
    d = deploy(store)
    state, ex = started(store, d)
    s = load(store, state.instance.id)
    naive = datetime(2025, 3, 1, 8, 30)  # noqa: DTZ001 - the point of the test
    s.tasks.add(task(s.instance, ex, created_at=naive))
    # ValueError on PostgreSQL; on SQLite, SQLAlchemy's StatementError around it
    with pytest.raises(Exception, match="naive datetime"), store.transaction() as tx:
        tx.save(s)
    assert [t.id for t in load(store, state.instance.id).tasks] == []


def test_a_task_lookup_then_its_instance_in_one_transaction(store: Store) -> None:
    # PostgreSQL reads the instance ahead with the task; the result must be the same
    d = deploy(store)
    state, ex = started(store, d)
    with store.transaction() as tx:
        s = tx.load_instance(state.instance.id)
        assert s is not None
        t = s.tasks.add(task(s.instance, ex, candidate_groups=("clerks",)))
        s.external_tasks.add(external_task(s.instance, ex))
        s.variables.add(variable(s.instance, "x", 1, "integer"))
        tx.save(s)
    with store.transaction() as tx:
        found = tx.get_task(t.id)
        assert found == t
        first = tx.load_instance(state.instance.id)
        assert first is not None
        assert [v.name for v in first.variables] == ["x"]
        assert list(first.tasks.rows) == [t.id]
        first.variables.add(variable(first.instance, "y", 2, "integer"))
        tx.save(first)
        again = tx.load_instance(state.instance.id)  # reads what was just written
        assert again is not None
        assert again.instance.revision == first.instance.revision
        assert sorted(v.name for v in again.variables) == ["x", "y"]
        assert tx.get_task(t.id) == t
        tx.save(again)  # nothing changed: no write, no conflict
        (x,) = again.external_tasks
        assert tx.get_external_task(x.id) == x
        third = tx.load_instance(state.instance.id)
        assert third is not None
        assert list(third.external_tasks.rows) == [x.id]
        assert len(third.tasks) == 1
        assert tx.get_task("missing") is None
        assert tx.get_external_task("missing") is None


def _event(n: int, instance_id: str | None = "i-1") -> OutboxEvent:
    return OutboxEvent(
        id=f"e-{n}", type="StepCompleted", occurred_at=at(n),
        payload={"n": n, "names": ["Nguyễn", None]}, instance_id=instance_id,
    )


def test_the_outbox_keeps_events_in_the_order_they_were_added(store: Store) -> None:
    with store.transaction() as tx:
        tx.add_events([_event(1), _event(2, None)])
    with store.transaction() as tx:
        tx.add_events([_event(3)])
    with store.transaction(read_only=True) as tx:
        every = tx.events_after(0)
        assert [e.id for _, e in every] == ["e-1", "e-2", "e-3"]
        assert [seq for seq, _ in every] == sorted(seq for seq, _ in every)
        assert every[0][1] == _event(1)
        assert every[1][1].instance_id is None
        first_seq = every[0][0]
        assert [e.id for _, e in tx.events_after(first_seq, limit=1)] == ["e-2"]


def test_events_of_a_rolled_back_transaction_are_gone(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.add_events([_event(1)])
        raise RuntimeError("the change failed")
    with store.transaction(read_only=True) as tx:
        assert tx.events_after(0) == []


def test_an_instance_state_holds_its_open_tasks_not_its_history(store: Store) -> None:
    """Finished tasks stay queryable, but a command on the instance never reads them:
    its cost must not grow with the steps the instance has done."""
    d = deploy(store)
    state, ex = started(store, d)
    inst = state.instance
    with store.transaction() as tx:
        s = tx.load_instance(inst.id)
        assert s is not None
        by_status = {
            status: s.tasks.add(task(s.instance, ex, status=status))
            for status in ("OPEN", "CLAIMED", "DELEGATED", "ESCALATED", "COMPLETED", "CANCELLED")
        }
        tx.save(s)
    open_ids = {by_status[k].id for k in ("OPEN", "CLAIMED", "DELEGATED", "ESCALATED")}
    assert set(rows(load(store, inst.id), "tasks")) == open_ids
    with store.transaction() as tx:
        listed = tx.query_tasks(TaskQuery(instance_id=inst.id, include_closed=True))
        # looked up by id, a finished task is still found, whatever the instance holds
        done = tx.get_task(by_status["COMPLETED"].id)
    assert {t.id for t in listed} == {t.id for t in by_status.values()}
    assert done is not None and done.status == "COMPLETED"
