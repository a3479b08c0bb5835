"""The human-work service: organisation, queues and the operations on work items.

``WorkService(engine)`` registers its :class:`~caseflow.work.routing.WorkRouter` on the
engine (so tasks the engine opens are routed as they are written) and offers:

* **organisation** (departments, users, roles, grants, skills, queues, queue
  assignments, routing rules): administration; the caller (the API layer) decides who
  may administer, this layer records who granted what;
* **operations on a task**, each taking the acting user first, each allowed only when
  the user's grants cover it at that moment (checked in SQL, under the task's row lock),
  each writing one history row: claim, claim-next, unclaim, complete (with an outcome
  the process can route on), delegate / resolve, reassign, escalate, cancel, comment,
  priority, due and follow-up dates; refusals raise
  :class:`~caseflow.errors.NotFound`, :class:`~caseflow.errors.Forbidden` or
  :class:`~caseflow.errors.IllegalState` and change nothing;
* **queries**: my tasks, tasks in my queues, any filter of :class:`TaskFilter`, counts,
  queue statistics, history, where a case stands.

Who may do what (``works``: a valid grant covers the task's queue or one of its
candidate groups, or the user is a candidate user; ``manages``: a valid grant of a
role with ``can_manage`` covers its queue; an inactive user does nothing):

=================  ==========================================================
claim, claim-next  works; the task is OPEN/ESCALATED and unassigned
unclaim            the assignee who works it, or a manager
complete           the assignee who works it (not while DELEGATED)
delegate           the assignee who works it, to an active user who works it
resolve            the delegate who works it; the owner gets it back
reassign           a manager, or the assignee handing over; the new assignee works it
escalate           a manager, or the assignee (to a user: managers only)
cancel             a manager: the task's process instance is terminated
set priority, due  a manager
set follow-up      the assignee who works it, or a manager
comment            anyone who works it or manages it
=================  ==========================================================
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import psycopg

from caseflow.engine.state import DEFAULT_TENANT, UserTaskRecord
from caseflow.errors import ConcurrencyConflict, Forbidden, IllegalState, NotFound
from caseflow.expr import compile_expression
from caseflow.runtime.ports import Transaction
from caseflow.runtime.process_engine import ProcessEngine, new_id
from caseflow.store.sql import SqlStore
from caseflow.work import sql as w
from caseflow.work.escalation_log import (
    EscalationEntry,
    escalations,
    get_escalation,
    record_escalation,
    resolve_escalation,
)
from caseflow.work.model import (
    CLAIMABLE_STATUSES,
    HELD_STATUSES,
    OPEN_STATUSES,
    QUEUE_TYPES,
    ROLE_TYPES,
    STRATEGIES,
    SYSTEM_USER,
    CaseRouting,
    Department,
    Grant,
    Queue,
    QueueAssignment,
    QueueStats,
    QueueType,
    Role,
    RoleType,
    RoutingRule,
    Skill,
    Strategy,
    TaskHistoryEntry,
    User,
    WorkTask,
)
from caseflow.work.queries import TaskFilter, conditions, order
from caseflow.work.routing import (
    Acting,
    WorkRouter,
    acting,
    auto_assign,
    new_history_id,
    work_sql,
)

X = TypeVar("X")
_log = logging.getLogger("caseflow.work")
_UNSET: Any = object()


class WorkService:
    """Human work over one engine, for one tenant (see the module docstring)."""

    def __init__(
        self,
        engine: ProcessEngine,
        *,
        tenant_id: str = DEFAULT_TENANT,
        outcome_variable: str = "outcome",
        escalation_priority_step: int = 10,
        max_priority: int = 100,
        max_attempts: int = 20,
    ) -> None:
        if not isinstance(engine.store, SqlStore):
            raise TypeError(
                "caseflow.work needs a SQLite or PostgreSQL store (its organisation, "
                f"queues and history are tables); this engine runs on {type(engine.store).__name__}"
            )
        self.engine = engine
        self.store: SqlStore = engine.store
        self.tenant_id = tenant_id
        self.outcome_variable = outcome_variable
        self.escalation_priority_step = escalation_priority_step
        self.max_priority = max_priority
        self.max_attempts = max_attempts
        # told of each claim once it committed (metrics count them); never fail a claim
        self.claimed_listeners: list[Callable[[WorkTask], None]] = []
        router = next(
            (
                r for r in engine.task_listeners
                if isinstance(r, WorkRouter) and r.tenant_id == tenant_id
            ),
            None,
        )
        if router is None:
            router = WorkRouter(tenant_id)
            engine.task_listeners.append(router)
        self.router = router

    # ------------------------------------------------------------------ plumbing

    def now(self) -> datetime:
        return self.engine.clock.now()

    def _write(self, body: Callable[[w.WorkSql], X]) -> X:
        """``body`` in one transaction, retried when the database reports a conflict
        (a deadlock or serialisation failure: the whole body runs again)."""
        for attempt in range(self.max_attempts):
            try:
                with self.store.transaction() as tx:
                    return body(work_sql(tx, self.tenant_id, self.now()))
            except ConcurrencyConflict:
                if attempt + 1 >= self.max_attempts:
                    raise
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # noqa: S311 - jitter
        raise AssertionError("unreachable")

    def _configured(self, body: Callable[[w.WorkSql], X]) -> X:
        """A change to what routing reads: the router reads it afresh next time."""
        try:
            return self._write(body)
        finally:
            self.router.invalidate()

    def _read(self, body: Callable[[w.WorkSql], X]) -> X:
        with self.store.transaction(read_only=True) as tx:
            work = work_sql(tx, self.tenant_id, self.now())
            work.no_jit()
            return body(work)

    def _history(self, work: w.WorkSql, row: Any, action: str, by: str, **entry: Any) -> None:
        work.add_history([{
            "id": new_history_id(),
            "task_id": row.id,
            "instance_id": row.instance_id,
            "action": action,
            "action_by": by,
            "old_status": row.status,
            "old_assignee": row.assignee,
            "queue": row.queue,
            **entry,
        }])

    @staticmethod
    def _locked(
        work: w.WorkSql, task_id: str, user: str | None, *, lock_item: bool = True
    ) -> Any:
        row = work.lock_task(task_id, user, lock_item=lock_item)
        if row is None:
            raise NotFound("task", task_id)
        return row

    @staticmethod
    def _require(allowed: bool, user: str, what: str, task_id: str, why: str) -> None:
        if not allowed:
            raise Forbidden(f"user '{user}' may not {what} task '{task_id}': {why}", user=user)

    @staticmethod
    def _state(row: Any, allowed: Sequence[str], what: str) -> None:
        if row.status not in allowed:
            raise IllegalState(f"task '{row.id}' is {row.status}: it cannot be {what}")

    def _target_user(self, work: w.WorkSql, task_id: str, to: str) -> None:
        found = work.one(w.U, id=to)
        if found is None:
            raise NotFound("user", to)
        if not found.active:
            raise IllegalState(f"user '{to}' is deactivated")
        if not work.may_work(task_id, to):
            raise Forbidden(
                f"user '{to}' may not work task '{task_id}': no valid grant covers it", user=to
            )

    # ------------------------------------------------------------------ organisation

    def create_department(
        self,
        code: str,
        name: str,
        *,
        parent: str | None = None,
        description: str | None = None,
    ) -> Department:
        def body(work: w.WorkSql) -> Department:
            parent_id = self._department_id(work, parent)
            row = {
                "id": new_id(), "tenant_id": self.tenant_id, "code": code, "name": name,
                "parent_id": parent_id, "description": description, "active": True,
                "created_at": work.now,
            }
            work.insert(w.D, row)
            return w.department(work.one(w.D, id=row["id"]))

        return self._write(body)

    def update_department(
        self,
        code: str,
        *,
        name: str = _UNSET,
        description: str | None = _UNSET,
        parent: str | None = _UNSET,
        active: bool = _UNSET,
    ) -> Department:
        """Change what is given; the rest stays. A department cannot be its own ancestor."""

        def body(work: w.WorkSql) -> Department:
            found = work.one(w.D, code=code)
            if found is None:
                raise NotFound("department", code)
            values: dict[str, Any] = {}
            if name is not _UNSET:
                values["name"] = name
            if description is not _UNSET:
                values["description"] = description
            if active is not _UNSET:
                values["active"] = active
            if parent is not _UNSET:
                parent_id = self._department_id(work, parent)
                ancestor = parent_id
                while ancestor is not None:
                    if ancestor == found.id:
                        raise IllegalState(f"department '{code}' cannot be under itself")
                    above = work.one(w.D, id=ancestor)
                    ancestor = above.parent_id if above is not None else None
                values["parent_id"] = parent_id
            if values:
                work.update_row(w.D, {"id": found.id}, values)
            return w.department(work.one(w.D, id=found.id))

        return self._write(body)

    def department(self, code: str) -> Department:
        def read(work: w.WorkSql) -> Department:
            row = work.one(w.D, code=code)
            if row is None:
                raise NotFound("department", code)
            return w.department(row)

        return self._read(read)

    def departments(self) -> list[Department]:
        return self._read(lambda work: [w.department(r) for r in work.all(w.D, w.D.c.code)])

    def _department_id(self, work: w.WorkSql, code: str | None) -> str | None:
        if code is None:
            return None
        row = work.one(w.D, code=code)
        if row is None:
            raise NotFound("department", code)
        return str(row.id)

    def create_user(
        self,
        user_id: str,
        name: str,
        *,
        department: str | None = None,
        experience_level: int = 1,
        email: str | None = None,
    ) -> User:
        if not 1 <= experience_level <= 4:
            raise ValueError("experience level runs from 1 (junior) to 4 (expert)")

        def body(work: w.WorkSql) -> User:
            work.insert(w.U, {
                "id": user_id, "tenant_id": self.tenant_id, "name": name, "email": email,
                "department_id": self._department_id(work, department),
                "experience_level": experience_level, "active": True,
                "created_at": work.now, "deactivated_at": None,
            })
            return w.user(work.one(w.U, id=user_id))

        return self._write(body)

    def user(self, user_id: str) -> User:
        def read(work: w.WorkSql) -> User:
            row = work.one(w.U, id=user_id)
            if row is None:
                raise NotFound("user", user_id)
            return w.user(row)

        return self._read(read)

    def users(self) -> list[User]:
        return self._read(lambda work: [w.user(r) for r in work.all(w.U, w.U.c.id)])

    def update_user(
        self,
        user_id: str,
        *,
        name: str = _UNSET,
        email: str | None = _UNSET,
        department: str | None = _UNSET,
    ) -> User:
        """Change what is given; the rest stays."""

        def body(work: w.WorkSql) -> User:
            if work.one(w.U, id=user_id) is None:
                raise NotFound("user", user_id)
            values: dict[str, Any] = {}
            if name is not _UNSET:
                values["name"] = name
            if email is not _UNSET:
                values["email"] = email
            if department is not _UNSET:
                values["department_id"] = self._department_id(work, department)
            if values:
                work.update_row(w.U, {"id": user_id}, values)
            return w.user(work.one(w.U, id=user_id))

        return self._write(body)

    def set_experience(self, user_id: str, level: int) -> None:
        if not 1 <= level <= 4:
            raise ValueError("experience level runs from 1 (junior) to 4 (expert)")
        self._write(lambda work: self._updated(
            work.update_row(w.U, {"id": user_id}, {"experience_level": level}), "user", user_id
        ))

    @staticmethod
    def _updated(count: int, kind: str, key: str) -> None:
        if count == 0:
            raise NotFound(kind, key)

    def activate_user(self, user_id: str) -> None:
        self._write(lambda work: self._updated(
            work.update_row(w.U, {"id": user_id}, {"active": True, "deactivated_at": None}),
            "user", user_id,
        ))

    def deactivate_user(self, user_id: str, *, by: str, reason: str | None = None) -> list[str]:
        """Deactivate a user; their unfinished tasks go back: claimed ones to their queue
        (auto-assigned again where the queue does that), delegated ones to their owner.
        The ids of the tasks given back are returned; history says why."""
        why = f"user '{user_id}' deactivated" + (f": {reason}" if reason else "")

        def body(work: w.WorkSql) -> list[str]:
            found = work.lock_user(user_id)
            if found is None:
                raise NotFound("user", user_id)
            if not found.active:
                raise IllegalState(f"user '{user_id}' is already deactivated")
            work.update_row(w.U, {"id": user_id}, {"active": False, "deactivated_at": work.now})
            ids = [
                r.id for r in work.select_tasks(
                    [
                        w.T.c.status.in_(OPEN_STATUSES),
                        (w.T.c.assignee == user_id) | (w.T.c.owner == user_id),
                    ],
                    [w.T.c.id],
                    limit=1_000_000,
                )
            ]
            returned = []
            for task_id in ids:
                row = self._locked(work, task_id, None)
                if row.status == "DELEGATED" and row.assignee == user_id:
                    self._back_to_owner(work, row, by, why)
                elif row.owner == user_id:
                    work.update_task(task_id, {"owner": None}, statuses=[row.status])
                    self._history(
                        work, row, "UPDATE", by, new_status=row.status,
                        new_assignee=row.assignee, comment=why, data={"owner": [user_id, None]},
                    )
                elif row.assignee == user_id and row.status in HELD_STATUSES:
                    self._to_queue(work, row, "UNCLAIM", by, why)
                    self._auto_assign(work, task_id)
                else:
                    continue
                returned.append(task_id)
            return returned

        return self._write(body)

    def create_role(
        self,
        code: str,
        name: str,
        *,
        type: RoleType = "CUSTOM",
        department: str | None = None,
        queue: str | None = None,
        can_manage: bool = False,
        description: str | None = None,
    ) -> Role:
        if type not in ROLE_TYPES:
            raise ValueError(f"role type {type!r}: one of {', '.join(ROLE_TYPES)}")

        def body(work: w.WorkSql) -> Role:
            row = {
                "id": new_id(), "tenant_id": self.tenant_id, "code": code, "name": name,
                "type": type, "department_id": self._department_id(work, department),
                "queue_id": self._queue_row(work, queue).id if queue else None,
                "can_manage": can_manage, "description": description, "active": True,
                "created_at": work.now,
            }
            work.insert(w.R, row)
            return w.role(work.one(w.R, id=row["id"]))

        return self._configured(body)

    def roles(self) -> list[Role]:
        return self._read(lambda work: [w.role(r) for r in work.all(w.R, w.R.c.code)])

    def _role_row(self, work: w.WorkSql, code: str) -> Any:
        row = work.one(w.R, code=code)
        if row is None:
            raise NotFound("role", code)
        return row

    def grant(
        self,
        user_id: str,
        role: str,
        *,
        by: str,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        primary: bool = False,
    ) -> Grant:
        """Give ``user_id`` the role ``role`` (its code) from ``valid_from`` (now) until
        ``valid_until`` (exclusive; None: until revoked). A new primary grant makes the
        user's other grants not primary."""

        def body(work: w.WorkSql) -> Grant:
            if work.one(w.U, id=user_id) is None:
                raise NotFound("user", user_id)
            start = valid_from or work.now
            if valid_until is not None and valid_until <= start:
                raise ValueError("a grant must end after it starts")
            if primary:
                work.clear_primary(user_id)
            row = {
                "id": new_id(), "tenant_id": self.tenant_id, "user_id": user_id,
                "role_id": self._role_row(work, role).id, "granted_by": by,
                "granted_at": work.now, "valid_from": start, "valid_until": valid_until,
                "is_primary": primary,
            }
            work.insert(w.G, row)
            return w.grant(work.one(w.G, id=row["id"]))

        return self._write(body)

    def revoke(self, grant_id: str, *, by: str) -> None:
        """End a grant now (kept, with its end, for the record)."""

        def body(work: w.WorkSql) -> None:
            row = work.one(w.G, id=grant_id)
            if row is None:
                raise NotFound("grant", grant_id)
            if row.valid_until is not None and row.valid_until <= work.now:
                raise IllegalState(f"grant '{grant_id}' has already ended")
            work.update_row(w.G, {"id": grant_id}, {"valid_until": work.now})

        self._write(body)

    def grants(self, user_id: str, *, valid_only: bool = True) -> list[Grant]:
        def read(work: w.WorkSql) -> list[Grant]:
            if valid_only:
                return [w.grant(r) for r in work.valid_grants(user_id)]
            return [w.grant(r) for r in work.all(w.G, w.G.c.valid_from, user_id=user_id)]

        return self._read(read)

    def create_skill(self, code: str, name: str) -> Skill:
        def body(work: w.WorkSql) -> Skill:
            row = {"id": new_id(), "tenant_id": self.tenant_id, "code": code, "name": name}
            work.insert(w.SK, row)
            return w.skill(work.one(w.SK, id=row["id"]))

        return self._write(body)

    def skills(self) -> list[Skill]:
        return self._read(lambda work: [w.skill(r) for r in work.all(w.SK, w.SK.c.code)])

    def queue_assignments(self, queue: str | None = None) -> list[QueueAssignment]:
        """Active queue assignments (of ``queue``), highest priority level first."""

        def read(work: w.WorkSql) -> list[QueueAssignment]:
            queue_id = self._queue_row(work, queue).id if queue is not None else None
            return work.assignments(queue_id=queue_id)

        return self._read(read)

    def _skill_id(self, work: w.WorkSql, code: str) -> str:
        row = work.one(w.SK, code=code)
        if row is None:
            raise NotFound("skill", code)
        return str(row.id)

    def set_user_skill(self, user_id: str, skill: str, level: int) -> None:
        if not 1 <= level <= 5:
            raise ValueError("skill levels run from 1 to 5")

        def body(work: w.WorkSql) -> None:
            if work.one(w.U, id=user_id) is None:
                raise NotFound("user", user_id)
            work.upsert_user_skill(user_id, self._skill_id(work, skill), level)

        self._write(body)

    def user_skills(self, user_id: str) -> dict[str, int]:
        return self._read(lambda work: work.user_skills([user_id]).get(user_id, {}))

    def create_queue(
        self,
        name: str,
        *,
        type: QueueType = "STANDARD",
        department: str | None = None,
        max_capacity: int | None = None,
        sla_minutes: int | None = None,
        priority_weights: Mapping[str, float] | None = None,
        overflow: str | None = None,
        min_experience: int | None = None,
        required_skills: Mapping[str, int] | None = None,
        description: str | None = None,
    ) -> Queue:
        if type not in QUEUE_TYPES:
            raise ValueError(f"queue type {type!r}: one of {', '.join(QUEUE_TYPES)}")
        if max_capacity is not None and max_capacity < 0:
            raise ValueError("a queue's capacity cannot be negative")

        def body(work: w.WorkSql) -> Queue:
            row = {
                "id": new_id(), "tenant_id": self.tenant_id, "name": name, "type": type,
                "department_id": self._department_id(work, department),
                "description": description, "max_capacity": max_capacity,
                "sla_minutes": sla_minutes,
                "priority_weights": _weights(priority_weights),
                "overflow_queue_id": self._queue_row(work, overflow).id if overflow else None,
                "min_experience": min_experience, "active": True, "created_at": work.now,
            }
            work.insert(w.Q, row)
            for code, level in (required_skills or {}).items():
                work.upsert_queue_skill(str(row["id"]), self._skill_id(work, code), level)
            return w.queue(work.one(w.Q, id=row["id"]))

        return self._configured(body)

    def update_queue(
        self,
        name: str,
        *,
        max_capacity: int | None = _UNSET,
        sla_minutes: int | None = _UNSET,
        priority_weights: Mapping[str, float] | None = _UNSET,
        overflow: str | None = _UNSET,
        min_experience: int | None = _UNSET,
        active: bool = _UNSET,
    ) -> Queue:
        """Change what is given; the rest stays."""

        def body(work: w.WorkSql) -> Queue:
            found = self._queue_row(work, name)
            values: dict[str, Any] = {}
            if max_capacity is not _UNSET:
                values["max_capacity"] = max_capacity
            if sla_minutes is not _UNSET:
                values["sla_minutes"] = sla_minutes
            if priority_weights is not _UNSET:
                values["priority_weights"] = _weights(priority_weights)
            if overflow is not _UNSET:
                values["overflow_queue_id"] = (
                    self._queue_row(work, overflow).id if overflow is not None else None
                )
            if min_experience is not _UNSET:
                values["min_experience"] = min_experience
            if active is not _UNSET:
                values["active"] = active
            if values:
                work.update_row(w.Q, {"id": found.id}, values)
            return w.queue(work.one(w.Q, id=found.id))

        return self._configured(body)

    def queue(self, name: str) -> Queue:
        return self._read(lambda work: w.queue(self._queue_row(work, name)))

    def queues(self) -> list[Queue]:
        return self._read(lambda work: [w.queue(r) for r in work.all(w.Q, w.Q.c.name)])

    def _queue_row(self, work: w.WorkSql, name: str | None) -> Any:
        row = work.one(w.Q, name=name) if name is not None else None
        if row is None:
            raise NotFound("queue", str(name))
        return row

    def assign_queue(
        self,
        queue: str,
        role: str,
        *,
        strategy: Strategy = "ROUND_ROBIN",
        auto_assign: bool = False,
        max_tasks_per_user: int = 10,
        priority_level: int = 50,
    ) -> QueueAssignment:
        """Let the holders of ``role`` work ``queue``; with ``auto_assign``, new tasks go
        to one of them by ``strategy``, never to one holding ``max_tasks_per_user``."""
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy {strategy!r}: one of {', '.join(STRATEGIES)}")
        if max_tasks_per_user < 1:
            raise ValueError("max tasks per user must be at least 1")

        def body(work: w.WorkSql) -> QueueAssignment:
            row = {
                "id": new_id(), "tenant_id": self.tenant_id,
                "queue_id": self._queue_row(work, queue).id,
                "role_id": self._role_row(work, role).id, "strategy": strategy,
                "auto_assign": auto_assign, "max_tasks_per_user": max_tasks_per_user,
                "priority_level": priority_level, "active": True,
                "last_assigned_user": None, "created_at": work.now,
            }
            work.insert(w.A, row)
            return w.assignment(work.one(w.A, id=row["id"]))

        return self._configured(body)

    def add_routing_rule(
        self,
        name: str,
        queue: str,
        *,
        process_key: str | None = None,
        element_id: str | None = None,
        condition: str | None = None,
        position: int | None = None,
        priority: int | None = None,
    ) -> RoutingRule:
        """Route tasks matching ``process_key`` / ``element_id`` / ``condition`` (an
        expression over the task's variables, e.g. ``${amount > 1000}``) to ``queue``.
        The condition is compiled now: a broken one is refused here, not at routing."""
        if condition:
            compile_expression(condition)

        def body(work: w.WorkSql) -> RoutingRule:
            at = position
            if at is None:
                rules = work.all(w.RR, w.RR.c.position.desc())
                at = (rules[0].position + 10) if rules else 10
            row = {
                "id": new_id(), "tenant_id": self.tenant_id, "name": name, "position": at,
                "process_key": process_key, "element_id": element_id, "condition": condition,
                "queue_id": self._queue_row(work, queue).id, "priority": priority,
                "active": True, "created_at": work.now,
            }
            work.insert(w.RR, row)
            return w.routing_rule(work.one(w.RR, id=row["id"]))

        return self._configured(body)

    def routing_rules(self) -> list[RoutingRule]:
        return self._read(lambda work: work.active_rules())

    def deactivate_routing_rule(self, rule_id: str) -> None:
        self._configured(lambda work: self._updated(
            work.update_row(w.RR, {"id": rule_id}, {"active": False}), "routing rule", rule_id
        ))

    # ------------------------------------------------------------------ task operations

    def claim(self, user: str, task_id: str) -> WorkTask:
        """Take an open, unassigned task. Claiming one's own claimed task changes nothing."""

        def body(work: w.WorkSql) -> tuple[WorkTask, bool]:
            row = self._locked(work, task_id, user)
            self._require(row.visible, user, "claim", task_id, "no valid grant covers it")
            if row.assignee == user and row.status in HELD_STATUSES:
                return self._task(work, task_id), False
            if row.assignee is not None and row.status in OPEN_STATUSES:
                raise IllegalState(f"task '{task_id}' is already claimed by '{row.assignee}'")
            self._state(row, CLAIMABLE_STATUSES, "claimed")
            status = "ESCALATED" if row.status == "ESCALATED" else "CLAIMED"
            changed = work.update_task(
                task_id,
                {"status": status, "assignee": user, "claimed_at": work.now, "claimed_by": user},
                statuses=CLAIMABLE_STATUSES,
                assignee=None,
            )
            if not changed:
                raise IllegalState(f"task '{task_id}' was claimed meanwhile")
            work.drop_items([task_id])
            self._history(work, row, "CLAIM", user, new_status=status, new_assignee=user)
            return self._task(work, task_id), True

        task, taken = self._write(body)
        return self._claimed(task) if taken else task

    def _claimed(self, task: X) -> X:
        if task is not None and self.claimed_listeners:
            for listener in self.claimed_listeners:
                try:
                    listener(task)  # type: ignore[arg-type]
                except Exception:  # noqa: BLE001 - an observer must not fail a claim
                    _log.exception("a claim listener failed")
        return task

    def claim_next(self, user: str, queues: Sequence[str] | None = None) -> WorkTask | None:
        """Claim the highest-priority, oldest open task of ``queues`` (default: every
        queue the user's valid grants cover; named queues they do not cover are ignored).
        None when there is nothing to claim. On PostgreSQL one statement with
        ``FOR UPDATE SKIP LOCKED``: concurrent callers never get the same task."""
        if queues is not None and not queues:
            return None
        for _ in range(100):
            if self.store.is_postgres:
                taken, task = self._claim_next_pg(user, queues)
            else:
                taken, task = self._write(
                    lambda work: work.claim_next(user, queues, new_history_id())
                )
            if not taken:
                return None
            if task is not None:
                return self._claimed(task)
        return None

    def _claim_next_pg(
        self, user: str, queues: Sequence[str] | None
    ) -> tuple[bool, WorkTask | None]:
        for attempt in range(self.max_attempts):
            try:
                return w.claim_next_pg(
                    self.store, self.tenant_id, self.now(), user, queues, new_history_id()
                )
            except psycopg.errors.TransactionRollback:  # a deadlock or serialisation
                if attempt + 1 >= self.max_attempts:
                    raise
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # noqa: S311 - jitter
        raise AssertionError("unreachable")

    def unclaim(self, user: str, task_id: str, *, comment: str | None = None) -> WorkTask:
        """Give a claimed task back to its queue."""

        def body(work: w.WorkSql) -> WorkTask:
            row = self._locked(work, task_id, user)
            own = row.assignee == user and bool(row.visible)
            self._require(own or row.manages, user, "unclaim", task_id,
                          "it is not theirs and they do not manage its queue")
            if row.status == "DELEGATED":
                raise IllegalState(f"task '{task_id}' is delegated: the delegate resolves it")
            self._state(row, HELD_STATUSES, "unclaimed")
            if row.assignee is None:
                raise IllegalState(f"task '{task_id}' is not claimed")
            self._to_queue(work, row, "UNCLAIM", user, comment)
            return self._task(work, task_id)

        return self._write(body)

    def _to_queue(self, work: w.WorkSql, row: Any, action: str, by: str,
                  comment: str | None) -> None:
        status = "ESCALATED" if row.status == "ESCALATED" else "OPEN"
        work.update_task(
            row.id,
            {"status": status, "assignee": None, "owner": None, "claimed_at": None,
             "claimed_by": None},
            statuses=[row.status],
            assignee=row.assignee,
        )
        if row.queue is not None:
            work.put_item(row.id, row.queue, row.priority, row.created_at)
        self._history(work, row, action, by, new_status=status, new_assignee=None,
                      comment=comment)

    def _auto_assign(self, work: w.WorkSql, task_id: str) -> None:
        """A task given back to a queue that assigns automatically is assigned again."""
        row = self._locked(work, task_id, None)
        if row.queue is None or row.assignee is not None:
            return
        found = work.queues_by(names=[row.queue])
        if not found:
            return
        chosen = auto_assign(
            work, found[0], row.priority, work.assignments(queue_id=found[0].id, auto_only=True)
        )
        if chosen is None:
            return
        user_id, strategy = chosen
        status = "ESCALATED" if row.status == "ESCALATED" else "CLAIMED"
        work.update_task(
            task_id,
            {"status": status, "assignee": user_id, "claimed_at": work.now, "claimed_by": None},
            statuses=CLAIMABLE_STATUSES,
            assignee=None,
        )
        work.drop_items([task_id])
        self._history(work, row, "ASSIGN", SYSTEM_USER, new_status=status,
                      new_assignee=user_id, comment=f"auto-assigned ({strategy})",
                      data={"strategy": strategy})

    def complete(
        self,
        user: str,
        task_id: str,
        variables: Mapping[str, Any] | None = None,
        *,
        outcome: str | None = None,
        outcome_reason: str | None = None,
        form_data: Mapping[str, Any] | None = None,
        comment: str | None = None,
        idempotency_key: str | None = None,
    ) -> list[UserTaskRecord]:
        """Complete a task the user holds; the process moves on in the same transaction.
        Returns the user tasks this opened. A repeated ``idempotency_key`` (scoped to
        the user and the task) answers as the first call did and changes nothing.

        ``outcome`` (approve, reject, return, forward, ...) is kept on the task and set as
        the process variable named by ``outcome_variable`` (default ``outcome``), so a
        gateway can route on it (``${outcome == 'approve'}``).
        """

        def authorize(tx: Transaction, _stored: UserTaskRecord) -> None:
            work = work_sql(tx, self.tenant_id, self.now())
            # a concurrent claim or change waits for this lock; a held task has no
            # claimable-set row to lock first
            row = self._locked(work, task_id, user, lock_item=False)
            self._require(row.visible, user, "complete", task_id, "no valid grant covers it")
            if row.status == "DELEGATED" and row.assignee == user:
                raise IllegalState(
                    f"task '{task_id}' is delegated to '{user}': resolve it, its owner completes it"
                )
            self._state(row, OPEN_STATUSES, "completed")
            if row.assignee != user:
                raise Forbidden(
                    f"user '{user}' may not complete task '{task_id}': "
                    + (f"it is claimed by '{row.assignee}'" if row.assignee else "claim it first"),
                    user=user,
                )
            values: dict[str, Any] = {}
            if form_data is not None:
                values["form_data"] = dict(form_data)
            if outcome_reason is not None:
                values["outcome_reason"] = outcome_reason
            if values:
                work.update_task(task_id, values, statuses=HELD_STATUSES, assignee=user)
            data = {k: v for k, v in (("outcome", outcome), ("outcome_reason", outcome_reason))
                    if v is not None}
            self._history(work, row, "COMPLETE", user, new_status="COMPLETED",
                          new_assignee=user, comment=comment, data=data or None)
            self.router.recorded(tx, task_id)

        merged = dict(variables or {})
        if outcome is not None and self.outcome_variable:
            merged[self.outcome_variable] = outcome
        key = f"task:{task_id}:{user}:{idempotency_key}" if idempotency_key else None
        return self.engine.complete_task(
            task_id, merged, user=user, outcome=outcome, authorize=authorize,
            idempotency_key=key,
        )

    def delegate(self, user: str, task_id: str, to: str, *, comment: str | None = None) -> WorkTask:
        """Hand a held task to ``to`` for help; the user stays its owner and gets it back
        when ``to`` resolves it (status DELEGATED meanwhile)."""

        def body(work: w.WorkSql) -> WorkTask:
            row = self._locked(work, task_id, user)
            self._require(row.visible and row.assignee == user, user, "delegate", task_id,
                          "only its assignee may delegate it")
            self._state(row, HELD_STATUSES, "delegated")
            if to == user:
                raise IllegalState("a task cannot be delegated to its own assignee")
            self._target_user(work, task_id, to)
            work.update_task(task_id, {"status": "DELEGATED", "assignee": to, "owner": user},
                             statuses=HELD_STATUSES, assignee=user)
            self._history(work, row, "DELEGATE", user, new_status="DELEGATED", new_assignee=to,
                          comment=comment, data={"owner": user})
            return self._task(work, task_id)

        return self._write(body)

    def resolve(self, user: str, task_id: str, *, comment: str | None = None) -> WorkTask:
        """The delegate gives a delegated task back to its owner."""

        def body(work: w.WorkSql) -> WorkTask:
            row = self._locked(work, task_id, user)
            self._require(row.visible and row.assignee == user, user, "resolve", task_id,
                          "only its delegate may resolve it")
            self._state(row, ["DELEGATED"], "resolved")
            self._back_to_owner(work, row, user, comment)
            return self._task(work, task_id)

        return self._write(body)

    def _back_to_owner(self, work: w.WorkSql, row: Any, by: str, comment: str | None) -> None:
        if row.owner is None:
            self._to_queue(work, row, "RESOLVE", by, comment)
            return
        status = "ESCALATED" if row.escalation_level > 0 else "CLAIMED"
        work.update_task(row.id, {"status": status, "assignee": row.owner, "owner": None},
                         statuses=["DELEGATED"], assignee=row.assignee)
        self._history(work, row, "RESOLVE", by, new_status=status, new_assignee=row.owner,
                      comment=comment)

    def reassign(self, user: str, task_id: str, to: str, *, comment: str | None = None) -> WorkTask:
        """Give a task to ``to``: a manager of its queue, or its assignee handing over."""

        def body(work: w.WorkSql) -> WorkTask:
            row = self._locked(work, task_id, user)
            own = row.assignee == user and bool(row.visible)
            self._require(own or row.manages, user, "reassign", task_id,
                          "it is not theirs and they do not manage its queue")
            if row.status == "DELEGATED":
                raise IllegalState(f"task '{task_id}' is delegated: the delegate resolves it")
            self._state(row, ("OPEN", "CLAIMED", "ESCALATED"), "reassigned")
            if row.assignee == to:
                raise IllegalState(f"task '{task_id}' is already assigned to '{to}'")
            self._target_user(work, task_id, to)
            status = "ESCALATED" if row.status == "ESCALATED" else "CLAIMED"
            work.update_task(
                task_id,
                {"status": status, "assignee": to, "claimed_at": work.now, "claimed_by": user},
                statuses=[row.status],
                assignee=row.assignee,
            )
            work.drop_items([task_id])
            self._history(work, row, "REASSIGN", user, new_status=status, new_assignee=to,
                          comment=comment)
            return self._task(work, task_id)

        return self._write(body)

    def escalate(
        self,
        user: str,
        task_id: str,
        *,
        comment: str | None = None,
        to_queue: str | None = None,
        to_user: str | None = None,
        priority_step: int | None = None,
    ) -> WorkTask:
        """Raise a task's escalation level and priority (status ESCALATED), optionally
        moving it to another queue or (managers) to a user."""

        def body(work: w.WorkSql) -> WorkTask:
            row = self._locked(work, task_id, user)
            own = row.assignee == user and bool(row.visible)
            self._require(own or row.manages, user, "escalate", task_id,
                          "it is not theirs and they do not manage its queue")
            if to_user is not None:
                self._require(row.manages, user, "escalate to a user", task_id,
                              "they do not manage its queue")
            self._escalate(work, row, user, comment=comment, to_queue=to_queue,
                           to_user=to_user, priority_step=priority_step)
            return self._task(work, task_id)

        return self._write(body)

    def escalate_in(
        self,
        tx: Transaction,
        task_id: str,
        *,
        reason: str,
        by: str = SYSTEM_USER,
        to_queue: str | None = None,
        to_user: str | None = None,
        priority_step: int | None = None,
        trigger: str = "BREACHED",
    ) -> WorkTask:
        """Escalate inside the caller's transaction, with no grant check: what automatic
        escalation (an SLA job) does, with the same rules and history as :meth:`escalate`."""
        work = work_sql(tx, self.tenant_id, self.now())
        row = self._locked(work, task_id, None)
        self._escalate(work, row, by, comment=reason, to_queue=to_queue, to_user=to_user,
                       priority_step=priority_step, kind="AUTOMATIC", trigger=trigger)
        return self._task(work, task_id)

    def system_escalate(self, task_id: str, *, reason: str, **options: Any) -> WorkTask:
        """:meth:`escalate_in` in a transaction of its own."""
        with self.store.transaction() as tx:
            return self.escalate_in(tx, task_id, reason=reason, **options)

    def _escalate(
        self,
        work: w.WorkSql,
        row: Any,
        by: str,
        *,
        comment: str | None,
        to_queue: str | None,
        to_user: str | None,
        priority_step: int | None,
        kind: str = "MANUAL",
        trigger: str = "MANUAL",
    ) -> None:
        self._state(row, OPEN_STATUSES, "escalated")
        step = self.escalation_priority_step if priority_step is None else priority_step
        priority = max(row.priority, min(self.max_priority, row.priority + step))
        assignee, owner = row.assignee, row.owner
        if row.status == "DELEGATED":  # the delegation ends: back to its owner
            assignee, owner = row.owner, None
        queue = row.queue
        if to_queue is not None:
            queue = self._queue_row(work, to_queue).name
        values: dict[str, Any] = {
            "status": "ESCALATED", "escalation_level": row.escalation_level + 1,
            "escalated_at": work.now, "priority": priority, "queue": queue,
            "assignee": assignee, "owner": owner,
        }
        if to_user is not None:
            values.update(assignee=to_user, owner=None, claimed_at=work.now, claimed_by=by)
        elif assignee is None:
            values.update(claimed_at=None, claimed_by=None)
        work.update_task(row.id, values, statuses=[row.status], assignee=row.assignee)
        if to_user is not None:
            self._target_user(work, row.id, to_user)
        work.drop_items([row.id])
        if values["assignee"] is None and queue is not None:
            work.put_item(row.id, queue, priority, row.created_at)
        data: dict[str, Any] = {
            "level": row.escalation_level + 1, "priority": [row.priority, priority],
        }
        if queue != row.queue:
            data["queue"] = [row.queue, queue]
        self._history(work, row, "ESCALATE", by, new_status="ESCALATED",
                      new_assignee=values["assignee"], comment=comment, data=data,
                      queue=queue)
        record_escalation(work, row, by=by, kind=kind, trigger=trigger, reason=comment,
                          level=row.escalation_level + 1, to_user=values["assignee"],
                          to_queue=queue)

    def escalations(
        self, *, task_id: str | None = None, unresolved: bool = False
    ) -> list[EscalationEntry]:
        """The escalation log (automatic and manual), oldest first."""
        return self._read(lambda work: escalations(work, task_id=task_id, unresolved=unresolved))

    def resolve_escalation(
        self, user: str, escalation_id: str, *, resolution: str | None = None
    ) -> EscalationEntry:
        """Record who resolved an escalation and when: a manager of the task's queue, or
        the task's assignee."""

        def body(work: w.WorkSql) -> EscalationEntry:
            entry = get_escalation(work, escalation_id)
            row = work.lock_task(entry.task_id, user, lock_item=False)
            allowed = row is not None and (row.manages or (row.assignee == user and row.visible))
            self._require(bool(allowed), user, "resolve the escalation of", entry.task_id,
                          "it is not theirs and they do not manage its queue")
            return resolve_escalation(work, escalation_id, user, resolution)

        return self._write(body)

    def cancel(self, user: str, task_id: str, *, reason: str) -> None:
        """Withdraw a task: its process instance is terminated (a process task cannot end
        otherwise), which cancels its other open tasks too. Managers only; checked inside
        the terminating transaction."""
        def check(work: w.WorkSql) -> str:
            row = work.lock_task(task_id, user)
            if row is None:
                raise NotFound("task", task_id)
            self._require(row.manages, user, "cancel", task_id,
                          "no valid grant of a managing role covers its queue")
            self._state(row, OPEN_STATUSES, "cancelled")
            return str(row.instance_id)

        # checked here, and again inside the terminating transaction (the listener), which
        # sees the task as it is then; a terminate that touches no task is not seen there
        instance_id = self._read(check)
        with acting(Acting(user=user, comment=reason, cancel_task=task_id)):
            self.engine.terminate(
                instance_id, reason=f"task '{task_id}' cancelled by '{user}': {reason}"
            )

    def comment(self, user: str, task_id: str, text: str) -> TaskHistoryEntry:
        def body(work: w.WorkSql) -> TaskHistoryEntry:
            row = self._locked(work, task_id, user)
            self._require(row.visible or row.manages, user, "comment on", task_id,
                          "no valid grant covers it")
            entry_id = new_history_id()
            work.add_history([{
                "id": entry_id, "task_id": row.id, "instance_id": row.instance_id,
                "action": "COMMENT", "action_by": user, "old_status": row.status,
                "new_status": row.status, "old_assignee": row.assignee,
                "new_assignee": row.assignee, "queue": row.queue, "comment": text,
            }])
            return next(e for e in work.history(task_id) if e.id == entry_id)

        return self._write(body)

    def set_priority(self, user: str, task_id: str, priority: int) -> WorkTask:
        def body(work: w.WorkSql) -> WorkTask:
            row = self._manage(work, task_id, user, "reprioritise")
            work.update_task(task_id, {"priority": priority}, statuses=[row.status])
            work.update_item(task_id, priority=priority)
            self._history(work, row, "UPDATE", user, new_status=row.status,
                          new_assignee=row.assignee, data={"priority": [row.priority, priority]})
            return self._task(work, task_id)

        return self._write(body)

    def set_due_date(self, user: str, task_id: str, due_at: datetime | None) -> WorkTask:
        def body(work: w.WorkSql) -> WorkTask:
            row = self._manage(work, task_id, user, "change the due date of")
            work.update_task(task_id, {"due_at": due_at}, statuses=[row.status])
            self._history(work, row, "UPDATE", user, new_status=row.status,
                          new_assignee=row.assignee,
                          data={"due_at": [_iso(row.due_at), _iso(due_at)]})
            return self._task(work, task_id)

        return self._write(body)

    def set_follow_up(self, user: str, task_id: str, follow_up_at: datetime | None) -> WorkTask:
        def body(work: w.WorkSql) -> WorkTask:
            row = self._locked(work, task_id, user)
            own = row.assignee == user and bool(row.visible)
            self._require(own or row.manages, user, "change the follow-up date of", task_id,
                          "it is not theirs and they do not manage its queue")
            self._state(row, OPEN_STATUSES, "changed")
            work.update_task(task_id, {"follow_up_at": follow_up_at}, statuses=[row.status])
            self._history(work, row, "UPDATE", user, new_status=row.status,
                          new_assignee=row.assignee,
                          data={"follow_up_at": [_iso(row.follow_up_at), _iso(follow_up_at)]})
            return self._task(work, task_id)

        return self._write(body)

    def set_task_data(self, user: str, task_id: str, data: Mapping[str, Any]) -> WorkTask:
        """Keep working data on the task (a draft, notes for the next step)."""

        def body(work: w.WorkSql) -> WorkTask:
            row = self._locked(work, task_id, user)
            own = row.assignee == user and bool(row.visible)
            self._require(own or row.manages, user, "change the data of", task_id,
                          "it is not theirs and they do not manage its queue")
            self._state(row, OPEN_STATUSES, "changed")
            work.update_task(task_id, {"task_data": dict(data)}, statuses=[row.status])
            self._history(work, row, "UPDATE", user, new_status=row.status,
                          new_assignee=row.assignee, data={"task_data": sorted(data)})
            return self._task(work, task_id)

        return self._write(body)

    def _manage(self, work: w.WorkSql, task_id: str, user: str, what: str) -> Any:
        row = self._locked(work, task_id, user)
        self._require(row.manages, user, what, task_id, "they do not manage its queue")
        self._state(row, OPEN_STATUSES, "changed")
        return row

    @staticmethod
    def _task(work: w.WorkSql, task_id: str) -> WorkTask:
        found = work.changed.get(task_id) or work.task(task_id)
        if found is None:
            raise NotFound("task", task_id)
        return found

    # ------------------------------------------------------------------ queries

    def task(self, user: str, task_id: str) -> WorkTask:
        def read(work: w.WorkSql) -> WorkTask:
            found = work.select_tasks(
                [w.T.c.id == task_id, *conditions(TaskFilter(statuses=None))],
                [w.T.c.id], 1, actor=user,
            )
            if found:
                return found[0]
            if work.task(task_id) is None:
                raise NotFound("task", task_id)
            raise Forbidden(f"user '{user}' may not see task '{task_id}'", user=user)

        return self._read(read)

    def tasks(self, user: str, query: TaskFilter | None = None) -> list[WorkTask]:
        """Tasks ``user`` may see that match ``query``, sorted and paged, in one query."""
        q = query or TaskFilter()
        return self._read(lambda work: work.select_tasks(
            conditions(q), order(q), q.limit, q.offset, actor=user
        ))

    def count_tasks(self, user: str, query: TaskFilter | None = None) -> int:
        q = query or TaskFilter()
        return self._read(lambda work: work.count_tasks(conditions(q), actor=user))

    def my_tasks(self, user: str, *, limit: int = 50, offset: int = 0) -> list[WorkTask]:
        """Unfinished tasks assigned to the user (or delegated by them)."""
        return self.tasks(user, TaskFilter(scope="mine", limit=limit, offset=offset))

    def available_tasks(
        self, user: str, queues: Sequence[str] | None = None, *, limit: int = 50,
        offset: int = 0,
    ) -> list[WorkTask]:
        """Unassigned tasks the user could claim, best first."""
        return self.tasks(
            user, TaskFilter(scope="available", queues=queues, limit=limit, offset=offset)
        )

    def history(self, user: str, task_id: str) -> list[TaskHistoryEntry]:
        def read(work: w.WorkSql) -> list[TaskHistoryEntry]:
            rows = work.select_tasks(
                [w.T.c.id == task_id, *conditions(TaskFilter(statuses=None))],
                [w.T.c.id], 1, actor=user,
            )
            if not rows:
                if work.task(task_id) is None:
                    raise NotFound("task", task_id)
                raise Forbidden(f"user '{user}' may not see task '{task_id}'", user=user)
            return work.history(task_id)

        return self._read(read)

    def task_history(self, task_id: str) -> list[TaskHistoryEntry]:
        """Every history row of a task, unchecked (reports, audits, tests)."""
        return self._read(lambda work: work.history(task_id))

    def queue_stats(
        self, user: str | None = None, queues: Sequence[str] | None = None
    ) -> list[QueueStats]:
        """Per active queue (those ``user``'s grants cover, if given): open, claimed,
        delegated, escalated and overdue counts, load, the oldest task's age, utilisation."""

        def read(work: w.WorkSql) -> list[QueueStats]:
            result = []
            for name, capacity, open_, claimed, delegated, escalated, load, overdue, oldest in (
                work.queue_stats(user, queues)
            ):
                age = (work.now - oldest).total_seconds() if oldest is not None else None
                result.append(QueueStats(
                    queue=name, open=int(open_), claimed=int(claimed),
                    delegated=int(delegated), escalated=int(escalated), load=int(load),
                    overdue=int(overdue), oldest_created_at=oldest, oldest_age_seconds=age,
                    max_capacity=capacity,
                    utilisation=(load / capacity) if capacity else None,
                ))
            return result

        return self._read(read)

    def vacuum_claimable(self, *, analyze: bool = False) -> None:
        """PostgreSQL: ``VACUUM`` the claimable set now (``analyze``: its statistics too).

        Each claim leaves a dead entry at the head of the claim-next index until a vacuum
        removes it, and claim-next walks past them all. Autovacuum wakes at most once per
        ``autovacuum_naptime`` (a minute by default), long enough at thousands of claims a
        second to slow claiming down; this table is small (one row per waiting task), so
        vacuuming it every few seconds costs milliseconds. Run it from a scheduler (or the
        job executor) where claim rates are high. Nothing to do on SQLite.
        """
        if not self.store.is_postgres:
            return
        with self.store.engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        ) as conn:
            conn.exec_driver_sql(
                "VACUUM (ANALYZE) work_queue_item" if analyze else "VACUUM work_queue_item"
            )

    def case(self, case_id: str) -> list[CaseRouting]:
        """Where a case's workflows stand (one row per process instance of the case)."""
        return self._read(lambda work: [
            w.case_routing(r) for r in work.all(w.K, w.K.c.initiated_at, case_id=case_id)
        ])


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _weights(weights: Mapping[str, float] | None) -> dict[str, float] | None:
    if weights is None:
        return None
    return {str(int(k)): float(v) for k, v in weights.items()}


__all__ = ["WorkService"]
