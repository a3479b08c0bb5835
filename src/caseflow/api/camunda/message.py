"""``POST /message``: Camunda's message correlation.

``messageName`` with ``businessKey``, ``processInstanceId`` and ``correlationKeys`` to pick
the receiver, ``processVariables`` to hand over, ``all`` to deliver to every match and
``resultEnabled`` / ``variablesInResultEnabled`` to get Camunda's result list back.
Camunda's correlation keys are process variables the waiting instance must hold with
those values; a key also matches a caseflow (Zeebe-style) subscription correlation key of
the same value. No receiver is a 400 ``MismatchingMessageCorrelationException``, as in
Camunda; so is more than one without ``all``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from caseflow.api.camunda.auth import CamundaPrincipal, Engine
from caseflow.api.camunda.common import (
    blocking,
    check_tenant,
    flag,
    json_body,
    required_text,
    tenant_out,
    text,
)
from caseflow.api.camunda.errors import CamundaError, CamundaRoute, invalid
from caseflow.api.camunda.process_definition import ENDED, instance_json
from caseflow.api.camunda.values import from_camunda, to_camunda
from caseflow.api.services import Services
from caseflow.errors import IllegalState
from caseflow.runtime.ports import SubscriptionQuery

router = APIRouter(tags=["camunda-7"], route_class=CamundaRoute)

UNSUPPORTED = ("localCorrelationKeys", "processVariablesLocal", "startInstructions")


def _mismatch(message: str) -> CamundaError:
    return CamundaError(400, message, "MismatchingMessageCorrelationException")


def _waiting(
    services: Services, name: str, business_key: str | None, instance_id: str | None
) -> list[tuple[str, str | None]]:
    """(instance id, subscription correlation key) of each receiver waiting for ``name``."""
    with services.store.transaction(read_only=True) as tx:
        found = tx.find_subscriptions(
            SubscriptionQuery(
                kind="message",
                event_name=name,
                business_key=business_key,
                instance_id=instance_id,
                tenant_id=services.settings.tenant_id,
            )
        )
    return [(s.instance_id, s.correlation_key) for s in found]


def _matches(services: Services, instance_id: str, own_key: str | None,
             keys: dict[str, Any]) -> bool:
    if own_key is not None and len(keys) == 1 and own_key == str(next(iter(keys.values()))):
        return True
    values = services.engine.variables(instance_id)
    return all(name in values and values[name] == value for name, value in keys.items())


def _correlate(services: Services, body: dict[str, Any], idempotency_key: str | None) -> (
    tuple[list[str], set[str]]
):
    """(the instances reached, those of them that were already waiting)."""
    name = required_text(body, "messageName")
    business_key = text(body, "businessKey")
    instance_id = text(body, "processInstanceId")
    keys = from_camunda(body.get("correlationKeys"), "correlationKeys")
    variables = from_camunda(body.get("processVariables"), "processVariables")
    everyone = flag(body, "all")
    waiting = _waiting(services, name, business_key, instance_id)
    existing = {i for i, _ in waiting}
    engine = services.engine
    tenant = services.settings.tenant_id
    if not keys:
        reached = engine.correlate_message(
            name,
            business_key=business_key,
            instance_id=instance_id,
            variables=variables,
            all_matches=everyone,
            tenant_id=tenant,
            idempotency_key=idempotency_key,
        )
        return reached, existing
    if not waiting:  # correlation keys select waiting instances; none: a start event
        reached = engine.correlate_message(
            name, business_key=business_key, variables=variables, all_matches=everyone,
            tenant_id=tenant, idempotency_key=idempotency_key,
        )
        return reached, existing
    chosen = sorted({i for i, own in waiting if _matches(services, i, own, keys)})
    if not chosen:
        raise _mismatch(
            f"Cannot correlate message '{name}': No process definition or execution matches "
            "the parameters"
        )
    if len(chosen) > 1 and not everyone:
        raise _mismatch(
            f"Cannot correlate message '{name}': {len(chosen)} executions match the "
            "correlation keys; give more keys or correlate to all"
        )
    reached = []
    for target in chosen:
        reached.extend(
            engine.correlate_message(
                name, instance_id=target, variables=variables, all_matches=True,
                tenant_id=tenant,
                idempotency_key=f"{idempotency_key}:{target}" if idempotency_key else None,
            )
        )
    return reached, existing


@router.post("/message", response_model=None)
async def correlate(
    request: Request, services: Engine, _: CamundaPrincipal
) -> Response | list[dict[str, Any]]:
    body = await json_body(request, required=True)
    for name in UNSUPPORTED:
        if body.get(name):
            raise invalid(f"'{name}' is not supported by caseflow's Camunda layer")
    check_tenant(services, body.get("tenantId"))
    result_enabled = flag(body, "resultEnabled")
    with_variables = flag(body, "variablesInResultEnabled")
    idempotency_key = request.headers.get("idempotency-key") or None
    try:
        reached, existing = await blocking(_correlate, services, body, idempotency_key)
    except IllegalState as error:  # several receivers, or one that cannot take it
        raise _mismatch(f"Cannot correlate message: {error}") from error
    if not result_enabled:
        return Response(status_code=204)
    results = []
    for instance_id in reached:
        record = await blocking(services.engine.instance_record, instance_id)
        values = await blocking(services.engine.variables, instance_id) if with_variables else None
        entry: dict[str, Any] = {
            "resultType": "Execution" if instance_id in existing else "ProcessDefinition",
            "execution": None,
            "processInstance": None,
        }
        if instance_id in existing:
            entry["execution"] = {
                "id": instance_id,
                "processInstanceId": instance_id,
                "ended": record.status in ENDED,
                "tenantId": tenant_out(services, record.tenant_id),
            }
        else:
            entry["processInstance"] = instance_json(request, services, record, None)
        if values is not None:
            entry["variables"] = to_camunda(values)
        results.append(entry)
    return results
