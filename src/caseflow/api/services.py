"""The parts one API process works with, built once when the app starts.

Routes get them through :func:`get_services`; tests build the app around their own
:class:`Services` (a ManualClock, a throw-away PostgreSQL schema) or take the ones the app
built to set up data directly.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import func, or_, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from caseflow.api.observability import Metrics
from caseflow.api.settings import Settings
from caseflow.clock import Clock, SystemClock
from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import TaskChanges
from caseflow.store import open_store, schema
from caseflow.store.sql import SqlStore, SqlTransaction
from caseflow.time import calendar_store
from caseflow.time.calendar import BusinessCalendar
from caseflow.work.escalation import Escalations
from caseflow.work.service import WorkService

T = TypeVar("T")
log = logging.getLogger("caseflow.api")


class Calendars:
    """Business calendars of one tenant, each call in its own transaction."""

    def __init__(self, store: SqlStore, tenant_id: str) -> None:
        self.store = store
        self.tenant_id = tenant_id

    def read(self, body: Callable[[SqlTransaction], T]) -> T:
        with self.store.transaction(read_only=True) as tx:
            return body(tx)

    def write(self, body: Callable[[SqlTransaction], T]) -> T:
        with self.store.transaction() as tx:
            return body(tx)

    def load(self, calendar_id: str | None = None, *, name: str | None = None) -> (
        BusinessCalendar | None
    ):
        return self.read(
            lambda tx: calendar_store.load_calendar(tx, calendar_id, self.tenant_id, name=name)
        )

    def list(self) -> list[calendar_store.CalendarRecord]:
        return self.read(lambda tx: calendar_store.list_calendars(tx, self.tenant_id))


@dataclass
class Services:
    """Everything a request handler needs; one per running app."""

    settings: Settings
    store: SqlStore
    engine: ProcessEngine
    work: WorkService
    calendars: Calendars
    clock: Clock
    dev_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))  # see below
    metrics: Metrics = field(default_factory=Metrics)
    extras: dict[str, Any] = field(default_factory=dict)  # other helpers' per-app state

    def close(self) -> None:
        self.store.close()


def build_services(settings: Settings, *, clock: Clock | None = None) -> Services:
    """Open the store named by ``settings`` and the engine and services over it."""
    options: dict[str, Any] = {}
    if settings.database_schema:
        options["schema"] = settings.database_schema
    store = open_store(settings.database_url, migrate=settings.migrate, **options)
    if not isinstance(store, SqlStore):
        store.close()
        raise ValueError("the HTTP API needs a SQLite or PostgreSQL database, not memory://")
    return services_for(store, settings, clock=clock)


def services_for(store: SqlStore, settings: Settings, *, clock: Clock | None = None) -> Services:
    """Services over an already opened ``store`` (tests bring their own)."""
    clock = clock or SystemClock()
    engine = ProcessEngine(store, clock=clock)
    work = WorkService(engine, tenant_id=settings.tenant_id)
    Escalations(work)  # SLA due dates and checks for every task routed
    services = Services(
        settings=settings,
        store=store,
        engine=engine,
        work=work,
        calendars=Calendars(store, settings.tenant_id),
        clock=clock,
        dev_secret=_dev_secret(store, settings, clock),
    )
    engine.committed_task_listeners.append(lambda changes: _count_tasks(services, changes))
    work.claimed_listeners.append(
        lambda task: services.metrics.tasks.labels("claimed", task.queue or "").inc()
    )
    services.metrics.gauge(
        "caseflow_job_lag_seconds",
        "How long the oldest due job not being run has waited (0: none waiting)",
        lambda: job_lag_seconds(store, clock),
    )
    return services


def _count_tasks(services: Services, changes: TaskChanges) -> None:
    """Tasks this process's committed commands opened and completed, by queue (read at
    call time: the app may hand the services another Metrics)."""
    tasks = services.metrics.tasks
    for task in changes.created:
        tasks.labels("opened", task.queue or "").inc()
    for task in changes.completed:
        tasks.labels("completed", task.queue or "").inc()


def job_lag_seconds(store: SqlStore, clock: Clock) -> float:
    """Seconds since the oldest job that is due and not locked by a live node fell due."""
    job = schema.job
    now = clock.now()
    with store.transaction(read_only=True) as tx:
        oldest = tx.conn.scalar(
            select(func.min(job.c.due_at)).where(
                job.c.due_at <= now,
                job.c.retries > 0,
                or_(job.c.lock_expires_at.is_(None), job.c.lock_expires_at < now),
            )
        )
    return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0


def _dev_secret(store: SqlStore, settings: Settings, clock: Clock) -> bytes:
    """The development-token key: the database's own in dev mode; unused (random) else."""
    if settings.effective_auth_mode != "dev":
        return secrets.token_bytes(32)
    try:
        return server_secret(store, "dev_token", clock)
    except DBAPIError:
        # a schema not migrated yet (/ready says so): tokens last as long as this process
        log.warning("no server_secret table yet (run caseflow db upgrade); development "
                    "tokens are signed with a key of this process only")
        return secrets.token_bytes(32)


def server_secret(store: SqlStore, name: str, clock: Clock) -> bytes:
    """The database's secret ``name``, made on first use: every node serving one database
    signs and checks development tokens with the same key, across restarts."""
    table = schema.server_secret
    with store.transaction(read_only=True) as tx:
        found = tx.conn.scalar(select(table.c.value).where(table.c.name == name))
    if found is None:
        try:
            with store.transaction() as tx:
                tx.conn.execute(
                    table.insert().values(
                        name=name, value=secrets.token_hex(32), created_at=clock.now()
                    )
                )
        except IntegrityError:
            pass  # another node made it first: read theirs
        with store.transaction(read_only=True) as tx:
            found = tx.conn.scalar(select(table.c.value).where(table.c.name == name))
    return bytes.fromhex(str(found))


def get_services(request: Request) -> Services:
    """FastAPI dependency: the app's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
"""Route parameter type: ``services: ServicesDep``."""
