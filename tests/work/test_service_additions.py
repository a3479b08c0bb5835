"""WorkService operations the HTTP API needs: updates of departments and users, lists of
users, skills and queue assignments, completion with an idempotency key."""

from __future__ import annotations

import pytest

from caseflow.errors import IllegalState, NotFound
from caseflow.runtime.ports import TaskQuery
from tests.bpmn import chain, process
from tests.work.conftest import Org, user_task


def test_departments_are_updated_and_never_under_themselves(org: Org) -> None:
    work = org.work
    work.create_department("registry", "Registry", parent="intake")
    changed = work.update_department("intake", name="Reception", parent="legal")
    assert (changed.name, changed.parent_id) == ("Reception", work.department("legal").id)
    assert work.department("intake").description is None
    with pytest.raises(IllegalState, match="under itself"):
        work.update_department("legal", parent="registry")  # registry < intake < legal
    with pytest.raises(IllegalState):
        work.update_department("legal", parent="legal")
    assert work.update_department("registry", active=False).active is False
    with pytest.raises(NotFound):
        work.update_department("nowhere", name="x")


def test_users_are_listed_and_updated(org: Org) -> None:
    work = org.work
    assert [u.id for u in work.users()] == ["binh", "chi", "lan", "out", "sup"]
    lan = work.update_user("lan", name="Lan Tran", email="lan@example.org", department="legal")
    assert (lan.name, lan.email, lan.department_id) == (
        "Lan Tran", "lan@example.org", work.department("legal").id,
    )
    assert work.update_user("lan", email=None).email is None
    assert work.user("lan").name == "Lan Tran"
    with pytest.raises(NotFound):
        work.update_user("ghost", name="x")
    with pytest.raises(NotFound):
        work.update_user("lan", department="nowhere")


def test_skills_and_queue_assignments_are_listed(org: Org) -> None:
    work = org.work
    work.create_skill("tax", "Tax law")
    work.create_skill("audit", "Audit")
    assert [s.code for s in work.skills()] == ["audit", "tax"]
    assert {a.queue_id for a in work.queue_assignments()} == {
        work.queue("intake").id, work.queue("legal").id,
    }
    [legal] = work.queue_assignments("legal")
    assert legal.queue_id == work.queue("legal").id
    with pytest.raises(NotFound):
        work.queue_assignments("nowhere")


def test_complete_with_an_idempotency_key_answers_a_retry_alike(org: Org) -> None:
    work = org.work
    org.engine.deploy(process(
        '<startEvent id="s"/>' + user_task("a", groups="clerks") + user_task("b", groups="clerks")
        + '<endEvent id="e"/>' + chain("s", "a", "b", "e"),
        id="two_steps",
    ))
    first = org.start("two_steps")
    work.claim("lan", first)
    opened = work.complete("lan", first, {"n": 1}, idempotency_key="k-1")
    assert [t.element_id for t in opened] == ["b"]
    again = work.complete("lan", first, {"n": 2}, idempotency_key="k-1")
    assert [t.id for t in again] == [t.id for t in opened]
    instance = opened[0].instance_id
    assert org.engine.variables(instance)["n"] == 1
    assert len(org.engine.tasks(TaskQuery(instance_id=instance))) == 1
    # without the key, a second completion is refused as usual
    with pytest.raises(IllegalState):
        work.complete("lan", first)


def test_search_matches_name_business_key_or_case_id(org: Org) -> None:
    from caseflow.work import TaskFilter

    first = org.start(business_key="HS-100_A", case_id="CASE-7")
    second = org.start(business_key="HS-200")
    found = {t.id for t in org.work.tasks("lan", TaskFilter(search="hs-1"))}
    assert found == {first}
    assert {t.id for t in org.work.tasks("lan", TaskFilter(search="case-7"))} == {first}
    assert {t.id for t in org.work.tasks("lan", TaskFilter(search="review"))} == {first, second}
    assert {t.id for t in org.work.tasks("lan", TaskFilter(search="0_a"))} == {first}
    assert org.work.tasks("lan", TaskFilter(search="s_1")) == []  # _ is no wildcard
    assert org.work.tasks("lan", TaskFilter(search="0%")) == []
    assert org.work.count_tasks("out", TaskFilter(search="hs")) == 0
