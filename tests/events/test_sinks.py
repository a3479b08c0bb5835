"""Broker sinks against the real brokers (NATS, RabbitMQ, Redis on their usual local
ports): each receives every event, in log order. Skipped when a broker is not there,
unless CASEFLOW_REQUIRE_BROKERS=1 (CI)."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from caseflow.events import sla_breached
from caseflow.events.dispatcher import Dispatcher, DispatcherConfig
from caseflow.events.sinks import NatsSink, RabbitMqSink, RedisStreamSink, Sink, sink_from_url
from caseflow.runtime.ports import OutboxEvent
from caseflow.store.sql import SqlStore

REQUIRE = os.environ.get("CASEFLOW_REQUIRE_BROKERS") == "1"


def need(port: int, what: str) -> None:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError as error:
        if REQUIRE:
            pytest.fail(f"CASEFLOW_REQUIRE_BROKERS=1 but {what} is not reachable: {error}")
        pytest.skip(f"{what} not reachable on 127.0.0.1:{port}")


def publish_through(store: SqlStore, sink: Sink, count: int = 5) -> list[OutboxEvent]:
    dispatcher = Dispatcher(store, node_id="n1", sinks=[sink],
                            config=DispatcherConfig(backoff_base=0.01))
    dispatcher.run_once()  # the sink's consumer starts here
    now = datetime.now(UTC)
    made = [sla_breached(instance_id=f"i{n % 2}", due_at=now, now=now, n=n)
            for n in range(count)]
    with store.transaction() as tx:
        tx.add_events(made)
    dispatcher.run_until_idle()
    assert dispatcher.stats.published == count
    dispatcher.close()
    return made


def until(found: Callable[[], list[Any]], count: int) -> list[Any]:
    deadline = time.monotonic() + 10
    while len(got := found()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return got


def test_redis_streams(sqlite_store: SqlStore) -> None:
    need(6379, "Redis")
    import redis

    stream = f"caseflow:test:{uuid.uuid4().hex}"
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        made = publish_through(sqlite_store, RedisStreamSink(stream=stream))
        entries = client.xrange(stream)
        assert [e[1][b"id"].decode() for e in entries] == [m.id for m in made]
        envelope = json.loads(entries[0][1][b"envelope"])
        assert envelope["type"] == "SLABreached"
        assert envelope["data"]["n"] == 0
    finally:
        client.delete(stream)
        client.close()


def test_nats(sqlite_store: SqlStore) -> None:
    need(4222, "NATS")
    import asyncio

    import nats

    prefix = f"caseflow.test{uuid.uuid4().hex[:8]}"
    got: list[dict[str, Any]] = []
    loop = asyncio.new_event_loop()

    async def subscribe() -> Any:
        client = await nats.connect("nats://127.0.0.1:4222")

        async def on(msg: Any) -> None:
            got.append({"subject": msg.subject, **json.loads(msg.data)})

        await client.subscribe(f"{prefix}.>", cb=on)
        await client.flush()
        return client

    client = loop.run_until_complete(subscribe())
    try:
        made = publish_through(sqlite_store, NatsSink(prefix=prefix))

        def received() -> list[Any]:
            loop.run_until_complete(asyncio.sleep(0.05))
            return got

        until(received, len(made))
        assert [g["id"] for g in got] == [m.id for m in made]
        assert got[0]["subject"] == f"{prefix}.SLABreached"
    finally:
        loop.run_until_complete(client.close())
        loop.close()


def test_rabbitmq(sqlite_store: SqlStore) -> None:
    need(5672, "RabbitMQ")
    import pika

    exchange = f"caseflow.test.{uuid.uuid4().hex[:8]}"
    connection = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2F"))
    channel = connection.channel()
    channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, exchange, routing_key="#")
    try:
        made = publish_through(sqlite_store, sink_from_url(
            "amqp://guest:guest@127.0.0.1:5672/%2F", exchange=exchange))

        def received() -> list[Any]:
            found = []
            while (message := channel.basic_get(queue, auto_ack=True))[0] is not None:
                found.append(message)
            received.got.extend(found)  # type: ignore[attr-defined]
            return received.got  # type: ignore[attr-defined]

        received.got = []  # type: ignore[attr-defined]
        got = until(received, len(made))
        assert [props.message_id for _, props, _ in got] == [m.id for m in made]
        assert got[0][0].routing_key == "SLABreached"
        assert json.loads(got[0][2])["data"]["n"] == 0
    finally:
        channel.exchange_delete(exchange)
        connection.close()


def test_a_broker_that_refuses_is_retried_from_the_failed_event(sqlite_store: SqlStore) -> None:
    class Flaky:
        name = "flaky"

        def __init__(self) -> None:
            self.sent: list[str] = []
            self.fail_next = True

        def publish(self, event: Any) -> None:
            if event.event.payload.get("n") == 2 and self.fail_next:
                self.fail_next = False
                raise ConnectionError("broker went away")
            self.sent.append(event.event.id)

        def close(self) -> None:
            pass

    sink = Flaky()
    dispatcher = Dispatcher(sqlite_store, node_id="n1", sinks=[sink],
                            config=DispatcherConfig(backoff_base=0.01, backoff_cap=0.01))
    dispatcher.run_once()
    now = datetime.now(UTC)
    made = [sla_breached(instance_id="i", due_at=now, now=now, n=n) for n in range(4)]
    with sqlite_store.transaction() as tx:
        tx.add_events(made)
    dispatcher.run_once()
    assert sink.sent == [m.id for m in made[:2]]
    time.sleep(0.02)
    dispatcher.run_until_idle()
    assert sink.sent == [m.id for m in made]


def test_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="no event sink"):
        sink_from_url("kafka://127.0.0.1:9092")
    assert isinstance(RabbitMqSink, type) and isinstance(RedisStreamSink, type)
