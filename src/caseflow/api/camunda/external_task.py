"""``/external-task``: fetchAndLock with long polling, complete, failure, bpmnError,
extendLock, retries, list and get.

Long polling holds no database transaction while it waits. A request that finds nothing
waits on an in-process signal, raised when a command of this process creates or frees
external tasks of the topics it asks for (then it looks again at once), and between
signals it checks with a cheap read-only query every :data:`POLL_INTERVAL` seconds for work
made by other nodes or freed by an expired lock or retry timeout. It answers as soon as it
has locked something, when ``asyncResponseTimeout`` runs out (with ``[]``), or stops when
the client goes away.

Workers are service principals (API keys) or operators; what a worker does is recorded
under the ``workerId`` it sends, as in Camunda.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import func, or_, select

from caseflow.api.audit import nothing_changed
from caseflow.api.camunda.auth import Engine, OperatorPrincipal, WorkerPrincipal
from caseflow.api.camunda.common import (
    MAX_RESULTS,
    blocking,
    flag,
    integer,
    json_body,
    page,
    required_text,
    tenant_out,
    text,
)
from caseflow.api.camunda.errors import CamundaError, CamundaRoute, invalid
from caseflow.api.camunda.values import format_date, from_camunda, to_camunda
from caseflow.api.services import Services
from caseflow.engine.state import ExternalTaskRecord
from caseflow.runtime.ports import InstanceChanges, InstanceListener, TopicRequest, Transaction
from caseflow.store import schema

router = APIRouter(prefix="/external-task", tags=["camunda-7"], route_class=CamundaRoute)

POLL_INTERVAL = 0.5  # seconds between checks for work another node made
QUICK_LOOK = 0.005  # seconds between checks just after a signal ...
QUICK_WINDOW = 0.5  # ... for this long (the signalling command commits meanwhile)
MAX_ASYNC_RESPONSE_TIMEOUT = 1_800_000  # ms, Camunda's own limit
MAX_LOCK_DURATION = 2**31 - 1  # ms
TOPIC_FIELDS = frozenset(
    {"topicName", "lockDuration", "variables", "localVariables", "deserializeValues",
     "includeExtensionProperties", "processVariables", "businessKey", "processDefinitionId",
     "processDefinitionIdIn", "processDefinitionKey", "processDefinitionKeyIn",
     "processDefinitionVersionTag", "withoutTenantId", "tenantIdIn"}
)
UNSUPPORTED_TOPIC_FILTERS = (
    "processVariables", "businessKey", "processDefinitionId", "processDefinitionIdIn",
    "processDefinitionKey", "processDefinitionKeyIn", "processDefinitionVersionTag",
    "tenantIdIn",
)


# ------------------------------------------------------------------ waking long polls


@dataclass(eq=False)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    topics: frozenset[str]
    event: asyncio.Event = field(default_factory=asyncio.Event)


class FetchSignal(InstanceListener):
    """Wakes the long polls of this process when a command makes external tasks of their
    topics fetchable. It is told inside the command's transaction, before the commit, so a
    woken poll that finds nothing yet looks again shortly after."""

    def __init__(self) -> None:
        self._waiters: set[_Waiter] = set()
        self._lock = threading.Lock()

    def instances_changed(self, tx: Transaction, changes: InstanceChanges, now: datetime) -> None:
        topics: set[str] = set()
        for state, _ in changes.instances:
            inserted, updated, _deleted = state.external_tasks.changes()
            topics.update(t.topic for t in inserted)
            topics.update(t.topic for t in updated if t.lock_owner is None)
        if topics:
            self.notify(topics)

    def notify(self, topics: set[str]) -> None:
        with self._lock:
            woken = [w for w in self._waiters if w.topics & topics]
        for waiter in woken:
            waiter.loop.call_soon_threadsafe(waiter.event.set)

    def add(self, waiter: _Waiter) -> None:
        with self._lock:
            self._waiters.add(waiter)

    def remove(self, waiter: _Waiter) -> None:
        with self._lock:
            self._waiters.discard(waiter)


_SIGNAL_LOCK = threading.Lock()


def fetch_signal(services: Services) -> FetchSignal:
    """This app's signal, registered with its engine on first use."""
    with _SIGNAL_LOCK:
        found = services.extras.get("camunda.fetch_signal")
        if not isinstance(found, FetchSignal):
            found = FetchSignal()
            services.engine.instance_listeners.append(found)
            services.extras["camunda.fetch_signal"] = found
        return found


