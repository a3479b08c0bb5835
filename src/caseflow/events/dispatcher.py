"""The dispatcher: outbox events to webhooks and brokers, at least once, in order per
instance, safe with any number of caseflow nodes on one PostgreSQL.

Three steps, each its own short transaction, run in a loop (``caseflow events
dispatch``, or inside ``caseflow serve``):

1. **Fan-out.** The consumer ``webhooks`` reads the log after its position (in commit
   order: :mod:`caseflow.events.log`) and writes one ``webhook_delivery`` row per event
   and active webhook that wants it, then moves its position, in one transaction that
   holds the consumer's row (``FOR UPDATE SKIP LOCKED``: one node at a time, each event
   fanned out exactly once). Rows are numbered (``seq``) in that order.
2. **Delivery.** A node claims due deliveries that are the *head* of their webhook and
   instance (no earlier delivery of the same instance still PENDING), with ``FOR UPDATE
   SKIP LOCKED`` and a lease, then POSTs them (several instances in parallel, signed:
   :mod:`caseflow.events.webhooks`) and records the outcome: DELIVERED; or PENDING again
   after an exponential back-off with jitter; or DEAD (the dead letter) after the
   webhook's ``max_attempts``, which lets the instance's next events go on. As only a
   head is claimable and it is leased until its outcome is written, two nodes never
   deliver one instance's events to one webhook concurrently or out of order. The lease
   must outlast a request (``lease`` > ``request_timeout``): a node that stalls past its
   lease may see its delivery repeated by another (at least once).
3. **Sinks** (NATS, RabbitMQ, Redis streams: :mod:`caseflow.events.sinks`). Each is a
   consumer ``sink:<name>`` with a lease: one node publishes a batch in log order and
   moves the position past what the broker accepted; a failure retries from there after
   a back-off.

Retention: events older than ``retention`` that every consumer passed, and DELIVERED
deliveries older than it, are deleted now and then (``prune``).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update

from caseflow.clock import Clock, SystemClock
from caseflow.events import log
from caseflow.events.sinks import Sink
from caseflow.events.webhooks import Attempt, headers_for, post
from caseflow.store import schema as s
from caseflow.store.sql import SqlStore, SqlTransaction

logger = logging.getLogger("caseflow.events")

W = s.webhook
D = s.webhook_delivery
FAN_OUT = "webhooks"

Poster = Callable[[str, bytes, Mapping[str, str], float], Attempt]


@dataclass(slots=True)
class DispatcherConfig:
    poll_interval: float = 0.5  # seconds between rounds when there was nothing to do
    batch_size: int = 500  # events per fan-out or sink round
    delivery_batch: int = 32  # deliveries claimed per round
    workers: int = 8  # parallel webhook requests (different instances)
    request_timeout: float = 10.0
    lease: timedelta = timedelta(seconds=60)
    backoff_base: float = 2.0  # seconds before the 2nd attempt; doubles each time
    backoff_cap: float = 3600.0
    retention: timedelta = timedelta(days=7)
    prune_every: float = 600.0

    def backoff(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        """After ``attempts`` failures: base * 2^(attempts-1), capped, times a jitter in
        [0.5, 1] (so receivers coming back are not hit by every node at once)."""
        delay = min(self.backoff_cap, self.backoff_base * (2 ** max(0, attempts - 1)))
        jitter = (rng or random).uniform(0.5, 1.0)
        return timedelta(seconds=delay * jitter)


@dataclass(slots=True)
class DispatchStats:
    fanned_out: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    published: int = 0
    pruned: int = 0
    errors: int = 0
    extra: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Claimed:
    seq: int
    webhook_id: str
    event_id: str
    event_type: str
    body: str
    attempts: int
    url: str
    secret: str
    max_attempts: int


class Dispatcher:
    """Delivers the outbox (see the module docstring). Thread-safe to run one per node."""

    def __init__(
        self,
        store: SqlStore,
        *,
        node_id: str,
        clock: Clock | None = None,
        config: DispatcherConfig | None = None,
        sinks: Sequence[Sink] = (),
        poster: Poster = post,
    ) -> None:
        if not isinstance(store, SqlStore):
            raise TypeError("event delivery needs a SQLite or PostgreSQL store")
        self.store = store
        self.node_id = node_id
        self.clock: Clock = clock or SystemClock()
        self.config = config or DispatcherConfig()
        self.sinks = list(sinks)
        self.poster = poster
        self.stats = DispatchStats()
        self._pool: ThreadPoolExecutor | None = None
        self._ready = False
        self._sink_retry_at: dict[str, datetime] = {}
        self._sink_failures: dict[str, int] = {}
        self._last_prune: datetime | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- setup ---

    def _ensure(self) -> None:
        if self._ready:
            return
        now = self.clock.now()
        with self.store.transaction() as tx:
            # a new consumer starts at the head: webhooks get events from now on
            start = log.head(tx)
            log.ensure_consumer(tx, FAN_OUT, now, start=start)
            for sink in self.sinks:
                log.ensure_consumer(tx, _sink_consumer(sink), now, start=start)
        self._ready = True

    # --- 1. fan-out ---

    def fan_out(self) -> int:
        """Deliveries for the next batch of events; how many events were taken."""
        self._ensure()
        now = self.clock.now()
        with self.store.transaction() as tx:
            position = log.lock_consumer(tx, FAN_OUT)
            if position is None:
                return 0  # another node is at it
            events = log.read_after(tx, position, self.config.batch_size)
            if not events:
                return 0
            hooks = tx.conn.execute(
                select(W.c.id, W.c.event_types, W.c.tenant_id).where(W.c.active.is_(True))
            ).all()
            rows = []
            for logged in events:
                event = logged.event
                body = None
                for hook_id, types, tenant in hooks:
                    if types is not None and event.type not in types:
                        continue
                    if tenant is not None and tenant != event.tenant_id:
                        continue
                    body = body or logged.body().decode()
                    rows.append({
                        "webhook_id": hook_id,
                        "event_id": event.id,
                        "event_type": event.type,
                        "instance_id": event.instance_id,
                        "ordering_key": event.instance_id or event.task_id or event.id,
                        "body": body,
                        "status": "PENDING",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    })
            if rows:
                tx.conn.execute(insert(D), rows)
            log.advance_consumer(tx, FAN_OUT, events[-1].position, now)
        self.stats.fanned_out += len(events)
        return len(events)

    # --- 2. delivery ---

    def claim(self, limit: int | None = None) -> list[_Claimed]:
        """Lease due head deliveries to this node (see the module docstring)."""
        now = self.clock.now()
        h = D.alias("h")
        e = D.alias("e")
        earlier = exists().where(
            e.c.webhook_id == h.c.webhook_id,
            e.c.ordering_key == h.c.ordering_key,
            e.c.seq < h.c.seq,
            e.c.status == "PENDING",
        )
        active = select(W.c.id).where(W.c.active.is_(True))
        pick = (
            select(h.c.seq)
            .where(
                h.c.status == "PENDING",
                h.c.next_attempt_at <= now,
                or_(h.c.lease_expires_at.is_(None), h.c.lease_expires_at <= now),
                h.c.webhook_id.in_(active),
                ~earlier,
            )
            .order_by(h.c.seq)
            .limit(limit or self.config.delivery_batch)
            .with_for_update(of=h, skip_locked=True)
        )
        with self.store.transaction() as tx:
            rows = tx.conn.execute(
                update(D)
                .where(D.c.seq.in_(pick.scalar_subquery()))
                .values(lease_owner=self.node_id, lease_expires_at=now + self.config.lease)
                .returning(D.c.seq, D.c.webhook_id, D.c.event_id, D.c.event_type, D.c.body,
                           D.c.attempts)
            ).all()
            if not rows:
                return []
            hooks = {
                r[0]: (r[1], r[2], r[3])
                for r in tx.conn.execute(
                    select(W.c.id, W.c.url, W.c.secret, W.c.max_attempts)
                    .where(W.c.id.in_({r[1] for r in rows}))
                ).all()
            }
        claimed = []
        for seq, hook_id, event_id, event_type, body, attempts in sorted(rows):
            url, secret, max_attempts = hooks[hook_id]
            claimed.append(_Claimed(int(seq), hook_id, event_id, event_type, body,
                                    int(attempts), url, secret, int(max_attempts)))
        return claimed

    def _attempt(self, item: _Claimed) -> Attempt:
        body = item.body.encode()
        headers = headers_for(
            item.secret, body, event_id=item.event_id, event_type=item.event_type,
            delivery=item.seq, attempt=item.attempts + 1,
        )
        try:
            return self.poster(item.url, body, headers, self.config.request_timeout)
        except Exception as error:  # noqa: BLE001 - a failed attempt, recorded and retried
            return Attempt(False, None, f"{type(error).__name__}: {error}"[:500])

    def deliver_due(self) -> int:
        """Claim and POST one batch; the number of attempts made."""
        claimed = self.claim()
        if not claimed:
            return 0
        if len(claimed) == 1 or self.config.workers <= 1:
            results = [self._attempt(c) for c in claimed]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.config.workers,
                                                thread_name_prefix="caseflow-webhook")
            results = list(self._pool.map(self._attempt, claimed))
        self._record(claimed, results)
        return len(claimed)

    def _record(self, claimed: Sequence[_Claimed], results: Sequence[Attempt]) -> None:
        now = self.clock.now()
        with self.store.transaction() as tx:
            for item, result in zip(claimed, results, strict=True):
                attempts = item.attempts + 1
                mine = and_(D.c.seq == item.seq, D.c.lease_owner == self.node_id)
                values: dict[str, Any] = {
                    "attempts": attempts,
                    "last_status_code": result.status_code,
                    "last_error": result.error,
                    "lease_owner": None,
                    "lease_expires_at": None,
                }
                if result.ok:
                    values.update(status="DELIVERED", delivered_at=now)
                    self.stats.delivered += 1
                elif attempts >= item.max_attempts:
                    values.update(status="DEAD")
                    self.stats.dead += 1
                    logger.warning(
                        "webhook delivery %s (event %s) is dead after %s attempts: %s",
                        item.seq, item.event_id, attempts, result.error,
                    )
                else:
                    values.update(next_attempt_at=now + self.config.backoff(attempts))
                    self.stats.failed += 1
                tx.conn.execute(update(D).where(mine).values(**values))

    # --- 3. sinks ---

    def publish_sinks(self) -> int:
        done = 0
        for sink in self.sinks:
            done += self._publish(sink)
        return done

    def _publish(self, sink: Sink) -> int:
        self._ensure()
        name = _sink_consumer(sink)
        now = self.clock.now()
        retry_at = self._sink_retry_at.get(name)
        if retry_at is not None and now < retry_at:
            return 0
        with self.store.transaction() as tx:
            position = log.lease_consumer(tx, name, self.node_id, now, self.config.lease)
            if position is None:
                return 0
            events = log.read_after(tx, position, self.config.batch_size)
        if not events:
            return 0
        sent: log.Position | None = None
        count = 0
        failure: Exception | None = None
        for logged in events:
            try:
                sink.publish(logged)
            except Exception as error:  # noqa: BLE001 - retried from here after a back-off
                failure = error
                break
            sent = logged.position
            count += 1
        now = self.clock.now()
        if sent is not None:
            with self.store.transaction() as tx:
                if not log.advance_consumer(tx, name, sent, now, owner=self.node_id,
                                            lease=self.config.lease):
                    logger.warning("sink %s: lease lost; another node goes on", sink.name)
        self.stats.published += count
        if failure is not None:
            failures = self._sink_failures.get(name, 0) + 1
            self._sink_failures[name] = failures
            self._sink_retry_at[name] = now + self.config.backoff(failures)
            self.stats.errors += 1
            logger.warning("sink %s failed (attempt %s): %s", sink.name, failures, failure)
        else:
            self._sink_failures.pop(name, None)
            self._sink_retry_at.pop(name, None)
        return count

    # --- retention ---

    def prune(self, now: datetime | None = None) -> int:
        """Delete what retention no longer keeps; the number of rows deleted."""
        now = now or self.clock.now()
        cutoff = now - self.config.retention
        with self.store.transaction() as tx:
            events = log.prune(tx, cutoff)
            deliveries = int(tx.conn.execute(
                delete(D).where(D.c.status == "DELIVERED", D.c.delivered_at < cutoff)
            ).rowcount)
        self._last_prune = now
        self.stats.pruned += events + deliveries
        return events + deliveries

    # --- the loop ---

    def run_once(self) -> int:
        """One round of every step; how much was done (0: nothing was waiting)."""
        done = self.fan_out() + self.deliver_due() + self.publish_sinks()
        now = self.clock.now()
        if self._last_prune is None or (now - self._last_prune).total_seconds() >= (
            self.config.prune_every
        ):
            self.prune(now)
        return done

    def run_until_idle(self, max_rounds: int = 1000) -> int:
        total = 0
        for _ in range(max_rounds):
            done = self.run_once()
            total += done
            if not done:
                break
        return total

    def wake(self) -> None:
        """Start the next round now (a hint: rounds also run every ``poll_interval``)."""
        self._wake.set()

    def run_forever(self, stop: threading.Event | None = None) -> None:
        """Rounds until ``stop`` (or :meth:`stop`); errors are logged and it goes on."""
        stop = stop or self._stop
        while not stop.is_set() and not self._stop.is_set():
            try:
                done = self.run_once()
            except Exception:
                logger.exception("event dispatch round failed")
                self.stats.errors += 1
                done = 0
            if not done:
                self._wake.wait(self.config.poll_interval)
                self._wake.clear()
        self.close()

    def start(self) -> threading.Thread:
        """Run in a daemon thread until :meth:`stop`."""
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run_forever, name="caseflow-events", daemon=True
        )
        self._thread.start()
        return self._thread

    def stop(self, timeout: float | None = 30.0) -> None:
        """End the loop after the round in progress (its deliveries are recorded)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                logger.warning("sink %s did not close cleanly", sink.name, exc_info=True)

    # --- for operators ---

    def lag(self) -> dict[str, int]:
        """Events each consumer has yet to take (the outbox lag metric)."""
        with self.store.transaction(read_only=True) as tx:
            return consumer_lag(tx)


def consumer_lag(tx: SqlTransaction) -> dict[str, int]:
    """Events each consumer has yet to take."""
    return {name: log.backlog(tx, position)[0] for name, position, _ in log.consumers(tx)}


def delivery_backlog(tx: SqlTransaction, now: datetime) -> tuple[int, float]:
    """PENDING webhook deliveries and the age in seconds of the oldest (0 when none)."""
    row = tx.conn.execute(
        select(func.count(), func.min(D.c.created_at)).where(D.c.status == "PENDING")
    ).one()
    oldest = row[1]
    return int(row[0]), 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())


def _sink_consumer(sink: Sink) -> str:
    return f"sink:{sink.name}"


__all__ = [
    "DispatchStats", "Dispatcher", "DispatcherConfig", "consumer_lag", "delivery_backlog",
]
