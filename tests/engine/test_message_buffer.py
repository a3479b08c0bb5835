"""Messages published with a time to live: kept when no receiver waits, taken by the first
receiver with matching keys that subscribes before they expire. Every backend, moved clock."""

from __future__ import annotations

import datetime as dt

import pytest

from caseflow.clock import ManualClock
from caseflow.errors import IllegalState, NotFound
from caseflow.runtime import MessageNotCorrelated, ProcessEngine
from caseflow.runtime.ports import TaskQuery
from tests.bpmn import chain, process

HOUR = dt.timedelta(hours=1)

# the receiver waits at a message catch after a user task; its correlation key is the
# instance's ``orderId`` (Zeebe's subscription), the message also narrows by business key
ROOTS = (
    '<message id="m_paid" name="PaymentReceived"><extensionElements>'
    '<zeebe:subscription correlationKey="=orderId"/></extensionElements></message>'
    '<message id="m_docs" name="DocumentsArrived"/>'
)
RECEIVER = process(
    """
    <startEvent id="s"/><userTask id="prepare"/>
    <intermediateCatchEvent id="paid"><messageEventDefinition messageRef="m_paid"/>
    </intermediateCatchEvent>
    <userTask id="ship"/><endEvent id="e"/>
    """
    + chain("s", "prepare", "paid", "ship", "e"),
    id="order",
    roots=ROOTS,
)


def open_tasks(engine: ProcessEngine, instance_id: str) -> list[str]:
    return sorted(t.element_id for t in engine.tasks(TaskQuery(instance_id=instance_id)))


def finish_prepare(engine: ProcessEngine, instance_id: str) -> None:
    [task] = engine.tasks(TaskQuery(instance_id=instance_id, element_id="prepare"))
    engine.complete_task(task.id)


def test_a_message_for_a_receiver_not_there_yet_is_kept_and_taken_later(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    engine.deploy(RECEIVER)
    order = engine.start("order", business_key="HS-1", variables={"orderId": "o-1"})
    with pytest.raises(MessageNotCorrelated):  # without a time to live: reported, not kept
        engine.correlate_message("PaymentReceived", correlation_key="o-1")

    published = engine.publish_message(
        "PaymentReceived", correlation_key="o-1", time_to_live=HOUR,
        variables={"amount": 120},
    )
    assert published.instance_ids == [] and published.buffered_id is not None
    assert published.expires_at == clock.now() + HOUR
    [kept] = engine.buffered_messages()
    assert (kept.id, kept.name, kept.variables) == (published.buffered_id, "PaymentReceived",
                                                   {"amount": 120})

    clock.advance(dt.timedelta(minutes=30))
    finish_prepare(engine, order.id)  # the receiver opens and takes the message at once
    assert open_tasks(engine, order.id) == ["ship"]
    assert engine.variables(order.id)["amount"] == 120
    assert engine.buffered_messages() == []


def test_a_waiting_receiver_gets_the_message_directly(engine: ProcessEngine) -> None:
    engine.deploy(RECEIVER)
    order = engine.start("order", variables={"orderId": "o-2"})
    finish_prepare(engine, order.id)
    published = engine.publish_message("PaymentReceived", correlation_key="o-2",
                                       time_to_live=HOUR)
    assert published.instance_ids == [order.id] and published.buffered_id is None
    assert open_tasks(engine, order.id) == ["ship"]


def test_expired_and_unmatched_messages_are_not_taken(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    engine.deploy(RECEIVER)
    late = engine.start("order", business_key="HS-1", variables={"orderId": "o-3"})
    other = engine.start("order", business_key="HS-2", variables={"orderId": "o-4"})
    engine.publish_message("PaymentReceived", correlation_key="o-3", time_to_live=HOUR)
    engine.publish_message("PaymentReceived", correlation_key="o-4", business_key="HS-9",
                           time_to_live=3 * HOUR)
    clock.advance(HOUR)  # the first is gone now: a time to live is up to, not including
    assert [m.correlation_key for m in engine.buffered_messages()] == ["o-4"]
    finish_prepare(engine, late.id)
    finish_prepare(engine, other.id)  # right correlation key, wrong business key
    assert open_tasks(engine, late.id) == [] and open_tasks(engine, other.id) == []
    assert engine.instance(late.id).active_elements == ["paid"]
    assert len(engine.buffered_messages()) == 1


def test_receivers_take_buffered_messages_oldest_first_one_each(
    engine: ProcessEngine, clock: ManualClock
) -> None:
    doc = process(
        '<startEvent id="s"/><userTask id="prepare"/><receiveTask id="wait" messageRef="m_docs"/>'
        '<userTask id="check"/><endEvent id="e"/>' + chain("s", "prepare", "wait", "check", "e"),
        id="intake",
        roots=ROOTS,
    )
    engine.deploy(doc)
    first = engine.start("intake", business_key="HS-7")
    second = engine.start("intake", business_key="HS-7")
    for pages in (1, 2, 3):
        engine.publish_message("DocumentsArrived", business_key="HS-7", time_to_live=HOUR,
                               variables={"pages": pages})
        clock.advance(dt.timedelta(seconds=1))
    finish_prepare(engine, second.id)
    finish_prepare(engine, first.id)
    assert engine.variables(second.id)["pages"] == 1
    assert engine.variables(first.id)["pages"] == 2
    assert [m.variables["pages"] for m in engine.buffered_messages()] == [3]
    [left] = engine.buffered_messages()
    engine.discard_buffered_message(left.id)
    assert engine.buffered_messages() == []
    with pytest.raises(NotFound):
        engine.discard_buffered_message(left.id)


def test_a_message_start_event_takes_the_message_when_it_is_published(
    engine: ProcessEngine,
) -> None:
    doc = process(
        '<startEvent id="got"><messageEventDefinition messageRef="m_docs"/></startEvent>'
        '<userTask id="t"/><endEvent id="e"/>' + chain("got", "t", "e"),
        id="starter",
        roots=ROOTS,
    )
    engine.deploy(doc)
    published = engine.publish_message("DocumentsArrived", business_key="HS-8",
                                       time_to_live=HOUR)
    assert len(published.instance_ids) == 1 and published.buffered_id is None
    assert engine.buffered_messages() == []


def test_a_time_to_live_must_be_positive(engine: ProcessEngine) -> None:
    with pytest.raises(IllegalState):
        engine.publish_message("DocumentsArrived", time_to_live=dt.timedelta(0))


def test_publishing_again_with_the_same_idempotency_key_buffers_once(
    engine: ProcessEngine,
) -> None:
    first = engine.publish_message("DocumentsArrived", time_to_live=HOUR, idempotency_key="k1")
    again = engine.publish_message("DocumentsArrived", time_to_live=HOUR, idempotency_key="k1")
    assert again == first
    assert len(engine.buffered_messages()) == 1
