"""Human tasks over HTTP: queries, claim and claim-next, completion and the other operations.

Every route acts as the authenticated principal through :class:`~caseflow.work.WorkService`,
which checks the principal's grants inside its SQL at that moment: a task the caller may
not see answers 403 (404 when it does not exist), a task in the wrong state 409. Filters
of the task list, including process variable values (``var.<name>=<value>``, optionally
``var.<name>=gt:1000``), become one query, whatever the page size.

``seed_router`` serves seed 001's two routes (``/api/workflow/tasks/claim/next`` and
``/api/workflow/tasks/{taskId}/complete``) with the same behaviour.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import AwareDatetime, Field

from caseflow.api.auth import CurrentPrincipal
from caseflow.api.models import CamelModel, PageOf, PagingParams
from caseflow.api.problems import ApiProblem
from caseflow.api.routes.fields import ONE_LINE, JsonObject, Key, Name, Text, storable
from caseflow.api.services import Services, get_services
from caseflow.engine.state import UserTaskRecord
from caseflow.errors import CaseflowError
from caseflow.model import parse_bpmn
from caseflow.work import TaskFilter, VariableFilter, WorkTask
from caseflow.work.model import OPEN_STATUSES, TaskHistoryEntry
from caseflow.work.queries import SortField
from caseflow.work.sql import VariableOp

router = APIRouter(prefix="/tasks", tags=["tasks"])
seed_router = APIRouter(prefix="/api/workflow/tasks", tags=["tasks (seed 001)"])
ServicesDep = Annotated[Services, Depends(get_services)]

TASK_STATUSES = ("OPEN", "CLAIMED", "COMPLETED", "CANCELLED", "DELEGATED", "ESCALATED")
SORTS: dict[str, SortField] = {
    "priority": "priority", "createdAt": "created_at", "dueAt": "due_at",
    "followUpAt": "follow_up_at", "claimedAt": "claimed_at", "name": "name",
    "escalationLevel": "escalation_level", "queue": "queue",
}
_OPS: tuple[VariableOp, ...] = ("eq", "ne", "gt", "gte", "lt", "lte", "like")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


# ------------------------------------------------------------------ shapes


class SlaOut(CamelModel):
    due_at: dt.datetime | None
    status: str | None  # ON_TRACK, AT_RISK, BREACHED, MET; None without an SLA
    # business minutes to the due date on the SLA's calendar, negative once past it;
    # None when the task has ended or has no SLA
    remaining_business_minutes: float | None = None


class TaskOut(CamelModel):
    id: str
    name: str | None
    task_definition_key: str
    process_key: str
    instance_id: str
    task_type: str
    status: str
    priority: int
    queue: str | None
    assignee: str | None
    owner: str | None
    candidate_users: list[str]
    candidate_groups: list[str]
    form_key: str | None
    created_at: dt.datetime
    claimed_at: dt.datetime | None
    claimed_by: str | None
    completed_at: dt.datetime | None
    completed_by: str | None
    due_at: dt.datetime | None
    follow_up_at: dt.datetime | None
    escalation_level: int
    escalated_at: dt.datetime | None
    outcome: str | None
    outcome_reason: str | None
    business_key: str | None
    case_id: str | None
    task_data: dict[str, Any] | None
    form_data: dict[str, Any] | None
    sla: SlaOut | None = None  # in task lists (the list's countdown); see also TaskDetail


class Outcome(CamelModel):
    value: str
    flow_id: str
    name: str | None


class TaskDetail(TaskOut):
    variables: dict[str, Any]
    outcomes: list[Outcome]
    sla: SlaOut


class HistoryOut(CamelModel):
    id: str
    task_id: str
    action: str
    action_by: str
    action_at: dt.datetime
    old_status: str | None
    new_status: str | None
    old_assignee: str | None
    new_assignee: str | None
    queue: str | None
    comment: str | None
    data: dict[str, Any] | None


class Count(CamelModel):
    count: int


class ClaimNext(CamelModel):
    queues: list[Name] | None = Field(default=None, max_length=100)


class Completion(CamelModel):
    variables: JsonObject = Field(default_factory=dict)
    form_data: JsonObject | None = None
    outcome: Name | None = None
    outcome_reason: Text | None = None
    comment: Text | None = None


class Completed(CamelModel):
    task_id: str
    next_tasks: list[str]  # the user tasks this completion opened


class ToUser(CamelModel):
    user_id: Name
    comment: Text | None = None


class WithComment(CamelModel):
    comment: Text | None = None


class Escalation(CamelModel):
    reason: Text | None = None
    to_user: Name | None = None
    to_queue: Name | None = None


class Cancellation(CamelModel):
    reason: Text = Field(min_length=1)


class CommentIn(CamelModel):
    text: Text = Field(min_length=1)


class PriorityIn(CamelModel):
    priority: int = Field(ge=0, le=100)


class DueIn(CamelModel):
    due_at: AwareDatetime | None


class FollowUpIn(CamelModel):
    follow_up_at: AwareDatetime | None


def task_out(task: WorkTask) -> TaskOut:
    return TaskOut(
        id=task.id, name=task.name, task_definition_key=task.element_id,
        process_key=task.process_key, instance_id=task.instance_id, task_type=task.task_type,
        status=task.status, priority=task.priority, queue=task.queue, assignee=task.assignee,
        owner=task.owner, candidate_users=list(task.candidate_users),
        candidate_groups=list(task.candidate_groups), form_key=task.form_key,
        created_at=task.created_at, claimed_at=task.claimed_at, claimed_by=task.claimed_by,
        completed_at=task.completed_at, completed_by=task.completed_by, due_at=task.due_at,
        follow_up_at=task.follow_up_at, escalation_level=task.escalation_level,
        escalated_at=task.escalated_at, outcome=task.outcome,
        outcome_reason=task.outcome_reason, business_key=task.business_key,
        case_id=task.case_id, task_data=task.task_data, form_data=task.form_data,
    )


def history_out(entry: TaskHistoryEntry) -> HistoryOut:
    return HistoryOut(
        id=entry.id, task_id=entry.task_id, action=entry.action, action_by=entry.action_by,
        action_at=entry.action_at, old_status=entry.old_status, new_status=entry.new_status,
        old_assignee=entry.old_assignee, new_assignee=entry.new_assignee, queue=entry.queue,
        comment=entry.comment, data=entry.data,
    )


# ------------------------------------------------------------------ the query


def _variable_value(text: str) -> tuple[VariableOp, Any]:
    """``value`` or ``op:value``; true/false/null and numbers are typed, the rest text."""
    op: VariableOp = "eq"
    head, sep, rest = text.partition(":")
    if sep and head in _OPS:
        op, text = head, rest
    if op == "like":
        return op, text
    if text in ("true", "false"):
        return op, text == "true"
    if text == "null":
        return op, None
    if _NUMBER.match(text):
        return op, float(text) if "." in text else int(text)
    return op, text


def _variables(request: Request) -> list[VariableFilter]:
    found = []
    for key, value in request.query_params.multi_items():
        if not key.startswith("var."):
            continue
        name = key[4:]
        if not name or len(name) > 255 or not storable(name) or not storable(value):
            raise ApiProblem(422, f"query parameter '{key}': var.<name>=<value>")
        op, typed = _variable_value(value)
        if typed is None and op not in ("eq", "ne"):
            raise ApiProblem(422, f"variable '{name}' compares with null by eq or ne only")
        if isinstance(typed, bool) and op not in ("eq", "ne"):
            raise ApiProblem(422, f"variable '{name}': a boolean compares by eq or ne only")
        found.append(VariableFilter(name, op, typed))
    return found


def _statuses(status: str | None) -> list[Any] | None:
    if status is None:
        return list(OPEN_STATUSES)
    if status == "any":
        return None
    wanted = [s.strip().upper() for s in status.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in TASK_STATUSES]
    if unknown or not wanted:
        raise ApiProblem(
            422, f"status: a comma-separated list of {', '.join(TASK_STATUSES)}, or 'any'"
        )
    return wanted


def _sort(sort: str | None) -> list[tuple[SortField, bool]]:
    if not sort:
        return [("priority", True), ("created_at", False)]
    name, _, direction = sort.partition(",")
    if name not in SORTS or direction.lower() not in ("", "asc", "desc"):
        raise ApiProblem(422, f"sort by one of {', '.join(sorted(SORTS))}, then ,asc or ,desc")
    return [(SORTS[name], direction.lower() == "desc")]


def _text(alias: str | None = None) -> Any:
    return Query(alias=alias, max_length=255, pattern=ONE_LINE)


def _int(alias: str) -> Any:
    return Query(alias=alias, ge=-(2**31), le=2**31 - 1)


class TaskQueryParams:
    """The task list's filters (FastAPI reads them from the query string)."""

    def __init__(
        self,
        request: Request,
        mine: bool = False,
        available: bool = False,
        queue: Annotated[list[str] | None, Query(max_length=100)] = None,
        status: Annotated[str | None, _text()] = None,
        priority_min: Annotated[int | None, _int("priorityMin")] = None,
        priority_max: Annotated[int | None, _int("priorityMax")] = None,
        due_before: Annotated[AwareDatetime | None, Query(alias="dueBefore")] = None,
        due_after: Annotated[AwareDatetime | None, Query(alias="dueAfter")] = None,
        follow_up_before: Annotated[AwareDatetime | None, Query(alias="followUpBefore")] = None,
        process_key: Annotated[str | None, _text("processKey")] = None,
        task_definition_key: Annotated[str | None, _text("taskDefinitionKey")] = None,
        instance_id: Annotated[str | None, _text("instanceId")] = None,
        case_id: Annotated[str | None, _text("caseId")] = None,
        business_key: Annotated[str | None, _text("businessKey")] = None,
        assignee: Annotated[str | None, _text()] = None,
        candidate_group: Annotated[str | None, _text("candidateGroup")] = None,
        sla_status: Annotated[str | None, _text("slaStatus")] = None,
        search: Annotated[str | None, _text()] = None,
    ) -> None:
        if queue and any(not q or len(q) > 255 or not storable(q) for q in queue):
            raise ApiProblem(422, "queue: names of queues")
        if mine and available:
            raise ApiProblem(422, "ask for mine=true or available=true, not both")
        sla = None
        if sla_status is not None:
            sla = [s.strip().upper() for s in sla_status.split(",") if s.strip()]
            allowed = ("ON_TRACK", "AT_RISK", "BREACHED", "MET")
            if not sla or any(s not in allowed for s in sla):
                raise ApiProblem(422, f"slaStatus: a comma-separated list of {', '.join(allowed)}")
        self.filter = TaskFilter(
            scope="mine" if mine else "available" if available else "visible",
            queues=queue or None,
            statuses=_statuses(status),
            assignee=assignee,
            candidate_group=candidate_group,
            min_priority=priority_min,
            max_priority=priority_max,
            due_before=due_before,
            due_after=due_after,
            follow_up_before=follow_up_before,
            process_key=process_key,
            element_id=task_definition_key,
            instance_id=instance_id,
            case_id=case_id,
            business_key=business_key,
            variables=_variables(request),
            sla_statuses=sla,
            search=search or None,
        )


