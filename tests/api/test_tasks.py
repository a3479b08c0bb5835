"""Tasks over real HTTP, on SQLite and PostgreSQL: queries, claiming, completion and the
other operations, each with its refusals (401, 403, 404, 409, 422)."""

from __future__ import annotations

import datetime as dt
import time

import httpx
import pytest

from caseflow.runtime.ports import TaskQuery
from tests.api.conftest import LiveApi
from tests.api.test_skeleton import assert_problem
from tests.bpmn import chain, flow, process

REVIEW = process(
    '<startEvent id="s"/>'
    '<userTask id="review" name="Review" camunda:candidateGroups="clerks" '
    'camunda:formKey="review-form"/>'
    '<exclusiveGateway id="decide"/>'
    '<endEvent id="approved"/><endEvent id="rejected"/>'
    + chain("s", "review", "decide")
    + flow("decide", "approved", "${outcome == 'approve'}", id="to_approved")
    + flow("decide", "rejected", "${outcome == 'reject'}", id="to_rejected"),
    id="review_case",
)
LEGAL = process(
    '<startEvent id="s"/><userTask id="opinion" name="Opinion" '
    'camunda:candidateGroups="lawyers"/><endEvent id="e"/>' + chain("s", "opinion", "e"),
    id="legal_case",
)
TWO_STEPS = process(
    '<startEvent id="s"/><userTask id="a" name="A" camunda:candidateGroups="clerks"/>'
    '<userTask id="b" name="B" camunda:candidateGroups="clerks"/><endEvent id="e"/>'
    + chain("s", "a", "b", "e"),
    id="two_steps",
)


def setup(api: LiveApi) -> None:
    """Queues intake and legal; clerks lan and binh work intake, lawyer chi works legal,
    sup manages both, out holds no grant."""
    work = api.services.work
    work.create_queue("intake")
    work.create_queue("legal")
    work.create_role("clerks", "Clerks", queue="intake")
    work.create_role("lawyers", "Lawyers", queue="legal")
    work.create_role("supervisors", "Supervisors", can_manage=True)
    work.assign_queue("intake", "supervisors")
    work.assign_queue("legal", "supervisors")
    for user_id, role in (("lan", "clerks"), ("binh", "clerks"), ("chi", "lawyers"),
                          ("sup", "supervisors")):
        work.create_user(user_id, user_id.title())
        work.grant(user_id, role, by="admin")
    work.create_user("out", "Outsider")
    for source in (REVIEW, LEGAL, TWO_STEPS):
        api.services.engine.deploy(source)


def start(api: LiveApi, key: str = "review_case", **kwargs: object) -> str:
    engine = api.services.engine
    instance = engine.start(key, **kwargs)  # type: ignore[arg-type]
    [task] = engine.tasks(TaskQuery(instance_id=instance.id))
    return task.id


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["items"]]


