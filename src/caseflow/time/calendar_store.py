"""Business calendars and their overrides in the database (SQLite and PostgreSQL).

A calendar is one ``business_calendar`` row (name, zone, weekly hours as JSON, the
country whose public holidays apply) and any number of ``calendar_override`` rows, one per
date at most, that an administrator edits when a decree moves days around. The functions
take the connection of a :class:`~caseflow.store.sql.SqlStore` transaction (or the
transaction itself) and never commit: they are part of the caller's unit of work::

    with store.transaction() as tx:
        save_calendar(tx, vietnam_calendar_record("vn", now))
        save_override(tx, OverrideRecord(new_id(), "vn", Override.holiday(day, "decree"), now))
    with store.transaction(read_only=True) as tx:
        calendar = load_calendar(tx, "vn")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from caseflow.engine.state import DEFAULT_TENANT
from caseflow.store import schema as s
from caseflow.store.sql import SqlTransaction
from caseflow.time.calendar import (
    BusinessCalendar,
    CalendarError,
    DayHours,
    Override,
    OverrideKind,
    WeeklyHours,
    country_holiday_provider,
    hours_to_json,
    parse_hours,
    weekly_hours_from_json,
    weekly_hours_to_json,
)
from caseflow.time.holidays_vn import VN_COUNTRY, VN_OFFICE_HOURS, VN_ZONE

__all__ = [
    "CalendarRecord",
    "OverrideRecord",
    "delete_calendar",
    "delete_override",
    "find_calendar",
    "get_calendar",
    "list_calendars",
    "list_overrides",
    "load_calendar",
    "save_calendar",
    "save_override",
    "vietnam_calendar_record",
]

Connectable = Connection | SqlTransaction


def _conn(tx: Connectable) -> Connection:
    return tx.conn if isinstance(tx, SqlTransaction) else tx


def _insert(conn: Connection, table: Any) -> Any:
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


@dataclass(frozen=True, slots=True)
class CalendarRecord:
    """One ``business_calendar`` row; :meth:`calendar` makes the working calendar."""

    id: str
    name: str
    zone: str
    weekly_hours: WeeklyHours
    created_at: dt.datetime
    updated_at: dt.datetime
    tenant_id: str = DEFAULT_TENANT
    makeup_hours: DayHours | None = None
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    description: str | None = None

    def calendar(self, overrides: Iterable[Override] = ()) -> BusinessCalendar:
        provider = (
            country_holiday_provider(self.holiday_country, self.holiday_subdivision)
            if self.holiday_country
            else None
        )
        return BusinessCalendar(
            zone=self.zone,
            weekly=self.weekly_hours,
            provider=provider,
            overrides=overrides,
            makeup_hours=self.makeup_hours,
            name=self.name,
        )


@dataclass(frozen=True, slots=True)
class OverrideRecord:
    """One ``calendar_override`` row: an :class:`Override` of one calendar, and who set it."""

    id: str
    calendar_id: str
    override: Override
    created_at: dt.datetime
    tenant_id: str = DEFAULT_TENANT
    created_by: str | None = None


def vietnam_calendar_record(
    calendar_id: str,
    now: dt.datetime,
    *,
    tenant_id: str = DEFAULT_TENANT,
    name: str = "VN",
    hours: str = ", ".join(hours_to_json(VN_OFFICE_HOURS)),
    description: str | None = "Vietnam government offices: Mon-Fri, public holidays of VN",
) -> CalendarRecord:
    """The row of :func:`~caseflow.time.holidays_vn.vietnam_calendar`, to store it."""
    office = parse_hours(hours)
    return CalendarRecord(
        id=calendar_id,
        name=name,
        zone=VN_ZONE,
        weekly_hours=(office, office, office, office, office, (), ()),
        created_at=now,
        updated_at=now,
        tenant_id=tenant_id,
        makeup_hours=office,
        holiday_country=VN_COUNTRY,
        description=description,
    )


# --- calendars ---------------------------------------------------------------------------


def _calendar_params(record: CalendarRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "tenant_id": record.tenant_id,
        "name": record.name,
        "zone": record.zone,
        "weekly_hours": weekly_hours_to_json(record.weekly_hours),
        "makeup_hours": (
            None if record.makeup_hours is None else hours_to_json(record.makeup_hours)
        ),
        "holiday_country": record.holiday_country,
        "holiday_subdivision": record.holiday_subdivision,
        "description": record.description,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def _calendar(row: Row[Any]) -> CalendarRecord:
    m = row._mapping
    return CalendarRecord(
        id=m["id"],
        name=m["name"],
        zone=m["zone"],
        weekly_hours=weekly_hours_from_json(m["weekly_hours"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        tenant_id=m["tenant_id"],
        makeup_hours=None if m["makeup_hours"] is None else parse_hours(m["makeup_hours"]),
        holiday_country=m["holiday_country"],
        holiday_subdivision=m["holiday_subdivision"],
        description=m["description"],
    )


def save_calendar(tx: Connectable, record: CalendarRecord) -> None:
    """Insert the calendar, or update the one with its id (``created_at`` is kept).

    The record is checked first (zone, hours, holiday country): a calendar that cannot
    be built raises :class:`~caseflow.time.calendar.CalendarError` and writes nothing.
    Another calendar of the tenant with the same name violates a unique constraint.
    """
    record.calendar()
    conn = _conn(tx)
    params = _calendar_params(record)
    statement = _insert(conn, s.business_calendar).values(params)
    changed = {k: v for k, v in params.items() if k not in ("id", "tenant_id", "created_at")}
    conn.execute(
        statement.on_conflict_do_update(index_elements=["id", "tenant_id"], set_=changed)
    )


def get_calendar(
    tx: Connectable, calendar_id: str, tenant_id: str = DEFAULT_TENANT
) -> CalendarRecord | None:
    t = s.business_calendar
    row = _conn(tx).execute(
        select(t).where(t.c.id == calendar_id, t.c.tenant_id == tenant_id)
    ).first()
    return None if row is None else _calendar(row)


def find_calendar(
    tx: Connectable, name: str, tenant_id: str = DEFAULT_TENANT
) -> CalendarRecord | None:
    """The tenant's calendar called ``name``."""
    t = s.business_calendar
    row = _conn(tx).execute(
        select(t).where(t.c.name == name, t.c.tenant_id == tenant_id)
    ).first()
    return None if row is None else _calendar(row)


