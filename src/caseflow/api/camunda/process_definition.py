"""``/process-definition``: list, get by id or key, XML, and start an instance.

A definition is "suspended" to Camunda clients when caseflow would not start it by key
(any status other than Deployed). Starting answers Camunda's process-instance shape; an
``Idempotency-Key`` header makes a retried start harmless, as on the native API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request

from caseflow.api.camunda.auth import CamundaPrincipal, Engine, OperatorPrincipal
from caseflow.api.camunda.common import (
    blocking,
    check_tenant,
    flag,
    json_body,
    link,
    page,
    tenant_out,
    text,
)
from caseflow.api.camunda.errors import CamundaError, CamundaRoute, invalid
from caseflow.api.camunda.values import from_camunda, to_camunda
from caseflow.api.services import Services
from caseflow.engine.state import InstanceRecord
from caseflow.runtime.ports import DefinitionRecord

router = APIRouter(prefix="/process-definition", tags=["camunda-7"], route_class=CamundaRoute)

LIST_FILTERS = frozenset(
    {"key", "keyLike", "name", "nameLike", "latestVersion", "version", "deploymentId",
     "processDefinitionId", "active", "suspended", "versionTag", "sortBy", "sortOrder",
     "firstResult", "maxResults", "tenantIdIn", "withoutTenantId"}
)
SORTS = {"key": "key", "name": "name", "version": "version", "id": "id",
         "deploymentId": "deployment_id", "versionTag": "version_tag"}
ENDED = ("COMPLETED", "TERMINATED", "FAILED")


def definition_json(services: Services, d: DefinitionRecord) -> dict[str, Any]:
    return {
        "id": d.id,
        "key": d.key,
        "category": d.category,
        "description": None,
        "name": d.name,
        "version": d.version,
        "resource": d.resource_name,
        "deploymentId": d.deployment_id,
        "diagram": None,
        "suspended": d.status != "Deployed",
        "tenantId": tenant_out(services, d.tenant_id),
        "versionTag": d.version_tag,
        "historyTimeToLive": None,
        "startableInTasklist": True,
    }


def instance_json(
    request: Request, services: Services, i: InstanceRecord, variables: dict[str, Any] | None
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "links": [link(request, f"/process-instance/{i.id}")],
        "id": i.id,
        "definitionId": i.definition_id,
        "businessKey": i.business_key,
        "caseInstanceId": None,
        "ended": i.status in ENDED,
        "suspended": i.status == "SUSPENDED",
        "tenantId": tenant_out(services, i.tenant_id),
    }
    if variables is not None:
        result["variables"] = to_camunda(variables)
    return result


def _latest(services: Services, key: str) -> DefinitionRecord:
    found = services.engine.definitions(key, services.settings.tenant_id)
    if not found:
        raise CamundaError(404, f"No matching process definition with key: {key}")
    return max(found, key=lambda d: d.version)


def _by_id(services: Services, definition_id: str) -> DefinitionRecord:
    record = services.engine.definition(definition_id)  # NotFound -> 404
    if record.tenant_id != services.settings.tenant_id:
        raise CamundaError(404, f"No matching definition with id {definition_id}")
    return record


def _matching(services: Services, q: dict[str, Any]) -> list[DefinitionRecord]:
    unknown = sorted(set(q) - LIST_FILTERS)
    if unknown:
        raise invalid(f"unsupported query parameter(s) for process definitions: {unknown}")
    for name in ("tenantIdIn",):
        for tenant in str(q.get(name) or "").split(","):
            check_tenant(services, tenant or None)
    found = services.engine.definitions(q.get("key"), services.settings.tenant_id)
    if flag(q, "latestVersion"):
        latest: dict[str, DefinitionRecord] = {}
        for d in found:
            if d.key not in latest or d.version > latest[d.key].version:
                latest[d.key] = d
        found = list(latest.values())
    checks: dict[str, Callable[[DefinitionRecord, str], bool]] = {
        "keyLike": lambda d, v: _like(d.key, v),
        "name": lambda d, v: d.name == v,
        "nameLike": lambda d, v: _like(d.name or "", v),
        "version": lambda d, v: str(d.version) == v,
        "deploymentId": lambda d, v: d.deployment_id == v,
        "processDefinitionId": lambda d, v: d.id == v,
        "versionTag": lambda d, v: d.version_tag == v,
        "active": lambda d, v: (d.status == "Deployed") == (v.lower() == "true"),
        "suspended": lambda d, v: (d.status != "Deployed") == (v.lower() == "true"),
    }
    for name, check in checks.items():
        value = q.get(name)
        if value is not None:
            found = [d for d in found if check(d, value)]
    sort = q.get("sortBy")
    if sort is not None and sort not in SORTS:
        raise invalid(f"sortBy '{sort}' is not supported: one of {sorted(SORTS)}")
    attribute = SORTS.get(sort or "id", "id")
    found.sort(key=lambda d: (getattr(d, attribute) is None, getattr(d, attribute) or "", d.id))
    if q.get("sortOrder") == "desc":
        found.reverse()
    return found


def _like(value: str, pattern: str) -> bool:
    """Camunda's ``...Like``: SQL LIKE with ``%`` wildcards."""
    import fnmatch

    return fnmatch.fnmatchcase(value, pattern.replace("*", "[*]").replace("%", "*"))


