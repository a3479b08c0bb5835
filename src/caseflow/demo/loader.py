"""``load_demo``: the organisation, the processes and their forms, cases in flight.

Idempotent: the organisation is created item by item where missing; a BPMN document
already deployed unchanged is not deployed again; cases are put in flight only when no
instance of a demo process exists yet. A second start therefore loads nothing twice.

The cases are played on a second :class:`ProcessEngine` and :class:`WorkService` over the
same store, driven by a :class:`ManualClock` that starts two weeks back and stops at the
caller's "now": their history, claims, due dates and timers happened when the story
says, so SLAs are really breached, at risk or on track when the pages show them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from caseflow.clock import ManualClock
from caseflow.demo.cases import (
    CASE_ROUTING,
    HOUSEHOLD,
    Played,
    earliest_arrival,
    play,
    stories,
)
from caseflow.demo.forms import store_forms
from caseflow.demo.organisation import (
    CALENDAR_DEPARTMENTS,
    LOGINS,
    OrganisationCounts,
    build_organisation,
)
from caseflow.demo.resources import bpmn_resources, definition_metadata
from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import InstanceQuery
from caseflow.store.sql import SqlStore
from caseflow.time.calendar_store import find_calendar, save_calendar, vietnam_calendar_record
from caseflow.time.holidays_vn import vietnam_calendar
from caseflow.work import WorkService
from caseflow.work.escalation import Escalations

PROCESS_KEYS: tuple[str, ...] = (HOUSEHOLD, CASE_ROUTING)
CALENDAR_NAME = "VN"
ADVISORY_LOCK_KEY = 0x63617365666C6F77 & 0x7FFFFFFFFFFFFFFF  # "caseflow"
HISTORY_DAYS = 16  # calendar days of history at least; more when holidays push the oldest case back


@dataclass(slots=True)
class DemoSummary:
    """What one call loaded; all zeros (and ``cases_loaded`` False) on a repeat call."""

    organisation: OrganisationCounts = field(default_factory=OrganisationCounts)
    calendar_created: bool = False
    deployed: list[str] = field(default_factory=list)  # "key:version" newly deployed
    forms: list[str] = field(default_factory=list)  # "form key:version" newly stored
    cases_loaded: bool = False
    cases: Played = field(default_factory=Played)

    @property
    def changed(self) -> bool:
        counts = self.organisation
        return bool(
            self.calendar_created or self.deployed or self.forms or self.cases_loaded
            or any(getattr(counts, name) for name in counts.__slots__)
        )


def load_demo(
    target: ProcessEngine | Any,
    work: WorkService | None = None,
    *,
    now: dt.datetime | None = None,
    with_cases: bool = True,
) -> DemoSummary:
    """Load the demo data set into the store of ``target`` (SQLite or PostgreSQL).

    ``target`` is a :class:`ProcessEngine`, or an object carrying one as ``.engine`` and
    a :class:`WorkService` as ``.work`` (the API's ``Services``; see
    :func:`load_demo_services`). ``now`` (default: the engine's clock) is when the story
    ends; history goes back :data:`HISTORY_DAYS` days from it. ``work`` only lends its
    tenant; the organisation is written for that tenant (the default one when not given).
    """
    if not isinstance(target, ProcessEngine):
        return load_demo_services(target, now=now, with_cases=with_cases)
    engine = target
    end = now or engine.clock.now()
    if end.tzinfo is None:
        raise ValueError("load_demo needs a timezone-aware now")
    with _one_loader_at_a_time(engine):
        return _load(engine, work, end, with_cases=with_cases)


@contextmanager
def _one_loader_at_a_time(engine: ProcessEngine) -> Iterator[None]:
    """Nodes starting together on one PostgreSQL load one after the other (a session
    advisory lock), so the second finds the first one's data and loads nothing."""
    store = engine.store
    if not (isinstance(store, SqlStore) and store.is_postgres):
        yield
        return
    with store.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
            conn.commit()


def _load(
    engine: ProcessEngine, work: WorkService | None, end: dt.datetime, *, with_cases: bool
) -> DemoSummary:
    tenant = work.tenant_id if work is not None else None
    calendar = vietnam_calendar()
    # the organisation exists (and its grants are valid) before the oldest case arrives
    since = min(
        end - dt.timedelta(days=HISTORY_DAYS),
        earliest_arrival(stories(), end, calendar) - dt.timedelta(days=1),
    )
    clock = ManualClock(since)
    # the engine that plays the past: same store, its own clock; due dates, SLA checks and
    # automatic escalations as `caseflow serve` has them (caseflow.work.escalation)
    past = ProcessEngine(engine.store, clock=clock)
    past_work = WorkService(past) if tenant is None else WorkService(past, tenant_id=tenant)
    escalations = Escalations(past_work)
    summary = DemoSummary()
    summary.organisation = build_organisation(past_work, escalations, since=since, now=end)
    calendar_id = _ensure_calendar(past, since, past_work.tenant_id)
    if calendar_id is not None:
        summary.calendar_created = True
        for department in CALENDAR_DEPARTMENTS:
            escalations.set_calendar(calendar_id, department=department)
    deployments: dict[str, str] = {}
    for name, source in bpmn_resources():
        result = past.deploy(
            source, resource_name=name, deployed_by="admin",
            tenant_id=past_work.tenant_id, metadata=definition_metadata(name),
        )
        summary.deployed.extend(f"{d.key}:{d.version}" for d in result.definitions)
        if result.deployment_id is not None:
            deployments[name] = result.deployment_id
    summary.forms = store_forms(
        past_work.store, past_work.tenant_id, deployments, now=since, by="admin"
    )
    if with_cases and not _has_cases(engine, past_work.tenant_id):
        summary.cases = play(
            past, past_work, clock, calendar, end, stories(), register=escalations.register
        )
        summary.cases_loaded = True
    return summary


def load_demo_services(
    services: Any, *, now: dt.datetime | None = None, with_cases: bool = True
) -> DemoSummary:
    """:func:`load_demo` for the API's ``Services`` (``.engine``, ``.work``, ``.settings``).

    A development-mode login page offers ``settings.dev_users``: when none are configured,
    the demo's users are offered.
    """
    engine = services.engine
    if not isinstance(engine, ProcessEngine):
        raise TypeError(f"load_demo needs a ProcessEngine or services with one, not {services!r}")
    summary = load_demo(
        engine, getattr(services, "work", None), now=now, with_cases=with_cases
    )
    settings = getattr(services, "settings", None)
    if settings is not None and hasattr(settings, "dev_users") and not settings.dev_users:
        settings.dev_users = list(LOGINS)
    return summary


def _ensure_calendar(engine: ProcessEngine, now: dt.datetime, tenant_id: str) -> str | None:
    """Store the Vietnam calendar unless there is one by its name; its id when stored."""
    with engine.store.transaction() as tx:
        if find_calendar(tx, CALENDAR_NAME, tenant_id) is not None:  # type: ignore[arg-type]
            return None
        record = vietnam_calendar_record(
            engine.new_id(), now, tenant_id=tenant_id, name=CALENDAR_NAME
        )
        save_calendar(tx, record)  # type: ignore[arg-type]
        return record.id


def _has_cases(engine: ProcessEngine, tenant_id: str) -> bool:
    return any(
        engine.instances(InstanceQuery(process_key=key, tenant_id=tenant_id, limit=1))
        for key in PROCESS_KEYS
    )