def test_task_list_filters_pages_and_counts(live_api: LiveApi) -> None:
    setup(live_api)
    small = start(live_api, business_key="B-1", variables={"amount": 500, "city": "Hue"})
    big = start(live_api, business_key="B-2", variables={"amount": 5000, "city": "Hanoi"})
    legal = start(live_api, "legal_case")
    lan = live_api.client_as("lan")
    assert set(ids(lan.get("/api/v1/tasks"))) == {small, big}
    assert ids(lan.get("/api/v1/tasks", params={"var.amount": "gt:1000"})) == [big]
    assert ids(lan.get("/api/v1/tasks", params={"var.city": "Hue"})) == [small]
    assert ids(lan.get("/api/v1/tasks", params={"var.city": "like:Ha%", "var.amount": "5000"})) == [
        big
    ]
    assert ids(lan.get("/api/v1/tasks", params={"businessKey": "B-1"})) == [small]
    assert ids(lan.get("/api/v1/tasks", params={"search": "b-2"})) == [big]
    assert set(ids(lan.get("/api/v1/tasks", params={"search": "REVIEW"}))) == {small, big}
    assert ids(lan.get("/api/v1/tasks", params={"search": "%"})) == []
    assert ids(lan.get("/api/v1/tasks", params={"processKey": "legal_case"})) == []
    assert ids(live_api.client_as("chi").get("/api/v1/tasks")) == [legal]
    assert ids(live_api.client_as("out").get("/api/v1/tasks")) == []
    page = lan.get("/api/v1/tasks", params={"size": 1, "page": 1, "sort": "createdAt,asc"})
    assert page.json()["total"] == 2
    assert page.json()["page"] == 1
    assert ids(page) == [big]
    assert lan.get("/api/v1/tasks/count", params={"var.amount": "lt:1000"}).json() == {
        "count": 1
    }
    task = lan.get("/api/v1/tasks", params={"businessKey": "B-1"}).json()["items"][0]
    assert task["taskDefinitionKey"] == "review"
    assert task["candidateGroups"] == ["clerks"]
    assert task["queue"] == "intake"
    lan.post(f"/api/v1/tasks/{small}/claim")
    assert ids(lan.get("/api/v1/tasks", params={"mine": "true"})) == [small]
    assert ids(lan.get("/api/v1/tasks", params={"available": "true"})) == [big]
    assert ids(lan.get("/api/v1/tasks", params={"status": "CLAIMED"})) == [small]
    # bad input
    assert_problem(lan.get("/api/v1/tasks", params={"sort": "secret,asc"}), 422,
                   "validation_failed")
    assert_problem(lan.get("/api/v1/tasks", params={"status": "DONE"}), 422, "validation_failed")
    assert_problem(lan.get("/api/v1/tasks", params={"size": 501}), 422, "validation_failed")
    assert_problem(lan.get("/api/v1/tasks", params={"dueBefore": "2025-01-01T00:00:00"}), 422,
                   "validation_failed")  # no offset
    assert_problem(lan.get("/api/v1/tasks", params={"var.flag": "gt:true"}), 422,
                   "validation_failed")
    assert_problem(live_api.anonymous().get("/api/v1/tasks"), 401, "unauthenticated")


def test_get_task_with_variables_form_outcomes_and_history(live_api: LiveApi) -> None:
    setup(live_api)
    task_id = start(live_api, variables={"amount": 700})
    lan = live_api.client_as("lan")
    found = lan.get(f"/api/v1/tasks/{task_id}")
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["variables"] == {"amount": 700}
    assert body["formKey"] == "review-form"
    assert [o["value"] for o in body["outcomes"]] == ["approve", "reject"]
    assert body["sla"]["status"] is None
    form = lan.get(f"/api/v1/tasks/{task_id}/form").json()
    assert form == {"formKey": "review-form", "variables": {"amount": 700}}
    lan.post(f"/api/v1/tasks/{task_id}/claim")
    history = lan.get(f"/api/v1/tasks/{task_id}/history").json()
    assert [h["action"] for h in history][-1] == "CLAIM"
    assert history[-1]["actionBy"] == "lan"
    # someone outside the queue: 403; an unknown id: 404
    assert_problem(live_api.client_as("chi").get(f"/api/v1/tasks/{task_id}"), 403, "forbidden")
    assert_problem(live_api.client_as("out").get(f"/api/v1/tasks/{task_id}/history"), 403,
                   "forbidden")
    assert_problem(lan.get("/api/v1/tasks/no-such-task"), 404, "not_found")
    assert_problem(live_api.anonymous().get(f"/api/v1/tasks/{task_id}"), 401, "unauthenticated")


