"""The dashboards' reports over HTTP (:mod:`caseflow.work.reports`: one SQL statement each).

Queue performance is open to every user for the queues their grants cover (operators and
admins see every queue); the reports across people and processes (workload, process
performance, SLA, escalations) are for operators and admins. Windows are ``from`` (default:
30 days ago) to ``to`` (default: now), ``to`` excluded.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from caseflow.api.auth import CurrentPrincipal, OperatorPrincipal
from caseflow.api.models import CamelModel
from caseflow.api.problems import ApiProblem
from caseflow.api.services import Services, get_services
from caseflow.work.reports import WorkReports

router = APIRouter(prefix="/reports", tags=["reports"])
ServicesDep = Annotated[Services, Depends(get_services)]
DEFAULT_WINDOW = dt.timedelta(days=30)
From = Annotated[dt.datetime | None, Query(alias="from")]
To = Annotated[dt.datetime | None, Query(alias="to")]


class QueueReport(CamelModel):
    queue: str
    open: int
    claimed: int
    escalated: int
    load: int
    max_capacity: int | None
    utilisation: float | None
    average_age_seconds: float | None
    oldest_age_seconds: float | None


class WorkloadReport(CamelModel):
    user_id: str
    name: str
    assigned: int
    claimed: int
    delegated_away: int
    completed: int
    average_handle_seconds: float | None


class ProcessReport(CamelModel):
    process_key: str
    started: int
    completed: int
    average_completion_seconds: float | None
    p95_completion_seconds: float | None
    tasks_completed_with_due: int
    tasks_completed_within_due: int
    sla_compliance: float | None


class SlaReport(CamelModel):
    process_key: str
    tasks_completed_with_due: int
    tasks_completed_within_due: int
    sla_compliance: float | None


class EscalationReport(CamelModel):
    day: str
    escalations: int
    tasks: int


def _reports(services: Services) -> WorkReports:
    return WorkReports(services.store, services.settings.tenant_id)


def _window(
    services: Services, first: dt.datetime | None, last: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    """(now, from, to), each aware; 422 for a naive time or an empty window."""
    now = services.clock.now()
    for value, name in ((first, "from"), (last, "to")):
        if value is not None and value.tzinfo is None:
            raise ApiProblem(422, f"'{name}' needs a time zone offset (e.g. Z or +07:00)")
    end = last or now
    start = first or end - DEFAULT_WINDOW
    if start >= end:
        raise ApiProblem(422, "'from' must be before 'to'")
    return now, start, end


def _out(model: type[CamelModel], record: Any) -> Any:
    return model(**{name: getattr(record, name) for name in model.model_fields})


@router.get("/queues", response_model=list[QueueReport], response_model_by_alias=True)
def queues(principal: CurrentPrincipal, services: ServicesDep) -> Any:
    actor = None if principal.is_operator else principal.user_id
    rows = _reports(services).queue_performance(services.clock.now(), actor=actor)
    return [_out(QueueReport, r) for r in rows]


@router.get("/workload", response_model=list[WorkloadReport], response_model_by_alias=True)
def workload(
    principal: OperatorPrincipal, services: ServicesDep, first: From = None, last: To = None
) -> Any:
    now, start, end = _window(services, first, last)
    return [_out(WorkloadReport, r) for r in _reports(services).user_workload(now, start, end)]


@router.get("/processes", response_model=list[ProcessReport], response_model_by_alias=True)
def processes(
    principal: OperatorPrincipal, services: ServicesDep, first: From = None, last: To = None
) -> Any:
    now, start, end = _window(services, first, last)
    rows = _reports(services).process_performance(now, start, end)
    return [_out(ProcessReport, r) for r in rows]


@router.get("/sla", response_model=list[SlaReport], response_model_by_alias=True)
def sla(
    principal: OperatorPrincipal, services: ServicesDep, first: From = None, last: To = None
) -> Any:
    """Per process: user tasks completed in the window with a due date, and how many of
    them by it."""
    now, start, end = _window(services, first, last)
    rows = _reports(services).process_performance(now, start, end)
    return [_out(SlaReport, r) for r in rows if r.tasks_completed_with_due]


@router.get("/escalations", response_model=list[EscalationReport], response_model_by_alias=True)
def escalations(
    principal: OperatorPrincipal,
    services: ServicesDep,
    first: From = None,
    last: To = None,
    bucket: Literal["day"] = "day",
) -> Any:
    now, start, end = _window(services, first, last)
    return [_out(EscalationReport, r) for r in _reports(services).escalations(now, start, end)]


__all__ = ["router"]
