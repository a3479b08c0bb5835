"""Variables of a task and of a process instance: get all, get one, put one, modify.

caseflow's variables live on the process instance (locals belong to inner scopes the
REST shapes do not name), so a task's variables are its instance's. Who may: a task's
variables are read by whoever may see the task and written by its assignee (or an
operator); an instance's are read by operators and by users who see one of its tasks,
and written by operators. caseflow does not delete variables: a modification with
``deletions`` is refused (set the variable to null instead).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from caseflow.api.auth import Principal
from caseflow.api.camunda.auth import CamundaPrincipal, Engine, forbidden
from caseflow.api.camunda.common import blocking, json_body
from caseflow.api.camunda.errors import CamundaError, CamundaRoute, invalid
from caseflow.api.camunda.process_definition import instance_json
from caseflow.api.camunda.values import from_camunda, from_typed, to_camunda, to_typed
from caseflow.api.services import Services
from caseflow.work.queries import TaskFilter

router = APIRouter(tags=["camunda-7"], route_class=CamundaRoute)


# ------------------------------------------------------------------ who may


def _task_instance(services: Services, principal: Principal, task_id: str, write: bool) -> str:
    """The instance of a task the caller may read (or write) the variables of."""
    task = services.work.task(principal.user_id, task_id)  # NotFound 404, Forbidden 403
    if write and task.assignee != principal.user_id and not principal.is_operator:
        raise forbidden(
            principal,
            f"'{principal.user_id}' may set variables of task '{task_id}' only as its assignee",
        )
    return task.instance_id


def _readable_instance(services: Services, principal: Principal, instance_id: str) -> str:
    record = services.engine.instance_record(instance_id)  # NotFound 404
    if record.tenant_id != services.settings.tenant_id:
        raise CamundaError(404, f"process instance '{instance_id}' not found")
    if principal.is_operator:
        return instance_id
    seen = services.work.count_tasks(
        principal.user_id, TaskFilter(instance_id=instance_id, statuses=None)
    )
    if not seen:
        raise forbidden(
            principal,
            f"'{principal.user_id}' may read process instance '{instance_id}' only as an "
            "operator or while seeing one of its tasks",
        )
    return instance_id


def _writable_instance(services: Services, principal: Principal, instance_id: str) -> str:
    if not principal.is_operator:
        raise forbidden(principal, "setting process instance variables needs the operator role")
    return _readable_instance(services, principal, instance_id)


# ------------------------------------------------------------------ shared bodies


def _modifications(body: dict[str, Any]) -> dict[str, Any]:
    deletions = body.get("deletions")
    if deletions:
        raise invalid(
            "caseflow does not delete variables: set them to null (type Null) instead"
        )
    return from_camunda(body.get("modifications"), "modifications")


def _one(values: dict[str, Any], name: str, owner: str) -> dict[str, Any]:
    if name not in values:
        raise CamundaError(404, f"{owner} variable with name {name} does not exist")
    return to_typed(values[name])


# ------------------------------------------------------------------ task variables


@router.get("/task/{task_id}/variables")
async def task_variables(
    task_id: str, services: Engine, principal: CamundaPrincipal
) -> dict[str, Any]:
    instance_id = await blocking(_task_instance, services, principal, task_id, False)
    return to_camunda(await blocking(services.engine.variables, instance_id))


@router.get("/task/{task_id}/variables/{name}")
async def task_variable(
    task_id: str, name: str, services: Engine, principal: CamundaPrincipal
) -> dict[str, Any]:
    instance_id = await blocking(_task_instance, services, principal, task_id, False)
    return _one(await blocking(services.engine.variables, instance_id), name, "task")


@router.put("/task/{task_id}/variables/{name}", status_code=204)
async def put_task_variable(
    task_id: str, name: str, request: Request, services: Engine, principal: CamundaPrincipal
) -> Response:
    value = from_typed(name, await json_body(request, required=True))
    instance_id = await blocking(_task_instance, services, principal, task_id, True)
    await blocking(services.engine.set_variables, instance_id, {name: value})
    return Response(status_code=204)


@router.post("/task/{task_id}/variables", status_code=204)
async def modify_task_variables(
    task_id: str, request: Request, services: Engine, principal: CamundaPrincipal
) -> Response:
    values = _modifications(await json_body(request, required=True))
    instance_id = await blocking(_task_instance, services, principal, task_id, True)
    if values:
        await blocking(services.engine.set_variables, instance_id, values)
    return Response(status_code=204)


# ------------------------------------------------------------------ process instances


@router.get("/process-instance/{instance_id}")
async def process_instance(
    instance_id: str, request: Request, services: Engine, principal: CamundaPrincipal
) -> dict[str, Any]:
    """A running instance (Camunda's runtime view: an ended one is 404 here)."""
    await blocking(_readable_instance, services, principal, instance_id)
    record = await blocking(services.engine.instance_record, instance_id)
    if record.status in ("COMPLETED", "TERMINATED"):
        raise CamundaError(404, f"Process instance with id {instance_id} does not exist")
    return instance_json(request, services, record, None)


@router.get("/process-instance/{instance_id}/variables")
async def instance_variables(
    instance_id: str, services: Engine, principal: CamundaPrincipal
) -> dict[str, Any]:
    await blocking(_readable_instance, services, principal, instance_id)
    return to_camunda(await blocking(services.engine.variables, instance_id))


@router.get("/process-instance/{instance_id}/variables/{name}")
async def instance_variable(
    instance_id: str, name: str, services: Engine, principal: CamundaPrincipal
) -> dict[str, Any]:
    await blocking(_readable_instance, services, principal, instance_id)
    values = await blocking(services.engine.variables, instance_id)
    return _one(values, name, "process instance")


@router.put("/process-instance/{instance_id}/variables/{name}", status_code=204)
async def put_instance_variable(
    instance_id: str, name: str, request: Request, services: Engine, principal: CamundaPrincipal
) -> Response:
    value = from_typed(name, await json_body(request, required=True))
    await blocking(_writable_instance, services, principal, instance_id)
    await blocking(services.engine.set_variables, instance_id, {name: value})
    return Response(status_code=204)


@router.post("/process-instance/{instance_id}/variables", status_code=204)
async def modify_instance_variables(
    instance_id: str, request: Request, services: Engine, principal: CamundaPrincipal
) -> Response:
    values = _modifications(await json_body(request, required=True))
    await blocking(_writable_instance, services, principal, instance_id)
    if values:
        await blocking(services.engine.set_variables, instance_id, values)
    return Response(status_code=204)
