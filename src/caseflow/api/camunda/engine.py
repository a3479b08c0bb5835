"""``/engine`` and ``/version``: what Camunda clients ask before anything else."""

from __future__ import annotations

from fastapi import APIRouter

from caseflow.api.camunda.errors import CamundaRoute

router = APIRouter(tags=["camunda-7"], route_class=CamundaRoute)

CAMUNDA_REST_VERSION = "7.22.0"
"""The Camunda 7 REST level caseflow answers in (its last open-source minor)."""


@router.get("/engine")
async def engines() -> list[dict[str, str]]:
    """One engine, named ``default`` as Camunda's; no authentication, as there."""
    return [{"name": "default"}]


@router.get("/version")
async def version() -> dict[str, str]:
    return {"version": CAMUNDA_REST_VERSION}
