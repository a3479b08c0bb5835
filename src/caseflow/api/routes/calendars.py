"""Business calendars over HTTP: the calendars, their date overrides, and due dates.

Anyone signed in may read calendars and compute a due date (task forms show deadlines);
only admins change them. A calendar that cannot be built (an unknown zone, hours that do
not parse, an unknown holiday country) is refused with 422 and nothing is written; a name
already taken is 409.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime, Field, model_validator
from sqlalchemy.exc import IntegrityError

from caseflow.api.auth import AdminPrincipal, CurrentPrincipal
from caseflow.api.models import CamelModel
from caseflow.api.problems import ApiProblem
from caseflow.api.routes.fields import ONE_LINE, Key, Name, Text
from caseflow.api.services import Services, get_services
from caseflow.errors import NotFound
from caseflow.runtime.process_engine import new_id
from caseflow.store.sql import SqlTransaction
from caseflow.time import calendar_store as cs
from caseflow.time.calendar import (
    DayCount,
    Override,
    OverrideKind,
    hours_to_json,
    parse_hours,
    weekly_hours_from_json,
    weekly_hours_to_json,
)

router = APIRouter(prefix="/calendars", tags=["calendars"])
ServicesDep = Annotated[Services, Depends(get_services)]

Span = Annotated[str, Field(max_length=11, pattern=ONE_LINE)]  # "08:00-12:00"
Hours = Annotated[list[Span], Field(max_length=24)]


class CalendarIn(CamelModel):
    name: Name
    zone: Annotated[str, Field(min_length=1, max_length=64, pattern=ONE_LINE)] = (
        "Asia/Ho_Chi_Minh"
    )
    weekly_hours: dict[
        Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], Hours
    ] = Field(description='{"mon": ["08:00-12:00", "13:00-17:00"], ...}')
    makeup_hours: Hours | None = None
    holiday_country: Annotated[str, Field(pattern=r"^[A-Z]{2,3}$")] | None = None
    holiday_subdivision: Annotated[str, Field(max_length=16, pattern=ONE_LINE)] | None = None
    description: Text | None = None


class CalendarOut(CamelModel):
    id: str
    name: str
    zone: str
    weekly_hours: dict[str, list[str]]
    makeup_hours: list[str] | None
    holiday_country: str | None
    holiday_subdivision: str | None
    description: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class OverrideIn(CamelModel):
    kind: Literal["HOLIDAY", "WORKING_DAY"]
    hours: Hours | None = None
    reason: Text = ""


class OverrideOut(CamelModel):
    id: str
    day: dt.date
    kind: str
    hours: list[str] | None
    reason: str
    created_at: dt.datetime
    created_by: str | None


class DueDateIn(CamelModel):
    start: AwareDatetime = Field(alias="from")
    hours: float | None = Field(default=None, ge=0, le=100_000)
    days: int | None = Field(default=None, ge=0, le=10_000)
    count: Literal["END_OF_DAY", "SAME_TIME"] = "END_OF_DAY"

    @model_validator(mode="after")
    def one_length(self) -> DueDateIn:
        if (self.hours is None) == (self.days is None):
            raise ValueError("give either hours (working hours) or days (working days)")
        return self


class DueDateOut(CamelModel):
    due_at: dt.datetime


def _out(record: cs.CalendarRecord) -> CalendarOut:
    return CalendarOut(
        id=record.id, name=record.name, zone=record.zone,
        weekly_hours=weekly_hours_to_json(record.weekly_hours),
        makeup_hours=hours_to_json(record.makeup_hours) if record.makeup_hours else None,
        holiday_country=record.holiday_country, holiday_subdivision=record.holiday_subdivision,
        description=record.description, created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _override_out(record: cs.OverrideRecord) -> OverrideOut:
    o = record.override
    return OverrideOut(
        id=record.id, day=o.day, kind=o.kind.value,
        hours=hours_to_json(o.hours) if o.hours is not None else None, reason=o.reason,
        created_at=record.created_at, created_by=record.created_by,
    )


def _record(services: Services, tx: SqlTransaction, calendar_id: Key) -> cs.CalendarRecord:
    found = cs.get_calendar(tx, calendar_id, services.settings.tenant_id)
    if found is None:
        raise NotFound("calendar", calendar_id)
    return found


def _save(services: Services, calendar_id: Key, body: CalendarIn, created: dt.datetime | None
          ) -> cs.CalendarRecord:
    now = services.clock.now()
    record = cs.CalendarRecord(
        id=calendar_id, name=body.name, zone=body.zone,
        weekly_hours=weekly_hours_from_json({str(k): v for k, v in body.weekly_hours.items()}),
        created_at=created or now, updated_at=now, tenant_id=services.settings.tenant_id,
        makeup_hours=parse_hours(body.makeup_hours) if body.makeup_hours else None,
        holiday_country=body.holiday_country, holiday_subdivision=body.holiday_subdivision,
        description=body.description,
    )
    try:
        services.calendars.write(lambda tx: cs.save_calendar(tx, record))
    except IntegrityError as error:
        raise ApiProblem(409, f"a calendar called '{body.name}' exists", code="conflict") from (
            error
        )
    return services.calendars.read(lambda tx: _record(services, tx, calendar_id))


@router.get("", response_model=list[CalendarOut], response_model_by_alias=True)
def list_calendars(principal: CurrentPrincipal, services: ServicesDep) -> Any:
    return [_out(c) for c in services.calendars.list()]


@router.post("", response_model=CalendarOut, status_code=201, response_model_by_alias=True)
def create_calendar(body: CalendarIn, principal: AdminPrincipal, services: ServicesDep) -> Any:
    return _out(_save(services, new_id(), body, None))


@router.get("/{calendar_id}", response_model=CalendarOut, response_model_by_alias=True)
def get_calendar(calendar_id: Key, principal: CurrentPrincipal, services: ServicesDep) -> Any:
    return _out(services.calendars.read(lambda tx: _record(services, tx, calendar_id)))


@router.put("/{calendar_id}", response_model=CalendarOut, response_model_by_alias=True)
def replace_calendar(
    calendar_id: Key, body: CalendarIn, principal: AdminPrincipal, services: ServicesDep
) -> Any:
    existing = services.calendars.read(lambda tx: _record(services, tx, calendar_id))
    return _out(_save(services, calendar_id, body, existing.created_at))


@router.delete("/{calendar_id}", status_code=204)
def delete_calendar(calendar_id: Key, principal: AdminPrincipal, services: ServicesDep) -> Response:
    """Delete a calendar and its overrides (409 while a queue's SLA is counted in it)."""
    try:
        gone = services.calendars.write(
            lambda tx: cs.delete_calendar(tx, calendar_id, services.settings.tenant_id)
        )
    except IntegrityError as error:
        raise ApiProblem(409, f"calendar '{calendar_id}' is in use", code="conflict") from error
    if not gone:
        raise NotFound("calendar", calendar_id)
    return Response(status_code=204)


@router.get(
    "/{calendar_id}/overrides", response_model=list[OverrideOut], response_model_by_alias=True
)
def list_overrides(
    calendar_id: Key,
    principal: CurrentPrincipal,
    services: ServicesDep,
    first: Annotated[dt.date | None, Query(alias="from")] = None,
    last: Annotated[dt.date | None, Query(alias="to")] = None,
) -> Any:
    tenant = services.settings.tenant_id

    def read(tx: SqlTransaction) -> list[cs.OverrideRecord]:
        _record(services, tx, calendar_id)
        return list(cs.list_overrides(tx, calendar_id, tenant, first=first, last=last))

    return [_override_out(o) for o in services.calendars.read(read)]


@router.put(
    "/{calendar_id}/overrides/{day}", response_model=OverrideOut, response_model_by_alias=True
)
def set_override(
    calendar_id: Key, day: dt.date, body: OverrideIn, principal: AdminPrincipal,
    services: ServicesDep,
) -> Any:
    """Make ``day`` a holiday, or a working day (with ``hours``, else the calendar's usual
    day); replaces the date's earlier override."""
    override = Override(
        day, OverrideKind(body.kind), parse_hours(body.hours) if body.hours else None,
        body.reason,
    )
    tenant = services.settings.tenant_id

    def write(tx: SqlTransaction) -> cs.OverrideRecord:
        _record(services, tx, calendar_id)
        cs.save_override(tx, cs.OverrideRecord(
            id=new_id(), calendar_id=calendar_id, override=override,
            created_at=services.clock.now(), tenant_id=tenant, created_by=principal.user_id,
        ))
        return next(o for o in cs.list_overrides(tx, calendar_id, tenant, first=day, last=day))

    return _override_out(services.calendars.write(write))


@router.delete("/{calendar_id}/overrides/{day}", status_code=204)
def delete_override(
    calendar_id: Key, day: dt.date, principal: AdminPrincipal, services: ServicesDep
) -> Response:
    tenant = services.settings.tenant_id
    if not services.calendars.write(lambda tx: cs.delete_override(tx, calendar_id, day, tenant)):
        raise NotFound("override", f"{calendar_id}/{day}")
    return Response(status_code=204)


@router.post("/{calendar_id}/due-date", response_model=DueDateOut, response_model_by_alias=True)
def due_date(
    calendar_id: Key, body: DueDateIn, principal: CurrentPrincipal, services: ServicesDep
) -> Any:
    """When ``hours`` of working time (or ``days`` working days) from ``from`` end, in
    this calendar with its holidays and overrides."""
    calendar = services.calendars.load(calendar_id)
    if calendar is None:
        raise NotFound("calendar", calendar_id)
    if body.hours is not None:
        due = calendar.add(body.start, dt.timedelta(hours=body.hours))
    else:
        due = calendar.add_working_days(body.start, body.days or 0, count=DayCount(body.count))
    return DueDateOut(due_at=due)


__all__ = ["router"]
