"""Server-sent events: ``GET /events/stream``, and the lifespan hook that runs delivery.

The stream is the outbox as it commits (:class:`~caseflow.events.hub.EventHub`): each
message's ``id`` is the event's position in the log, ``event`` its type, ``data`` the
envelope as JSON. A client that reconnects with ``Last-Event-ID`` (browsers do it by
themselves) first gets what it missed, then live events. Admins and operators see every
event; any other user sees the events of the tasks they may see (their grants, as the
task list checks them). ``?types=A,B`` and ``?instanceId=`` narrow the stream.

:func:`event_delivery` (in ``caseflow.api.app.LIFESPAN_HOOKS``) starts the hub in every
API process and, when the process runs the job executor, the dispatcher (webhooks,
brokers) too; ``caseflow serve --no-executor`` leaves delivery to ``caseflow events
dispatch`` elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import StreamingResponse

from caseflow.api.auth import CurrentPrincipal, OperatorPrincipal, Principal
from caseflow.api.problems import ApiProblem
from caseflow.api.services import Services, get_services
from caseflow.errors import Forbidden, NotFound
from caseflow.events import log
from caseflow.events.dispatcher import (
    FAN_OUT,
    Dispatcher,
    DispatcherConfig,
    consumer_lag,
    delivery_backlog,
)
from caseflow.events.hub import EventHub
from caseflow.events.log import LoggedEvent

router = APIRouter(prefix="/events", tags=["events"])

HUB = "event_hub"
DISPATCHER = "event_dispatcher"
KEEPALIVE_SECONDS = 15.0


@contextlib.contextmanager
def event_delivery(app: FastAPI, services: Services) -> Iterator[None]:
    """The hub for SSE (always) and the dispatcher (with the executor) of this process."""
    del app
    hub = EventHub(services.store)
    hub.start()
    services.extras[HUB] = hub
    _outbox_gauges(services)
    dispatcher = None
    if services.settings.executor:
        from caseflow.events.sinks import sink_from_url
        from caseflow.time.jobs import default_node_id

        settings = services.settings
        dispatcher = Dispatcher(
            services.store,
            node_id=settings.node_id or default_node_id(),
            clock=services.clock,
            config=DispatcherConfig(
                poll_interval=1.0, retention=timedelta(days=settings.events_retention_days)
            ),
            sinks=[sink_from_url(url) for url in settings.events_sinks],
        )
        dispatcher.start()
        services.extras[DISPATCHER] = dispatcher
    try:
        yield
    finally:
        if dispatcher is not None:
            dispatcher.stop(services.settings.shutdown_grace_seconds)
        hub.stop()


def _outbox_gauges(services: Services) -> None:
    """Outbox lag for /metrics, read at scrape time (one small query each)."""
    store, clock = services.store, services.clock

    def fan_out() -> tuple[int, float] | None:
        with store.transaction(read_only=True) as tx:
            found = {name: p for name, p, _ in log.consumers(tx)}.get(FAN_OUT)
            if found is None:
                return None
            count, oldest = log.backlog(tx, found)
        age = 0.0 if oldest is None else max(0.0, (clock.now() - oldest).total_seconds())
        return count, age

    def deliveries() -> tuple[int, float]:
        with store.transaction(read_only=True) as tx:
            return delivery_backlog(tx, clock.now())

    def part(read: Callable[[], tuple[int, float] | None], at: int) -> Callable[[], float | None]:
        def value() -> float | None:
            found = read()
            return None if found is None else float(found[at])

        return value

    metrics = services.metrics
    metrics.gauge("caseflow_outbox_lag_events",
                  "Outbox events the webhook fan-out has yet to take", part(fan_out, 0))
    metrics.gauge("caseflow_outbox_lag_seconds",
                  "Age of the oldest outbox event the fan-out has yet to take", part(fan_out, 1))
    metrics.gauge("caseflow_webhook_deliveries_pending",
                  "Webhook deliveries not yet delivered (nor dead)", part(deliveries, 0))
    metrics.gauge("caseflow_webhook_delivery_lag_seconds",
                  "Age of the oldest pending webhook delivery", part(deliveries, 1))


def _hub(services: Services) -> EventHub:
    hub = services.extras.get(HUB)
    if not isinstance(hub, EventHub):
        raise ApiProblem(503, "the event stream is not running in this process",
                         code="unavailable")
    return hub


class _Visibility:
    """Which events a user may see: those of tasks their grants let them see (cached
    for the stream's life; a task seen once stays seen)."""

    def __init__(self, services: Services, principal: Principal) -> None:
        self.services = services
        self.principal = principal
        self.known: OrderedDict[str, bool] = OrderedDict()

    def _check(self, task_id: str) -> bool:
        try:
            self.services.work.task(self.principal.user_id, task_id)
        except (NotFound, Forbidden):
            return False
        return True

    async def allows(self, event: LoggedEvent) -> bool:
        if self.principal.is_operator:
            return True
        task_id = event.event.task_id
        if task_id is None:
            return False
        found = self.known.get(task_id)
        if found is None:
            found = await asyncio.to_thread(self._check, task_id)
            self.known[task_id] = found
            if len(self.known) > 10_000:
                self.known.popitem(last=False)
        return found


def _message(event: LoggedEvent) -> bytes:
    data = json.dumps(event.envelope(), separators=(",", ":"), default=str)
    return f"id: {event.position}\nevent: {event.event.type}\ndata: {data}\n\n".encode()


@router.get(
    "/stream",
    summary="Server-sent events: the outbox as it commits, filtered to what the caller may see",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    request: Request,
    principal: CurrentPrincipal,
    services: Annotated[Services, Depends(get_services)],
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[str | None, Query(alias="lastEventId",
                                       description="Like the Last-Event-ID header")] = None,
    types: Annotated[str | None, Query(description="Comma-separated event types")] = None,
    instance_id: Annotated[str | None, Query(alias="instanceId")] = None,
) -> StreamingResponse:
    hub = _hub(services)
    resume = last_event_id or after
    position = await asyncio.to_thread(hub.resolve, resume) if resume else None
    if resume and position is None:
        raise ApiProblem(422, f"unknown Last-Event-ID '{resume}'", code="validation_failed")
    wanted = None if not types else {t.strip() for t in types.split(",") if t.strip()}
    visibility = _Visibility(services, principal)

    def selected(event: LoggedEvent) -> bool:
        return (wanted is None or event.event.type in wanted) and (
            instance_id is None or event.event.instance_id == instance_id
        )

    async def body() -> AsyncIterator[bytes]:
        yield b": caseflow events\nretry: 3000\n\n"
        events = hub.stream(position, selected).__aiter__()
        pending: asyncio.Task[LoggedEvent] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(events.__anext__())
                done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_SECONDS)
                if not done:
                    if await request.is_disconnected():
                        return
                    yield b": keepalive\n\n"
                    continue
                try:
                    event = pending.result()
                except StopAsyncIteration:
                    return
                finally:
                    pending = None
                if await visibility.allows(event):
                    yield _message(event)
        finally:
            if pending is not None:
                pending.cancel()
            await events.aclose()  # type: ignore[attr-defined]

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/lag", summary="Events each consumer (webhook fan-out, broker sinks) has yet to take")
def lag(
    _principal: OperatorPrincipal, services: Annotated[Services, Depends(get_services)]
) -> dict[str, int]:
    with services.store.transaction(read_only=True) as tx:
        return consumer_lag(tx)