QueryDep = Annotated[TaskQueryParams, Depends()]


@router.get("", response_model=PageOf[TaskOut], response_model_by_alias=True)
def list_tasks(
    query: QueryDep, paging: PagingParams, principal: CurrentPrincipal, services: ServicesDep
) -> Any:
    """Tasks the caller may see, filtered, sorted (``sort=dueAt,asc``) and paged."""
    from dataclasses import replace

    wanted = replace(
        query.filter, sort=_sort(paging.sort), limit=paging.size, offset=paging.offset
    )
    work = services.work
    tasks = work.tasks(principal.user_id, wanted)
    slas = _slas(services, tasks)
    items = [task_out(t).model_copy(update={"sla": slas.get(t.id)}) for t in tasks]
    total = work.count_tasks(principal.user_id, wanted)
    return PageOf[TaskOut](items=items, page=paging.page, size=paging.size, total=total)


@router.get("/count", response_model=Count)
def count_tasks(query: QueryDep, principal: CurrentPrincipal, services: ServicesDep) -> Any:
    return Count(count=services.work.count_tasks(principal.user_id, query.filter))


# ------------------------------------------------------------------ one task


@functools.lru_cache(maxsize=256)
def _routing_flows(source: str, process_key: str) -> dict[str, tuple[tuple[str, str | None,
                                                                        str, frozenset[str]], ...]]:
    """Per node of the process: (flow id, name, condition source, names it reads) of the
    conditional flows out of it and out of a gateway right after it."""
    parsed = parse_bpmn(source).definitions
    process = parsed.process(process_key)
    outgoing: dict[str, list[Any]] = {}
    for flow in process.all_flows.values():
        outgoing.setdefault(flow.source_ref, []).append(flow)
    found: dict[str, tuple[tuple[str, str | None, str, frozenset[str]], ...]] = {}
    for node_id in process.all_nodes:
        flows = list(outgoing.get(node_id, ()))
        for flow in list(flows):
            target = process.all_nodes.get(flow.target_ref)
            if target is not None and target.kind.endswith("Gateway"):
                flows.extend(outgoing.get(flow.target_ref, ()))
        found[node_id] = tuple(
            (f.id, f.name, f.condition.source, frozenset(f.condition.names))
            for f in flows if f.condition is not None
        )
    return found


