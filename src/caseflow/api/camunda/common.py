"""Small pieces every Camunda route uses: JSON bodies, paging, links, tenants, threads."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from caseflow.api.camunda.errors import invalid
from caseflow.api.services import Services

T = TypeVar("T")

MAX_RESULTS = 1000  # one page at most; Camunda itself has no cap, a server should


async def json_body(request: Request, *, required: bool = False) -> dict[str, Any]:
    """The request's JSON object (an empty body is ``{}`` unless ``required``)."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise invalid("a JSON request body is required")
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError as error:
        raise invalid(f"the request body is not valid JSON: {error}") from error
    if parsed is None and not required:
        return {}
    if not isinstance(parsed, dict):
        raise invalid("the request body must be a JSON object")
    return parsed


def text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"'{name}' must be a string")
    return value


def required_text(body: Mapping[str, Any], name: str) -> str:
    value = text(body, name)
    if value is None or not value.strip():
        raise invalid(f"'{name}' is required")
    return value


def integer(body: Mapping[str, Any], name: str, *, minimum: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        else:
            raise invalid(f"'{name}' must be an integer")
    if minimum is not None and value < minimum:
        raise invalid(f"'{name}' must be at least {minimum}")
    return value


def flag(body: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise invalid(f"'{name}' must be true or false")


def page(source: Mapping[str, Any]) -> tuple[int, int]:
    """(offset, limit) from Camunda's ``firstResult`` / ``maxResults``."""
    first = integer(source, "firstResult", minimum=0) or 0
    size = integer(source, "maxResults", minimum=0)
    limit = MAX_RESULTS if size is None else min(size, MAX_RESULTS)
    return first, limit


def link(request: Request, path: str, rel: str = "self") -> dict[str, str]:
    base = str(request.base_url).rstrip("/")
    return {"method": "GET", "href": f"{base}/engine-rest{path}", "rel": rel}


def tenant_out(services: Services, tenant_id: str) -> str | None:
    """Camunda's ``tenantId``: null for the server's own (default) tenant."""
    return None if tenant_id == services.settings.tenant_id else tenant_id


def check_tenant(services: Services, tenant_id: Any) -> None:
    if tenant_id in (None, "", services.settings.tenant_id):
        return
    raise invalid(
        f"tenant '{tenant_id}' is not served here: this server serves tenant "
        f"'{services.settings.tenant_id}' only"
    )


async def blocking(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a database call off the event loop."""
    return await run_in_threadpool(call, *args, **kwargs)
