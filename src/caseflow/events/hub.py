"""The in-process hub behind server-sent events: one reader of the outbox per process,
any number of listeners.

A poller thread reads the log (:mod:`caseflow.events.log`, commit order) and hands each
new event to every subscriber's asyncio queue. A subscriber that resumes (SSE
``Last-Event-ID``) first gets what it missed from the outbox itself, up to where the hub
stood when it subscribed, then the live events after that: no gap, no repeat. A
subscriber too slow to keep up (its queue full) is ended; its client reconnects with
its last id and replays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from caseflow.events import log
from caseflow.events.log import LoggedEvent, Position
from caseflow.store.sql import SqlStore

logger = logging.getLogger("caseflow.events")

Predicate = Callable[[LoggedEvent], bool]


@dataclass(eq=False, slots=True)
class _Subscriber:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[LoggedEvent | None]
    wants: Predicate | None
    start: Position
    ended: bool = False


class EventHub:
    """See the module docstring. ``start()`` the poller; ``stream()`` per listener."""

    def __init__(self, store: SqlStore, *, poll_interval: float = 0.5,
                 queue_size: int = 10_000, batch: int = 1000) -> None:
        self.store = store
        self.poll_interval = poll_interval
        self.queue_size = queue_size
        self.batch = batch
        self.position: Position | None = None  # where the poller stands
        self._subscribers: set[_Subscriber] = set()
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the poller ---

    def start(self) -> None:
        if self._thread is not None:
            return
        with self.store.transaction(read_only=True) as tx:
            self.position = log.head(tx)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="caseflow-event-hub",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        with self._lock:
            subscribers, self._subscribers = list(self._subscribers), set()
        for sub in subscribers:
            self._end(sub)

    def wake(self) -> None:
        """Poll now (a hint after a commit; polling goes on regardless)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                found = self.poll()
            except Exception:
                logger.exception("event hub poll failed")
                found = 0
            if not found:
                self._wake.wait(self.poll_interval)
                self._wake.clear()

    def poll(self) -> int:
        """Read what is new and hand it out; the number of events read."""
        with self._poll_lock:
            return self._poll()

    def _poll(self) -> int:
        with self.store.transaction(read_only=True) as tx:
            if self.position is None:
                self.position = log.head(tx)
                return 0
            events = log.read_after(tx, self.position, self.batch)
        if not events:
            return 0
        with self._lock:
            self.position = events[-1].position
            subscribers = list(self._subscribers)
        for sub in subscribers:
            for event in events:
                if sub.wants is None or sub.wants(event):
                    self._offer(sub, event)
        return len(events)

    def _offer(self, sub: _Subscriber, item: LoggedEvent) -> None:
        def put() -> None:
            if sub.ended:
                return
            if sub.queue.full():
                self._end(sub)  # too slow: it reconnects and replays
                return
            sub.queue.put_nowait(item)

        with contextlib.suppress(RuntimeError):  # its loop has closed: nothing to tell
            sub.loop.call_soon_threadsafe(put)

    def _end(self, sub: _Subscriber) -> None:
        def end() -> None:
            sub.ended = True
            while sub.queue.full():
                sub.queue.get_nowait()
            sub.queue.put_nowait(None)

        with self._lock:
            self._subscribers.discard(sub)
        with contextlib.suppress(RuntimeError):
            sub.loop.call_soon_threadsafe(end)

    # --- listeners ---

    def replay(self, after: Position, limit: int = 500) -> list[LoggedEvent]:
        with self.store.transaction(read_only=True) as tx:
            return log.read_after(tx, after, limit)

    def resolve(self, last_event_id: str | None) -> Position | None:
        """A ``Last-Event-ID`` as a position: ours (``xid-seq``), or an event id."""
        position = Position.parse(last_event_id)
        if position is not None or not last_event_id:
            return position
        with self.store.transaction(read_only=True) as tx:
            return log.position_of(tx, last_event_id)

    async def stream(
        self, after: Position | None = None, wants: Predicate | None = None
    ) -> AsyncIterator[LoggedEvent]:
        """Events after ``after`` (None: only new ones), then live, filtered by ``wants``."""
        if self._thread is None:
            raise RuntimeError("the event hub is not running")
        with self._lock:
            sub = _Subscriber(asyncio.get_running_loop(), asyncio.Queue(self.queue_size),
                              wants, self.position or log.START)
            self._subscribers.add(sub)
        try:
            last = after
            if after is not None:
                while True:
                    batch = await asyncio.to_thread(self.replay, last or log.START, 500)
                    caught_up = len(batch) < 500
                    for event in batch:
                        if event.position > sub.start:
                            caught_up = True
                            break
                        last = event.position
                        if wants is None or wants(event):
                            yield event
                    if caught_up:
                        break
            while True:
                item = await sub.queue.get()
                if item is None:
                    return
                if last is not None and item.position <= last:
                    continue
                last = item.position
                yield item
        finally:
            with self._lock:
                self._subscribers.discard(sub)

    @property
    def listeners(self) -> int:
        return len(self._subscribers)


__all__ = ["EventHub"]
