"""Operations: JSON logs carrying the request id, and (see below) health and metrics.

Every log record written while a request is handled carries that request's id (taken from
``X-Request-ID`` when the caller sent a sane one, else made up) and, where a route knows
it, the process instance id, so one grep follows a request through the log.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import uuid
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from caseflow.api.settings import Settings

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "caseflow_request_id", default=None
)
instance_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "caseflow_instance_id", default=None
)
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def note_instance(instance_id: str | None) -> None:
    """Routes call this when they know the process instance a request is about."""
    instance_id_var.set(instance_id)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request and instance id."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["requestId"] = request_id
        instance_id = instance_id_var.get()
        if instance_id:
            entry["instanceId"] = instance_id
        for key in ("method", "path", "status", "durationMs", "client"):
            value = record.__dict__.get(key)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(settings: Settings) -> None:
    """Root logging for ``caseflow serve``: JSON lines on stderr (or plain text)."""
    handler = logging.StreamHandler()
    if settings.log_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class RequestContext:
    """Gives each request an id (``X-Request-ID`` in and out) for the log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = sent if _SANE_ID.match(sent) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        instance_token = instance_id_var.set(None)
        scope.setdefault("state", {})["request_id"] = request_id

        async def with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, with_id)
        finally:
            request_id_var.reset(token)
            instance_id_var.reset(instance_token)