def _outcomes(services: Services, record: UserTaskRecord) -> list[Outcome]:
    """The outcome values the process routes on after this task: string literals in the
    conditions (naming the outcome variable) of its outgoing flows and of the flows out
    of a gateway right after it."""
    source = services.engine.definition_source(record.definition_id)
    try:
        flows = _routing_flows(source, record.process_key).get(record.element_id, ())
    except CaseflowError:
        return []
    variable = services.work.outcome_variable
    found: list[Outcome] = []
    seen: set[str] = set()
    for flow_id, name, condition, names in flows:
        if variable not in names:
            continue
        for value in re.findall(r"""['"]([^'"]{1,255})['"]""", condition):
            if value not in seen:
                seen.add(value)
                found.append(Outcome(value=value, flow_id=flow_id, name=name))
    return found


def _sla(services: Services, task: WorkTask) -> SlaOut:
    return _slas(services, [task]).get(task.id) or SlaOut(due_at=task.due_at, status=None)


def _slas(services: Services, tasks: Sequence[WorkTask]) -> dict[str, SlaOut]:
    """The SLA of each task that has one, with the business time left (one query for all,
    each calendar loaded once)."""
    from caseflow.work import sql as w
    from caseflow.work.sla import SlaTracker, task_slas

    if not tasks:
        return {}
    tracker = next(
        (t for t in services.engine.task_listeners if isinstance(t, SlaTracker)), None
    )
    now = services.clock.now()
    found: dict[str, SlaOut] = {}
    with services.store.transaction(read_only=True) as tx:
        work = w.WorkSql(tx, services.work.tenant_id, now)
        calendars: dict[str, Any] = {}
        for task_id, sla in task_slas(work, [t.id for t in tasks]).items():
            remaining = None
            if tracker is not None and sla.ended_at is None:
                calendar = calendars.get(sla.calendar)
                if calendar is None:
                    calendar = calendars[sla.calendar] = tracker.calendars.by_name(
                        work, sla.calendar
                    )
                left = calendar.working_time_between(now, sla.due_at)  # < 0: overdue
                remaining = round(left.total_seconds() / 60, 1)
            found[task_id] = SlaOut(
                due_at=sla.due_at, status=str(sla.status.value),
                remaining_business_minutes=remaining,
            )
    return found