def _fetchable(services: Services, topics: Sequence[str]) -> bool:
    """Is anything of ``topics`` free to lock now? (A read: no writer lock, no row lock.)"""
    x = schema.external_task
    now = services.clock.now()
    with services.store.transaction(read_only=True) as tx:
        found = tx.conn.execute(
            select(x.c.id)
            .where(
                x.c.topic.in_(list(topics)),
                x.c.tenant_id == services.settings.tenant_id,
                ~x.c.suspended,
                or_(x.c.retries.is_(None), x.c.retries > 0),
                or_(x.c.lock_expires_at.is_(None), x.c.lock_expires_at <= now),
            )
            .limit(1)
        ).first()
    return found is not None


# ------------------------------------------------------------------ shapes


def task_json(services: Services, t: ExternalTaskRecord) -> dict[str, Any]:
    return {
        "activityId": t.element_id,
        "activityInstanceId": t.execution_id,
        "errorMessage": t.error_message,
        "executionId": t.execution_id,
        "id": t.id,
        "lockExpirationTime": format_date(t.lock_expires_at),
        "createTime": format_date(t.created_at),
        "processDefinitionId": t.definition_id,
        "processDefinitionKey": t.process_key,
        "processDefinitionVersionTag": None,
        "processInstanceId": t.instance_id,
        "retries": t.retries,
        "suspended": t.suspended,
        "workerId": t.lock_owner,
        "topicName": t.topic,
        "tenantId": tenant_out(services, t.tenant_id),
        "priority": t.priority,
        "businessKey": t.business_key,
    }


# ------------------------------------------------------------------ fetch and lock


def _topics(body: dict[str, Any]) -> list[TopicRequest]:
    raw = body.get("topics")
    if not isinstance(raw, list) or not raw:
        raise invalid("'topics' must be a non-empty list")
    topics: list[TopicRequest] = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise invalid("each topic must be an object with topicName and lockDuration")
        unknown = sorted(set(entry) - TOPIC_FIELDS)
        if unknown:
            raise invalid(f"unsupported topic field(s): {unknown}")
        for name in UNSUPPORTED_TOPIC_FILTERS:
            if entry.get(name):
                raise invalid(f"the topic filter '{name}' is not supported by caseflow")
        name = required_text(entry, "topicName")
        duration = integer(entry, "lockDuration", minimum=1)
        if duration is None:
            raise invalid(f"topic '{name}': lockDuration is required")
        if duration > MAX_LOCK_DURATION:
            raise invalid(f"topic '{name}': lockDuration is too large")
        variables = entry.get("variables")
        if variables is not None and (
            not isinstance(variables, list) or not all(isinstance(v, str) for v in variables)
        ):
            raise invalid(f"topic '{name}': variables must be a list of names")
        topics.append(TopicRequest(name, duration, variables))
    return topics


def _locked_json(services: Services, worker_id: str, found: list[Any]) -> list[dict[str, Any]]:
    result = []
    for locked in found:
        entry = task_json(services, locked.task)
        entry["workerId"] = worker_id
        entry["variables"] = to_camunda(locked.variables)
        entry["extensionProperties"] = {}
        result.append(entry)
    return result


@router.post("/fetchAndLock", response_model=None)
async def fetch_and_lock(
    request: Request, services: Engine, _: WorkerPrincipal
) -> Response | list[dict[str, Any]]:
    found = await _fetch_and_lock(request, services)
    if not isinstance(found, list) or not found:
        nothing_changed(request)  # an empty poll (or the client gone) is not an audit entry
    return found


