"""Delivery of the outbox: the log in commit order, webhooks through outages, two nodes,
dead letters, retention. Against real SQLite and PostgreSQL and a real HTTP receiver."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from caseflow.clock import ManualClock
from caseflow.events import log, sla_breached
from caseflow.events.dispatcher import Dispatcher, DispatcherConfig
from caseflow.events.webhooks import Delivery, Webhooks
from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import OutboxEvent, Store, TaskQuery
from caseflow.store.sql import SqlStore
from tests.bpmn import chain, process
from tests.events.receiver import Receiver

STEPS = process(
    '<startEvent id="s"/><userTask id="a" camunda:candidateGroups="g"/>'
    '<userTask id="b" camunda:candidateGroups="g"/><endEvent id="e"/>'
    + chain("s", "a", "b", "e")
)
FAST = DispatcherConfig(poll_interval=0.02, backoff_base=0.02, backoff_cap=0.2, workers=4,
                        request_timeout=5.0)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_store(request: pytest.FixtureRequest) -> SqlStore:
    if request.param == "sqlite":
        found: SqlStore = request.getfixturevalue("sqlite_store")
        return found
    make: Callable[[], Store] = request.getfixturevalue("postgres_stores")
    store = make()
    assert isinstance(store, SqlStore)
    return store


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver(secret="whsec_test")  # noqa: S106 - a test receiver's secret
    yield made
    made.stop()


def run_cases(engine: ProcessEngine, count: int) -> None:
    """``count`` cases, each started and taken through both steps."""
    for n in range(count):
        case = engine.start("p", business_key=f"B-{n}")
        for _ in range(2):
            [task] = engine.tasks(TaskQuery(instance_id=case.id))
            engine.complete_task(task.id, user="u")


def outbox(store: SqlStore) -> list[OutboxEvent]:
    with store.transaction() as tx:
        return [e for _, e in tx.events_after(0, 100_000)]


def per_instance(envelopes: list[dict[str, object]]) -> dict[object, list[object]]:
    found: dict[object, list[object]] = {}
    for e in envelopes:
        found.setdefault(e["instanceId"], []).append(e["id"])
    return found


def until(condition: Callable[[], bool], work: Callable[[], object] | None = None,
          timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        if work is not None:
            work()
        else:
            time.sleep(0.02)


def test_a_receiver_that_is_down_for_a_while_gets_everything_in_order(
    sql_store: SqlStore, receiver: Receiver
) -> None:
    engine = ProcessEngine(sql_store)
    engine.deploy(STEPS)
    hooks = Webhooks(sql_store)
    hooks.create(name="crm", url=receiver.url, secret=receiver.secret,
                 now=datetime.now(UTC), max_attempts=100)
    dispatcher = Dispatcher(sql_store, node_id="n1", config=FAST)
    dispatcher.run_once()  # its consumer starts here: what follows is delivered
    run_cases(engine, 4)
    expected = outbox(sql_store)
    assert len(expected) >= 4 * 8

    [hook] = hooks.all()

    def tried(code: int | None) -> list[Delivery]:
        pending, _ = hooks.deliveries(hook.id, status="PENDING", limit=500)
        return [d for d in pending if d.attempts and d.last_status_code == code
                and d.last_error]

    # down: nothing listens on the port (connections refused) ...
    until(lambda: len(tried(None)) >= 4, dispatcher.run_once)
    assert receiver.received == []
    # ... then up but failing (HTTP 503) ...
    receiver.mode = "failing"
    receiver.start()
    until(lambda: len(tried(503)) >= 4, dispatcher.run_once)
    assert receiver.received == []
    pending, _ = hooks.deliveries(hook.id, status="PENDING", limit=500)
    heads = {d.instance_id: d.seq for d in sorted(pending, key=lambda d: -d.seq)}
    assert {d.seq for d in pending if d.attempts} <= set(heads.values())  # the rest wait
    # ... then back
    receiver.mode = "up"
    until(lambda: set(receiver.ids()) >= {e.id for e in expected}, dispatcher.run_once)

    assert all(r.signed for r in receiver.received)
    arrived = per_instance(receiver.first_arrivals())
    written = per_instance([{"instanceId": e.instance_id, "id": e.id} for e in expected])
    assert arrived == written  # every event, in its instance's order
    _delivered, total = hooks.deliveries(hook.id, status="DELIVERED")
    assert total == len(expected)
    headers = receiver.received[0].headers
    assert headers["X-Caseflow-Event"] == receiver.received[0].envelope["type"]
    assert headers["X-Caseflow-Event-Id"] == receiver.received[0].envelope["id"]


def test_a_webhook_gets_only_the_types_it_asked_for(
    sql_store: SqlStore, receiver: Receiver
) -> None:
    engine = ProcessEngine(sql_store)
    engine.deploy(STEPS)
    receiver.start()
    Webhooks(sql_store).create(name="done", url=receiver.url, secret=receiver.secret,
                               now=datetime.now(UTC), event_types=["WorkflowCompleted"])
    dispatcher = Dispatcher(sql_store, node_id="n1", config=FAST)
    dispatcher.run_once()
    run_cases(engine, 2)
    until(lambda: len(receiver.received) >= 2, dispatcher.run_once)
    dispatcher.run_until_idle()
    assert [r.envelope["type"] for r in receiver.received] == ["WorkflowCompleted"] * 2


def test_a_delivery_out_of_attempts_is_dead_and_can_be_sent_again(
    sql_store: SqlStore, receiver: Receiver
) -> None:
    receiver.mode = "failing"
    receiver.start()
    hooks = Webhooks(sql_store)
    hook, _ = hooks.create(name="crm", url=receiver.url, secret=receiver.secret,
                           now=datetime.now(UTC), max_attempts=2)
    dispatcher = Dispatcher(sql_store, node_id="n1", config=FAST)
    dispatcher.run_once()
    with sql_store.transaction() as tx:
        tx.add_events([
            sla_breached(instance_id="i1", due_at=datetime.now(UTC), now=datetime.now(UTC)),
            sla_breached(instance_id="i1", due_at=datetime.now(UTC), now=datetime.now(UTC)),
        ])
    until(lambda: hooks.deliveries(hook.id, status="DEAD")[1] == 2, dispatcher.run_once)
    [second, first] = hooks.deliveries(hook.id)[0]
    assert first.attempts == 2
    assert first.last_status_code == 503
    receiver.mode = "up"
    hooks.redeliver(hook.id, first.seq, datetime.now(UTC))
    until(lambda: len(receiver.received) == 1, dispatcher.run_once)
    assert receiver.received[0].envelope["id"] == first.event_id
    assert hooks.deliveries(hook.id, status="DELIVERED")[1] == 1
    assert second.status == "DEAD"


@pytest.mark.postgres
def test_the_log_never_skips_an_event_whose_transaction_commits_late(
    postgres_stores: Callable[[], Store],
) -> None:
    store = postgres_stores()
    assert isinstance(store, SqlStore)
    now = datetime.now(UTC)
    early = sla_breached(instance_id="i1", due_at=now, now=now)
    late = sla_breached(instance_id="i2", due_at=now, now=now)
    with store.transaction() as slow:
        slow.conn  # noqa: B018 - begin: its event is written now, with a lower seq
        slow.add_events([early])
        with store.transaction() as quick:
            quick.add_events([late])
        with store.transaction() as reader:
            # the later event has committed, but one before it may still come: wait
            assert log.read_after(reader, log.START) == []
    found: list[log.LoggedEvent] = []

    def both() -> bool:  # once no older transaction on the server is open
        with store.transaction() as reader:
            found[:] = log.read_after(reader, log.START)
        return len(found) == 2

    until(both)
    assert [e.event.id for e in found] == [early.id, late.id]
    assert found[0].position < found[1].position


@pytest.mark.postgres
def test_two_dispatchers_never_deliver_one_instance_out_of_order_or_at_once(
    postgres_stores: Callable[[], Store], receiver: Receiver
) -> None:
    first, second = postgres_stores(), postgres_stores()
    assert isinstance(first, SqlStore) and isinstance(second, SqlStore)
    engine = ProcessEngine(first)
    engine.deploy(STEPS)
    receiver.delay = 0.005
    receiver.start()
    Webhooks(first).create(name="crm", url=receiver.url, secret=receiver.secret,
                           now=datetime.now(UTC))
    nodes = [Dispatcher(store, node_id=name, config=FAST)
             for store, name in ((first, "a"), (second, "b"))]
    nodes[0].run_once()
    for node in nodes:
        node.start()
    try:
        writers = [threading.Thread(target=run_cases, args=(engine, 5)) for _ in range(3)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        expected = outbox(first)
        until(lambda: set(receiver.ids()) >= {e.id for e in expected})
    finally:
        for node in nodes:
            node.stop()
    assert receiver.overlaps == []
    arrived = per_instance(receiver.first_arrivals())
    written = per_instance([{"instanceId": e.instance_id, "id": e.id} for e in expected])
    assert arrived == written
    assert len(receiver.ids()) == len(expected)  # nothing twice, with healthy nodes
    assert nodes[0].stats.delivered > 0 and nodes[1].stats.delivered > 0


def test_retention_prunes_what_every_consumer_has_passed(sql_store: SqlStore) -> None:
    clock = ManualClock()
    dispatcher = Dispatcher(sql_store, node_id="n1", clock=clock, config=FAST)
    dispatcher.run_once()
    old = clock.now()
    with sql_store.transaction() as tx:
        tx.add_events([sla_breached(instance_id=f"i{n}", due_at=old, now=old)
                       for n in range(3)])
    with sql_store.transaction() as tx:
        last = log.position_of(tx, tx.events_after(0, 100)[-1][1].id)

    def passed() -> bool:
        with sql_store.transaction() as tx:
            return {n: p for n, p, _ in log.consumers(tx)}["webhooks"] == last

    until(passed, dispatcher.run_once)  # the fan-out consumer passes them
    clock.advance(timedelta(days=8))
    with sql_store.transaction() as tx:
        tx.add_events([sla_breached(instance_id="i9", due_at=old, now=clock.now())])
    assert dispatcher.prune() == 3
    assert [e.payload.get("dueAt") for e in outbox(sql_store)] == [old.isoformat()]
    assert dispatcher.prune() == 0
