"""The organisation over HTTP: departments, users, roles, grants, skills, queues (with their
statistics), queue assignments and routing rules.

Any authenticated user may read the organisation (who works where is what a task list
needs to show); only admins change it. A user's grants are theirs and the admins' to
read. Names that must be unique (a department's code, a queue's name...) answer 409 when
taken; what WorkService refuses as a value (an experience level of 9) answers 422.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime, Field
from sqlalchemy.exc import IntegrityError

from caseflow.api.auth import AdminPrincipal, CurrentPrincipal
from caseflow.api.models import CamelModel
from caseflow.api.problems import ApiProblem
from caseflow.api.routes.fields import ONE_LINE, Key, Name, Text
from caseflow.api.services import Services, get_services
from caseflow.work.model import (
    Department,
    Grant,
    Queue,
    QueueAssignment,
    QueueStats,
    Role,
    RoutingRule,
    Skill,
    User,
)

router = APIRouter(tags=["organisation"])
ServicesDep = Annotated[Services, Depends(get_services)]
X = TypeVar("X")

Code = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._@:-]+$")]


def _checked(body: Callable[[], X], what: str) -> X:
    """Run a WorkService change: a taken unique name is 409, a refused value 422."""
    try:
        return body()
    except IntegrityError as error:
        raise ApiProblem(409, f"{what} already exists or is still in use", code="conflict") from (
            error
        )
    except ValueError as error:
        raise ApiProblem(422, str(error)) from error


def _given(model: CamelModel) -> dict[str, Any]:
    """The fields a PATCH body names (null included), as WorkService keyword arguments:
    what it leaves out stays as it is."""
    return {name: getattr(model, name) for name in model.model_fields_set}


# ------------------------------------------------------------------ shapes


class DepartmentOut(CamelModel):
    id: str
    code: str
    name: str
    active: bool
    created_at: dt.datetime
    parent_id: str | None
    description: str | None


class DepartmentIn(CamelModel):
    code: Code
    name: Name
    parent: Code | None = None
    description: Text | None = None


class DepartmentPatch(CamelModel):
    name: Name | None = None
    description: Text | None = None
    parent: Code | None = None
    active: bool | None = None


class UserOut(CamelModel):
    id: str
    name: str
    experience_level: int
    active: bool
    created_at: dt.datetime
    email: str | None
    department_id: str | None
    deactivated_at: dt.datetime | None


class UserIn(CamelModel):
    user_id: Code
    name: Name
    department: Code | None = None
    experience_level: int = Field(default=1, ge=1, le=4)
    email: Annotated[str, Field(max_length=255, pattern=ONE_LINE)] | None = None


class UserPatch(CamelModel):
    name: Name | None = None
    email: Annotated[str, Field(max_length=255, pattern=ONE_LINE)] | None = None
    department: Code | None = None
    experience_level: int | None = Field(default=None, ge=1, le=4)


class Deactivation(CamelModel):
    reason: Text | None = None


class Deactivated(CamelModel):
    user_id: str
    returned_tasks: list[str]


class RoleOut(CamelModel):
    id: str
    code: str
    name: str
    type: str
    can_manage: bool
    active: bool
    created_at: dt.datetime
    department_id: str | None
    queue_id: str | None
    description: str | None


class RoleIn(CamelModel):
    code: Code
    name: Name
    type: Literal["SYSTEM", "DEPARTMENT", "CUSTOM"] = "CUSTOM"
    department: Code | None = None
    queue: Name | None = None
    can_manage: bool = False
    description: Text | None = None


class GrantOut(CamelModel):
    id: str
    user_id: str
    role_id: str
    granted_by: str
    granted_at: dt.datetime
    valid_from: dt.datetime
    valid_until: dt.datetime | None
    is_primary: bool


class GrantIn(CamelModel):
    user_id: Code
    role: Code
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    primary: bool = False


class SkillOut(CamelModel):
    id: str
    code: str
    name: str


class SkillIn(CamelModel):
    code: Code
    name: Name


class SkillLevel(CamelModel):
    level: int = Field(ge=1, le=5)


class QueueOut(CamelModel):
    id: str
    name: str
    type: str
    active: bool
    created_at: dt.datetime
    department_id: str | None
    description: str | None
    max_capacity: int | None
    sla_minutes: int | None
    priority_weights: dict[str, float] | None
    overflow_queue_id: str | None
    min_experience: int | None


Weights = dict[Annotated[str, Field(pattern=r"^\d{1,4}$")], Annotated[float, Field(ge=0)]]


class QueueIn(CamelModel):
    name: Code
    type: Literal["STANDARD", "PRIORITY", "SPECIALIZED", "OVERFLOW"] = "STANDARD"
    department: Code | None = None
    max_capacity: int | None = Field(default=None, ge=0)
    sla_minutes: int | None = Field(default=None, ge=1)
    priority_weights: Weights | None = None
    overflow: Code | None = None
    min_experience: int | None = Field(default=None, ge=1, le=4)
    required_skills: dict[Code, Annotated[int, Field(ge=1, le=5)]] | None = None
    description: Text | None = None


class QueuePatch(CamelModel):
    max_capacity: int | None = Field(default=None, ge=0)
    sla_minutes: int | None = Field(default=None, ge=1)
    priority_weights: Weights | None = None
    overflow: Code | None = None
    min_experience: int | None = Field(default=None, ge=1, le=4)
    active: bool | None = None


class QueueStatsOut(CamelModel):
    queue: str
    open: int
    claimed: int
    delegated: int
    escalated: int
    load: int
    overdue: int
    oldest_created_at: dt.datetime | None
    oldest_age_seconds: float | None
    max_capacity: int | None
    utilisation: float | None


class AssignmentOut(CamelModel):
    id: str
    queue_id: str
    role_id: str
    strategy: str
    auto_assign: bool
    max_tasks_per_user: int
    priority_level: int
    active: bool
    created_at: dt.datetime
    last_assigned_user: str | None


class AssignmentIn(CamelModel):
    queue: Code
    role: Code
    strategy: Literal["ROUND_ROBIN", "LEAST_LOADED", "SKILL_BASED", "PRIORITY_WEIGHTED"] = (
        "ROUND_ROBIN"
    )
    auto_assign: bool = False
    max_tasks_per_user: int = Field(default=10, ge=1, le=10_000)
    priority_level: int = Field(default=50, ge=0, le=1000)


class RuleOut(CamelModel):
    id: str
    name: str
    position: int
    queue_id: str
    active: bool
    created_at: dt.datetime
    process_key: str | None
    element_id: str | None
    condition: str | None
    priority: int | None


class RuleIn(CamelModel):
    name: Name
    queue: Code
    process_key: Name | None = None
    element_id: Name | None = None
    condition: Annotated[str, Field(min_length=1, max_length=4000, pattern=ONE_LINE)] | None = None
    position: int | None = Field(default=None, ge=0, le=1_000_000)
    priority: int | None = Field(default=None, ge=0, le=100)


def _out(model: type[CamelModel], record: Any) -> Any:
    return model(**{name: getattr(record, name) for name in model.model_fields})


# ------------------------------------------------------------------ departments


@router.get("/departments", response_model=list[DepartmentOut], response_model_by_alias=True)
def list_departments(principal: CurrentPrincipal, services: ServicesDep) -> Any:
    return [_out(DepartmentOut, d) for d in services.work.departments()]


@router.post(
    "/departments", response_model=DepartmentOut, status_code=201, response_model_by_alias=True
)
def create_department(body: DepartmentIn, principal: AdminPrincipal, services: ServicesDep) -> Any:
    made: Department = _checked(lambda: services.work.create_department(
        body.code, body.name, parent=body.parent, description=body.description,
    ), f"department '{body.code}'")
    return _out(DepartmentOut, made)


@router.get(
    "/departments/{code}", response_model=DepartmentOut, response_model_by_alias=True
)
def get_department(code: Key, principal: CurrentPrincipal, services: ServicesDep) -> Any:
    return _out(DepartmentOut, services.work.department(code))


@router.patch(
    "/departments/{code}", response_model=DepartmentOut, response_model_by_alias=True
)
def update_department(
    code: Key, body: DepartmentPatch, principal: AdminPrincipal, services: ServicesDep
) -> Any:
    changes = _given(body)
    if changes.get("name", "") is None or changes.get("active", False) is None:
        raise ApiProblem(422, "name and active cannot be null")
    return _out(DepartmentOut, _checked(
        lambda: services.work.update_department(code, **changes), f"department '{code}'"
    ))


@router.delete("/departments/{code}", status_code=204)
def deactivate_department(code: Key, principal: AdminPrincipal, services: ServicesDep) -> Response:
    """Departments are kept for the record: deleting one deactivates it."""
    services.work.update_department(code, active=False)
    return Response(status_code=204)


# ------------------------------------------------------------------ users


@router.get("/users", response_model=list[UserOut], response_model_by_alias=True)
def list_users(principal: CurrentPrincipal, services: ServicesDep) -> Any:
    return [_out(UserOut, u) for u in services.work.users()]


@router.post("/users", response_model=UserOut, status_code=201, response_model_by_alias=True)
def create_user(body: UserIn, principal: AdminPrincipal, services: ServicesDep) -> Any:
    made: User = _checked(lambda: services.work.create_user(
        body.user_id, body.name, department=body.department,
        experience_level=body.experience_level, email=body.email,
    ), f"user '{body.user_id}'")
    return _out(UserOut, made)


@router.get("/users/{user_id}", response_model=UserOut, response_model_by_alias=True)
def get_user(user_id: Key, principal: CurrentPrincipal, services: ServicesDep) -> Any:
    return _out(UserOut, services.work.user(user_id))


@router.patch("/users/{user_id}", response_model=UserOut, response_model_by_alias=True)
def update_user(
    user_id: Key, body: UserPatch, principal: AdminPrincipal, services: ServicesDep
) -> Any:
    changes = _given(body)
    level = changes.pop("experience_level", None)
    if changes.get("name", "") is None:
        raise ApiProblem(422, "name cannot be null")
    work = services.work
    updated = work.update_user(user_id, **changes)
    if level is not None:
        work.set_experience(user_id, level)
        updated = work.user(user_id)
    return _out(UserOut, updated)


@router.post(
    "/users/{user_id}/deactivate", response_model=Deactivated, response_model_by_alias=True
)
def deactivate_user(
    user_id: Key, principal: AdminPrincipal, services: ServicesDep,
    body: Deactivation | None = None,
) -> Any:
    """Deactivate a user; their unfinished tasks go back to their queues (or owners)."""
    returned = services.work.deactivate_user(
        user_id, by=principal.user_id, reason=body.reason if body else None
    )
    return Deactivated(user_id=user_id, returned_tasks=returned)


@router.post("/users/{user_id}/activate", response_model=UserOut, response_model_by_alias=True)
def activate_user(user_id: Key, principal: AdminPrincipal, services: ServicesDep) -> Any:
    services.work.activate_user(user_id)
    return _out(UserOut, services.work.user(user_id))


@router.get(
    "/users/{user_id}/grants", response_model=list[GrantOut], response_model_by_alias=True
)
def user_grants(
    user_id: Key, principal: CurrentPrincipal, services: ServicesDep, all: bool = False
) -> Any:
    """The user's grants valid now (``all=true``: every grant, ended ones too); the user
    themselves or an admin."""
    if principal.user_id != user_id and not principal.is_admin:
        raise ApiProblem(403, "only the user and admins read a user's grants", code="forbidden")
    services.work.user(user_id)  # 404 for an unknown user
    return [_out(GrantOut, g) for g in services.work.grants(user_id, valid_only=not all)]


@router.get(
    "/users/{user_id}/skills", response_model=dict[str, int], response_model_by_alias=True
)
def user_skills(user_id: Key, principal: CurrentPrincipal, services: ServicesDep) -> Any:
    services.work.user(user_id)
    return services.work.user_skills(user_id)


@router.put("/users/{user_id}/skills/{skill}", status_code=204)
def set_user_skill(
    user_id: Key, skill: Key, body: SkillLevel, principal: AdminPrincipal, services: ServicesDep
) -> Response:
    services.work.set_user_skill(user_id, skill, body.level)
    return Response(status_code=204)


# ------------------------------------------------------------------ roles, grants, skills


@router.get("/roles", response_model=list[RoleOut], response_model_by_alias=True)
def list_roles(principal: CurrentPrincipal, services: ServicesDep) -> Any:
    return [_out(RoleOut, r) for r in services.work.roles()]


@router.post("/roles", response_model=RoleOut, status_code=201, response_model_by_alias=True)
def create_role(body: RoleIn, principal: AdminPrincipal, services: ServicesDep) -> Any:
    made: Role = _checked(lambda: services.work.create_role(
        body.code, body.name, type=body.type, department=body.department, queue=body.queue,
        can_manage=body.can_manage, description=body.description,
    ), f"role '{body.code}'")
    return _out(RoleOut, made)


@router.post("/grants", response_model=GrantOut, status_code=201, response_model_by_alias=True)
def create_grant(body: GrantIn, principal: AdminPrincipal, services: ServicesDep) -> Any:
    made: Grant = _checked(lambda: services.work.grant(
        body.user_id, body.role, by=principal.user_id, valid_from=body.valid_from,
        valid_until=body.valid_until, primary=body.primary,
    ), "the grant")
    return _out(GrantOut, made)


@router.delete("/grants/{grant_id}", status_code=204)
def revoke_grant(grant_id: Key, principal: AdminPrincipal, services: ServicesDep) -> Response:
    """End a grant now (it stays on record with its end)."""
    services.work.revoke(grant_id, by=principal.user_id)
    return Response(status_code=204)


@router.get("/skills", response_model=list[SkillOut], response_model_by_alias=True)
def list_skills(principal: CurrentPrincipal, services: ServicesDep) -> Any:
    return [_out(SkillOut, s) for s in services.work.skills()]


@router.post("/skills", response_model=SkillOut, status_code=201, response_model_by_alias=True)
def create_skill(body: SkillIn, principal: AdminPrincipal, services: ServicesDep) -> Any:
    made: Skill = _checked(
        lambda: services.work.create_skill(body.code, body.name), f"skill '{body.code}'"
    )
    return _out(SkillOut, made)


# ------------------------------------------------------------------ queues


def _stats(stats: list[QueueStats]) -> list[QueueStatsOut]:
    return [_out(QueueStatsOut, s) for s in stats]


@router.get("/queues", response_model=list[QueueOut], response_model_by_alias=True)
def list_queues(principal: CurrentPrincipal, services: ServicesDep) -> Any:
    return [_out(QueueOut, q) for q in services.work.queues()]


@router.post("/queues", response_model=QueueOut, status_code=201, response_model_by_alias=True)
def create_queue(body: QueueIn, principal: AdminPrincipal, services: ServicesDep) -> Any:
    made: Queue = _checked(lambda: services.work.create_queue(
        body.name, type=body.type, department=body.department, max_capacity=body.max_capacity,
        sla_minutes=body.sla_minutes, priority_weights=body.priority_weights,
        overflow=body.overflow, min_experience=body.min_experience,
        required_skills=body.required_skills, description=body.description,
    ), f"queue '{body.name}'")
    return _out(QueueOut, made)


@router.get("/queues/stats", response_model=list[QueueStatsOut], response_model_by_alias=True)
def queues_stats(principal: CurrentPrincipal, services: ServicesDep) -> Any:
    """Open, claimed, escalated, overdue, load, oldest age and utilisation per queue: every
    queue for operators and admins, the queues their grants cover for everyone else."""
    user = None if principal.is_operator else principal.user_id
    return _stats(services.work.queue_stats(user))


@router.get("/queues/{name}", response_model=QueueOut, response_model_by_alias=True)
def get_queue(name: Key, principal: CurrentPrincipal, services: ServicesDep) -> Any:
    return _out(QueueOut, services.work.queue(name))


@router.patch("/queues/{name}", response_model=QueueOut, response_model_by_alias=True)
def update_queue(
    name: Key, body: QueuePatch, principal: AdminPrincipal, services: ServicesDep
) -> Any:
    changes = _given(body)
    if "active" in changes and changes["active"] is None:
        raise ApiProblem(422, "active cannot be null")
    return _out(QueueOut, services.work.update_queue(name, **changes))


@router.get(
    "/queues/{name}/stats", response_model=QueueStatsOut, response_model_by_alias=True
)
def queue_stats(name: Key, principal: CurrentPrincipal, services: ServicesDep) -> Any:
    queue = services.work.queue(name)  # 404 for an unknown queue
    user = None if principal.is_operator else principal.user_id
    found = services.work.queue_stats(user, [queue.name])
    if not found:
        if not queue.active:
            raise ApiProblem(409, f"queue '{name}' is inactive", code="illegal_state")
        raise ApiProblem(403, f"no valid grant covers queue '{name}'", code="forbidden")
    return _stats(found)[0]


@router.get(
    "/queue-assignments", response_model=list[AssignmentOut], response_model_by_alias=True
)
def list_assignments(
    principal: CurrentPrincipal, services: ServicesDep,
    queue: Annotated[str | None, Query(max_length=255, pattern=ONE_LINE)] = None,
) -> Any:
    return [_out(AssignmentOut, a) for a in services.work.queue_assignments(queue)]


@router.post(
    "/queue-assignments", response_model=AssignmentOut, status_code=201,
    response_model_by_alias=True,
)
def create_assignment(body: AssignmentIn, principal: AdminPrincipal, services: ServicesDep) -> Any:
    made: QueueAssignment = _checked(lambda: services.work.assign_queue(
        body.queue, body.role, strategy=body.strategy, auto_assign=body.auto_assign,
        max_tasks_per_user=body.max_tasks_per_user, priority_level=body.priority_level,
    ), f"an assignment of role '{body.role}' to queue '{body.queue}'")
    return _out(AssignmentOut, made)


# ------------------------------------------------------------------ routing rules


@router.get("/routing-rules", response_model=list[RuleOut], response_model_by_alias=True)
def list_rules(principal: CurrentPrincipal, services: ServicesDep) -> Any:
    return [_out(RuleOut, r) for r in services.work.routing_rules()]


@router.post(
    "/routing-rules", response_model=RuleOut, status_code=201, response_model_by_alias=True
)
def create_rule(body: RuleIn, principal: AdminPrincipal, services: ServicesDep) -> Any:
    made: RoutingRule = _checked(lambda: services.work.add_routing_rule(
        body.name, body.queue, process_key=body.process_key, element_id=body.element_id,
        condition=body.condition, position=body.position, priority=body.priority,
    ), f"routing rule '{body.name}'")
    return _out(RuleOut, made)


@router.delete("/routing-rules/{rule_id}", status_code=204)
def deactivate_rule(rule_id: Key, principal: AdminPrincipal, services: ServicesDep) -> Response:
    services.work.deactivate_routing_rule(rule_id)
    return Response(status_code=204)


__all__ = ["router"]