async def _fetch_and_lock(request: Request, services: Engine) -> Response | list[dict[str, Any]]:
    body = await json_body(request, required=True)
    worker_id = required_text(body, "workerId")
    max_tasks = integer(body, "maxTasks", minimum=0)
    if max_tasks is None:
        raise invalid("'maxTasks' is required")
    max_tasks = min(max_tasks, MAX_RESULTS)
    timeout_ms = integer(body, "asyncResponseTimeout", minimum=0) or 0
    if timeout_ms > MAX_ASYNC_RESPONSE_TIMEOUT:
        raise invalid(
            f"asyncResponseTimeout may be at most {MAX_ASYNC_RESPONSE_TIMEOUT} ms"
        )
    flag(body, "usePriority")  # checked; caseflow always orders by priority, then age
    topics = _topics(body)
    names = [t.topic for t in topics]

    def fetch() -> list[Any]:
        return services.engine.fetch_and_lock(worker_id, topics, max_tasks=max_tasks)

    if timeout_ms == 0 or max_tasks == 0:
        return _locked_json(services, worker_id, await blocking(fetch))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_ms / 1000
    waiter = _Waiter(loop, frozenset(names))
    signal = fetch_signal(services)
    signal.add(waiter)  # before the first look: work made meanwhile wakes us
    try:
        found = await blocking(fetch)
        if found:
            return _locked_json(services, worker_id, found)
        quick_until = 0.0  # after a signal: look every QUICK_LOOK until the commit shows
        while (remaining := deadline - loop.time()) > 0:
            try:
                quick = loop.time() < quick_until
                pause = QUICK_LOOK if quick else POLL_INTERVAL
                await asyncio.wait_for(waiter.event.wait(), min(pause, remaining))
                woken = True
            except TimeoutError:
                woken = False
            waiter.event.clear()
            if await request.is_disconnected():
                return Response(status_code=204)
            if woken:  # signalled before the commit: look often for a while
                quick_until = loop.time() + QUICK_WINDOW
            if not await blocking(_fetchable, services, names):
                continue
            found = await blocking(fetch)
            if found:
                return _locked_json(services, worker_id, found)
        return []
    finally:
        signal.remove(waiter)


# ------------------------------------------------------------------ a worker's answers


@router.post("/{task_id}/complete", status_code=204)
async def complete(
    task_id: str, request: Request, services: Engine, _: WorkerPrincipal
) -> Response:
    body = await json_body(request, required=True)
    worker_id = required_text(body, "workerId")
    variables = from_camunda(body.get("variables"))
    local = from_camunda(body.get("localVariables"), "localVariables")
    await blocking(
        services.engine.complete_external_task,
        task_id,
        worker_id,
        variables,
        local_variables=local or None,
        idempotency_key=request.headers.get("idempotency-key") or None,
    )
    return Response(status_code=204)


@router.post("/{task_id}/failure", status_code=204)
async def failure(
    task_id: str, request: Request, services: Engine, _: WorkerPrincipal
) -> Response:
    body = await json_body(request, required=True)
    worker_id = required_text(body, "workerId")
    retries = integer(body, "retries", minimum=0)
    retry_timeout = integer(body, "retryTimeout", minimum=0) or 0
    if retries is None:
        retries = 0
    if body.get("variables") or body.get("localVariables"):
        raise invalid("variables on failure are not supported by caseflow")
    await blocking(
        services.engine.handle_failure,
        task_id,
        worker_id,
        error_message=text(body, "errorMessage") or "failed",
        error_details=text(body, "errorDetails"),
        retries=retries,
        retry_timeout_ms=retry_timeout,
    )
    return Response(status_code=204)


@router.post("/{task_id}/bpmnError", status_code=204)
async def bpmn_error(
    task_id: str, request: Request, services: Engine, _: WorkerPrincipal
) -> Response:
    body = await json_body(request, required=True)
    await blocking(
        services.engine.handle_bpmn_error,
        task_id,
        required_text(body, "workerId"),
        error_code=required_text(body, "errorCode"),
        error_message=text(body, "errorMessage"),
        variables=from_camunda(body.get("variables")) or None,
    )
    return Response(status_code=204)


@router.post("/{task_id}/extendLock", status_code=204)
async def extend_lock(
    task_id: str, request: Request, services: Engine, _: WorkerPrincipal
) -> Response:
    body = await json_body(request, required=True)
    duration = integer(body, "newDuration", minimum=1)
    if duration is None:
        raise invalid("'newDuration' is required")
    if duration > MAX_LOCK_DURATION:
        raise invalid("'newDuration' is too large")
    await blocking(
        services.engine.extend_lock, task_id, required_text(body, "workerId"), duration
    )
    return Response(status_code=204)


