"""Variables of a task and of a process instance (get all, get one, put one, modify), and
the running process instances themselves (list, count, get, suspend/activate, delete).

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
from sqlalchemy import func, select

from caseflow.api.auth import Principal
from caseflow.api.camunda.auth import CamundaPrincipal, Engine, OperatorPrincipal, forbidden
from caseflow.api.camunda.common import blocking, flag, json_body, page
from caseflow.api.camunda.errors import CamundaError, CamundaRoute, invalid
from caseflow.api.camunda.process_definition import instance_json
from caseflow.api.camunda.values import from_camunda, from_typed, to_camunda, to_typed
from caseflow.api.services import Services
from caseflow.engine.state import InstanceRecord
from caseflow.store import schema
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


RUNNING = ("ACTIVE", "SUSPENDED", "ERROR")
INSTANCE_FILTERS = frozenset(
    {"processInstanceIds", "businessKey", "processDefinitionKey", "processDefinitionId",
     "active", "suspended", "firstResult", "maxResults"}
)


def _instances(services: Services, q: dict[str, Any], count: bool) -> Any:
    """Running instances (Camunda's runtime view) matching ``q``: records, or their count."""
    unknown = sorted(set(q) - INSTANCE_FILTERS)
    if unknown:
        raise invalid(f"unsupported process instance query parameter(s): {unknown}")
    i = schema.process_instance
    statuses = ["SUSPENDED"] if flag(q, "suspended") else list(RUNNING)
    if flag(q, "active"):
        statuses = [s for s in statuses if s != "SUSPENDED"]
    where = [i.c.tenant_id == services.settings.tenant_id, i.c.status.in_(statuses)]
    for name, column in (("businessKey", i.c.business_key),
                         ("processDefinitionKey", i.c.process_key),
                         ("processDefinitionId", i.c.definition_id)):
        if q.get(name) is not None:
            where.append(column == q[name])
    if q.get("processInstanceIds"):
        where.append(i.c.id.in_(str(q["processInstanceIds"]).split(",")))
    with services.store.transaction(read_only=True) as tx:
        if count:
            return int(tx.conn.execute(select(func.count()).select_from(i).where(*where))
                       .scalar_one())
        first, limit = page(q)
        rows = tx.conn.execute(
            select(i).where(*where).order_by(i.c.started_at.desc(), i.c.id)
            .offset(first).limit(limit)
        ).mappings().all()
    names = InstanceRecord.__dataclass_fields__
    return [InstanceRecord(**{k: row[k] for k in names if k in row}) for row in rows]


@router.get("/process-instance")
async def list_instances(
    request: Request, services: Engine, _: OperatorPrincipal
) -> list[dict[str, Any]]:
    found = await blocking(_instances, services, dict(request.query_params), False)
    return [instance_json(request, services, record, None) for record in found]


@router.get("/process-instance/count")
async def count_instances(
    request: Request, services: Engine, _: OperatorPrincipal
) -> dict[str, int]:
    q = {k: v for k, v in request.query_params.items() if k not in ("firstResult", "maxResults")}
    return {"count": await blocking(_instances, services, q, True)}


@router.put("/process-instance/{instance_id}/suspended", status_code=204)
async def suspend_or_activate(
    instance_id: str, request: Request, services: Engine, principal: OperatorPrincipal
) -> Response:
    body = await json_body(request, required=True)
    if not isinstance(body.get("suspended"), bool):
        raise invalid("'suspended' must be true or false")
    await blocking(_readable_instance, services, principal, instance_id)
    action = services.engine.suspend if body["suspended"] else services.engine.resume
    await blocking(action, instance_id)
    return Response(status_code=204)


@router.delete("/process-instance/{instance_id}", status_code=204)
async def delete_instance(
    instance_id: str, request: Request, services: Engine, principal: OperatorPrincipal
) -> Response:
    """Camunda's delete is caseflow's terminate: the instance ends, its rows stay."""
    await blocking(_readable_instance, services, principal, instance_id)
    reason = request.query_params.get("deleteReason") or "deleted through /engine-rest"
    await blocking(services.engine.terminate, instance_id, reason)
    return Response(status_code=204)


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