@router.get("/{task_id}", response_model=TaskDetail, response_model_by_alias=True)
def get_task(task_id: Key, principal: CurrentPrincipal, services: ServicesDep) -> Any:
    """The task with its process variables, form key, the outcomes its process routes on
    and its SLA."""
    task = services.work.task(principal.user_id, task_id)
    record = services.engine.task(task_id)
    return TaskDetail(
        **task_out(task).model_dump(exclude={"sla"}),
        variables=services.engine.variables(task.instance_id),
        outcomes=_outcomes(services, record),
        sla=_sla(services, task),
    )


@router.get("/{task_id}/history", response_model=list[HistoryOut], response_model_by_alias=True)
def task_history(task_id: Key, principal: CurrentPrincipal, services: ServicesDep) -> Any:
    return [history_out(e) for e in services.work.history(principal.user_id, task_id)]


class FormOut(CamelModel):
    form_key: str | None
    variables: dict[str, Any]


@router.get("/{task_id}/form", response_model=FormOut, response_model_by_alias=True)
def task_form(task_id: Key, principal: CurrentPrincipal, services: ServicesDep) -> Any:
    """The task's form key (its schema: ``GET /forms/{formKey}``) and the values to fill
    it with (the process variables)."""
    task = services.work.task(principal.user_id, task_id)
    return FormOut(form_key=task.form_key, variables=services.engine.variables(task.instance_id))


