"""Events over HTTP: the SSE stream (resume, visibility) and webhook administration."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from caseflow.events import log
from caseflow.events.dispatcher import Dispatcher, DispatcherConfig
from caseflow.events.hub import EventHub
from caseflow.runtime.ports import TaskQuery
from tests.api.conftest import LiveApi
from tests.bpmn import chain, process
from tests.events.receiver import Receiver

ONE_TASK = process(
    '<startEvent id="s"/><userTask id="t" camunda:candidateGroups="clerks"/>'
    '<endEvent id="e"/>' + chain("s", "t", "e"),
    id="intake",
)
OTHER = process(
    '<startEvent id="s"/><userTask id="t" camunda:candidateGroups="lawyers"/>'
    '<endEvent id="e"/>' + chain("s", "t", "e"),
    id="legal",
)


def read_events(response: httpx.Response, count: int) -> list[dict[str, Any]]:
    """The first ``count`` SSE messages of a streaming response."""
    found: list[dict[str, Any]] = []
    message: dict[str, Any] = {}
    for line in response.iter_lines():
        if line == "":
            if "data" in message:
                found.append(message)
                if len(found) == count:
                    return found
            message = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            message[field] = value.lstrip()
    return found


def hub_of(api: LiveApi) -> EventHub:
    hub = api.services.extras["event_hub"]
    assert isinstance(hub, EventHub)
    return hub


def settled(api: LiveApi) -> EventHub:
    """The hub, once it has read every event written so far (on PostgreSQL an event is
    read once no older transaction on the server is still open)."""
    hub = hub_of(api)
    with api.services.store.transaction() as tx:
        newest = max((log.position_of(tx, e.id) for _, e in tx.events_after(0, 100_000)),
                     default=log.START)
    deadline = time.monotonic() + 10
    while (hub.position or log.START) < (newest or log.START):
        assert time.monotonic() < deadline, "the hub did not catch up"
        hub.poll()
        time.sleep(0.01)
    return hub


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver(secret="whsec_api_receiver")  # noqa: S106 - a test receiver's secret
    made.start()
    yield made
    made.stop()


def test_the_stream_resumes_after_the_last_event_id(live_api: LiveApi) -> None:
    engine = live_api.services.engine
    engine.deploy(ONE_TASK)
    first = engine.start("intake", business_key="A")
    settled(live_api)
    admin = live_api.admin()
    with admin.stream("GET", "/api/v1/events/stream") as live:
        assert live.status_code == 200
        assert live.headers["content-type"].startswith("text/event-stream")
        engine.start("intake", business_key="B")
        [started, *_] = read_events(live, 3)
    assert started["event"] == "WorkflowStarted"
    assert json.loads(started["data"])["data"]["businessKey"] == "B"
    # a client that saw the first instance's start resumes from there
    with live_api.services.store.transaction() as tx:
        [(seq, _)] = [(s, e) for s, e in tx.events_after(0, 1000)
                      if e.instance_id == first.id and e.type == "WorkflowStarted"]
    resumed_from = next(
        str(e.position) for e in settled(live_api).replay(log.START, 1000)
        if e.position.seq == seq
    )
    with admin.stream("GET", "/api/v1/events/stream",
                      headers={"Last-Event-ID": resumed_from}) as again:
        replayed = read_events(again, 5)
    assert [m["event"] for m in replayed] == [
        "TaskCreated", "StepAssigned", "WorkflowStarted", "TaskCreated", "StepAssigned",
    ]
    assert json.loads(replayed[2]["data"])["data"]["businessKey"] == "B"
    assert all(m["id"] for m in replayed)


def test_a_user_sees_only_the_events_of_tasks_they_may_see(live_api: LiveApi) -> None:
    work = live_api.services.work
    work.create_role("clerks", "Clerks")
    work.create_role("lawyers", "Lawyers")
    work.create_user("lan", "Lan")
    work.grant("lan", "clerks", by="test")
    engine = live_api.services.engine
    engine.deploy(ONE_TASK)
    engine.deploy(OTHER)
    settled(live_api)
    with live_api.client_as("lan").stream("GET", "/api/v1/events/stream") as live:
        hidden = engine.start("legal")
        mine = engine.start("intake")
        got = read_events(live, 2)
    assert [m["event"] for m in got] == ["TaskCreated", "StepAssigned"]
    assert {json.loads(m["data"])["instanceId"] for m in got} == {mine.id}
    assert hidden.id not in {json.loads(m["data"])["instanceId"] for m in got}


def test_the_stream_needs_credentials_and_a_known_last_event_id(live_api: LiveApi) -> None:
    assert live_api.anonymous().get("/api/v1/events/stream").status_code == 401
    refused = live_api.admin().get("/api/v1/events/stream",
                                   headers={"Last-Event-ID": "no-such-event"})
    assert refused.status_code == 422
    assert refused.json()["code"] == "validation_failed"


def test_webhooks_are_administered_by_admins(live_api: LiveApi, receiver: Receiver) -> None:
    admin = live_api.admin()
    made = admin.post("/api/v1/webhooks", json={
        "name": "crm", "url": receiver.url, "secret": receiver.secret,
        "eventTypes": ["WorkflowStarted", "WorkflowCompleted"], "maxAttempts": 3,
    })
    assert made.status_code == 201, made.text
    hook = made.json()
    assert hook["secret"] == receiver.secret
    assert hook["eventTypes"] == ["WorkflowStarted", "WorkflowCompleted"]
    listed = admin.get("/api/v1/webhooks").json()
    assert listed["total"] == 1
    assert "secret" not in listed["items"][0]
    changed = admin.patch(f"/api/v1/webhooks/{hook['id']}", json={"active": False})
    assert changed.status_code == 200
    assert changed.json()["active"] is False
    admin.patch(f"/api/v1/webhooks/{hook['id']}", json={"active": True})

    generated = admin.post("/api/v1/webhooks", json={"name": "x", "url": receiver.url})
    assert generated.json()["secret"].startswith("whsec_")
    assert admin.delete(f"/api/v1/webhooks/{generated.json()['id']}").status_code == 204
    assert admin.get(f"/api/v1/webhooks/{generated.json()['id']}").status_code == 404

    # deliveries, as the admin sees them
    dispatcher = Dispatcher(live_api.services.store, node_id="test",
                            config=DispatcherConfig(backoff_base=0.01))
    dispatcher.run_once()
    engine = live_api.services.engine
    engine.deploy(ONE_TASK)
    case = engine.start("intake")
    [task] = engine.tasks(TaskQuery(instance_id=case.id))
    engine.complete_task(task.id, user="u")
    deadline = time.monotonic() + 10
    while len(receiver.received) < 2 and time.monotonic() < deadline:
        dispatcher.run_once()  # on PostgreSQL, events wait for older transactions to end
    assert [r.envelope["type"] for r in receiver.received] == [
        "WorkflowStarted", "WorkflowCompleted"
    ]
    log = admin.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()
    assert log["total"] == 2
    assert {d["status"] for d in log["items"]} == {"DELIVERED"}
    newest = log["items"][0]
    detail = admin.get(f"/api/v1/webhooks/{hook['id']}/deliveries/{newest['seq']}").json()
    assert detail["body"]["type"] == "WorkflowCompleted"
    again = admin.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{newest['seq']}/redeliver")
    assert again.json()["status"] == "PENDING"
    while len(receiver.received) < 3 and time.monotonic() < deadline:
        dispatcher.run_once()
    assert [r.envelope["type"] for r in receiver.received][-1] == "WorkflowCompleted"
    assert len(receiver.received) == 3


def test_webhook_refusals(live_api: LiveApi) -> None:
    assert live_api.anonymous().get("/api/v1/webhooks").status_code == 401
    assert live_api.client_as("nobody").get("/api/v1/webhooks").status_code == 403
    admin = live_api.admin()
    bad = admin.post("/api/v1/webhooks", json={"name": "x", "url": "ftp://example.org/hook"})
    assert bad.status_code == 422
    unknown = admin.post("/api/v1/webhooks", json={
        "name": "x", "url": "http://127.0.0.1:9/hook", "eventTypes": ["NoSuchEvent"]})
    assert unknown.status_code == 422
    assert admin.get("/api/v1/webhooks/missing").status_code == 404
    assert admin.get("/api/v1/webhooks/missing/deliveries").status_code == 404
    assert admin.post("/api/v1/webhooks/missing/deliveries/1/redeliver").status_code == 404


@pytest.mark.parametrize(
    "api_settings", [{"executor": True, "events_retention_days": 3}], indirect=True
)
def test_a_server_with_the_executor_delivers_webhooks_itself(
    live_api: LiveApi, receiver: Receiver
) -> None:
    made = live_api.admin().post("/api/v1/webhooks", json={
        "name": "crm", "url": receiver.url, "secret": receiver.secret,
        "eventTypes": ["WorkflowStarted"],
    })
    assert made.status_code == 201
    engine = live_api.services.engine
    engine.deploy(ONE_TASK)
    dispatcher = live_api.services.extras["event_dispatcher"]
    assert dispatcher.config.retention.days == 3
    deadline = time.monotonic() + 20

    def consuming() -> bool:  # the dispatcher delivers what is written after it started
        with live_api.services.store.transaction() as tx:
            return "webhooks" in {name for name, _, _ in log.consumers(tx)}

    while not consuming():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    case = engine.start("intake")
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [r.envelope["instanceId"] for r in receiver.received] == [case.id]


def test_the_outbox_lag_is_a_metric(live_api: LiveApi) -> None:
    dispatcher = Dispatcher(live_api.services.store, node_id="test")
    dispatcher.run_once()  # the fan-out consumer exists from here
    live_api.services.engine.deploy(ONE_TASK)
    live_api.services.engine.start("intake")
    text = live_api.anonymous().get("/metrics").text
    lag = [line for line in text.splitlines() if line.startswith("caseflow_outbox_lag_events")]
    assert lag and float(lag[0].split()[-1]) >= 3  # started, task created, step assigned
    assert "caseflow_webhook_deliveries_pending" in text
