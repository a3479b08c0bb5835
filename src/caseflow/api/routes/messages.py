"""Messages (to one waiting instance, or a message start; with a time to live, kept for a
receiver that comes later) and signals (to everyone)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response
from pydantic import Field

from caseflow.api.auth import OperatorPrincipal, WorkerPrincipal
from caseflow.api.models import CamelModel
from caseflow.api.problems import ApiProblem
from caseflow.api.services import ServicesDep

MAX_TIME_TO_LIVE = timedelta(days=366)

router = APIRouter(tags=["messages"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


class Message(CamelModel):
    message_name: str = Field(min_length=1, max_length=255)
    business_key: str | None = Field(default=None, max_length=255)
    correlation_key: str | None = Field(default=None, max_length=255)
    process_instance_id: str | None = Field(default=None, max_length=64)
    variables: dict[str, Any] = Field(default_factory=dict)
    all: bool = Field(default=False, description="deliver to every matching receiver")
    time_to_live: timedelta | None = Field(
        default=None,
        description="ISO 8601 duration (PT1H) or seconds: when no receiver waits, keep the"
        " message this long for one that subscribes later (answered 202). Without it such a"
        " message is refused (404 message_not_correlated).",
    )


class Correlated(CamelModel):
    process_instance_ids: list[str]
    buffered_message_id: str | None = None
    expires_at: datetime | None = None


class BufferedMessageOut(CamelModel):
    id: str
    message_name: str
    business_key: str | None
    correlation_key: str | None
    variables: dict[str, Any]
    published_at: datetime
    expires_at: datetime


class Signal(CamelModel):
    signal_name: str = Field(min_length=1, max_length=255)
    variables: dict[str, Any] = Field(default_factory=dict)


class Signalled(CamelModel):
    reached: int


@router.post(
    "/messages",
    response_model=Correlated,
    response_model_by_alias=True,
    response_model_exclude_none=True,
    responses={202: {"description": "No receiver waited: the message is kept for its time"
                                     " to live (`bufferedMessageId`, `expiresAt`)"},
               404: {"description": "No instance waits for the message (message_not_correlated)"},
               409: {"description": "Several receivers match and `all` is false"}},
)
def correlate(
    body: Message,
    principal: WorkerPrincipal,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Deliver a message by name, narrowed by business key, correlation key or instance."""
    if body.time_to_live is not None:
        if not timedelta(0) < body.time_to_live <= MAX_TIME_TO_LIVE:
            raise ApiProblem(422, "timeToLive must be positive and at most 366 days")
        if body.process_instance_id is not None:
            raise ApiProblem(
                422, "a message for one instance is not kept: give timeToLive or"
                " processInstanceId, not both",
            )
        published = services.engine.publish_message(
            body.message_name,
            time_to_live=body.time_to_live,
            business_key=body.business_key,
            correlation_key=body.correlation_key,
            variables=body.variables,
            all_matches=body.all,
            tenant_id=services.settings.tenant_id,
            idempotency_key=idempotency_key,
        )
        if published.buffered_id is not None:
            response.status_code = 202
        return Correlated(
            process_instance_ids=published.instance_ids,
            buffered_message_id=published.buffered_id,
            expires_at=published.expires_at,
        )
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


@router.get(
    "/messages/buffered", response_model=list[BufferedMessageOut], response_model_by_alias=True
)
def buffered(
    principal: OperatorPrincipal,
    services: ServicesDep,
    message_name: Annotated[str | None, Query(alias="messageName", max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Messages kept for a receiver that has not subscribed yet, oldest first."""
    return [
        BufferedMessageOut(
            id=m.id,
            message_name=m.name,
            business_key=m.business_key,
            correlation_key=m.correlation_key,
            variables=m.variables,
            published_at=m.published_at,
            expires_at=m.expires_at,
        )
        for m in services.engine.buffered_messages(
            name=message_name, limit=limit, tenant_id=services.settings.tenant_id
        )
    ]


@router.delete("/messages/buffered/{message_id}", status_code=204)
def discard_buffered(
    message_id: Annotated[str, Path(max_length=64)],
    principal: OperatorPrincipal,
    services: ServicesDep,
) -> Response:
    """Drop a kept message, so no receiver gets it."""
    services.engine.discard_buffered_message(message_id, tenant_id=services.settings.tenant_id)
    return Response(status_code=204)


@router.post("/signals", response_model=Signalled, response_model_by_alias=True)
def signal(body: Signal, principal: WorkerPrincipal, services: ServicesDep) -> Any:
    """Broadcast a signal; ``reached`` counts the receivers and start events it reached."""
    reached = services.engine.throw_signal(
        body.signal_name, variables=body.variables, tenant_id=services.settings.tenant_id
    )
    return Signalled(reached=reached)