# ------------------------------------------------------------------ operations


def _claim_next(services: Services, user: str, queues: list[str] | None) -> Response | TaskOut:
    task = services.work.claim_next(user, queues)
    if task is None:
        return Response(status_code=204)
    return task_out(task)


@router.post(
    "/claim/next",
    response_model=TaskOut,
    response_model_by_alias=True,
    responses={204: {"description": "nothing to claim"}},
)
def claim_next(
    principal: CurrentPrincipal, services: ServicesDep, body: ClaimNext | None = None
) -> Any:
    """The highest-priority, oldest claimable task of the given (default: all) of the
    caller's queues, claimed; 204 when there is none."""
    return _claim_next(services, principal.user_id, body.queues if body else None)


@router.post("/{task_id}/claim", response_model=TaskOut, response_model_by_alias=True)
def claim(task_id: Key, principal: CurrentPrincipal, services: ServicesDep) -> Any:
    return task_out(services.work.claim(principal.user_id, task_id))


@router.post("/{task_id}/unclaim", response_model=TaskOut, response_model_by_alias=True)
def unclaim(
    task_id: Key, principal: CurrentPrincipal, services: ServicesDep,
    body: WithComment | None = None,
) -> Any:
    comment = body.comment if body else None
    return task_out(services.work.unclaim(principal.user_id, task_id, comment=comment))


IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
]


def _complete(
    services: Services, user: str, task_id: Key, body: Completion | None, key: str | None
) -> Completed:
    body = body or Completion()
    opened = services.work.complete(
        user, task_id, body.variables, outcome=body.outcome, outcome_reason=body.outcome_reason,
        form_data=body.form_data, comment=body.comment, idempotency_key=key,
    )
    return Completed(task_id=task_id, next_tasks=[t.id for t in opened])


@router.post("/{task_id}/complete", response_model=Completed, response_model_by_alias=True)
def complete(
    task_id: Key,
    principal: CurrentPrincipal,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
    body: Completion | None = None,
) -> Any:
    """Complete a task the caller holds; the outcome is set as the process variable
    ``outcome`` too. A retry with the same ``Idempotency-Key`` gets the same answer."""
    return _complete(services, principal.user_id, task_id, body, idempotency_key)


@router.post("/{task_id}/delegate", response_model=TaskOut, response_model_by_alias=True)
def delegate(task_id: Key, body: ToUser, principal: CurrentPrincipal, services: ServicesDep) -> Any:
    return task_out(
        services.work.delegate(principal.user_id, task_id, body.user_id, comment=body.comment)
    )