@router.put("/{task_id}/retries", status_code=204)
async def set_retries(
    task_id: str, request: Request, services: Engine, _: OperatorPrincipal
) -> Response:
    retries = integer(await json_body(request, required=True), "retries", minimum=0)
    if retries is None:
        raise invalid("'retries' is required")
    await blocking(services.engine.set_external_task_retries, task_id, retries)
    return Response(status_code=204)


# ------------------------------------------------------------------ reading


LIST_FILTERS = frozenset(
    {"externalTaskId", "topicName", "workerId", "locked", "notLocked", "withRetriesLeft",
     "noRetriesLeft", "processInstanceId", "activityId", "processDefinitionKey",
     "firstResult", "maxResults", "sortBy", "sortOrder"}
)


def _select(services: Services, q: dict[str, Any], count: bool) -> Any:
    unknown = sorted(set(q) - LIST_FILTERS)
    if unknown:
        raise invalid(f"unsupported external task query parameter(s): {unknown}")
    x = schema.external_task
    now = services.clock.now()
    where: list[Any] = [x.c.tenant_id == services.settings.tenant_id]
    for name, column in (
        ("externalTaskId", x.c.id), ("topicName", x.c.topic), ("workerId", x.c.lock_owner),
        ("processInstanceId", x.c.instance_id), ("activityId", x.c.element_id),
        ("processDefinitionKey", x.c.process_key),
    ):
        if q.get(name) is not None:
            where.append(column == q[name])
    locked = x.c.lock_expires_at > now
    if flag(q, "locked"):
        where.append(locked)
    if flag(q, "notLocked"):
        where.append(or_(x.c.lock_expires_at.is_(None), x.c.lock_expires_at <= now))
    if flag(q, "withRetriesLeft"):
        where.append(or_(x.c.retries.is_(None), x.c.retries > 0))
    if flag(q, "noRetriesLeft"):
        where.append(x.c.retries == 0)
    if count:
        return select(func.count()).select_from(x).where(*where)
    sorts = {"id": x.c.id, "priority": x.c.priority, "createTime": x.c.created_at,
             "lockExpirationTime": x.c.lock_expires_at, "processInstanceId": x.c.instance_id}
    by = q.get("sortBy") or "createTime"
    if by not in sorts:
        raise invalid(f"sortBy '{by}' is not supported: one of {sorted(sorts)}")
    column = sorts[by]
    first, limit = page(q)
    ordered = column.desc() if q.get("sortOrder") == "desc" else column.asc()
    return select(x).where(*where).order_by(ordered, x.c.id).offset(first).limit(limit)


def _list(services: Services, q: dict[str, Any]) -> list[dict[str, Any]]:
    statement = _select(services, q, count=False)
    with services.store.transaction(read_only=True) as tx:
        rows = tx.conn.execute(statement).mappings().all()
    return [task_json(services, _record(row)) for row in rows]


def _record(row: Any) -> ExternalTaskRecord:
    names = ExternalTaskRecord.__dataclass_fields__
    return ExternalTaskRecord(**{k: row[k] for k in names if k in row})


def _count(services: Services, q: dict[str, Any]) -> int:
    statement = _select(services, q, count=True)
    with services.store.transaction(read_only=True) as tx:
        return int(tx.conn.execute(statement).scalar_one())


def _one(services: Services, task_id: str) -> dict[str, Any]:
    with services.store.transaction(read_only=True) as tx:
        found = tx.get_external_task(task_id)
    if found is None or found.tenant_id != services.settings.tenant_id:
        raise CamundaError(404, f"External task with id {task_id} does not exist")
    return task_json(services, found)


@router.get("")
async def list_tasks(
    request: Request, services: Engine, _: WorkerPrincipal
) -> list[dict[str, Any]]:
    return await blocking(_list, services, dict(request.query_params))


@router.get("/count")
async def count_tasks(request: Request, services: Engine, _: WorkerPrincipal) -> dict[str, int]:
    q = {k: v for k, v in request.query_params.items() if k not in ("firstResult", "maxResults")}
    return {"count": await blocking(_count, services, q)}


@router.get("/{task_id}")
async def get_task(task_id: str, services: Engine, _: WorkerPrincipal) -> dict[str, Any]:
    return await blocking(_one, services, task_id)
