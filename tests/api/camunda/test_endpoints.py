"""Each /engine-rest endpoint over real HTTP, on SQLite and PostgreSQL: what a Camunda
client gets when it may, and the Camunda error body when it may not."""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from caseflow.runtime.ports import TaskQuery
from tests.api.camunda.support import (
    APPROVAL_BPMN,
    REST,
    TOPIC,
    VERIFY_BPMN,
    camunda_error,
    deploy,
    start,
    worker_key,
)
from tests.api.conftest import LiveApi

CAMUNDA_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")

TIMER_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
             targetNamespace="https://caseflow.dev/tests/camunda">
  <process id="waiting" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="toWait" sourceRef="start" targetRef="wait"/>
    <intermediateCatchEvent id="wait">
      <timerEventDefinition><timeDuration>PT1H</timeDuration></timerEventDefinition>
    </intermediateCatchEvent>
    <sequenceFlow id="toEnd" sourceRef="wait" targetRef="end"/>
    <endEvent id="end"/>
  </process>
</definitions>
"""


@pytest.fixture
def worker(live_api: LiveApi) -> Iterator[httpx.Client]:
    """A worker client: HTTP Basic with an API key as the password."""
    key = worker_key(live_api)
    with httpx.Client(base_url=live_api.base_url, auth=("verifier", key), timeout=30) as client:
        yield client


def _clerks(api: LiveApi, *users: str) -> None:
    for user in users:
        api.user_with_role(user, "clerks")


def _fetch(worker: httpx.Client, timeout_ms: int = 0, max_tasks: int = 5,
           **topic: Any) -> list[dict[str, Any]]:
    response = worker.post(f"{REST}/external-task/fetchAndLock", json={
        "workerId": "w1", "maxTasks": max_tasks, "asyncResponseTimeout": timeout_ms,
        "topics": [{"topicName": TOPIC, "lockDuration": 60000, **topic}],
    })
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


# ------------------------------------------------------------------ engine, auth


def test_engine_and_version_answer_without_credentials(live_api: LiveApi) -> None:
    client = live_api.anonymous()
    assert client.get(f"{REST}/engine").json() == [{"name": "default"}]
    assert re.match(r"^7\.\d+\.\d+$", client.get(f"{REST}/version").json()["version"])
    missing = client.get(f"{REST}/no-such-thing")
    camunda_error(missing, 404, "InvalidRequestException")


def test_credentials_bearer_api_key_and_basic_with_an_api_key(live_api: LiveApi) -> None:
    key = worker_key(live_api)
    anonymous = live_api.anonymous()
    refused = anonymous.get(f"{REST}/task")
    camunda_error(refused, 401, "AuthenticationException")
    assert "Basic" in refused.headers["WWW-Authenticate"]
    for header in (
        f"Basic {base64.b64encode(b'verifier:not-a-key').decode()}",
        f"Basic {base64.b64encode(f'someone-else:{key}'.encode()).decode()}",
        "Basic !!!",
        "Bearer not-a-token",
    ):
        answer = anonymous.get(f"{REST}/external-task", headers={"Authorization": header})
        camunda_error(answer, 401, "AuthenticationException")
    basic = base64.b64encode(f"verifier:{key}".encode()).decode()
    for headers in (
        {"Authorization": f"Basic {basic}"},
        {"X-API-Key": key},
        {"Authorization": f"ApiKey {key}"},
    ):
        assert anonymous.get(f"{REST}/external-task", headers=headers).status_code == 200
    # a user's bearer token: tasks yes, external tasks no (workers are service principals)
    user = live_api.client_as("ana")
    assert user.get(f"{REST}/task").status_code == 200
    camunda_error(user.get(f"{REST}/external-task"), 403, "AuthorizationException")


# ------------------------------------------------------------------ deployments, definitions


def test_deployment_create_and_duplicate_filtering(live_api: LiveApi) -> None:
    admin = live_api.admin()
    first = deploy(admin, VERIFY_BPMN, "verify.bpmn", **{"enable-duplicate-filtering": "true"})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["name"] == "tests"
    assert CAMUNDA_DATE.match(body["deploymentTime"])
    assert body["links"][0]["href"].endswith(f"/engine-rest/deployment/{body['id']}")
    [definition] = body["deployedProcessDefinitions"].values()
    assert definition["key"] == "verify"
    assert definition["version"] == 1
    assert definition["deploymentId"] == body["id"]
    assert definition["suspended"] is False
    again = deploy(admin, VERIFY_BPMN).json()
    assert again["deployedProcessDefinitions"] is None  # unchanged: nothing new
    assert again["id"] == body["id"]
    shown = live_api.operator().get(f"{REST}/deployment/{body['id']}").json()
    assert (shown["id"], shown["name"]) == (body["id"], "tests")
    assert shown["deploymentTime"] == body["deploymentTime"]
    camunda_error(live_api.operator().get(f"{REST}/deployment/nope"), 404,
                  "InvalidRequestException")
    camunda_error(live_api.client_as("ana").get(f"{REST}/deployment/{body['id']}"), 403,
                  "AuthorizationException")
    changed = deploy(admin, VERIFY_BPMN.replace("Review", "Final review")).json()
    assert [d["version"] for d in changed["deployedProcessDefinitions"].values()] == [2]


def test_deployment_refusals(live_api: LiveApi) -> None:
    camunda_error(deploy(live_api.client_as("ana"), VERIFY_BPMN), 403, "AuthorizationException")
    admin = live_api.admin()
    broken = deploy(admin, VERIFY_BPMN.replace('targetRef="review"', 'targetRef="nowhere"'))
    camunda_error(broken, 400, "ParseException")
    assert broken.json()["details"]["verify.bpmn"]["errors"]
    camunda_error(deploy(admin, "<not xml"), 400, "ParseException")
    odd = admin.post(f"{REST}/deployment/create",
                     files={"data": ("rules.dmn", b"<definitions/>", "text/xml")})
    camunda_error(odd, 400, "InvalidRequestException")
    empty = admin.post(f"{REST}/deployment/create", data={"deployment-name": "x"},
                       files={"unused": ("", b"", "text/plain")})
    assert empty.status_code == 400
    as_json = admin.post(f"{REST}/deployment/create", json={"deployment-name": "x"})
    camunda_error(as_json, 400, "InvalidRequestException")
    tenant = deploy(admin, VERIFY_BPMN, **{"tenant-id": "elsewhere"})
    camunda_error(tenant, 400, "InvalidRequestException")
    assert live_api.services.engine.definitions("verify") == []  # nothing was deployed


def test_process_definitions_list_get_xml(live_api: LiveApi) -> None:
    admin = live_api.admin()
    deploy(admin, VERIFY_BPMN)
    deploy(admin, VERIFY_BPMN.replace("Review", "Final review"))
    deploy(admin, APPROVAL_BPMN, "approval.bpmn")
    operator = live_api.operator()
    listed = operator.get(f"{REST}/process-definition", params={"key": "verify"}).json()
    assert [d["version"] for d in listed] == [1, 2] or sorted(
        d["version"] for d in listed) == [1, 2]
    latest = operator.get(f"{REST}/process-definition",
                          params={"latestVersion": "true", "sortBy": "key"}).json()
    assert [(d["key"], d["version"]) for d in latest] == [("approval", 1), ("verify", 2)]
    count = operator.get(f"{REST}/process-definition/count", params={"key": "verify"})
    assert count.json() == {"count": 2}
    by_key = operator.get(f"{REST}/process-definition/key/verify").json()
    assert by_key["version"] == 2
    assert operator.get(f"{REST}/process-definition/{by_key['id']}").json() == by_key
    xml = operator.get(f"{REST}/process-definition/key/verify/xml").json()
    assert xml["id"] == by_key["id"] and "Final review" in xml["bpmn20Xml"]
    assert "Final review" in operator.get(
        f"{REST}/process-definition/{by_key['id']}/xml").json()["bpmn20Xml"]
    camunda_error(operator.get(f"{REST}/process-definition/key/nope"), 404,
                  "InvalidRequestException")
    camunda_error(operator.get(f"{REST}/process-definition/no-such-id"), 404,
                  "InvalidRequestException")
    camunda_error(operator.get(f"{REST}/process-definition", params={"startableBy": "x"}),
                  400, "InvalidRequestException")
    camunda_error(live_api.client_as("ana").get(f"{REST}/process-definition"), 403,
                  "AuthorizationException")


def test_start_by_key_and_by_id_with_typed_variables(live_api: LiveApi) -> None:
    deploy(live_api.admin(), VERIFY_BPMN)
    clerk = live_api.client_as("clerk")
    started = clerk.post(f"{REST}/process-definition/key/verify/start", json={
        "businessKey": "HS-1",
        "withVariablesInReturn": True,
        "variables": {
            "applicant": {"value": "An", "type": "String"},
            "amount": {"value": 1200, "type": "Integer"},
            "big": {"value": "9000000000", "type": "Long"},
            "rate": {"value": 0.5, "type": "double"},
            "urgent": {"value": "true", "type": "Boolean"},
            "address": {"value": '{"city": "Hue"}', "type": "Json"},
            "filed": {"value": "2026-01-31T09:30:00.000+0700", "type": "Date"},
            "note": {"value": None, "type": "Null"},
            "untyped": {"value": 7},
            "order": {"value": '{"id": 1}', "type": "Object", "valueInfo": {
                "objectTypeName": "Order", "serializationDataFormat": "application/json"}},
        },
    })
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["businessKey"] == "HS-1" and body["ended"] is False
    assert body["links"][0]["href"].endswith(f"/process-instance/{body['id']}")
    typed = body["variables"]
    assert typed["applicant"] == {"type": "String", "value": "An", "valueInfo": {}}
    assert typed["amount"]["type"] == "Integer" and typed["amount"]["value"] == 1200
    assert typed["big"] == {"type": "Long", "value": 9000000000, "valueInfo": {}}
    assert typed["rate"]["type"] == "Double"
    assert typed["urgent"]["value"] is True
    assert typed["address"] == {"type": "Json", "value": '{"city": "Hue"}', "valueInfo": {}}
    assert typed["filed"] == {"type": "Date", "value": "2026-01-31T02:30:00.000+0000",
                              "valueInfo": {}}
    assert typed["note"]["type"] == "Null"
    assert typed["order"]["type"] == "Json"
    values = live_api.services.engine.variables(body["id"])
    assert values["address"] == {"city": "Hue"} and values["untyped"] == 7
    definition_id = body["definitionId"]
    by_id = clerk.post(f"{REST}/process-definition/{definition_id}/start", json={})
    assert by_id.status_code == 200 and "variables" not in by_id.json()
    first = clerk.post(f"{REST}/process-definition/key/verify/start", json={},
                       headers={"Idempotency-Key": "start-1"}).json()
    again = clerk.post(f"{REST}/process-definition/key/verify/start", json={},
                       headers={"Idempotency-Key": "start-1"}).json()
    assert first["id"] == again["id"]
    camunda_error(clerk.post(f"{REST}/process-definition/key/nope/start", json={}),
                  404, "InvalidRequestException")
    for bad in (
        {"n": {"value": "abc", "type": "Integer"}},
        {"n": {"value": 2**31, "type": "Integer"}},
        {"n": {"value": "AAA=", "type": "Bytes"}},
        {"n": {"value": "x", "type": "Object",
               "valueInfo": {"serializationDataFormat": "application/x-java-serialized-object"}}},
        {"n": {"value": "{", "type": "Json"}},
        {"n": {"value": "yesterday", "type": "Date"}},
        {"n": "not typed"},
    ):
        answer = clerk.post(f"{REST}/process-definition/key/verify/start",
                            json={"variables": bad})
        camunda_error(answer, 400, "InvalidRequestException")
    camunda_error(clerk.post(f"{REST}/process-definition/key/verify/start", content=b"{nope"),
                  400, "InvalidRequestException")
    camunda_error(live_api.anonymous().post(f"{REST}/process-definition/key/verify/start",
                                            json={}), 401, "AuthenticationException")


# ------------------------------------------------------------------ tasks


def _approval(api: LiveApi, business_key: str = "AP-1") -> tuple[str, str]:
    deploy(api.admin(), APPROVAL_BPMN, "approval.bpmn")
    instance = start(api.client_as("ana"), "approval", business_key, amount=5)["id"]
    [task] = api.services.engine.tasks(TaskQuery(instance_id=instance))
    return instance, task.id


def test_task_query_count_and_get(live_api: LiveApi) -> None:
    _clerks(live_api, "ana")
    instance, task_id = _approval(live_api)
    ana = live_api.client_as("ana")
    [task] = ana.get(f"{REST}/task", params={"processDefinitionKey": "approval"}).json()
    assert task["id"] == task_id
    assert task["processInstanceId"] == instance
    assert task["taskDefinitionKey"] == "approve" and task["name"] == "Approve"
    assert task["executionId"] and task["processDefinitionId"]
    assert CAMUNDA_DATE.match(task["created"]) and task["assignee"] is None
    for params in (
        {"processInstanceId": instance}, {"processInstanceBusinessKey": "AP-1"},
        {"businessKey": "AP-1"}, {"taskDefinitionKey": "approve"},
        {"candidateGroup": "clerks"}, {"candidateUser": "ana"},
        {"sortBy": "created", "sortOrder": "desc"}, {"maxResults": "5", "firstResult": "0"},
    ):
        assert [t["id"] for t in ana.get(f"{REST}/task", params=params).json()] == [task_id]
    assert ana.get(f"{REST}/task", params={"taskDefinitionKey": "other"}).json() == []
    assert ana.get(f"{REST}/task", params={"firstResult": "1"}).json() == []
    assert ana.get(f"{REST}/task/count", params={"candidateGroup": "clerks"}).json() == {
        "count": 1}
    posted = ana.post(f"{REST}/task", json={"processDefinitionKey": "approval",
                                           "sorting": [{"sortBy": "priority",
                                                        "sortOrder": "desc"}]})
    assert [t["id"] for t in posted.json()] == [task_id]
    assert ana.post(f"{REST}/task/count", json={"assignee": "nobody"}).json() == {"count": 0}
    assert ana.get(f"{REST}/task/{task_id}").json() == task
    # bob has no grant: he sees nothing and may not look
    bob = live_api.client_as("bob")
    assert bob.get(f"{REST}/task").json() == []
    camunda_error(bob.get(f"{REST}/task/{task_id}"), 403, "AuthorizationException")
    camunda_error(bob.get(f"{REST}/task", params={"candidateUser": "ana"}), 403,
                  "AuthorizationException")
    assert live_api.operator().get(f"{REST}/task", params={"candidateUser": "ana"}).json()
    camunda_error(ana.get(f"{REST}/task/no-such-task"), 404, "InvalidRequestException")
    camunda_error(ana.get(f"{REST}/task", params={"nameLike": "A%"}), 400,
                  "InvalidRequestException")
    camunda_error(ana.get(f"{REST}/task", params={"sortBy": "nonsense"}), 400,
                  "InvalidRequestException")
    camunda_error(ana.get(f"{REST}/task", params={"dueBefore": "soon"}), 400,
                  "InvalidRequestException")


def test_claim_unclaim_delegate_resolve_complete(live_api: LiveApi) -> None:
    _clerks(live_api, "ana", "carl")
    instance, task_id = _approval(live_api)
    ana, carl = live_api.client_as("ana"), live_api.client_as("carl")
    url = f"{REST}/task/{task_id}"
    assert ana.post(f"{url}/claim", json={"userId": "ana"}).status_code == 204
    assert ana.get(url).json()["assignee"] == "ana"
    assert ana.get(f"{REST}/task", params={"candidateGroup": "clerks"}).json() == []
    assert len(ana.get(f"{REST}/task", params={"candidateGroup": "clerks",
                                                "includeAssignedTasks": "true"}).json()) == 1
    camunda_error(carl.post(f"{url}/claim", json={"userId": "carl"}), 400,
                  "TaskAlreadyClaimedException")
    camunda_error(live_api.client_as("bob").post(f"{url}/claim", json={"userId": "bob"}), 403,
                  "AuthorizationException")
    camunda_error(carl.post(f"{url}/complete", json={}), 403, "AuthorizationException")
    assert ana.post(f"{url}/unclaim").status_code == 204
    camunda_error(ana.post(f"{url}/unclaim"), 403, "AuthorizationException")  # not hers now
    assert ana.post(f"{url}/claim", json={}).status_code == 204
    camunda_error(ana.post(f"{url}/delegate", json={}), 400, "InvalidRequestException")
    assert ana.post(f"{url}/delegate", json={"userId": "carl"}).status_code == 204
    delegated = ana.get(url).json()
    assert delegated["delegationState"] == "PENDING"
    assert (delegated["assignee"], delegated["owner"]) == ("carl", "ana")
    camunda_error(carl.post(f"{url}/complete", json={}), 400, "BadUserRequestException")
    resolved = carl.post(f"{url}/resolve", json={
        "variables": {"checkedBy": {"value": "carl", "type": "String"}}})
    assert resolved.status_code == 204
    camunda_error(carl.post(f"{url}/resolve"), 403, "AuthorizationException")
    done = ana.post(f"{url}/complete", json={
        "variables": {"approved": {"value": True, "type": "Boolean"}},
        "withVariablesInReturn": True,
    }, headers={"Idempotency-Key": "complete-1"})
    assert done.status_code == 200, done.text
    returned = done.json()
    assert returned["approved"] == {"type": "Boolean", "value": True, "valueInfo": {}}
    assert returned["checkedBy"]["value"] == "carl"
    assert live_api.services.engine.instance(instance).active_elements == ["waitPayment"]
    retried = ana.post(f"{url}/complete", json={}, headers={"Idempotency-Key": "complete-1"})
    assert retried.status_code == 204  # a retry of the same completion changes nothing
    camunda_error(ana.post(f"{url}/complete", json={}), 400, "BadUserRequestException")
    camunda_error(ana.post(f"{REST}/task/nope/claim", json={}), 404, "InvalidRequestException")


def test_task_and_process_instance_variables(live_api: LiveApi) -> None:
    _clerks(live_api, "ana", "carl")
    instance, task_id = _approval(live_api)
    ana, carl = live_api.client_as("ana"), live_api.client_as("carl")
    task_vars = f"{REST}/task/{task_id}/variables"
    assert ana.get(task_vars).json()["amount"] == {"type": "Integer", "value": 5,
                                                   "valueInfo": {}}
    assert ana.get(f"{task_vars}/amount").json()["value"] == 5
    camunda_error(ana.get(f"{task_vars}/nope"), 404, "InvalidRequestException")
    # only the assignee (or an operator) writes a task's variables
    camunda_error(ana.put(f"{task_vars}/note", json={"value": "x", "type": "String"}), 403,
                  "AuthorizationException")
    ana.post(f"{REST}/task/{task_id}/claim", json={"userId": "ana"})
    assert ana.put(f"{task_vars}/note", json={"value": "x", "type": "String"}).status_code == 204
    modified = ana.post(task_vars, json={"modifications": {
        "when": {"value": "2026-02-01T08:00:00.000+0000", "type": "Date"},
        "items": {"value": "[1, 2]", "type": "Json"}}})
    assert modified.status_code == 204
    after = ana.get(task_vars).json()
    assert after["note"]["value"] == "x"
    assert after["when"] == {"type": "Date", "value": "2026-02-01T08:00:00.000+0000",
                             "valueInfo": {}}
    assert after["items"]["value"] == "[1, 2]"
    camunda_error(ana.post(task_vars, json={"deletions": ["note"]}), 400,
                  "InvalidRequestException")
    camunda_error(carl.put(f"{task_vars}/note", json={"value": "y"}), 403,
                  "AuthorizationException")
    camunda_error(live_api.client_as("bob").get(task_vars), 403, "AuthorizationException")
    camunda_error(ana.get(f"{REST}/task/nope/variables"), 404, "InvalidRequestException")

    pi_vars = f"{REST}/process-instance/{instance}/variables"
    assert ana.get(pi_vars).json()["note"]["value"] == "x"  # she sees one of its tasks
    assert ana.get(f"{REST}/process-instance/{instance}").json()["id"] == instance
    camunda_error(live_api.client_as("bob").get(pi_vars), 403, "AuthorizationException")
    camunda_error(ana.put(f"{pi_vars}/note", json={"value": "z"}), 403,
                  "AuthorizationException")
    operator = live_api.operator()
    assert operator.put(f"{pi_vars}/note", json={"value": "z", "type": "String"}
                        ).status_code == 204
    assert operator.post(pi_vars, json={"modifications": {"n": {"value": 1}}}
                         ).status_code == 204
    assert operator.get(f"{pi_vars}/note").json()["value"] == "z"
    assert operator.get(f"{pi_vars}/n").json()["type"] == "Integer"
    camunda_error(operator.get(f"{pi_vars}/missing"), 404, "InvalidRequestException")
    camunda_error(operator.get(f"{REST}/process-instance/nope/variables"), 404,
                  "InvalidRequestException")
    camunda_error(operator.put(f"{pi_vars}/bad", json={"value": "x", "type": "Xml"}), 400,
                  "InvalidRequestException")


# ------------------------------------------------------------------ messages


def test_message_correlation(live_api: LiveApi) -> None:
    _clerks(live_api, "ana")
    first, first_task = _approval(live_api, "AP-1")
    second = start(live_api.client_as("ana"), "approval", "AP-2", amount=9)["id"]
    ana = live_api.client_as("ana")
    for instance in (first, second):
        [task] = live_api.services.engine.tasks(TaskQuery(instance_id=instance))
        ana.post(f"{REST}/task/{task.id}/claim", json={})
        assert ana.post(f"{REST}/task/{task.id}/complete", json={}).status_code == 204
    message = f"{REST}/message"
    # two wait: without a key that picks one, Camunda refuses
    camunda_error(ana.post(message, json={"messageName": "PaymentReceived"}), 400,
                  "MismatchingMessageCorrelationException")
    camunda_error(ana.post(message, json={"messageName": "PaymentReceived", "correlationKeys": {
        "amount": {"value": 77, "type": "Integer"}}}), 400,
        "MismatchingMessageCorrelationException")
    by_key = ana.post(message, json={
        "messageName": "PaymentReceived",
        "correlationKeys": {"amount": {"value": 9, "type": "Integer"}},
        "processVariables": {"paid": {"value": True, "type": "Boolean"}},
        "resultEnabled": True, "variablesInResultEnabled": True,
    })
    assert by_key.status_code == 200, by_key.text
    [result] = by_key.json()
    assert result["resultType"] == "Execution"
    assert result["execution"]["processInstanceId"] == second
    assert result["execution"]["ended"] is True
    assert result["variables"]["paid"]["value"] is True
    plain = ana.post(message, json={"messageName": "PaymentReceived", "businessKey": "AP-1"})
    assert plain.status_code == 204
    assert live_api.services.engine.instance_record(first).status == "COMPLETED"
    camunda_error(ana.post(message, json={"messageName": "PaymentReceived",
                                          "businessKey": "AP-1"}),
                  400, "MismatchingMessageCorrelationException")
    camunda_error(ana.post(message, json={}), 400, "InvalidRequestException")
    camunda_error(ana.post(message, json={"messageName": "x", "processVariablesLocal": {
        "a": {"value": 1}}}), 400, "InvalidRequestException")
    camunda_error(live_api.anonymous().post(message, json={"messageName": "x"}), 401,
                  "AuthenticationException")
    assert first_task


# ------------------------------------------------------------------ external tasks


def test_external_task_fetch_complete_failure_extend_and_read(
    live_api: LiveApi, worker: httpx.Client
) -> None:
    deploy(live_api.admin(), VERIFY_BPMN)
    clerk = live_api.client_as("clerk")
    ok = start(clerk, "verify", "HS-1", applicant="ok")["id"]
    flaky = start(clerk, "verify", "HS-2", applicant="flaky")["id"]
    locked = _fetch(worker, max_tasks=1, variables=["applicant"])
    assert len(locked) == 1
    task = locked[0]
    assert task["processInstanceId"] == ok and task["topicName"] == TOPIC
    assert task["workerId"] == "w1" and task["activityId"] == "check"
    assert task["variables"] == {"applicant": {"type": "String", "value": "ok",
                                               "valueInfo": {}}}
    assert CAMUNDA_DATE.match(task["lockExpirationTime"])
    assert task["businessKey"] == "HS-1" and task["retries"] is None
    [other] = _fetch(worker)
    assert other["processInstanceId"] == flaky
    assert _fetch(worker) == []  # everything is locked
    base = f"{REST}/external-task"
    listed = worker.get(base, params={"topicName": TOPIC, "locked": "true"}).json()
    assert {t["id"] for t in listed} == {task["id"], other["id"]}
    assert worker.get(f"{base}/count", params={"workerId": "w1"}).json() == {"count": 2}
    assert worker.get(f"{base}/{task['id']}").json()["workerId"] == "w1"
    camunda_error(worker.get(f"{base}/nope"), 404, "InvalidRequestException")
    camunda_error(worker.get(base, params={"bogus": "1"}), 400, "InvalidRequestException")

    wrong = worker.post(f"{base}/{task['id']}/complete", json={"workerId": "w2"})
    camunda_error(wrong, 400, "BadUserRequestException")
    camunda_error(worker.post(f"{base}/{task['id']}/extendLock",
                              json={"workerId": "w2", "newDuration": 1000}),
                  400, "BadUserRequestException")
    assert worker.post(f"{base}/{task['id']}/extendLock",
                       json={"workerId": "w1", "newDuration": 90000}).status_code == 204
    camunda_error(worker.post(f"{base}/nope/complete", json={"workerId": "w1"}), 404,
                  "InvalidRequestException")
    done = worker.post(f"{base}/{task['id']}/complete", json={
        "workerId": "w1", "variables": {"verified": {"value": True, "type": "Boolean"}}})
    assert done.status_code == 204
    assert live_api.services.engine.instance(ok).active_elements == ["review"]

    failed = worker.post(f"{base}/{other['id']}/failure", json={
        "workerId": "w1", "errorMessage": "down", "errorDetails": "trace...",
        "retries": 0, "retryTimeout": 0})
    assert failed.status_code == 204
    assert _fetch(worker) == []  # no retries left: an incident, not work
    shown = worker.get(f"{base}/{other['id']}").json()
    assert (shown["retries"], shown["errorMessage"]) == (0, "down")
    assert worker.get(f"{base}/count", params={"noRetriesLeft": "true"}).json()["count"] == 1
    assert live_api.services.engine.incidents(flaky)
    camunda_error(worker.put(f"{base}/{other['id']}/retries", json={"retries": 2}), 403,
                  "AuthorizationException")  # the worker is no operator
    assert live_api.operator().put(f"{base}/{other['id']}/retries",
                                   json={"retries": 2}).status_code == 204
    [again] = _fetch(worker)
    assert again["id"] == other["id"] and again["retries"] == 2
    bpmn_error = worker.post(f"{base}/{other['id']}/bpmnError", json={
        "workerId": "w1", "errorCode": "NOT_FOUND", "errorMessage": "no such person"})
    assert bpmn_error.status_code == 204
    assert live_api.services.engine.instance(flaky).active_elements == ["manual"]


def test_fetch_and_lock_refuses_bad_requests_and_non_workers(
    live_api: LiveApi, worker: httpx.Client
) -> None:
    url = f"{REST}/external-task/fetchAndLock"
    topic = {"topicName": TOPIC, "lockDuration": 1000}
    for body in (
        {"maxTasks": 1, "topics": [topic]},  # no workerId
        {"workerId": "w", "topics": [topic]},  # no maxTasks
        {"workerId": "w", "maxTasks": 1, "topics": []},
        {"workerId": "w", "maxTasks": 1, "topics": [{"topicName": TOPIC}]},
        {"workerId": "w", "maxTasks": -1, "topics": [topic]},
        {"workerId": "w", "maxTasks": 1, "asyncResponseTimeout": 3_600_000, "topics": [topic]},
        {"workerId": "w", "maxTasks": 1, "topics": [{**topic, "businessKey": "HS-1"}]},
        {"workerId": "w", "maxTasks": 1, "topics": [{**topic, "unknownField": 1}]},
    ):
        camunda_error(worker.post(url, json=body), 400, "InvalidRequestException")
    camunda_error(worker.post(url, content=b"[1, 2]"), 400, "InvalidRequestException")
    user = live_api.client_as("ana")
    camunda_error(user.post(url, json={"workerId": "w", "maxTasks": 1, "topics": [topic]}),
                  403, "AuthorizationException")
    # an operator may act as a worker (to drain or inspect a topic)
    assert live_api.operator().post(url, json={"workerId": "w", "maxTasks": 1,
                                              "topics": [topic]}).json() == []


def test_long_polling_answers_when_work_arrives_and_holds_no_transaction(
    live_api: LiveApi, worker: httpx.Client
) -> None:
    deploy(live_api.admin(), VERIFY_BPMN)
    began = time.monotonic()
    assert _fetch(worker, timeout_ms=300) == []  # nothing: an empty answer at the timeout
    assert time.monotonic() - began >= 0.3
    answer: list[list[dict[str, Any]]] = []
    polling = threading.Thread(target=lambda: answer.append(_fetch(worker, timeout_ms=60000)))
    polling.start()
    time.sleep(0.5)  # the poll is waiting now; the database is free meanwhile
    instance = start(live_api.client_as("clerk"), "verify", "HS-9", applicant="x")["id"]
    polling.join(timeout=30)
    assert not polling.is_alive(), "the long poll did not answer when work arrived"
    [[task]] = answer
    assert task["processInstanceId"] == instance


# ------------------------------------------------------------------ jobs


def test_jobs_and_job_retries(live_api: LiveApi) -> None:
    deploy(live_api.admin(), TIMER_BPMN, "waiting.bpmn")
    instance = start(live_api.client_as("clerk"), "waiting")["id"]
    operator = live_api.operator()
    [job] = operator.get(f"{REST}/job", params={"processInstanceId": instance}).json()
    assert job["processInstanceId"] == instance and CAMUNDA_DATE.match(job["dueDate"])
    assert operator.get(f"{REST}/job/count", params={"processInstanceId": instance}
                        ).json() == {"count": 1}
    url = f"{REST}/job/{job['id']}"
    assert operator.put(f"{url}/retries", json={"retries": 5}).status_code == 204
    assert operator.get(url).json()["retries"] == 5
    camunda_error(operator.put(f"{url}/retries", json={"retries": 0}), 400,
                  "InvalidRequestException")
    camunda_error(operator.put(f"{url}/retries", json={}), 400, "InvalidRequestException")
    camunda_error(operator.put(f"{REST}/job/nope/retries", json={"retries": 1}), 404,
                  "InvalidRequestException")
    camunda_error(operator.get(f"{REST}/job/nope"), 404, "InvalidRequestException")
    camunda_error(live_api.client_as("ana").put(f"{url}/retries", json={"retries": 1}), 403,
                  "AuthorizationException")


@pytest.mark.parametrize("api_settings", [{"max_upload_bytes": 4096}], indirect=True)
def test_a_deployment_over_the_upload_limit_is_a_413(live_api: LiveApi) -> None:
    admin = live_api.admin()
    big = VERIFY_BPMN.replace("<startEvent", "<!--" + "x" * 8000 + "--><startEvent")
    declared = deploy(admin, big)
    assert declared.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b"--b\r\nContent-Disposition: form-data; name=\"data\"; filename=\"v.bpmn\"\r\n\r\n"
        for _ in range(10):
            yield b"x" * 1000

    streamed = admin.post(f"{REST}/deployment/create", content=chunks(),
                          headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert streamed.status_code == 413
    assert live_api.services.engine.definitions("verify") == []


def test_running_process_instances_list_suspend_and_delete(live_api: LiveApi) -> None:
    deploy(live_api.admin(), TIMER_BPMN, "waiting.bpmn")
    clerk = live_api.client_as("clerk")
    first = start(clerk, "waiting", "W-1")["id"]
    second = start(clerk, "waiting", "W-2")["id"]
    operator = live_api.operator()
    url = f"{REST}/process-instance"
    listed = operator.get(url, params={"processDefinitionKey": "waiting"}).json()
    assert {i["id"] for i in listed} == {first, second}
    assert [i["id"] for i in operator.get(url, params={"businessKey": "W-2"}).json()] == [second]
    assert operator.get(f"{url}/count").json() == {"count": 2}
    assert operator.put(f"{url}/{first}/suspended", json={"suspended": True}).status_code == 204
    assert operator.get(f"{url}/{first}").json()["suspended"] is True
    assert [i["id"] for i in operator.get(url, params={"suspended": "true"}).json()] == [first]
    assert [i["id"] for i in operator.get(url, params={"active": "true"}).json()] == [second]
    camunda_error(operator.put(f"{url}/{first}/suspended", json={"suspended": True}), 400,
                  "BadUserRequestException")
    assert operator.put(f"{url}/{first}/suspended", json={"suspended": False}).status_code == 204
    camunda_error(operator.put(f"{url}/{first}/suspended", json={}), 400,
                  "InvalidRequestException")
    assert operator.delete(f"{url}/{second}", params={"deleteReason": "test"}).status_code == 204
    assert live_api.services.engine.instance_record(second).status == "TERMINATED"
    camunda_error(operator.get(f"{url}/{second}"), 404, "InvalidRequestException")
    assert operator.get(f"{url}/count").json() == {"count": 1}
    camunda_error(operator.delete(f"{url}/nope"), 404, "InvalidRequestException")
    camunda_error(operator.get(url, params={"variables": "a_eq_1"}), 400,
                  "InvalidRequestException")
    for call in (clerk.get(url), clerk.delete(f"{url}/{first}"),
                 clerk.put(f"{url}/{first}/suspended", json={"suspended": True})):
        camunda_error(call, 403, "AuthorizationException")
