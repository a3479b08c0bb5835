"""``/task``: query, count, get, claim, unclaim, complete, delegate, resolve.

Every call acts as the authenticated user through the human-work service, so Camunda
clients see and touch exactly the tasks that user's grants cover (the same rule as the
native API and the task list). Camunda's candidate filters keep their meaning:
``candidateGroup`` / ``candidateUser`` list unassigned tasks unless
``includeAssignedTasks=true``; ``candidateUser`` names the caller (an operator may ask
for another user's). Filters caseflow does not serve are refused with a 400 rather than
ignored, so a client never mistakes a wider answer for the one it asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from caseflow.api.auth import Principal
from caseflow.api.camunda.auth import CamundaPrincipal, Engine
from caseflow.api.camunda.common import (
    blocking,
    check_tenant,
    flag,
    integer,
    json_body,
    page,
    required_text,
    tenant_out,
)
from caseflow.api.camunda.errors import CamundaError, CamundaRoute, invalid
from caseflow.api.camunda.values import format_date, from_camunda, parse_date, to_camunda
from caseflow.api.services import Services
from caseflow.errors import IllegalState
from caseflow.store import schema
from caseflow.work.model import WorkTask
from caseflow.work.queries import SortField, TaskFilter

router = APIRouter(prefix="/task", tags=["camunda-7"], route_class=CamundaRoute)

FILTERS = frozenset(
    {"processInstanceId", "processInstanceBusinessKey", "businessKey", "processDefinitionKey",
     "taskDefinitionKey", "assignee", "candidateGroup", "candidateUser", "includeAssignedTasks",
     "unassigned", "active", "minPriority", "maxPriority", "priority", "dueBefore", "dueAfter",
     "followUpBefore", "followUpAfter", "createdBefore", "sortBy", "sortOrder", "sorting",
     "firstResult", "maxResults", "tenantIdIn", "withoutTenantId"}
)
SORTS: dict[str, SortField] = {
    "created": "created_at", "priority": "priority", "dueDate": "due_at",
    "followUpDate": "follow_up_at", "name": "name",
}


# ------------------------------------------------------------------ shapes


def _locations(services: Services, ids: list[str]) -> dict[str, tuple[str, str]]:
    """(execution id, definition id) of each task: Camunda shows both, work items don't."""
    if not ids:
        return {}
    t = schema.user_task
    with services.store.transaction(read_only=True) as tx:
        rows = tx.conn.execute(
            select(t.c.id, t.c.execution_id, t.c.definition_id).where(
                t.c.id.in_(ids), t.c.tenant_id == services.settings.tenant_id
            )
        ).all()
    return {r.id: (r.execution_id, r.definition_id) for r in rows}


def task_json(services: Services, t: WorkTask, where: tuple[str, str] | None) -> dict[str, Any]:
    execution_id, definition_id = where or (None, None)
    return {
        "id": t.id,
        "name": t.name,
        "assignee": t.assignee,
        "created": format_date(t.created_at),
        "due": format_date(t.due_at),
        "followUp": format_date(t.follow_up_at),
        "lastUpdated": None,
        "delegationState": "PENDING" if t.status == "DELEGATED" else None,
        "description": None,
        "executionId": execution_id,
        "owner": t.owner,
        "parentTaskId": None,
        "priority": t.priority,
        "processDefinitionId": definition_id,
        "processInstanceId": t.instance_id,
        "caseExecutionId": None,
        "caseDefinitionId": None,
        "caseInstanceId": None,
        "taskDefinitionKey": t.element_id,
        "suspended": False,
        "formKey": t.form_key,
        "camundaFormRef": None,
        "tenantId": tenant_out(services, t.tenant_id),
    }


def _tasks_json(services: Services, tasks: list[WorkTask]) -> list[dict[str, Any]]:
    where = _locations(services, [t.id for t in tasks])
    return [task_json(services, t, where.get(t.id)) for t in tasks]


# ------------------------------------------------------------------ queries


def _text(q: Mapping[str, Any], name: str) -> str | None:
    value = q.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"'{name}' must be a string")
    return value


def _sorting(q: Mapping[str, Any]) -> list[tuple[SortField, bool]]:
    wanted: list[tuple[Any, Any]] = []
    if q.get("sortBy") is not None:
        wanted.append((q.get("sortBy"), q.get("sortOrder")))
    sorting = q.get("sorting")
    if sorting is not None:
        if not isinstance(sorting, list):
            raise invalid("'sorting' must be a list of {sortBy, sortOrder}")
        for entry in sorting:
            if not isinstance(entry, Mapping):
                raise invalid("'sorting' must be a list of {sortBy, sortOrder}")
            wanted.append((entry.get("sortBy"), entry.get("sortOrder")))
    result: list[tuple[SortField, bool]] = []
    for by, order in wanted:
        if by not in SORTS:
            raise invalid(f"sortBy '{by}' is not supported: one of {sorted(SORTS)}")
        if order not in (None, "asc", "desc"):
            raise invalid("sortOrder must be asc or desc")
        result.append((SORTS[by], order == "desc"))
    return result


