"""Administration: API keys of machine clients and the audit log (admins only)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from caseflow.api import apikeys, audit
from caseflow.api.auth import AdminPrincipal
from caseflow.api.models import CamelModel, PageOf, PagingParams
from caseflow.api.problems import ApiProblem
from caseflow.api.services import Services, get_services

router = APIRouter(tags=["administration"])
ServicesDep = Annotated[Services, Depends(get_services)]


class ApiKeyOut(CamelModel):
    id: str
    name: str
    user_id: str
    created_at: dt.datetime
    created_by: str
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class NewApiKey(CamelModel):
    user_id: str = Field(min_length=1, max_length=255)
    name: str = Field(min_length=1, max_length=255)


class CreatedKey(CamelModel):
    key: str  # shown once
    api_key: ApiKeyOut


def _out(key: apikeys.ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        user_id=key.user_id,
        created_at=key.created_at,
        created_by=key.created_by,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


@router.get("/api-keys", response_model=list[ApiKeyOut], response_model_by_alias=True)
def list_keys(principal: AdminPrincipal, services: ServicesDep) -> Any:
    return [_out(k) for k in apikeys.list_api_keys(services)]


@router.post(
    "/api-keys", response_model=CreatedKey, status_code=201, response_model_by_alias=True
)
def create_key(body: NewApiKey, principal: AdminPrincipal, services: ServicesDep) -> Any:
    """A new key; the response holds the only copy of its secret."""
    if not body.user_id.strip() or not body.name.strip():
        raise ApiProblem(422, "userId and name must not be blank")
    created = apikeys.create_api_key(
        services, user_id=body.user_id, name=body.name, created_by=principal.user_id
    )
    return CreatedKey(key=created.secret, api_key=_out(created.key))


@router.delete("/api-keys/{key_id}", response_model=ApiKeyOut, response_model_by_alias=True)
def revoke_key(key_id: str, principal: AdminPrincipal, services: ServicesDep) -> Any:
    """Revoke a key: it stops working at once; the row stays for the record."""
    return _out(apikeys.revoke_api_key(services, key_id))


class AuditOut(CamelModel):
    seq: int
    at: dt.datetime
    actor: str | None
    actor_kind: str | None
    method: str
    route: str
    path: str
    target_ids: dict[str, str]
    client_ip: str | None
    status: int
    request_id: str | None


@router.get("/audit", response_model=PageOf[AuditOut], response_model_by_alias=True)
def audit_log(
    principal: AdminPrincipal,
    services: ServicesDep,
    paging: PagingParams,
    actor: Annotated[str | None, Query(max_length=255)] = None,
    since: Annotated[dt.datetime | None, Query(alias="from")] = None,
    until: Annotated[dt.datetime | None, Query(alias="to")] = None,
) -> Any:
    """State-changing calls, newest first (``from`` inclusive, ``to`` exclusive)."""
    found, total = audit.entries(
        services,
        actor=actor,
        since=_aware(since),
        until=_aware(until),
        offset=paging.offset,
        limit=paging.size,
    )
    items = [AuditOut(**vars_of(e)) for e in found]
    return PageOf[AuditOut](items=items, page=paging.page, size=paging.size, total=total)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def vars_of(entry: audit.AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in entry.__slots__}