def test_claim_complete_and_the_conflicts(live_api: LiveApi) -> None:
    setup(live_api)
    task_id = start(live_api)
    lan, binh = live_api.client_as("lan"), live_api.client_as("binh")
    claimed = lan.post(f"/api/v1/tasks/{task_id}/claim")
    assert claimed.status_code == 200, claimed.text
    assert (claimed.json()["status"], claimed.json()["assignee"]) == ("CLAIMED", "lan")
    assert_problem(binh.post(f"/api/v1/tasks/{task_id}/claim"), 409, "illegal_state")
    assert_problem(binh.post(f"/api/v1/tasks/{task_id}/complete", json={}), 403, "forbidden")
    assert_problem(
        lan.post(f"/api/v1/tasks/{task_id}/complete", json={"variables": "not a map"}), 422,
        "validation_failed",
    )
    done = lan.post(
        f"/api/v1/tasks/{task_id}/complete",
        json={"variables": {"note": "ok"}, "outcome": "approve", "outcomeReason": "complete file",
              "formData": {"checked": True}},
        headers={"Idempotency-Key": "req-1"},
    )
    assert done.status_code == 200, done.text
    assert done.json() == {"taskId": task_id, "nextTasks": []}
    # the client retries: the same answer, nothing done twice
    again = lan.post(f"/api/v1/tasks/{task_id}/complete", json={"outcome": "reject"},
                     headers={"Idempotency-Key": "req-1"})
    assert again.json() == done.json()
    record = live_api.services.engine.task(task_id)
    instance = live_api.services.engine.instance_record(record.instance_id)
    assert instance.status == "COMPLETED"
    assert live_api.services.engine.variables(record.instance_id)["outcome"] == "approve"
    assert_problem(binh.post(f"/api/v1/tasks/{task_id}/claim"), 409, "illegal_state")
    assert_problem(lan.post(f"/api/v1/tasks/{task_id}/complete", json={}), 409, "illegal_state")
    assert_problem(lan.post("/api/v1/tasks/nope/claim"), 404, "not_found")
    assert_problem(live_api.client_as("out").post(f"/api/v1/tasks/{start(live_api)}/claim"),
                   403, "forbidden")


def test_completion_answers_with_the_next_tasks(live_api: LiveApi) -> None:
    setup(live_api)
    first = start(live_api, "two_steps")
    lan = live_api.client_as("lan")
    lan.post(f"/api/v1/tasks/{first}/claim")
    done = lan.post(f"/api/v1/tasks/{first}/complete")  # no body at all
    assert done.status_code == 200, done.text
    [following] = done.json()["nextTasks"]
    assert lan.get(f"/api/v1/tasks/{following}").json()["taskDefinitionKey"] == "b"


def test_claim_next_in_the_callers_queues(live_api: LiveApi) -> None:
    setup(live_api)
    low = start(live_api)
    high = start(live_api)
    live_api.services.work.set_priority("sup", high, 90)
    legal = start(live_api, "legal_case")
    lan = live_api.client_as("lan")
    first = lan.post("/api/v1/tasks/claim/next")
    assert first.status_code == 200, first.text
    assert first.json()["id"] == high
    assert lan.post("/api/v1/tasks/claim/next", json={"queues": ["legal"]}).status_code == 204
    assert lan.post("/api/v1/tasks/claim/next", json={"queues": ["intake"]}).json()["id"] == low
    assert lan.post("/api/v1/tasks/claim/next").status_code == 204
    assert live_api.client_as("out").post("/api/v1/tasks/claim/next").status_code == 204
    assert_problem(lan.post("/api/v1/tasks/claim/next", json={"queues": "intake"}), 422,
                   "validation_failed")
    # seed 001's routes
    chi = live_api.client_as("chi")
    seed = chi.post("/api/workflow/tasks/claim/next", params={"queueNames": "legal"})
    assert seed.status_code == 200, seed.text
    assert seed.json()["id"] == legal
    assert chi.post("/api/workflow/tasks/claim/next").status_code == 204
    completed = chi.post(f"/api/workflow/tasks/{legal}/complete", json={"variables": {"x": 1}})
    assert completed.status_code == 200, completed.text
    assert_problem(live_api.anonymous().post("/api/workflow/tasks/claim/next"), 401,
                   "unauthenticated")
    assert_problem(chi.post(f"/api/workflow/tasks/{legal}/complete", json={}), 409,
                   "illegal_state")
    assert_problem(lan.post(f"/api/workflow/tasks/{legal}/complete", json={}), 403, "forbidden")


