"""``/job``: list and get jobs, and give a failed job new retries (operators).

caseflow's jobs are its timers and asynchronous continuations. Setting retries resolves
the job's incident and lets the executor run it again; caseflow refuses 0 (Camunda's way
of parking a job), as a job without retries is one that already failed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from caseflow.api.camunda.auth import Engine, OperatorPrincipal
from caseflow.api.camunda.common import blocking, integer, json_body, page, tenant_out
from caseflow.api.camunda.errors import CamundaError, CamundaRoute, invalid
from caseflow.api.camunda.values import format_date
from caseflow.api.services import Services
from caseflow.engine.state import Job

router = APIRouter(prefix="/job", tags=["camunda-7"], route_class=CamundaRoute)

LIST_FILTERS = frozenset(
    {"processInstanceId", "jobId", "withRetriesLeft", "noRetriesLeft", "firstResult",
     "maxResults"}
)


def job_json(services: Services, job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "jobDefinitionId": None,
        "dueDate": format_date(job.due_at),
        "processInstanceId": job.instance_id,
        "executionId": job.execution_id,
        "processDefinitionId": job.definition_id,
        "processDefinitionKey": None,
        "retries": job.retries,
        "exceptionMessage": job.error_message,
        "failedActivityId": job.element_id if job.error_message else None,
        "suspended": False,
        "priority": 0,
        "tenantId": tenant_out(services, job.tenant_id),
        "createTime": format_date(job.created_at),
    }


def _jobs(services: Services, q: dict[str, Any]) -> list[Job]:
    unknown = sorted(set(q) - LIST_FILTERS)
    if unknown:
        raise invalid(f"unsupported job query parameter(s): {unknown}")
    found = [
        j for j in services.engine.jobs(instance_id=q.get("processInstanceId"))
        if j.tenant_id == services.settings.tenant_id
    ]
    if q.get("jobId") is not None:
        found = [j for j in found if j.id == q["jobId"]]
    if q.get("withRetriesLeft") == "true":
        found = [j for j in found if j.retries > 0]
    if q.get("noRetriesLeft") == "true":
        found = [j for j in found if j.retries <= 0]
    return sorted(found, key=lambda j: (j.due_at, j.id))


@router.get("")
async def list_jobs(
    request: Request, services: Engine, _: OperatorPrincipal
) -> list[dict[str, Any]]:
    q = dict(request.query_params)
    first, limit = page(q)
    found = await blocking(_jobs, services, q)
    return [job_json(services, j) for j in found[first : first + limit]]


@router.get("/count")
async def count_jobs(request: Request, services: Engine, _: OperatorPrincipal) -> dict[str, int]:
    q = {k: v for k, v in request.query_params.items() if k not in ("firstResult", "maxResults")}
    return {"count": len(await blocking(_jobs, services, q))}


@router.get("/{job_id}")
async def get_job(job_id: str, services: Engine, _: OperatorPrincipal) -> dict[str, Any]:
    found = await blocking(_jobs, services, {"jobId": job_id})
    if not found:
        raise CamundaError(404, f"Job with id {job_id} does not exist")
    return job_json(services, found[0])


@router.put("/{job_id}/retries", status_code=204)
async def set_retries(
    job_id: str, request: Request, services: Engine, _: OperatorPrincipal
) -> Response:
    retries = integer(await json_body(request, required=True), "retries")
    if retries is None:
        raise invalid("'retries' is required")
    if retries < 1:
        raise invalid("caseflow gives a job at least 1 retry (0 would park it as failed)")
    await blocking(services.engine.retry_job, job_id, retries)
    return Response(status_code=204)