def task_filter(
    services: Services, principal: Principal, q: Mapping[str, Any]
) -> tuple[str, TaskFilter]:
    """(the user to query as, the filter) for Camunda's task query parameters."""
    unknown = sorted(set(q) - FILTERS)
    if unknown:
        raise invalid(f"unsupported task query parameter(s): {unknown}")
    tenants = q.get("tenantIdIn")
    for tenant in tenants if isinstance(tenants, list) else str(tenants or "").split(","):
        check_tenant(services, tenant or None)
    actor = principal.user_id
    candidate_user = _text(q, "candidateUser")
    candidate_group = _text(q, "candidateGroup")
    if candidate_user is not None and candidate_user != actor:
        if not principal.is_operator:
            raise CamundaError(
                403,
                f"'{actor}' may list candidate tasks of '{candidate_user}' only as an operator",
                "AuthorizationException",
                extra={"userId": actor, "missingAuthorizations": []},
            )
        actor = candidate_user
    include_assigned = flag(q, "includeAssignedTasks")
    unassigned = flag(q, "unassigned")
    available = unassigned or (
        (candidate_user is not None or candidate_group is not None) and not include_assigned
    )
    priority = integer(q, "priority")
    dates: dict[str, Any] = {}
    for name, field in (
        ("dueBefore", "due_before"), ("dueAfter", "due_after"),
        ("followUpBefore", "follow_up_before"), ("followUpAfter", "follow_up_after"),
        ("createdBefore", "created_before"),
    ):
        if q.get(name) is not None:
            dates[field] = parse_date(q.get(name), name)
    first, limit = page(q)
    base = TaskFilter(
        scope="available" if available else "visible",
        instance_id=_text(q, "processInstanceId"),
        business_key=_text(q, "processInstanceBusinessKey") or _text(q, "businessKey"),
        process_key=_text(q, "processDefinitionKey"),
        element_id=_text(q, "taskDefinitionKey"),
        assignee=_text(q, "assignee"),
        candidate_group=candidate_group,
        min_priority=priority if priority is not None else integer(q, "minPriority"),
        max_priority=priority if priority is not None else integer(q, "maxPriority"),
        limit=limit,
        offset=first,
    )
    sorting = _sorting(q)
    if sorting:
        dates["sort"] = sorting
    return actor, replace(base, **dates)


async def _query_source(request: Request) -> dict[str, Any]:
    """GET: the query string; POST: the JSON body (paging stays in the query string)."""
    q: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        body = await json_body(request)
        q.update({k: v for k, v in body.items() if v is not None})
    return q


@router.get("")
@router.post("")
async def query_tasks(
    request: Request, services: Engine, principal: CamundaPrincipal
) -> list[dict[str, Any]]:
    actor, query = task_filter(services, principal, await _query_source(request))
    found = await blocking(services.work.tasks, actor, query)
    return await blocking(_tasks_json, services, found)


@router.get("/count")
@router.post("/count")
async def count_tasks(
    request: Request, services: Engine, principal: CamundaPrincipal
) -> dict[str, int]:
    q = await _query_source(request)
    q.pop("firstResult", None)
    q.pop("maxResults", None)
    actor, query = task_filter(services, principal, q)
    return {"count": await blocking(services.work.count_tasks, actor, query)}


@router.get("/{task_id}")
async def get_task(task_id: str, services: Engine, principal: CamundaPrincipal) -> dict[str, Any]:
    found = await blocking(services.work.task, principal.user_id, task_id)
    return (await blocking(_tasks_json, services, [found]))[0]


# ------------------------------------------------------------------ operations


def _claim(services: Services, user: str, task_id: str, for_user: str) -> None:
    try:
        if for_user == user:
            services.work.claim(user, task_id)
        else:  # a manager gives the task to someone: caseflow calls that reassigning
            services.work.reassign(user, task_id, for_user)
    except IllegalState as error:
        if "already claimed" in str(error) or "already assigned" in str(error):
            raise CamundaError(400, str(error), "TaskAlreadyClaimedException") from error
        raise


@router.post("/{task_id}/claim", status_code=204)
async def claim(
    task_id: str, request: Request, services: Engine, principal: CamundaPrincipal
) -> Response:
    body = await json_body(request)
    for_user = body.get("userId") or principal.user_id
    if not isinstance(for_user, str):
        raise invalid("'userId' must be a string")
    await blocking(_claim, services, principal.user_id, task_id, for_user)
    return Response(status_code=204)


@router.post("/{task_id}/unclaim", status_code=204)
async def unclaim(task_id: str, services: Engine, principal: CamundaPrincipal) -> Response:
    await blocking(services.work.unclaim, principal.user_id, task_id)
    return Response(status_code=204)


@router.post("/{task_id}/complete", response_model=None)
async def complete(
    task_id: str, request: Request, services: Engine, principal: CamundaPrincipal
) -> Response | dict[str, Any]:
    body = await json_body(request)
    variables = from_camunda(body.get("variables"))
    with_variables = flag(body, "withVariablesInReturn")
    task = await blocking(services.work.task, principal.user_id, task_id)
    await blocking(
        services.work.complete,
        principal.user_id,
        task_id,
        variables,
        idempotency_key=request.headers.get("idempotency-key") or None,
    )
    if not with_variables:
        return Response(status_code=204)
    return to_camunda(await blocking(services.engine.variables, task.instance_id))


@router.post("/{task_id}/delegate", status_code=204)
async def delegate(
    task_id: str, request: Request, services: Engine, principal: CamundaPrincipal
) -> Response:
    to = required_text(await json_body(request, required=True), "userId")
    await blocking(services.work.delegate, principal.user_id, task_id, to)
    return Response(status_code=204)


@router.post("/{task_id}/resolve", status_code=204)
async def resolve(
    task_id: str, request: Request, services: Engine, principal: CamundaPrincipal
) -> Response:
    variables = from_camunda((await json_body(request)).get("variables"))
    task = await blocking(services.work.resolve, principal.user_id, task_id)
    if variables:
        await blocking(services.engine.set_variables, task.instance_id, variables)
    return Response(status_code=204)
