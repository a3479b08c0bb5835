"""Process instances: start, look at, control, and their variables.

Reading an instance is for operators, and for any user who may see one of its tasks
(the same grants the task list uses). Controlling one (suspend, resume, terminate, set
variables) is for operators. Starting one is for operators, and for users the process
names as candidate starters (``camunda:candidateStarterGroups/Users``).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response
from pydantic import Field

from caseflow.api.auth import CurrentPrincipal, OperatorPrincipal, Principal
from caseflow.api.models import CamelModel, PageOf, PagingParams
from caseflow.api.observability import note_instance
from caseflow.api.problems import ApiProblem
from caseflow.api.services import Services, ServicesDep
from caseflow.engine.state import ActivityRecord, Incident, InstanceRecord, UserTaskRecord
from caseflow.errors import Forbidden, NotFound
from caseflow.model.bpmn import parse_bpmn
from caseflow.runtime.ports import InstanceQuery
from caseflow.work.queries import TaskFilter
from caseflow.work.routing import work_sql
from caseflow.work.sla import instance_slas

router = APIRouter(tags=["process instances"])

InstanceStatus = Literal["ACTIVE", "SUSPENDED", "COMPLETED", "TERMINATED", "ERROR"]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


class StartInstance(CamelModel):
    process_key: str | None = Field(default=None, max_length=255)
    definition_id: str | None = Field(default=None, max_length=64)
    version: int | None = Field(default=None, ge=1, le=1_000_000)
    business_key: str | None = Field(default=None, max_length=255)
    case_id: str | None = Field(default=None, max_length=255)
    variables: dict[str, Any] = Field(default_factory=dict)


class InstanceOut(CamelModel):
    id: str
    definition_id: str
    process_key: str
    version: int | None = None
    business_key: str | None
    case_id: str | None
    status: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    end_reason: str | None = None
    started_by: str | None = None
    parent_instance_id: str | None = None
    suspended_at: dt.datetime | None = None


class TaskSummary(CamelModel):
    id: str
    element_id: str
    name: str | None
    status: str
    assignee: str | None
    queue: str | None
    priority: int
    created_at: dt.datetime
    due_at: dt.datetime | None
    form_key: str | None


class IncidentOut(CamelModel):
    id: str
    instance_id: str
    kind: str
    message: str
    created_at: dt.datetime
    element_id: str | None
    external_task_id: str | None
    job_id: str | None
    resolved_at: dt.datetime | None


class ExternalTaskSummary(CamelModel):
    id: str
    element_id: str
    topic: str
    retries: int | None
    lock_owner: str | None
    lock_expires_at: dt.datetime | None
    error_message: str | None


class InstanceDetail(InstanceOut):
    due_at: dt.datetime | None = None
    sla_status: str | None = None
    active_elements: list[str]
    variables: dict[str, Any]
    tasks: list[TaskSummary]
    external_tasks: list[ExternalTaskSummary]
    incidents: list[IncidentOut]


class ActivityOut(CamelModel):
    id: str
    element_id: str
    type: str
    name: str | None
    started_at: dt.datetime
    ended_at: dt.datetime | None
    outcome: str | None
    called_instance_id: str | None


class Reason(CamelModel):
    reason: str | None = Field(default=None, max_length=2000)


def instance_out(record: InstanceRecord, version: int | None = None) -> InstanceOut:
    return InstanceOut(
        id=record.id,
        definition_id=record.definition_id,
        process_key=record.process_key,
        version=version,
        business_key=record.business_key,
        case_id=record.case_id,
        status=record.status,
        started_at=record.started_at,
        ended_at=record.ended_at,
        end_reason=record.end_reason,
        started_by=record.started_by,
        parent_instance_id=record.parent_instance_id,
        suspended_at=record.suspended_at,
    )


def task_summary(task: UserTaskRecord) -> TaskSummary:
    return TaskSummary(
        id=task.id, element_id=task.element_id, name=task.name, status=task.status,
        assignee=task.assignee, queue=task.queue, priority=task.priority,
        created_at=task.created_at, due_at=task.due_at, form_key=task.form_key,
    )


def incident_out(incident: Incident) -> IncidentOut:
    return IncidentOut(
        id=incident.id, instance_id=incident.instance_id, kind=incident.kind,
        message=incident.message, created_at=incident.created_at,
        element_id=incident.element_id, external_task_id=incident.external_task_id,
        job_id=incident.job_id, resolved_at=incident.resolved_at,
    )


# ------------------------------------------------------------------ who may what


def _record(services: Services, instance_id: str) -> InstanceRecord:
    record = services.engine.instance_record(instance_id)
    if record.tenant_id != services.settings.tenant_id:
        raise NotFound("process instance", instance_id)
    note_instance(instance_id)
    return record


def may_read_instance(services: Services, principal: Principal, instance_id: str) -> bool:
    """Operators, and users who may see a task of the instance (open or closed)."""
    if principal.is_operator:
        return True
    query = TaskFilter(instance_id=instance_id, statuses=None, limit=1)
    return services.work.count_tasks(principal.user_id, query) > 0


def _readable(services: Services, principal: Principal, instance_id: str) -> InstanceRecord:
    record = _record(services, instance_id)
    if not may_read_instance(services, principal, instance_id):
        raise Forbidden(
            f"user '{principal.user_id}' may not see process instance '{instance_id}'",
            user=principal.user_id,
        )
    return record


_starters: OrderedDict[str, tuple[frozenset[str], frozenset[str]]] = OrderedDict()
_starters_lock = threading.Lock()


def _candidate_starters(services: Services, definition_id: str, key: str) -> (
    tuple[frozenset[str], frozenset[str]]
):
    """(groups, users) the process names as candidate starters (cached per definition)."""
    with _starters_lock:
        if definition_id in _starters:
            return _starters[definition_id]
    source = services.engine.definition_source(definition_id)
    parsed = parse_bpmn(source).definitions
    process = next((p for p in parsed.processes if p.id == key), None)
    found = (
        frozenset(process.candidate_starter_groups) if process else frozenset(),
        frozenset(process.candidate_starter_users) if process else frozenset(),
    )
    with _starters_lock:
        _starters[definition_id] = found
        while len(_starters) > 512:
            _starters.popitem(last=False)
    return found


# ------------------------------------------------------------------ routes


@router.post(
    "/process-instances",
    response_model=InstanceOut,
    response_model_by_alias=True,
    status_code=201,
)
def start_instance(
    body: StartInstance,
    principal: CurrentPrincipal,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Start the latest Deployed version of ``processKey`` (or ``version``), or the
    definition ``definitionId``. A repeated ``Idempotency-Key`` returns the first start."""
    engine = services.engine
    tenant = services.settings.tenant_id
    if (body.process_key is None) == (body.definition_id is None):
        raise ApiProblem(422, "give exactly one of processKey and definitionId")
    version: int | None = body.version
    if body.definition_id is not None:
        chosen = engine.definition(body.definition_id)
        if chosen.tenant_id != tenant:
            raise NotFound("process definition", body.definition_id)
        if version is not None and version != chosen.version:
            raise ApiProblem(422, "version does not match definitionId")
        key, version = chosen.key, chosen.version
    else:
        key = str(body.process_key)
        versions = engine.definitions(key, tenant)
        if not versions:
            raise NotFound("process definition key", key)
        match = [d for d in versions if version is None or d.version == version]
        if not match:
            raise NotFound("process definition version", f"{key}:{version}")
        startable = [d for d in match if d.status == "Deployed"]
        chosen = max(startable or match, key=lambda d: d.version)
    if not principal.is_operator:
        groups, users = _candidate_starters(services, chosen.id, key)
        if principal.user_id not in users and not (principal.groups & groups):
            raise Forbidden(
                f"user '{principal.user_id}' may not start process '{key}'",
                user=principal.user_id,
            )
    record = engine.start(
        key,
        business_key=body.business_key,
        case_id=body.case_id,
        variables=body.variables,
        started_by=principal.user_id,
        version=version,
        tenant_id=tenant,
        idempotency_key=idempotency_key,
    )
    note_instance(record.id)
    response.headers["Location"] = f"/api/v1/process-instances/{record.id}"
    return instance_out(record, engine.definition(record.definition_id).version)