def test_a_grant_that_ends_stops_seeing_and_claiming(live_api: LiveApi) -> None:
    setup(live_api)
    work = live_api.services.work
    task_id = start(live_api)
    legal = start(live_api, "legal_case")
    work.create_user("tam", "Tam")
    now = live_api.services.clock.now()
    # an old grant, long over, and a fresh one ending in a few seconds
    work.grant("tam", "lawyers", by="admin", valid_from=now - dt.timedelta(days=9),
               valid_until=now - dt.timedelta(days=1))
    ends = now + dt.timedelta(seconds=4)
    work.grant("tam", "clerks", by="admin", valid_until=ends)
    tam = live_api.client_as("tam")
    assert ids(tam.get("/api/v1/tasks")) == [task_id]
    assert_problem(tam.get(f"/api/v1/tasks/{legal}"), 403, "forbidden")
    assert_problem(tam.post(f"/api/v1/tasks/{legal}/claim"), 403, "forbidden")
    time.sleep(max(0.0, (ends - live_api.services.clock.now()).total_seconds() + 0.1))
    assert ids(tam.get("/api/v1/tasks")) == []
    assert_problem(tam.get(f"/api/v1/tasks/{task_id}"), 403, "forbidden")
    assert_problem(tam.post(f"/api/v1/tasks/{task_id}/claim"), 403, "forbidden")
    assert tam.post("/api/v1/tasks/claim/next").status_code == 204


def test_delegate_resolve_reassign_unclaim(live_api: LiveApi) -> None:
    setup(live_api)
    task_id = start(live_api)
    lan, binh, sup = (live_api.client_as(u) for u in ("lan", "binh", "sup"))
    lan.post(f"/api/v1/tasks/{task_id}/claim")
    delegated = lan.post(f"/api/v1/tasks/{task_id}/delegate", json={"userId": "binh"})
    assert delegated.status_code == 200, delegated.text
    assert (delegated.json()["status"], delegated.json()["owner"]) == ("DELEGATED", "lan")
    assert_problem(lan.post(f"/api/v1/tasks/{task_id}/resolve"), 403, "forbidden")
    resolved = binh.post(f"/api/v1/tasks/{task_id}/resolve", json={"comment": "checked"})
    assert resolved.json()["assignee"] == "lan"
    assert_problem(lan.post(f"/api/v1/tasks/{task_id}/delegate", json={"userId": "chi"}), 403,
                   "forbidden")  # chi does not work intake
    assert_problem(lan.post(f"/api/v1/tasks/{task_id}/delegate", json={"userId": "ghost"}), 404,
                   "not_found")
    assert_problem(lan.post(f"/api/v1/tasks/{task_id}/delegate", json={}), 422,
                   "validation_failed")
    assert_problem(binh.post(f"/api/v1/tasks/{task_id}/reassign", json={"userId": "binh"}), 403,
                   "forbidden")
    reassigned = sup.post(f"/api/v1/tasks/{task_id}/reassign", json={"userId": "binh"})
    assert reassigned.json()["assignee"] == "binh"
    unclaimed = binh.post(f"/api/v1/tasks/{task_id}/unclaim")
    assert (unclaimed.json()["status"], unclaimed.json()["assignee"]) == ("OPEN", None)
    assert_problem(binh.post(f"/api/v1/tasks/{task_id}/unclaim"), 403, "forbidden")


