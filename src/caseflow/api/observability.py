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
# the request's instance id as a box the whole request shares: a route running in the
# thread pool writes into it, the access log line written afterwards reads it
_instance_box: contextvars.ContextVar[list[str | None] | None] = contextvars.ContextVar(
    "caseflow_instance_box", default=None
)
access_log = logging.getLogger("caseflow.api.access")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def route_template(scope: Scope) -> str | None:
    """The matched route's path template with its router's prefix (``/api/v1/x/{id}``),
    or None when no route matched."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return None
    included = (scope.get("fastapi") or {}).get("included_router")
    context = getattr(included, "include_context", None)
    prefix = getattr(context, "prefix", "") or ""
    return prefix + path if not path.startswith(prefix) or not prefix else path


def note_instance(instance_id: str | None) -> None:
    """Routes call this when they know the process instance a request is about."""
    instance_id_var.set(instance_id)
    box = _instance_box.get()
    if box is not None:
        box[0] = instance_id


def current_instance() -> str | None:
    box = _instance_box.get()
    return instance_id_var.get() or (box[0] if box is not None else None)


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
        instance_id = record.__dict__.get("instanceId") or current_instance()
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
        box_token = _instance_box.set([None])
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
            _instance_box.reset(box_token)


# ------------------------------------------------------------------ metrics

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """This app's Prometheus metrics, in a registry of its own (one per app, so tests can
    run many apps in one process).

    Hooks for other parts: ``tasks`` (count task actions by queue: ``metrics.tasks.labels(
    action="claimed", queue="intake").inc()``), ``sla_breaches``, and :meth:`gauge` to
    register a value read at scrape time (the outbox lag, say).
    """

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Histogram(
            "caseflow_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tasks = Counter(
            "caseflow_tasks",
            "Human tasks opened, claimed and completed, by queue",
            ["action", "queue"],
            registry=self.registry,
        )
        self.sla_breaches = Counter(
            "caseflow_sla_breaches", "SLA breaches seen, by queue", ["queue"],
            registry=self.registry,
        )
        self._gauges: dict[str, tuple[str, Any]] = {}
        self.registry.register(_ScrapeTimeGauges(self._gauges))

    def gauge(self, name: str, documentation: str, read: Any) -> None:
        """Expose ``read()`` (a float, or None to skip) as gauge ``name`` at every scrape."""
        self._gauges[name] = (documentation, read)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _ScrapeTimeGauges:
    def __init__(self, gauges: dict[str, tuple[str, Any]]) -> None:
        self.gauges = gauges

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        for name, (documentation, read) in list(self.gauges.items()):
            try:
                value = read()
            except Exception:
                logging.getLogger("caseflow.api").exception("metric %s failed", name)
                continue
            if value is not None:
                yield GaugeMetricFamily(name, documentation, value=float(value))


class RequestMetrics:
    """Times every request into ``Metrics.requests`` under its route template (never the
    raw path: ids would make a series per instance)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        import time

        started = time.perf_counter()
        status = 500

        async def noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            elapsed = time.perf_counter() - started
            template = route_template(scope) or "(unmatched)"
            self.metrics.requests.labels(scope["method"], template, str(status)).observe(elapsed)
            client = scope.get("client")
            access_log.info(
                "%s %s %s", scope["method"], scope.get("path", ""), status,
                extra={"method": scope["method"], "path": scope.get("path", ""),
                       "status": status, "durationMs": round(elapsed * 1000, 2),
                       "client": client[0] if client else None,
                       "instanceId": current_instance()},
            )