@router.get(
    "/process-instances", response_model=PageOf[InstanceOut], response_model_by_alias=True
)
def list_instances(
    principal: OperatorPrincipal,
    services: ServicesDep,
    paging: PagingParams,
    process_key: Annotated[str | None, Query(alias="processKey", max_length=255)] = None,
    definition_id: Annotated[str | None, Query(alias="definitionId", max_length=64)] = None,
    status: InstanceStatus | None = None,
    business_key: Annotated[str | None, Query(alias="businessKey", max_length=255)] = None,
    case_id: Annotated[str | None, Query(alias="caseId", max_length=255)] = None,
) -> Any:
    """Instances, newest first. ``total`` is left out (counting is not cheap here)."""
    query = InstanceQuery(
        process_key=process_key,
        definition_id=definition_id,
        status=status,
        business_key=business_key,
        case_id=case_id,
        tenant_id=services.settings.tenant_id,
        limit=paging.size,
        offset=paging.offset,
    )
    found = services.engine.instances(query)
    return PageOf[InstanceOut](
        items=[instance_out(r) for r in found], page=paging.page, size=paging.size, total=None
    )


@router.get(
    "/process-instances/{instance_id}",
    response_model=InstanceDetail,
    response_model_by_alias=True,
)
def get_instance(instance_id: str, principal: CurrentPrincipal, services: ServicesDep) -> Any:
    """The instance, where it stands (active elements, open tasks, incidents), its
    variables and its service level."""
    _readable(services, principal, instance_id)
    view = services.engine.instance(instance_id)
    record = view.instance
    due_at, sla_status = _sla(services, instance_id)
    base = instance_out(record, services.engine.definition(record.definition_id).version)
    return InstanceDetail(
        **base.model_dump(),
        due_at=due_at,
        sla_status=sla_status,
        active_elements=view.active_elements,
        variables=view.variables,
        tasks=[task_summary(t) for t in view.tasks],
        external_tasks=[
            ExternalTaskSummary(
                id=t.id, element_id=t.element_id, topic=t.topic, retries=t.retries,
                lock_owner=t.lock_owner, lock_expires_at=t.lock_expires_at,
                error_message=t.error_message,
            )
            for t in view.external_tasks
        ],
        incidents=[incident_out(i) for i in view.incidents],
    )