@router.get("")
async def list_definitions(
    request: Request, services: Engine, _: OperatorPrincipal
) -> list[dict[str, Any]]:
    q = dict(request.query_params)
    first, limit = page(q)
    found = await blocking(_matching, services, q)
    return [definition_json(services, d) for d in found[first : first + limit]]


@router.get("/count")
async def count_definitions(
    request: Request, services: Engine, _: OperatorPrincipal
) -> dict[str, int]:
    q = {k: v for k, v in request.query_params.items() if k not in ("firstResult", "maxResults")}
    return {"count": len(await blocking(_matching, services, q))}


@router.get("/key/{key}")
async def definition_by_key(key: str, services: Engine, _: OperatorPrincipal) -> dict[str, Any]:
    return definition_json(services, await blocking(_latest, services, key))


@router.get("/key/{key}/xml")
async def xml_by_key(key: str, services: Engine, _: OperatorPrincipal) -> dict[str, Any]:
    record = await blocking(_latest, services, key)
    source = await blocking(services.engine.definition_source, record.id)
    return {"id": record.id, "bpmn20Xml": source}


async def _start(
    request: Request, services: Services, principal_id: str, record: DefinitionRecord
) -> dict[str, Any]:
    body = await json_body(request)
    if body.get("startInstructions"):
        raise invalid("startInstructions are not supported: caseflow starts at the start event")
    if body.get("caseInstanceId") is not None:
        raise invalid("caseInstanceId is not supported (caseflow has no CMMN)")
    variables = from_camunda(body.get("variables"))
    business_key = text(body, "businessKey")
    with_variables = flag(body, "withVariablesInReturn")
    if record.status not in ("Deployed", "Testing"):
        raise CamundaError(
            400,
            f"Process definition {record.id} is suspended ({record.status})",
            "BadUserRequestException",
        )
    instance = await blocking(
        services.engine.start,
        record.key,
        version=record.version,
        business_key=business_key,
        variables=variables,
        started_by=principal_id,
        tenant_id=services.settings.tenant_id,
        idempotency_key=request.headers.get("idempotency-key") or None,
    )
    values = await blocking(services.engine.variables, instance.id) if with_variables else None
    return instance_json(request, services, instance, values)


@router.post("/key/{key}/start")
async def start_by_key(
    key: str, request: Request, services: Engine, principal: CamundaPrincipal
) -> dict[str, Any]:
    """Start the latest version of ``key`` that starts by key (status Deployed)."""
    found = await blocking(services.engine.definitions, key, services.settings.tenant_id)
    if not found:
        raise CamundaError(404, f"No matching process definition with key: {key}")
    deployed = [d for d in found if d.status == "Deployed"]
    if not deployed:
        raise CamundaError(
            400, f"Process definition with key {key} has no active version",
            "BadUserRequestException",
        )
    latest = max(deployed, key=lambda d: d.version)
    return await _start(request, services, principal.user_id, latest)


@router.get("/{definition_id}")
async def definition_by_id(
    definition_id: str, services: Engine, _: OperatorPrincipal
) -> dict[str, Any]:
    return definition_json(services, await blocking(_by_id, services, definition_id))


@router.get("/{definition_id}/xml")
async def xml_by_id(definition_id: str, services: Engine, _: OperatorPrincipal) -> dict[str, Any]:
    record = await blocking(_by_id, services, definition_id)
    source = await blocking(services.engine.definition_source, record.id)
    return {"id": record.id, "bpmn20Xml": source}


@router.post("/{definition_id}/start")
async def start_by_id(
    definition_id: str, request: Request, services: Engine, principal: CamundaPrincipal
) -> dict[str, Any]:
    record = await blocking(_by_id, services, definition_id)
    return await _start(request, services, principal.user_id, record)
