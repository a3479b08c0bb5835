"""Brokers as event sinks: one small interface, one adapter per broker.

A :class:`Sink` takes events one at a time, in log order, and returns only once the
broker has accepted the event (or raises: the dispatcher retries from that event after a
back-off). Delivery is at least once: a consumer deduplicates on the event ``id``. Each
message carries the envelope (:meth:`~caseflow.events.log.LoggedEvent.envelope`) as JSON,
with the event type in the subject / routing key / stream field.

The client libraries are optional extras (``pip install caseflow[nats]``, ``[rabbitmq]``,
``[redis]``); an adapter imports its library when it is made.

* :class:`NatsSink`: publishes to ``<prefix>.<type>`` (default ``caseflow.events.…``)
  and flushes, so the server has it (with JetStream capturing the subject, that is
  persisted). nats-py is asyncio-only: the sink drives it on a private event loop.
* :class:`RabbitMqSink`: publishes persistent messages to a topic exchange (default
  ``caseflow.events``, routing key = type) with publisher confirms (pika).
* :class:`RedisStreamSink`: ``XADD`` to a stream (default ``caseflow:events``), fields
  ``type``, ``id``, ``instanceId`` and ``envelope``, trimmed to about ``maxlen`` entries.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar, runtime_checkable

from caseflow.events.log import LoggedEvent

T = TypeVar("T")


@runtime_checkable
class Sink(Protocol):
    """Where the dispatcher publishes events (see the module docstring)."""

    name: str

    def publish(self, event: LoggedEvent) -> None: ...

    def close(self) -> None: ...


def _message(event: LoggedEvent) -> bytes:
    return json.dumps(event.envelope(), separators=(",", ":"), default=str).encode()


class NatsSink:
    """Core NATS (or JetStream when a stream captures the subjects)."""

    def __init__(self, url: str = "nats://127.0.0.1:4222", *, prefix: str = "caseflow.events",
                 name: str = "nats", timeout: float = 5.0) -> None:
        import nats  # optional dependency: caseflow[nats]

        self.name = name
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self._connect: Callable[..., Coroutine[Any, Any, Any]] = nats.connect
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"caseflow-sink-{name}")
        self._thread.start()
        self._client: Any = None

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(
            self.timeout * 2
        )

    def _ensure(self) -> Any:
        if self._client is None or not self._client.is_connected:
            self._client = self._run(self._connect(
                self.url, connect_timeout=self.timeout, allow_reconnect=True,
                max_reconnect_attempts=1,
            ))
        return self._client

    def publish(self, event: LoggedEvent) -> None:
        client = self._ensure()

        async def send() -> None:
            await client.publish(
                f"{self.prefix}.{event.event.type}", _message(event),
                headers={"Nats-Msg-Id": event.event.id},
            )
            await client.flush(timeout=self.timeout)

        self._run(send())

    def close(self) -> None:
        if self._client is not None:
            try:
                self._run(self._client.close())
            finally:
                self._client = None
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()


class RabbitMqSink:
    """A topic exchange with publisher confirms."""

    def __init__(self, url: str = "amqp://guest:guest@127.0.0.1:5672/%2F", *,
                 exchange: str = "caseflow.events", name: str = "rabbitmq") -> None:
        import pika  # type: ignore[import-untyped]  # optional: caseflow[rabbitmq]

        self.name = name
        self.url = url
        self.exchange = exchange
        self._pika: Any = pika
        self._connection: Any = None
        self._channel: Any = None

    def _ensure(self) -> Any:
        if self._channel is None or self._channel.is_closed:
            self.close()
            self._connection = self._pika.BlockingConnection(self._pika.URLParameters(self.url))
            channel = self._connection.channel()
            channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
            channel.confirm_delivery()
            self._channel = channel
        return self._channel

    def publish(self, event: LoggedEvent) -> None:
        channel = self._ensure()
        properties = self._pika.BasicProperties(
            content_type="application/json",
            delivery_mode=2,  # persistent
            message_id=event.event.id,
            type=event.event.type,
            headers={"instanceId": event.event.instance_id, "position": str(event.position)},
        )
        # with confirms on, this returns once the broker took it (raises if it did not)
        channel.basic_publish(self.exchange, event.event.type, _message(event), properties,
                              mandatory=False)

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            connection.close()


class RedisStreamSink:
    """``XADD`` to one stream."""

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *,
                 stream: str = "caseflow:events", maxlen: int | None = 1_000_000,
                 name: str = "redis") -> None:
        import redis  # optional dependency: caseflow[redis]

        self.name = name
        self.stream = stream
        self.maxlen = maxlen
        self._client: Any = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)

    def publish(self, event: LoggedEvent) -> None:
        self._client.xadd(
            self.stream,
            {
                "type": event.event.type,
                "id": event.event.id,
                "instanceId": event.event.instance_id or "",
                "position": str(event.position),
                "envelope": _message(event),
            },
            maxlen=self.maxlen,
            approximate=True,
        )

    def close(self) -> None:
        self._client.close()


def sink_from_url(url: str, **options: Any) -> Sink:
    """A sink by URL scheme: ``nats://``, ``amqp://`` / ``amqps://``, ``redis://`` /
    ``rediss://``."""
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("nats", "tls"):
        return NatsSink(url, **options)
    if scheme in ("amqp", "amqps"):
        return RabbitMqSink(url, **options)
    if scheme in ("redis", "rediss"):
        return RedisStreamSink(url, **options)
    raise ValueError(f"no event sink for '{scheme}://' (nats, amqp, redis)")


__all__ = ["NatsSink", "RabbitMqSink", "RedisStreamSink", "Sink", "sink_from_url"]