def _sla(services: Services, instance_id: str) -> tuple[dt.datetime | None, str | None]:
    with services.store.transaction(read_only=True) as tx:
        work = work_sql(tx, services.settings.tenant_id, services.clock.now())
        found = instance_slas(work, [instance_id], limit=1)
    if not found:
        return None, None
    return found[0].due_at, str(found[0].status.value)


@router.get(
    "/process-instances/{instance_id}/history",
    response_model=list[ActivityOut],
    response_model_by_alias=True,
)
def instance_history(
    instance_id: str, principal: CurrentPrincipal, services: ServicesDep
) -> Any:
    """The elements the instance went through, in order."""
    _readable(services, principal, instance_id)
    return [_activity(a) for a in services.engine.history(instance_id)]


def _activity(record: ActivityRecord) -> ActivityOut:
    return ActivityOut(
        id=record.id, element_id=record.element_id, type=record.element_type,
        name=record.element_name, started_at=record.started_at, ended_at=record.ended_at,
        outcome=record.outcome, called_instance_id=record.called_instance_id,
    )


def _control(services: Services, instance_id: str) -> InstanceOut:
    record = services.engine.instance_record(instance_id)
    return instance_out(record, services.engine.definition(record.definition_id).version)


@router.post(
    "/process-instances/{instance_id}/suspend",
    response_model=InstanceOut,
    response_model_by_alias=True,
)
def suspend(instance_id: str, principal: OperatorPrincipal, services: ServicesDep) -> Any:
    """Hold the instance: nothing moves (timers wait, tasks cannot complete) until resumed."""
    _record(services, instance_id)
    services.engine.suspend(instance_id)
    return _control(services, instance_id)


@router.post(
    "/process-instances/{instance_id}/resume",
    response_model=InstanceOut,
    response_model_by_alias=True,
)
def resume(instance_id: str, principal: OperatorPrincipal, services: ServicesDep) -> Any:
    _record(services, instance_id)
    services.engine.resume(instance_id)
    return _control(services, instance_id)


@router.post(
    "/process-instances/{instance_id}/terminate",
    response_model=InstanceOut,
    response_model_by_alias=True,
)
def terminate(
    instance_id: str,
    principal: OperatorPrincipal,
    services: ServicesDep,
    body: Reason | None = None,
) -> Any:
    """End the instance now; open tasks are cancelled."""
    _record(services, instance_id)
    reason = body.reason if body is not None else None
    services.engine.terminate(instance_id, reason or f"terminated by {principal.user_id}")
    return _control(services, instance_id)


@router.get("/process-instances/{instance_id}/variables")
def get_variables(
    instance_id: str, principal: CurrentPrincipal, services: ServicesDep
) -> dict[str, Any]:
    _readable(services, principal, instance_id)
    return services.engine.variables(instance_id)


@router.put("/process-instances/{instance_id}/variables")
def set_variables(
    instance_id: str,
    body: dict[str, Any],
    principal: OperatorPrincipal,
    services: ServicesDep,
) -> dict[str, Any]:
    """Set (create or overwrite) instance variables; returns them all."""
    _record(services, instance_id)
    if not body:
        raise ApiProblem(422, "give at least one variable")
    if any(not name or len(name) > 255 for name in body):
        raise ApiProblem(422, "variable names are 1 to 255 characters")
    services.engine.set_variables(instance_id, body)
    return services.engine.variables(instance_id)


__all__ = ["incident_out", "instance_out", "may_read_instance", "router", "task_summary"]
