"""Webhooks (admin): subscriptions and their delivery log (caseflow.events.webhooks)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from caseflow.api.auth import AdminPrincipal
from caseflow.api.services import Services, get_services
from caseflow.events.webhooks import DEFAULT_MAX_ATTEMPTS, Delivery, Webhook, Webhooks

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

ServicesDep = Annotated[Services, Depends(get_services)]


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class WebhookIn(CamelModel):
    name: str = Field(min_length=1, max_length=255)
    url: str = Field(min_length=1, max_length=2048)
    secret: str | None = Field(default=None, min_length=16, max_length=255)
    event_types: list[str] | None = None
    active: bool = True
    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS, ge=1, le=100)
    description: str | None = Field(default=None, max_length=4000)


class WebhookPatch(CamelModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    secret: str | None = Field(default=None, min_length=16, max_length=255)
    event_types: list[str] | None = None
    active: bool | None = None
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    description: str | None = Field(default=None, max_length=4000)


class WebhookOut(CamelModel):
    id: str
    name: str
    url: str
    event_types: list[str] | None
    active: bool
    max_attempts: int
    description: str | None
    created_at: datetime
    created_by: str | None
    updated_at: datetime


class WebhookCreated(WebhookOut):
    secret: str  # shown once: the receiver verifies signatures with it


class WebhookPage(CamelModel):
    items: list[WebhookOut]
    page: int
    size: int
    total: int


class DeliveryOut(CamelModel):
    seq: int
    webhook_id: str
    event_id: str
    event_type: str
    instance_id: str | None
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None


class DeliveryDetail(DeliveryOut):
    body: dict[str, Any]


class DeliveryPage(CamelModel):
    items: list[DeliveryOut]
    page: int
    size: int
    total: int


def _out(hook: Webhook) -> dict[str, Any]:
    return {
        "id": hook.id, "name": hook.name, "url": hook.url,
        "event_types": None if hook.event_types is None else list(hook.event_types),
        "active": hook.active, "max_attempts": hook.max_attempts,
        "description": hook.description, "created_at": hook.created_at,
        "created_by": hook.created_by, "updated_at": hook.updated_at,
    }


def _delivery(found: Delivery) -> dict[str, Any]:
    return {
        "seq": found.seq, "webhook_id": found.webhook_id, "event_id": found.event_id,
        "event_type": found.event_type, "instance_id": found.instance_id,
        "status": found.status, "attempts": found.attempts,
        "next_attempt_at": found.next_attempt_at, "created_at": found.created_at,
        "last_status_code": found.last_status_code, "last_error": found.last_error,
        "delivered_at": found.delivered_at,
    }


def _hooks(services: Services) -> Webhooks:
    return Webhooks(services.store)


@router.get("", response_model=WebhookPage, summary="Webhooks")
def list_webhooks(
    _admin: AdminPrincipal, services: ServicesDep,
    page: Annotated[int, Query(ge=0)] = 0, size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> WebhookPage:
    every = _hooks(services).all()
    chosen = every[page * size:(page + 1) * size]
    return WebhookPage(items=[WebhookOut(**_out(h)) for h in chosen], page=page, size=size,
                       total=len(every))


@router.post("", response_model=WebhookCreated, status_code=201,
             summary="Register a webhook; its signing secret is in the answer, once")
def create_webhook(body: WebhookIn, admin: AdminPrincipal, services: ServicesDep
                   ) -> WebhookCreated:
    hook, secret = _hooks(services).create(
        name=body.name, url=body.url, secret=body.secret, event_types=body.event_types,
        active=body.active, max_attempts=body.max_attempts, description=body.description,
        created_by=admin.user_id, now=services.clock.now(),
    )
    return WebhookCreated(**_out(hook), secret=secret)


@router.get("/{webhook_id}", response_model=WebhookOut, summary="One webhook")
def get_webhook(webhook_id: str, _admin: AdminPrincipal, services: ServicesDep) -> WebhookOut:
    return WebhookOut(**_out(_hooks(services).get(webhook_id)))


@router.patch("/{webhook_id}", response_model=WebhookOut, summary="Change a webhook")
def update_webhook(webhook_id: str, body: WebhookPatch, _admin: AdminPrincipal,
                   services: ServicesDep) -> WebhookOut:
    changes = body.model_dump(exclude_unset=True)
    hook = _hooks(services).update(webhook_id, services.clock.now(), **changes)
    return WebhookOut(**_out(hook))


@router.delete("/{webhook_id}", status_code=204, summary="Remove a webhook and its log")
def delete_webhook(webhook_id: str, _admin: AdminPrincipal, services: ServicesDep) -> Response:
    _hooks(services).delete(webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryPage,
            summary="The delivery log, newest first (DEAD: the dead letters)")
def list_deliveries(
    webhook_id: str, _admin: AdminPrincipal, services: ServicesDep,
    status: Literal["PENDING", "DELIVERED", "DEAD"] | None = None,
    page: Annotated[int, Query(ge=0)] = 0, size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DeliveryPage:
    found, total = _hooks(services).deliveries(webhook_id, status=status, limit=size,
                                               offset=page * size)
    return DeliveryPage(items=[DeliveryOut(**_delivery(d)) for d in found], page=page,
                        size=size, total=total)


@router.get("/{webhook_id}/deliveries/{seq}", response_model=DeliveryDetail,
            summary="One delivery with the body it sends")
def get_delivery(webhook_id: str, seq: int, _admin: AdminPrincipal, services: ServicesDep
                 ) -> DeliveryDetail:
    found, body = _hooks(services).delivery(webhook_id, seq)
    return DeliveryDetail(**_delivery(found), body=body)


@router.post("/{webhook_id}/deliveries/{seq}/redeliver", response_model=DeliveryOut,
             summary="Send a delivery again from its first attempt (a dead letter, say)")
def redeliver(webhook_id: str, seq: int, _admin: AdminPrincipal, services: ServicesDep
              ) -> DeliveryOut:
    return DeliveryOut(**_delivery(_hooks(services).redeliver(webhook_id, seq,
                                                              services.clock.now())))
