"""The FastAPI application: routers, problem handlers, and the lifespan that owns Services.

``ROUTERS`` is the one list of routers the app includes; each area adds its line there.
``LIFESPAN_HOOKS`` are context managers entered after the services exist and left before
they close (an outbox dispatcher, a webhook sender): ``hook(app, services)``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, asynccontextmanager, contextmanager
from datetime import timedelta

from fastapi import APIRouter, FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from caseflow.api import camunda
from caseflow.api.audit import AuditTrail
from caseflow.api.limits import BodySizeLimit
from caseflow.api.observability import Metrics, RequestContext, RequestMetrics
from caseflow.api.problems import install_problem_handlers
from caseflow.api.routes import admin as admin_routes
from caseflow.api.routes import auth as auth_routes
from caseflow.api.routes import calendars as calendar_routes
from caseflow.api.routes import definitions as definition_routes
from caseflow.api.routes import events as events_routes
from caseflow.api.routes import external_tasks as external_task_routes
from caseflow.api.routes import incidents as incident_routes
from caseflow.api.routes import instances as instance_routes
from caseflow.api.routes import messages as message_routes
from caseflow.api.routes import ops as ops_routes
from caseflow.api.routes import organisation as organisation_routes
from caseflow.api.routes import reports as report_routes
from caseflow.api.routes import tasks as task_routes
from caseflow.api.routes import webhooks as webhook_routes
from caseflow.api.services import Services, build_services
from caseflow.api.settings import Settings
from caseflow.web import router as web_router

log = logging.getLogger("caseflow.api")

API_PREFIX = "/api/v1"

# (router, prefix): add one line per area; "" for routes outside /api/v1
ROUTERS: list[tuple[APIRouter, str]] = [
    (ops_routes.router, ""),
    (auth_routes.router, API_PREFIX),
    (admin_routes.router, API_PREFIX),
    (definition_routes.router, API_PREFIX),
    (instance_routes.router, API_PREFIX),
    (external_task_routes.router, API_PREFIX),
    (message_routes.router, API_PREFIX),
    (incident_routes.router, API_PREFIX),
    (events_routes.router, API_PREFIX),
    (webhook_routes.router, API_PREFIX),
    (camunda.router, camunda.PREFIX),  # Camunda 7 REST shapes (caseflow.api.camunda)
    (task_routes.router, API_PREFIX),
    (task_routes.seed_router, ""),  # seed 001: /api/workflow/tasks/claim/next, /{id}/complete
    (organisation_routes.router, API_PREFIX),
    (calendar_routes.router, API_PREFIX),
    (report_routes.router, API_PREFIX),
    (web_router, ""),  # the web app: / and /app/... (caseflow.web)
]

LifespanHook = Callable[[FastAPI, Services], AbstractContextManager[object]]
LIFESPAN_HOOKS: list[LifespanHook] = [
    events_routes.event_delivery,  # SSE hub; webhook/broker dispatcher with the executor
]


class UnsafeConfiguration(RuntimeError):
    """The settings would expose the service in a way nobody should get by accident."""


def check_configuration(settings: Settings) -> None:
    """Refuse development authentication on PostgreSQL unless explicitly allowed."""
    if settings.effective_auth_mode != "dev" or not settings.is_postgres:
        return
    if not settings.dev_auth_allow_postgres:
        raise UnsafeConfiguration(
            "development authentication (anyone may log in as anyone) refuses to run against "
            "PostgreSQL; configure OIDC (CASEFLOW_AUTH_MODE=oidc, CASEFLOW_OIDC_ISSUER, "
            "CASEFLOW_OIDC_AUDIENCE, CASEFLOW_OIDC_JWKS_URL) or set "
            "CASEFLOW_DEV_AUTH_ALLOW_POSTGRES=1 for a throw-away database"
        )
    log.warning(
        "DEVELOPMENT AUTHENTICATION ON POSTGRESQL: anyone can log in as anyone "
        "(CASEFLOW_DEV_AUTH_ALLOW_POSTGRES=1). Never do this with real data."
    )


@contextmanager
def job_executor(app: FastAPI, services: Services) -> Iterator[None]:
    """The job executor thread of this process; stopping lets running jobs finish and
    releases the locked ones that have not started."""
    if not services.settings.executor:
        yield
        return
    from caseflow.time.jobs import JobExecutor
    from caseflow.work.escalation import Escalations

    executor = JobExecutor(
        services.engine,
        node_id=services.settings.node_id,
        max_workers=services.settings.executor_workers,
        poll_interval=timedelta(seconds=1),
    )
    Escalations(services.work).register(executor)  # SLA checks and escalations
    stop = threading.Event()
    thread = threading.Thread(
        target=executor.run_forever, args=(stop,), name="caseflow-executor", daemon=True
    )
    services.extras["executor"] = executor
    thread.start()
    try:
        yield
    finally:
        stop.set()
        executor.wake()
        thread.join(timeout=services.settings.shutdown_grace_seconds)
        if thread.is_alive():
            log.warning("the job executor did not stop within the grace period")


class DevModeHeader:
    """Labels every response of a development-auth server (``X-Caseflow-Auth``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def labelled(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Caseflow-Auth"] = "development"
            await send(message)

        await self.app(scope, receive, labelled)


def _metrics_of(app: FastAPI) -> Metrics:
    services = getattr(app.state, "services", None)
    if isinstance(services, Services):
        return services.metrics
    metrics = Metrics()
    app.state.pending_metrics = metrics  # the lifespan hands them to the services it builds
    return metrics


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """The caseflow HTTP API. Without ``services`` the lifespan builds them from
    ``settings`` (and closes them on shutdown); given ones stay the caller's to close."""
    settings = services.settings if services is not None else (settings or Settings())
    check_configuration(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        running = services if services is not None else build_services(settings)
        pending = getattr(app.state, "pending_metrics", None)
        if isinstance(pending, Metrics):
            running.metrics = pending
        app.state.services = running
        try:
            with ExitStack() as stack:
                stack.enter_context(job_executor(app, running))
                for hook in LIFESPAN_HOOKS:
                    stack.enter_context(hook(app, running))
                yield
        finally:
            if owned:
                running.close()

    app = FastAPI(
        title="caseflow",
        version="1",
        description="BPMN workflow and case routing: the native API (see docs/api.md).",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    if services is not None:
        app.state.services = services
    install_problem_handlers(app)
    for router, prefix in ROUTERS:
        app.include_router(router, prefix=prefix)
    # the last added runs first: request id, metrics, audit, size limit, dev label, app
    if settings.effective_auth_mode == "dev":
        app.add_middleware(DevModeHeader)
    app.add_middleware(BodySizeLimit, settings=settings)
    app.add_middleware(AuditTrail)
    app.add_middleware(RequestMetrics, metrics=_metrics_of(app))
    app.add_middleware(RequestContext)
    return app
