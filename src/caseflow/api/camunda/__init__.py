"""Camunda 7 REST shapes under ``/engine-rest``, for the clients Camunda users already run.

One router per area (deployment, process definition, task, variables, message, external
task, job), all with :class:`~caseflow.api.camunda.errors.CamundaRoute` so errors come out
in Camunda's ``{"type", "message"}`` body. Served through the same engine, human-work
service and authentication as the native API; see docs/camunda-compat.md.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from caseflow.api.camunda import (
    deployment,
    engine,
    external_task,
    job,
    message,
    process_definition,
    task,
    variables,
)
from caseflow.api.camunda.errors import CamundaError, CamundaRoute

PREFIX = "/engine-rest"

router = APIRouter(route_class=CamundaRoute, include_in_schema=False)
for area in (engine, deployment, process_definition, task, variables, message, external_task,
             job):
    router.include_router(area.router)


@router.api_route(
    "/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False
)
async def not_served(path: str, request: Request) -> None:
    """Anything else under /engine-rest: Camunda's 404 body, not caseflow's problem+json."""
    raise CamundaError(
        404, f"{request.method} /engine-rest/{path} is not served by caseflow's Camunda layer"
    )


__all__ = ["PREFIX", "router"]
