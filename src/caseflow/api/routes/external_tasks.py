"""External (service) tasks for workers: fetch-and-lock with long polling, then complete,
fail, raise a BPMN error or extend the lock.

Long polling never holds a database transaction open while it waits: each attempt is one
short fetch-and-lock transaction; between attempts the request sleeps (50 ms, doubling,
at most 1 s) until work turns up, ``asyncResponseTimeout`` passes or the client leaves.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Request
from pydantic import Field

from caseflow.api.audit import nothing_changed
from caseflow.api.auth import WorkerPrincipal
from caseflow.api.models import CamelModel
from caseflow.api.services import ServicesDep
from caseflow.runtime.ports import TopicRequest
from caseflow.runtime.process_engine import LockedExternalTask

router = APIRouter(prefix="/external-tasks", tags=["external tasks"])

MAX_ASYNC_TIMEOUT_MS = 1_800_000  # 30 minutes
FIRST_WAIT = 0.05
LONGEST_WAIT = 1.0
WorkerId = Field(min_length=1, max_length=255)


class Topic(CamelModel):
    topic_name: str = Field(min_length=1, max_length=255)
    lock_duration: int = Field(ge=1, le=86_400_000, description="milliseconds")
    variables: list[str] | None = None


class FetchAndLock(CamelModel):
    worker_id: str = WorkerId
    max_tasks: int = Field(default=10, ge=1, le=100)
    async_response_timeout: int = Field(default=0, ge=0, le=MAX_ASYNC_TIMEOUT_MS,
                                        description="milliseconds to wait for work")
    topics: list[Topic] = Field(min_length=1, max_length=100)


class LockedTask(CamelModel):
    id: str
    topic_name: str
    worker_id: str | None
    lock_expiration_time: dt.datetime | None
    process_instance_id: str
    process_definition_id: str
    process_definition_key: str
    activity_id: str
    business_key: str | None
    retries: int | None
    error_message: str | None
    priority: int
    variables: dict[str, Any]


class Complete(CamelModel):
    worker_id: str = WorkerId
    variables: dict[str, Any] = Field(default_factory=dict)
    local_variables: dict[str, Any] = Field(default_factory=dict)


class Failure(CamelModel):
    worker_id: str = WorkerId
    error_message: str = Field(min_length=1, max_length=4000)
    error_details: str | None = Field(default=None, max_length=100_000)
    retries: int = Field(ge=0, le=1000)
    retry_timeout: int = Field(default=0, ge=0, le=31_536_000_000, description="milliseconds")


class BpmnError(CamelModel):
    worker_id: str = WorkerId
    error_code: str = Field(min_length=1, max_length=255)
    error_message: str | None = Field(default=None, max_length=4000)
    variables: dict[str, Any] = Field(default_factory=dict)


class ExtendLock(CamelModel):
    worker_id: str = WorkerId
    new_duration: int = Field(ge=1, le=86_400_000, description="milliseconds from now")


def _locked(item: LockedExternalTask) -> LockedTask:
    task = item.task
    return LockedTask(
        id=task.id,
        topic_name=task.topic,
        worker_id=task.lock_owner,
        lock_expiration_time=task.lock_expires_at,
        process_instance_id=task.instance_id,
        process_definition_id=task.definition_id,
        process_definition_key=task.process_key,
        activity_id=task.element_id,
        business_key=task.business_key,
        retries=task.retries,
        error_message=task.error_message,
        priority=task.priority,
        variables=item.variables,
    )


@router.post("/fetch-and-lock", response_model=list[LockedTask], response_model_by_alias=True)
async def fetch_and_lock(
    body: FetchAndLock, request: Request, principal: WorkerPrincipal, services: ServicesDep
) -> Any:
    """Lock up to ``maxTasks`` tasks of the topics for ``workerId``; with
    ``asyncResponseTimeout`` wait that long for work before answering ``[]``."""
    topics = [TopicRequest(t.topic_name, t.lock_duration, t.variables) for t in body.topics]
    wait_ms = min(body.async_response_timeout, services.settings.external_task_max_wait_ms)
    deadline = time.monotonic() + wait_ms / 1000
    wait = FIRST_WAIT
    while True:
        locked = await anyio.to_thread.run_sync(
            lambda: services.engine.fetch_and_lock(body.worker_id, topics,
                                                   max_tasks=body.max_tasks)
        )
        left = deadline - time.monotonic()
        if locked or left <= 0 or await request.is_disconnected():
            if not locked:
                nothing_changed(request)  # an empty poll is not an audit entry
            return [_locked(item) for item in locked]
        await anyio.sleep(min(wait, left))
        wait = min(wait * 2, LONGEST_WAIT)


IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


@router.post("/{task_id}/complete", status_code=204)
def complete(
    task_id: str,
    body: Complete,
    principal: WorkerPrincipal,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Complete a task locked by ``workerId`` (409 if another worker holds it)."""
    services.engine.complete_external_task(
        task_id, body.worker_id, body.variables, local_variables=body.local_variables,
        idempotency_key=idempotency_key,
    )


@router.post("/{task_id}/failure", status_code=204)
def failure(task_id: str, body: Failure, principal: WorkerPrincipal, services: ServicesDep) -> None:
    """Report a failure: with ``retries`` > 0 the task is offered again after
    ``retryTimeout``; at 0 an incident is raised."""
    services.engine.handle_failure(
        task_id, body.worker_id, error_message=body.error_message,
        error_details=body.error_details, retries=body.retries,
        retry_timeout_ms=body.retry_timeout,
    )


@router.post("/{task_id}/bpmn-error", status_code=204)
def bpmn_error(
    task_id: str, body: BpmnError, principal: WorkerPrincipal, services: ServicesDep
) -> None:
    """Throw a BPMN error at the task's element (caught by a boundary or event subprocess)."""
    services.engine.handle_bpmn_error(
        task_id, body.worker_id, error_code=body.error_code, error_message=body.error_message,
        variables=body.variables,
    )


@router.post("/{task_id}/extend-lock", status_code=204)
def extend_lock(
    task_id: str, body: ExtendLock, principal: WorkerPrincipal, services: ServicesDep
) -> None:
    services.engine.extend_lock(task_id, body.worker_id, body.new_duration)