@router.post("/{task_id}/resolve", response_model=TaskOut, response_model_by_alias=True)
def resolve(
    task_id: Key, principal: CurrentPrincipal, services: ServicesDep,
    body: WithComment | None = None,
) -> Any:
    comment = body.comment if body else None
    return task_out(services.work.resolve(principal.user_id, task_id, comment=comment))


@router.post("/{task_id}/reassign", response_model=TaskOut, response_model_by_alias=True)
def reassign(task_id: Key, body: ToUser, principal: CurrentPrincipal, services: ServicesDep) -> Any:
    return task_out(
        services.work.reassign(principal.user_id, task_id, body.user_id, comment=body.comment)
    )


@router.post("/{task_id}/escalate", response_model=TaskOut, response_model_by_alias=True)
def escalate(
    task_id: Key, principal: CurrentPrincipal, services: ServicesDep,
    body: Escalation | None = None,
) -> Any:
    body = body or Escalation()
    return task_out(services.work.escalate(
        principal.user_id, task_id, comment=body.reason, to_queue=body.to_queue,
        to_user=body.to_user,
    ))


@router.post("/{task_id}/cancel", status_code=204)
def cancel(
    task_id: Key, body: Cancellation, principal: CurrentPrincipal, services: ServicesDep
) -> Response:
    """Withdraw the task: its process instance is terminated (managers of its queue)."""
    services.work.cancel(principal.user_id, task_id, reason=body.reason)
    return Response(status_code=204)


@router.post(
    "/{task_id}/comments", response_model=HistoryOut, status_code=201,
    response_model_by_alias=True,
)
def comment(
    task_id: Key, body: CommentIn, principal: CurrentPrincipal, services: ServicesDep
) -> Any:
    return history_out(services.work.comment(principal.user_id, task_id, body.text))


@router.get("/{task_id}/comments", response_model=list[HistoryOut], response_model_by_alias=True)
def comments(task_id: Key, principal: CurrentPrincipal, services: ServicesDep) -> Any:
    entries = services.work.history(principal.user_id, task_id)
    return [history_out(e) for e in entries if e.action == "COMMENT"]


@router.put("/{task_id}/priority", response_model=TaskOut, response_model_by_alias=True)
def set_priority(
    task_id: Key, body: PriorityIn, principal: CurrentPrincipal, services: ServicesDep
) -> Any:
    return task_out(services.work.set_priority(principal.user_id, task_id, body.priority))


@router.put("/{task_id}/due", response_model=TaskOut, response_model_by_alias=True)
def set_due(task_id: Key, body: DueIn, principal: CurrentPrincipal, services: ServicesDep) -> Any:
    return task_out(services.work.set_due_date(principal.user_id, task_id, body.due_at))


@router.put("/{task_id}/follow-up", response_model=TaskOut, response_model_by_alias=True)
def set_follow_up(
    task_id: Key, body: FollowUpIn, principal: CurrentPrincipal, services: ServicesDep
) -> Any:
    return task_out(services.work.set_follow_up(principal.user_id, task_id, body.follow_up_at))


# ------------------------------------------------------------------ seed 001's routes


@seed_router.post(
    "/claim/next",
    response_model=TaskOut,
    response_model_by_alias=True,
    responses={204: {"description": "nothing to claim"}},
)
def seed_claim_next(
    principal: CurrentPrincipal,
    services: ServicesDep,
    queue_names: Annotated[list[str] | None, Query(alias="queueNames", max_length=100)] = None,
    body: ClaimNext | None = None,
) -> Any:
    """Seed 001's claim-next: queues as ``?queueNames=a&queueNames=b`` (or in the body)."""
    queues = queue_names or (body.queues if body else None)
    return _claim_next(services, principal.user_id, queues)


@seed_router.post("/{task_id}/complete", response_model=Completed, response_model_by_alias=True)
def seed_complete(
    task_id: Key,
    principal: CurrentPrincipal,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
    body: Completion | None = None,
) -> Any:
    return _complete(services, principal.user_id, task_id, body, idempotency_key)


__all__ = ["TaskOut", "router", "seed_router", "task_out"]
