"""Incidents (what stopped and why) and jobs (timers, async continuations), for operators."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from caseflow.api.auth import OperatorPrincipal
from caseflow.api.models import CamelModel, PageOf, PagingParams
from caseflow.api.problems import ApiProblem
from caseflow.api.routes.instances import IncidentOut, incident_out
from caseflow.api.services import Services, ServicesDep
from caseflow.engine.state import Incident, Job
from caseflow.errors import NotFound

router = APIRouter(tags=["incidents"])


class Retry(CamelModel):
    retries: int = Field(default=1, ge=1, le=1000)


class JobOut(CamelModel):
    id: str
    kind: str
    due_at: dt.datetime
    created_at: dt.datetime
    instance_id: str | None
    element_id: str | None
    definition_id: str | None
    retries: int
    lock_owner: str | None
    lock_expires_at: dt.datetime | None
    error_message: str | None


def _job(job: Job) -> JobOut:
    return JobOut(
        id=job.id, kind=job.kind, due_at=job.due_at, created_at=job.created_at,
        instance_id=job.instance_id, element_id=job.element_id, definition_id=job.definition_id,
        retries=job.retries, lock_owner=job.lock_owner, lock_expires_at=job.lock_expires_at,
        error_message=job.error_message,
    )


def _open_incidents(services: Services, instance_id: str | None) -> list[Incident]:
    tenant = services.settings.tenant_id
    return [i for i in services.engine.incidents(instance_id) if i.tenant_id == tenant]


@router.get("/incidents", response_model=PageOf[IncidentOut], response_model_by_alias=True)
def incidents(
    principal: OperatorPrincipal,
    services: ServicesDep,
    paging: PagingParams,
    instance_id: Annotated[str | None, Query(alias="instanceId", max_length=64)] = None,
) -> Any:
    """Open incidents, oldest first."""
    found = sorted(_open_incidents(services, instance_id), key=lambda i: (i.created_at, i.id))
    page = found[paging.offset : paging.offset + paging.size]
    return PageOf[IncidentOut](
        items=[incident_out(i) for i in page], page=paging.page, size=paging.size,
        total=len(found),
    )


@router.post(
    "/incidents/{incident_id}/retry", response_model=IncidentOut, response_model_by_alias=True
)
def retry_incident(
    incident_id: str,
    principal: OperatorPrincipal,
    services: ServicesDep,
    body: Retry | None = None,
) -> Any:
    """Give the failed job or external task ``retries`` more tries; resolves the incident."""
    retries = (body or Retry()).retries
    incident = next((i for i in _open_incidents(services, None) if i.id == incident_id), None)
    if incident is None:
        raise NotFound("open incident", incident_id)
    if incident.job_id is not None:
        services.engine.retry_job(incident.job_id, retries)
    elif incident.external_task_id is not None:
        services.engine.set_external_task_retries(incident.external_task_id, retries)
    else:
        raise ApiProblem(
            409, f"incident '{incident_id}' ({incident.kind}) has nothing to retry",
            code="illegal_state",
        )
    return incident_out(incident)


@router.get("/jobs", response_model=list[JobOut], response_model_by_alias=True)
def jobs(
    principal: OperatorPrincipal,
    services: ServicesDep,
    instance_id: Annotated[str | None, Query(alias="instanceId", max_length=64)] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
) -> Any:
    tenant = services.settings.tenant_id
    return [_job(j) for j in services.engine.jobs(instance_id, kind) if j.tenant_id == tenant]


@router.post("/jobs/{job_id}/retries", status_code=204)
def set_job_retries(
    job_id: str, body: Retry, principal: OperatorPrincipal, services: ServicesDep
) -> None:
    """Set a job's retries (resolves its incident if it had run out)."""
    services.engine.retry_job(job_id, body.retries)