def list_calendars(tx: Connectable, tenant_id: str = DEFAULT_TENANT) -> list[CalendarRecord]:
    t = s.business_calendar
    rows = _conn(tx).execute(select(t).where(t.c.tenant_id == tenant_id).order_by(t.c.name))
    return [_calendar(row) for row in rows]


def delete_calendar(tx: Connectable, calendar_id: str, tenant_id: str = DEFAULT_TENANT) -> bool:
    """Delete a calendar and its overrides; False when there was none."""
    conn = _conn(tx)
    o, t = s.calendar_override, s.business_calendar
    # the foreign key cascades too; deleting explicitly keeps it independent of PRAGMAs
    conn.execute(delete(o).where(o.c.calendar_id == calendar_id, o.c.tenant_id == tenant_id))
    result = conn.execute(delete(t).where(t.c.id == calendar_id, t.c.tenant_id == tenant_id))
    return bool(result.rowcount)


# --- overrides ---------------------------------------------------------------------------


def _override(row: Row[Any]) -> OverrideRecord:
    m = row._mapping
    day = m["day"]
    if isinstance(day, str):  # pragma: no cover - both dialects give dates back
        day = dt.date.fromisoformat(day)
    hours = None if m["hours"] is None else parse_hours(m["hours"])
    return OverrideRecord(
        id=m["id"],
        calendar_id=m["calendar_id"],
        override=Override(day, OverrideKind(m["kind"]), hours, m["reason"] or ""),
        created_at=m["created_at"],
        tenant_id=m["tenant_id"],
        created_by=m["created_by"],
    )


def save_override(tx: Connectable, record: OverrideRecord) -> None:
    """Set the override of its date: inserted, or replacing the date's override (whose
    id is kept). The calendar must exist (foreign key)."""
    conn = _conn(tx)
    override = record.override
    params = {
        "id": record.id,
        "tenant_id": record.tenant_id,
        "calendar_id": record.calendar_id,
        "day": override.day,
        "kind": override.kind.value,
        "hours": None if override.hours is None else hours_to_json(override.hours),
        "reason": override.reason or None,
        "created_at": record.created_at,
        "created_by": record.created_by,
    }
    changed = {k: params[k] for k in ("kind", "hours", "reason", "created_at", "created_by")}
    conn.execute(
        _insert(conn, s.calendar_override)
        .values(params)
        .on_conflict_do_update(index_elements=["calendar_id", "tenant_id", "day"], set_=changed)
    )


def delete_override(
    tx: Connectable, calendar_id: str, day: dt.date, tenant_id: str = DEFAULT_TENANT
) -> bool:
    """Remove the override of ``day``; False when there was none."""
    o = s.calendar_override
    result = _conn(tx).execute(
        delete(o).where(o.c.calendar_id == calendar_id, o.c.tenant_id == tenant_id, o.c.day == day)
    )
    return bool(result.rowcount)


def list_overrides(
    tx: Connectable,
    calendar_id: str,
    tenant_id: str = DEFAULT_TENANT,
    *,
    first: dt.date | None = None,
    last: dt.date | None = None,
) -> list[OverrideRecord]:
    """The calendar's overrides by date, optionally from ``first`` to ``last`` (included)."""
    o = s.calendar_override
    where = [o.c.calendar_id == calendar_id, o.c.tenant_id == tenant_id]
    if first is not None:
        where.append(o.c.day >= first)
    if last is not None:
        where.append(o.c.day <= last)
    rows = _conn(tx).execute(select(o).where(and_(*where)).order_by(o.c.day))
    return [_override(row) for row in rows]


def load_calendar(
    tx: Connectable,
    calendar_id: str | None = None,
    tenant_id: str = DEFAULT_TENANT,
    *,
    name: str | None = None,
) -> BusinessCalendar | None:
    """The working calendar of a stored row and all its overrides, by id or by name."""
    if (calendar_id is None) == (name is None):
        raise CalendarError("load_calendar needs a calendar id or a name, not both")
    record = (
        get_calendar(tx, calendar_id, tenant_id)
        if calendar_id is not None
        else find_calendar(tx, name or "", tenant_id)
    )
    if record is None:
        return None
    overrides: Sequence[OverrideRecord] = list_overrides(tx, record.id, tenant_id)
    return record.calendar(o.override for o in overrides)
