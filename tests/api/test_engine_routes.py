"""Deployments, definitions, instances, external tasks, messages, signals, incidents and
jobs over real HTTP, on SQLite and PostgreSQL: each with its success and refusal paths."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from caseflow.time.jobs import JobExecutor
from tests.api.conftest import LiveApi
from tests.api.test_skeleton import assert_problem
from tests.bpmn import chain, definitions, process

DI = (
    'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
    'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
    'xmlns:di="http://www.omg.org/spec/DD/20100524/DI"'
)

REVIEW = process(
    '<startEvent id="s"/>'
    '<userTask id="review" name="Review" camunda:candidateGroups="clerks"'
    ' camunda:formKey="review-form"/>'
    '<endEvent id="e"/>' + chain("s", "review", "e"),
    id="review_case",
    name="Review a case",
).replace(
    "</definitions>",
    f'<bpmndi:BPMNDiagram id="d" {DI}><bpmndi:BPMNPlane id="pl" bpmnElement="review_case">'
    '<bpmndi:BPMNShape id="s_di" bpmnElement="s"><dc:Bounds x="10" y="20" width="36"'
    ' height="36"/></bpmndi:BPMNShape>'
    '<bpmndi:BPMNEdge id="f_di" bpmnElement="f_s_review"><di:waypoint x="46" y="38"/>'
    '<di:waypoint x="100" y="38"/></bpmndi:BPMNEdge>'
    "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram></definitions>",
)

CHARGE = process(
    '<startEvent id="s"/><serviceTask id="charge" camunda:type="external"'
    ' camunda:topic="charge"/><endEvent id="e"/>' + chain("s", "charge", "e"),
    id="charge_card",
)

PAYMENT = definitions(
    '<process id="await_payment" isExecutable="true"><startEvent id="s"/>'
    '<intermediateCatchEvent id="paid"><messageEventDefinition messageRef="m_paid"/>'
    '</intermediateCatchEvent><endEvent id="e"/>' + chain("s", "paid", "e") + "</process>",
    roots='<message id="m_paid" name="paid"/>',
)

SIGNALLED = definitions(
    '<process id="on_alarm" isExecutable="true"><startEvent id="s">'
    '<signalEventDefinition signalRef="sig"/></startEvent><endEvent id="e"/>'
    + chain("s", "e") + "</process>",
    roots='<signal id="sig" name="alarm"/>',
)

FORM = json.dumps({"id": "review-form", "type": "default", "components": [
    {"key": "approved", "label": "Approved", "type": "checkbox"}]})


def deploy(api: LiveApi, *files: tuple[str, str], **fields: str) -> httpx.Response:
    upload = [("files", (name, content.encode(), "application/octet-stream"))
              for name, content in files]
    return api.admin().post("/api/v1/deployments", files=upload, data=fields)


def deployed(api: LiveApi, *files: tuple[str, str]) -> dict[str, Any]:
    response = deploy(api, *files)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# ------------------------------------------------------------------ deployments, definitions


def test_deploying_bpmn_and_forms_together(live_api: LiveApi) -> None:
    first = deploy(live_api, ("review.bpmn", REVIEW), ("review.form", FORM),
                   name="Review", category="permits", procedureCode="P-1", slaTargetHours="8")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["deploymentId"] is not None
    [definition] = body["definitions"]
    assert (definition["key"], definition["version"]) == ("review_case", 1)
    assert definition["category"] == "permits"
    assert definition["procedureCode"] == "P-1"
    assert definition["slaTargetHours"] == 8
    assert [f["formKey"] for f in body["forms"]] == ["review-form"]
    again = deploy(live_api, ("review.bpmn", REVIEW), ("review.form", FORM)).json()
    assert again["deploymentId"] is None
    assert [d["id"] for d in again["unchanged"]] == [definition["id"]]
    assert [f["version"] for f in again["unchangedForms"]] == [1]
    form = live_api.client_as("anyone").get("/api/v1/forms/review-form")
    assert form.status_code == 200
    assert form.json()["components"][0]["key"] == "approved"
    by_file = live_api.client_as("anyone").get(
        "/api/v1/forms/camunda-forms:deployment:review.form")
    assert by_file.json()["id"] == "review-form"
    admin = live_api.admin()
    listing = admin.get("/api/v1/deployments").json()
    assert listing["total"] == 1
    one = admin.get(f"/api/v1/deployments/{body['deploymentId']}").json()
    assert [d["key"] for d in one["definitions"]] == ["review_case"]
    assert [f["formKey"] for f in one["forms"]] == ["review-form"]
    resource = admin.get(f"/api/v1/deployments/{body['deploymentId']}/resources/review.bpmn")
    assert resource.status_code == 200
    assert 'id="review_case"' in resource.text


def test_deployment_refusals(live_api: LiveApi) -> None:
    broken = process('<startEvent id="s"/><endEvent id="e"/>' + chain("s", "missing"))
    bad = deploy(live_api, ("ok.bpmn", CHARGE), ("broken.bpmn", broken))
    body = assert_problem(bad, 422, "validation_failed")
    assert any(e["resource"] == "broken.bpmn" for e in body["errors"])
    # nothing of the upload was deployed
    assert live_api.admin().get("/api/v1/definitions").json()["total"] == 0
    assert_problem(deploy(live_api, ("notes.txt", "hello")), 422, "unsupported_resource")
    assert_problem(deploy(live_api, ("f.form", "{not json")), 422, "form_invalid")
    malformed = assert_problem(deploy(live_api, ("x.bpmn", "<definitions")), 422,
                               "validation_failed")
    assert malformed["errors"][0]["code"] == "xml_invalid"
    hostile = '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]><d>&x;</d>'
    assert deploy(live_api, ("h.bpmn", hostile)).status_code == 422
    upload = [("files", ("c.bpmn", CHARGE.encode(), "application/xml"))]
    worker = live_api.client_as("worker")
    assert_problem(worker.post("/api/v1/deployments", files=upload), 403, "forbidden")
    anonymous = live_api.anonymous()
    assert_problem(anonymous.post("/api/v1/deployments", files=upload), 401, "unauthenticated")
    assert_problem(live_api.admin().post("/api/v1/deployments", data={"name": "x"}), 422,
                   "validation_failed")
    admin = live_api.admin()
    assert_problem(admin.get("/api/v1/deployments/nope"), 404, "not_found")
    assert_problem(admin.get("/api/v1/forms/nope"), 404, "not_found")


def test_definitions_versions_xml_graph_status(live_api: LiveApi) -> None:
    first = deployed(live_api, ("review.bpmn", REVIEW))["definitions"][0]
    second = deployed(live_api, ("review.bpmn", REVIEW.replace("Review a case", "Review v2")))
    second_id = second["definitions"][0]["id"]
    operator = live_api.operator()
    listed = operator.get("/api/v1/definitions", params={"key": "review_case"}).json()
    assert [d["version"] for d in listed["items"]] == [1, 2]
    latest = operator.get("/api/v1/definitions", params={"latest": "true"}).json()
    assert [d["id"] for d in latest["items"]] == [second_id]
    versions = operator.get("/api/v1/definitions/key/review_case/versions").json()
    assert [v["version"] for v in versions] == [1, 2]
    assert operator.get(f"/api/v1/definitions/{first['id']}").json()["name"] == "Review a case"
    xml = live_api.client_as("worker").get(f"/api/v1/definitions/{first['id']}/xml")
    assert xml.headers["content-type"].startswith("application/xml")
    assert "Review a case" in xml.text
    graph = live_api.client_as("worker").get(f"/api/v1/definitions/{first['id']}/graph").json()
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["s"]["x"] == 10 and nodes["s"]["width"] == 36
    assert nodes["review"]["type"] == "userTask" and nodes["review"]["x"] is None
    flows = {f["id"]: f for f in graph["flows"]}
    assert flows["f_s_review"]["waypoints"] == [[46, 38], [100, 38]]
    assert flows["f_review_e"]["source"] == "review"
    admin = live_api.admin()
    changed = admin.put(f"/api/v1/definitions/{second_id}/status", json={"status": "Deprecated"})
    assert changed.json()["status"] == "Deprecated"
    deprecated = operator.get("/api/v1/definitions", params={"status": "Deprecated"}).json()
    assert [d["id"] for d in deprecated["items"]] == [second_id]
    assert_problem(admin.put(f"/api/v1/definitions/{second_id}/status",
                             json={"status": "Gone"}), 422, "validation_failed")
    assert_problem(operator.put(f"/api/v1/definitions/{second_id}/status",
                                json={"status": "Draft"}), 403, "forbidden")
    assert_problem(operator.get("/api/v1/definitions/nope"), 404, "not_found")
    assert_problem(operator.get("/api/v1/definitions/key/nope/versions"), 404, "not_found")
    assert_problem(live_api.client_as("worker").get("/api/v1/definitions"), 403, "forbidden")
    assert_problem(operator.get("/api/v1/definitions", params={"sort": "secret,asc"}), 422,
                   "validation_failed")
    assert_problem(operator.get("/api/v1/definitions", params={"size": 501}), 422,
                   "validation_failed")


# ------------------------------------------------------------------ instances


def test_starting_and_reading_instances(live_api: LiveApi) -> None:
    deployed(live_api, ("review.bpmn", REVIEW))
    operator = live_api.operator()
    started = operator.post("/api/v1/process-instances", json={
        "processKey": "review_case", "businessKey": "B-1", "caseId": "C-1",
        "variables": {"amount": 12, "name": "Lan"}})
    assert started.status_code == 201, started.text
    instance = started.json()
    assert instance["status"] == "ACTIVE"
    assert instance["version"] == 1
    assert started.headers["Location"].endswith(instance["id"])
    detail = operator.get(f"/api/v1/process-instances/{instance['id']}").json()
    assert detail["activeElements"] == ["review"]
    assert detail["variables"] == {"amount": 12, "name": "Lan"}
    assert [t["elementId"] for t in detail["tasks"]] == ["review"]
    assert detail["tasks"][0]["formKey"] == "review-form"
    listed = operator.get("/api/v1/process-instances", params={"businessKey": "B-1"}).json()
    assert [i["id"] for i in listed["items"]] == [instance["id"]]
    assert operator.get("/api/v1/process-instances", params={"caseId": "C-9"}).json()["items"] == []
    history = operator.get(f"/api/v1/process-instances/{instance['id']}/history").json()
    assert [h["elementId"] for h in history][:2] == ["s", "review"]
    variables = operator.put(f"/api/v1/process-instances/{instance['id']}/variables",
                             json={"amount": 13, "note": {"a": [1, 2]}})
    assert variables.json() == {"amount": 13, "name": "Lan", "note": {"a": [1, 2]}}
    assert operator.get(f"/api/v1/process-instances/{instance['id']}/variables").json()[
        "amount"] == 13


def test_instance_refusals(live_api: LiveApi) -> None:
    deployed(live_api, ("review.bpmn", REVIEW))
    operator = live_api.operator()
    start = "/api/v1/process-instances"
    assert_problem(operator.post(start, json={"processKey": "nope"}), 404, "not_found")
    assert_problem(operator.post(start, json={}), 422, "validation_failed")
    assert_problem(operator.post(start, json={"processKey": "review_case", "version": 7}), 404,
                   "not_found")
    assert_problem(operator.post(start, json={"processKey": "x", "definitionId": "y"}), 422,
                   "validation_failed")
    assert_problem(operator.post(start, json={"processKey": "review_case", "variables": [1]}),
                   422, "validation_failed")
    # a user the process does not name as a starter
    assert_problem(live_api.client_as("worker").post(start, json={"processKey": "review_case"}),
                   403, "forbidden")
    assert_problem(live_api.anonymous().post(start, json={"processKey": "review_case"}), 401,
                   "unauthenticated")
    assert_problem(live_api.client_as("worker").get(start), 403, "forbidden")
    assert_problem(operator.get(f"{start}/nope"), 404, "not_found")
    assert_problem(operator.post(f"{start}/nope/suspend"), 404, "not_found")
    assert_problem(operator.put(f"{start}/nope/variables", json={"a": 1}), 404, "not_found")


def test_suspend_resume_terminate(live_api: LiveApi) -> None:
    deployed(live_api, ("review.bpmn", REVIEW))
    operator = live_api.operator()
    iid = operator.post("/api/v1/process-instances", json={"processKey": "review_case"}).json()[
        "id"]
    base = f"/api/v1/process-instances/{iid}"
    assert_problem(live_api.client_as("worker").post(f"{base}/suspend"), 403, "forbidden")
    assert operator.post(f"{base}/suspend").json()["status"] == "SUSPENDED"
    assert_problem(operator.post(f"{base}/suspend"), 409, "instance_not_active")
    assert operator.post(f"{base}/resume").json()["status"] == "ACTIVE"
    ended = operator.post(f"{base}/terminate", json={"reason": "duplicate"})
    assert ended.json()["status"] == "TERMINATED"
    assert ended.json()["endReason"] == "duplicate"
    assert_problem(operator.post(f"{base}/terminate"), 409, "instance_not_active")
    assert_problem(operator.put(f"{base}/variables", json={"a": 1}), 409, "instance_not_active")


def test_a_worker_reads_instances_holding_a_task_they_may_see(live_api: LiveApi) -> None:
    deployed(live_api, ("review.bpmn", REVIEW))
    live_api.user_with_role("clerk", "clerks")
    operator = live_api.operator()
    iid = operator.post("/api/v1/process-instances", json={"processKey": "review_case"}).json()[
        "id"]
    clerk = live_api.client_as("clerk")
    seen = clerk.get(f"/api/v1/process-instances/{iid}")
    assert seen.status_code == 200, seen.text
    assert clerk.get(f"/api/v1/process-instances/{iid}/variables").status_code == 200
    outsider = live_api.client_as("outsider")
    assert_problem(outsider.get(f"/api/v1/process-instances/{iid}"), 403, "forbidden")
    assert_problem(outsider.get(f"/api/v1/process-instances/{iid}/history"), 403, "forbidden")
    assert_problem(clerk.post(f"/api/v1/process-instances/{iid}/terminate"), 403, "forbidden")


def test_idempotency_key_on_start_returns_the_first_instance(live_api: LiveApi) -> None:
    deployed(live_api, ("review.bpmn", REVIEW))
    operator = live_api.operator()
    headers = {"Idempotency-Key": "start-B-7"}
    body = {"processKey": "review_case", "businessKey": "B-7"}
    first = operator.post("/api/v1/process-instances", json=body, headers=headers)
    again = operator.post("/api/v1/process-instances", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    listed = operator.get("/api/v1/process-instances", params={"businessKey": "B-7"}).json()
    assert len(listed["items"]) == 1


# ------------------------------------------------------------------ external tasks, incidents


def test_external_task_fetch_complete(live_api: LiveApi) -> None:
    deployed(live_api, ("charge.bpmn", CHARGE))
    operator = live_api.operator()
    iid = operator.post("/api/v1/process-instances", json={
        "processKey": "charge_card", "variables": {"amount": 5, "secret": "x"}}).json()["id"]
    worker = live_api.api_key_client("payments")
    fetch = {"workerId": "w1", "maxTasks": 5,
             "topics": [{"topicName": "charge", "lockDuration": 60000, "variables": ["amount"]}]}
    locked = worker.post("/api/v1/external-tasks/fetch-and-lock", json=fetch).json()
    assert [t["processInstanceId"] for t in locked] == [iid]
    assert locked[0]["variables"] == {"amount": 5}
    assert locked[0]["workerId"] == "w1"
    task_id = locked[0]["id"]
    assert worker.post("/api/v1/external-tasks/fetch-and-lock", json=fetch).json() == []
    base = f"/api/v1/external-tasks/{task_id}"
    assert_problem(worker.post(f"{base}/complete", json={"workerId": "w2"}), 409, "illegal_state")
    assert worker.post(f"{base}/extend-lock",
                       json={"workerId": "w1", "newDuration": 120000}).status_code == 204
    assert_problem(worker.post(f"{base}/extend-lock", json={"workerId": "w2", "newDuration": 5}),
                   409, "illegal_state")
    done = worker.post(f"{base}/complete", json={"workerId": "w1", "variables": {"ok": True}})
    assert done.status_code == 204, done.text
    detail = operator.get(f"/api/v1/process-instances/{iid}").json()
    assert detail["status"] == "COMPLETED"
    assert detail["variables"]["ok"] is True
    assert_problem(worker.post("/api/v1/external-tasks/nope/complete", json={"workerId": "w1"}),
                   404, "not_found")
    assert_problem(worker.post("/api/v1/external-tasks/fetch-and-lock", json={"workerId": "w"}),
                   422, "validation_failed")
    assert_problem(live_api.client_as("someone").post("/api/v1/external-tasks/fetch-and-lock",
                                                      json=fetch), 403, "forbidden")


def test_fetch_and_lock_long_polls_until_work_arrives(live_api: LiveApi) -> None:
    deployed(live_api, ("charge.bpmn", CHARGE))
    worker = live_api.api_key_client("payments")
    fetch = {"workerId": "w1", "asyncResponseTimeout": 10000,
             "topics": [{"topicName": "charge", "lockDuration": 60000}]}
    empty = worker.post("/api/v1/external-tasks/fetch-and-lock",
                        json={**fetch, "asyncResponseTimeout": 300})
    assert empty.json() == []
    assert empty.elapsed.total_seconds() >= 0.3

    def start_later() -> None:
        time.sleep(0.5)
        live_api.services.engine.start("charge_card")

    starter = threading.Thread(target=start_later)
    starter.start()
    began = time.monotonic()
    locked = worker.post("/api/v1/external-tasks/fetch-and-lock", json=fetch).json()
    waited = time.monotonic() - began
    starter.join()
    assert len(locked) == 1
    assert 0.4 <= waited < 5


def test_failures_become_incidents_that_operators_retry(live_api: LiveApi) -> None:
    deployed(live_api, ("charge.bpmn", CHARGE))
    operator = live_api.operator()
    iid = operator.post("/api/v1/process-instances", json={"processKey": "charge_card"}).json()[
        "id"]
    worker = live_api.api_key_client("payments")
    fetch = {"workerId": "w1", "topics": [{"topicName": "charge", "lockDuration": 60000}]}
    task_id = worker.post("/api/v1/external-tasks/fetch-and-lock", json=fetch).json()[0]["id"]
    failed = worker.post(f"/api/v1/external-tasks/{task_id}/failure", json={
        "workerId": "w1", "errorMessage": "card declined", "retries": 0})
    assert failed.status_code == 204, failed.text
    incidents = operator.get("/api/v1/incidents", params={"instanceId": iid}).json()
    [incident] = incidents["items"]
    assert incident["message"] == "card declined"
    assert incident["externalTaskId"] == task_id
    assert worker.post("/api/v1/external-tasks/fetch-and-lock", json=fetch).json() == []
    assert_problem(live_api.client_as("worker").get("/api/v1/incidents"), 403, "forbidden")
    assert_problem(operator.post("/api/v1/incidents/nope/retry"), 404, "not_found")
    assert_problem(operator.post(f"/api/v1/incidents/{incident['id']}/retry",
                                 json={"retries": 0}), 422, "validation_failed")
    retried = operator.post(f"/api/v1/incidents/{incident['id']}/retry", json={"retries": 2})
    assert retried.status_code == 200, retried.text
    assert operator.get("/api/v1/incidents").json()["items"] == []
    assert len(worker.post("/api/v1/external-tasks/fetch-and-lock", json=fetch).json()) == 1


def test_an_uncaught_bpmn_error_ends_the_instance_with_an_incident(live_api: LiveApi) -> None:
    deployed(live_api, ("charge.bpmn", CHARGE))
    live_api.operator().post("/api/v1/process-instances", json={"processKey": "charge_card"})
    worker = live_api.api_key_client("payments")
    fetch = {"workerId": "w1", "topics": [{"topicName": "charge", "lockDuration": 60000}]}
    task_id = worker.post("/api/v1/external-tasks/fetch-and-lock", json=fetch).json()[0]["id"]
    thrown = worker.post(f"/api/v1/external-tasks/{task_id}/bpmn-error",
                         json={"workerId": "w1", "errorCode": "DECLINED"})
    assert thrown.status_code == 204, thrown.text
    iid = live_api.services.engine.instances()[0].id
    detail = live_api.operator().get(f"/api/v1/process-instances/{iid}").json()
    assert detail["status"] == "ERROR"
    assert [(i["kind"], i["elementId"]) for i in detail["incidents"]] == [
        ("unhandledError", "charge")]
    assert "DECLINED" in detail["incidents"][0]["message"]
    # an incident with nothing to retry is a conflict, not a crash
    incident_id = detail["incidents"][0]["id"]
    assert_problem(live_api.operator().post(f"/api/v1/incidents/{incident_id}/retry"), 409,
                   "illegal_state")
    assert_problem(worker.post(f"/api/v1/external-tasks/{task_id}/bpmn-error",
                               json={"workerId": "w1"}), 422, "validation_failed")


def test_jobs_are_listed_and_their_retries_set(live_api: LiveApi) -> None:
    timer = process(
        '<startEvent id="s"/><intermediateCatchEvent id="wait"><timerEventDefinition>'
        "<timeDuration>PT1H</timeDuration></timerEventDefinition></intermediateCatchEvent>"
        '<endEvent id="e"/>' + chain("s", "wait", "e"), id="waits")
    deployed(live_api, ("t.bpmn", timer))
    operator = live_api.operator()
    iid = operator.post("/api/v1/process-instances", json={"processKey": "waits"}).json()["id"]
    jobs = operator.get("/api/v1/jobs", params={"instanceId": iid}).json()
    assert [j["kind"] for j in jobs] == ["timer"]
    assert jobs[0]["elementId"] == "wait"
    done = operator.post(f"/api/v1/jobs/{jobs[0]['id']}/retries", json={"retries": 5})
    assert done.status_code == 204
    assert operator.get("/api/v1/jobs", params={"instanceId": iid}).json()[0]["retries"] == 5
    assert_problem(operator.post("/api/v1/jobs/nope/retries", json={"retries": 1}), 404,
                   "not_found")
    assert_problem(live_api.client_as("w").get("/api/v1/jobs"), 403, "forbidden")
    assert JobExecutor(live_api.services.engine).run_until_idle() == 0  # not due yet


# ------------------------------------------------------------------ messages, signals


def test_messages_correlate_by_business_key(live_api: LiveApi) -> None:
    deployed(live_api, ("pay.bpmn", PAYMENT))
    operator = live_api.operator()
    first = operator.post("/api/v1/process-instances",
                          json={"processKey": "await_payment", "businessKey": "A"}).json()["id"]
    operator.post("/api/v1/process-instances",
                  json={"processKey": "await_payment", "businessKey": "B"})
    client = live_api.api_key_client("bank")
    assert_problem(client.post("/api/v1/messages", json={"messageName": "paid"}), 409,
                   "illegal_state")
    headers = {"Idempotency-Key": "paid-A"}
    message = {"messageName": "paid", "businessKey": "A", "variables": {"paidAt": "today"}}
    sent = client.post("/api/v1/messages", json=message, headers=headers)
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"processInstanceIds": [first]}
    again = client.post("/api/v1/messages", json=message, headers=headers)
    assert again.json() == {"processInstanceIds": [first]}
    done = operator.get(f"/api/v1/process-instances/{first}").json()
    assert done["status"] == "COMPLETED"
    assert done["variables"]["paidAt"] == "today"
    assert_problem(client.post("/api/v1/messages", json={"messageName": "paid",
                                                         "businessKey": "A"}),
                   404, "message_not_correlated")
    assert_problem(client.post("/api/v1/messages", json={"businessKey": "A"}), 422,
                   "validation_failed")
    assert_problem(live_api.client_as("w").post("/api/v1/messages", json=message), 403,
                   "forbidden")


def test_a_message_with_a_time_to_live_waits_for_its_receiver(live_api: LiveApi) -> None:
    deployed(live_api, ("pay.bpmn", PAYMENT))
    operator = live_api.operator()
    bank = live_api.api_key_client("bank")
    message = {"messageName": "paid", "businessKey": "C", "timeToLive": "PT2H",
               "variables": {"paidAt": "early"}}
    kept = bank.post("/api/v1/messages", json=message)
    assert kept.status_code == 202, kept.text
    body = kept.json()
    assert body["processInstanceIds"] == [] and body["bufferedMessageId"]
    [listed] = operator.get("/api/v1/messages/buffered", params={"messageName": "paid"}).json()
    assert (listed["id"], listed["businessKey"], listed["variables"]) == (
        body["bufferedMessageId"], "C", {"paidAt": "early"})
    assert listed["expiresAt"] == body["expiresAt"]
    # the instance comes later and takes the message as soon as it waits for it
    iid = operator.post("/api/v1/process-instances",
                        json={"processKey": "await_payment", "businessKey": "C"}).json()["id"]
    done = operator.get(f"/api/v1/process-instances/{iid}").json()
    assert done["status"] == "COMPLETED" and done["variables"]["paidAt"] == "early"
    assert operator.get("/api/v1/messages/buffered").json() == []
    # an operator may drop a kept message; a worker may not look
    other = bank.post("/api/v1/messages", json={**message, "businessKey": "D"}).json()
    assert_problem(live_api.client_as("w").get("/api/v1/messages/buffered"), 403, "forbidden")
    gone = operator.delete(f"/api/v1/messages/buffered/{other['bufferedMessageId']}")
    assert gone.status_code == 204
    assert_problem(operator.delete(f"/api/v1/messages/buffered/{other['bufferedMessageId']}"),
                   404, "not_found")
    for bad in ({"timeToLive": "PT0S"}, {"timeToLive": "P400D"},
                {"timeToLive": "PT1H", "processInstanceId": iid}, {"timeToLive": "soon"}):
        assert_problem(bank.post("/api/v1/messages", json={**message, **bad}), 422,
                       "validation_failed")


def test_signals_reach_their_receivers(live_api: LiveApi) -> None:
    client = live_api.api_key_client("alarm")
    assert client.post("/api/v1/signals", json={"signalName": "alarm"}).json() == {"reached": 0}
    deployed(live_api, ("alarm.bpmn", SIGNALLED))
    assert client.post("/api/v1/signals", json={"signalName": "alarm"}).json() == {"reached": 1}
    listed = live_api.operator().get("/api/v1/process-instances",
                                     params={"processKey": "on_alarm"}).json()
    assert len(listed["items"]) == 1
    assert_problem(client.post("/api/v1/signals", json={"signalName": ""}), 422,
                   "validation_failed")
    assert_problem(live_api.anonymous().post("/api/v1/signals", json={"signalName": "alarm"}),
                   401, "unauthenticated")


def test_statistics_count_waiting_elements_and_incidents(live_api: LiveApi) -> None:
    definition = deployed(live_api, ("charge.bpmn", CHARGE))["definitions"][0]
    operator = live_api.operator()
    for _ in range(3):
        operator.post("/api/v1/process-instances", json={"processKey": "charge_card"})
    worker = live_api.api_key_client("payments")
    fetch = {"workerId": "w1", "maxTasks": 1,
             "topics": [{"topicName": "charge", "lockDuration": 60000}]}
    task_id = worker.post("/api/v1/external-tasks/fetch-and-lock", json=fetch).json()[0]["id"]
    worker.post(f"/api/v1/external-tasks/{task_id}/failure",
                json={"workerId": "w1", "errorMessage": "down", "retries": 0})
    stats = operator.get(f"/api/v1/definitions/{definition['id']}/statistics").json()
    assert stats == [{"elementId": "charge", "active": 3, "incidents": 1}]
    assert_problem(operator.get("/api/v1/definitions/nope/statistics"), 404, "not_found")