def test_escalate_cancel_comment_priority_due_follow_up(live_api: LiveApi) -> None:
    setup(live_api)
    task_id = start(live_api)
    lan, sup = live_api.client_as("lan"), live_api.client_as("sup")
    assert_problem(lan.post(f"/api/v1/tasks/{task_id}/escalate", json={"reason": "x"}), 403,
                   "forbidden")
    escalated = sup.post(f"/api/v1/tasks/{task_id}/escalate",
                         json={"reason": "waiting too long", "toQueue": "legal"})
    assert escalated.status_code == 200, escalated.text
    body = escalated.json()
    assert (body["status"], body["escalationLevel"], body["queue"]) == ("ESCALATED", 1, "legal")
    assert_problem(sup.post(f"/api/v1/tasks/{task_id}/escalate", json={"toQueue": "nowhere"}),
                   404, "not_found")
    comment = live_api.client_as("chi").post(f"/api/v1/tasks/{task_id}/comments",
                                             json={"text": "looking"})
    assert comment.status_code == 201, comment.text
    assert comment.json()["comment"] == "looking"
    assert_problem(sup.post(f"/api/v1/tasks/{task_id}/comments", json={"text": ""}), 422,
                   "validation_failed")
    assert [c["comment"] for c in sup.get(f"/api/v1/tasks/{task_id}/comments").json()] == [
        "looking"
    ]
    assert sup.put(f"/api/v1/tasks/{task_id}/priority", json={"priority": 80}).json()[
        "priority"
    ] == 80
    assert_problem(sup.put(f"/api/v1/tasks/{task_id}/priority", json={"priority": 101}), 422,
                   "validation_failed")
    assert_problem(lan.put(f"/api/v1/tasks/{task_id}/priority", json={"priority": 1}), 403,
                   "forbidden")
    due = sup.put(f"/api/v1/tasks/{task_id}/due", json={"dueAt": "2030-01-02T03:04:05+07:00"})
    assert due.json()["dueAt"].startswith("2030-01-01T20:04:05")
    assert_problem(sup.put(f"/api/v1/tasks/{task_id}/due", json={"dueAt": "tomorrow"}), 422,
                   "validation_failed")
    follow = sup.put(f"/api/v1/tasks/{task_id}/follow-up",
                     json={"followUpAt": "2030-01-01T00:00:00Z"})
    assert follow.json()["followUpAt"].startswith("2030-01-01T00:00:00")
    chi = live_api.client_as("chi")
    assert_problem(chi.post(f"/api/v1/tasks/{task_id}/cancel", json={"reason": "x"}), 403,
                   "forbidden")
    assert_problem(sup.post(f"/api/v1/tasks/{task_id}/cancel", json={}), 422,
                   "validation_failed")
    cancelled = sup.post(f"/api/v1/tasks/{task_id}/cancel", json={"reason": "withdrawn"})
    assert cancelled.status_code == 204, cancelled.text
    assert sup.get(f"/api/v1/tasks/{task_id}").json()["status"] == "CANCELLED"
    assert_problem(sup.post(f"/api/v1/tasks/{task_id}/escalate", json={}), 409, "illegal_state")


def test_metrics_count_tasks_opened_claimed_and_completed_per_queue(live_api: LiveApi) -> None:
    setup(live_api)
    first = start(live_api, "two_steps")
    lan = live_api.client_as("lan")
    assert lan.post(f"/api/v1/tasks/{first}/claim").status_code == 200
    assert lan.post(f"/api/v1/tasks/{first}/claim").status_code == 200  # a no-op: not counted
    assert_problem(live_api.client_as("binh").post(f"/api/v1/tasks/{first}/claim"), 409,
                   "illegal_state")  # refused: not counted
    done = lan.post(f"/api/v1/tasks/{first}/complete")
    assert done.status_code == 200, done.text
    assert lan.post("/api/v1/tasks/claim/next").status_code == 200  # the second step
    text = live_api.anonymous().get("/metrics").text
    assert 'caseflow_tasks_total{action="opened",queue="intake"} 2.0' in text
    assert 'caseflow_tasks_total{action="claimed",queue="intake"} 2.0' in text
    assert 'caseflow_tasks_total{action="completed",queue="intake"} 1.0' in text


def test_task_lists_carry_each_tasks_sla_in_business_time(live_api: LiveApi) -> None:
    setup(live_api)
    live_api.services.work.update_queue("intake", sla_minutes=16 * 60)  # two working days
    timed = start(live_api)
    untimed = start(live_api, "legal_case")
    sup = live_api.client_as("sup")
    listed = sup.get("/api/v1/tasks")
    assert listed.status_code == 200, listed.text
    by_id = {t["id"]: t for t in listed.json()["items"]}
    sla = by_id[timed]["sla"]
    assert sla["status"] == "ON_TRACK"
    assert sla["dueAt"] is not None
    # due 16 working hours after it opened, counted on the Vietnam office calendar: so
    # 16 working hours are left (less the working seconds this test took)
    assert 16 * 60 - 1 <= sla["remainingBusinessMinutes"] <= 16 * 60
    assert by_id[untimed]["sla"] is None
    detail = sup.get(f"/api/v1/tasks/{timed}").json()
    assert detail["sla"]["remainingBusinessMinutes"] == pytest.approx(
        sla["remainingBusinessMinutes"], abs=1
    )
