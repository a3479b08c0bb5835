"""What the Camunda-layer tests share: a process with an external service task, a worker
with an API key, and a deployment through ``/engine-rest``."""

from __future__ import annotations

from typing import Any

import httpx

from caseflow.api.apikeys import create_api_key
from tests.api.conftest import LiveApi

REST = "/engine-rest"
TOPIC = "check-identity"

VERIFY_BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
             xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
             targetNamespace="https://caseflow.dev/tests/camunda">
  <error id="notFoundError" name="not found" errorCode="NOT_FOUND"/>
  <process id="verify" name="Identity verification" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="toCheck" sourceRef="start" targetRef="check"/>
    <serviceTask id="check" name="Check identity" camunda:type="external"
                 camunda:topic="{TOPIC}"/>
    <boundaryEvent id="notFound" attachedToRef="check">
      <errorEventDefinition errorRef="notFoundError"/>
    </boundaryEvent>
    <sequenceFlow id="toReview" sourceRef="check" targetRef="review"/>
    <userTask id="review" name="Review" camunda:candidateGroups="clerks"/>
    <sequenceFlow id="toEnd" sourceRef="review" targetRef="end"/>
    <endEvent id="end"/>
    <sequenceFlow id="toManual" sourceRef="notFound" targetRef="manual"/>
    <userTask id="manual" name="Manual check" camunda:candidateGroups="clerks"/>
    <sequenceFlow id="toManualEnd" sourceRef="manual" targetRef="manualEnd"/>
    <endEvent id="manualEnd"/>
  </process>
</definitions>
"""

APPROVAL_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
             xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
             targetNamespace="https://caseflow.dev/tests/camunda">
  <message id="paid" name="PaymentReceived"/>
  <process id="approval" name="Approval" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="toApprove" sourceRef="start" targetRef="approve"/>
    <userTask id="approve" name="Approve" camunda:candidateGroups="clerks"/>
    <sequenceFlow id="toWait" sourceRef="approve" targetRef="waitPayment"/>
    <receiveTask id="waitPayment" messageRef="paid"/>
    <sequenceFlow id="toEnd" sourceRef="waitPayment" targetRef="end"/>
    <endEvent id="end"/>
  </process>
</definitions>
"""


def worker_key(api: LiveApi, user_id: str = "verifier") -> str:
    """An API key acting as ``user_id``: a service principal, as workers are."""
    return create_api_key(api.services, user_id=user_id, name=f"{user_id} worker",
                          created_by="test").secret


def deploy(client: httpx.Client, bpmn: str, name: str = "verify.bpmn",
           **fields: str) -> httpx.Response:
    return client.post(
        f"{REST}/deployment/create",
        data={"deployment-name": "tests", **fields},
        files={"data": (name, bpmn.encode(), "application/octet-stream")},
    )


def start(client: httpx.Client, key: str, business_key: str | None = None,
          **variables: Any) -> dict[str, Any]:
    typed = {k: {"value": v, "type": _type(v)} for k, v in variables.items()}
    response = client.post(
        f"{REST}/process-definition/key/{key}/start",
        json={"businessKey": business_key, "variables": typed},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Double"
    return "String"


def camunda_error(response: httpx.Response, status: int, exception_type: str) -> str:
    """Assert Camunda's error body; its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["type"] == exception_type, body
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in response.text
    return str(body["message"])
