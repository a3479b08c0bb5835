"""Messages (to one waiting instance, or a message start) and signals (to everyone)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
from pydantic import Field

from caseflow.api.auth import WorkerPrincipal
from caseflow.api.models import CamelModel
from caseflow.api.services import ServicesDep

router = APIRouter(tags=["messages"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


class Message(CamelModel):
    message_name: str = Field(min_length=1, max_length=255)
    business_key: str | None = Field(default=None, max_length=255)
    correlation_key: str | None = Field(default=None, max_length=255)
    process_instance_id: str | None = Field(default=None, max_length=64)
    variables: dict[str, Any] = Field(default_factory=dict)
    all: bool = Field(default=False, description="deliver to every matching receiver")


class Correlated(CamelModel):
    process_instance_ids: list[str]


class Signal(CamelModel):
    signal_name: str = Field(min_length=1, max_length=255)
    variables: dict[str, Any] = Field(default_factory=dict)


class Signalled(CamelModel):
    reached: int


@router.post(
    "/messages",
    response_model=Correlated,
    response_model_by_alias=True,
    responses={404: {"description": "No instance waits for the message (message_not_correlated)"},
               409: {"description": "Several receivers match and `all` is false"}},
)
def correlate(
    body: Message,
    principal: WorkerPrincipal,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Deliver a message by name, narrowed by business key, correlation key or instance."""
    ids = services.engine.correlate_message(
        body.message_name,
        business_key=body.business_key,
        correlation_key=body.correlation_key,
        instance_id=body.process_instance_id,
        variables=body.variables,
        all_matches=body.all,
        tenant_id=services.settings.tenant_id,
        idempotency_key=idempotency_key,
    )
    return Correlated(process_instance_ids=ids)


@router.post("/signals", response_model=Signalled, response_model_by_alias=True)
def signal(body: Signal, principal: WorkerPrincipal, services: ServicesDep) -> Any:
    """Broadcast a signal; ``reached`` counts the receivers and start events it reached."""
    reached = services.engine.throw_signal(
        body.signal_name, variables=body.variables, tenant_id=services.settings.tenant_id
    )
    return Signalled(reached=reached)
