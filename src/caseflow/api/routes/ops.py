"""Liveness, readiness and Prometheus metrics (outside /api/v1, unauthenticated)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from caseflow.api.services import Services, get_services

router = APIRouter(tags=["operations"])


@router.get("/health")
def health() -> dict[str, str]:
    """The process is up and answering."""
    return {"status": "ok"}


def _readiness(services: Services) -> dict[str, Any]:
    from caseflow.store.migrate import current_revision, head_revision

    checks: dict[str, Any] = {}
    try:
        with services.store.transaction(read_only=True) as tx:
            tx.conn.execute(text("SELECT 1"))
            current = current_revision(tx.conn)
        checks["database"] = "ok"
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"unreachable: {type(error).__name__}"
        return checks
    head = head_revision()
    checks["migrations"] = "ok" if current == head else f"at {current}, head is {head}"
    return checks


@router.get("/ready", responses={503: {"description": "Not ready"}})
def ready(services: Annotated[Services, Depends(get_services)]) -> JSONResponse:
    """Ready to serve: the database answers and its schema is at the newest revision."""
    checks = _readiness(services)
    ok = all(v == "ok" for v in checks.values()) and len(checks) == 2
    return JSONResponse(
        {"status": "ready" if ok else "not ready", "checks": checks},
        status_code=200 if ok else 503,
    )


@router.get("/metrics", response_class=Response)
def metrics(services: Annotated[Services, Depends(get_services)]) -> Response:
    """Prometheus text format."""
    body, content_type = services.metrics.render()
    return Response(body, media_type=content_type)
