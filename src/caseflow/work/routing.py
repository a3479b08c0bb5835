"""Routing: the task listener that turns each new user task into a work item.

It runs inside the engine's command, after the core opened tasks and before storage
writes them (:class:`~caseflow.runtime.ports.TaskListener`), so what it decides is written
with the task, in the same transaction, or not at all:

1. **Queue.** The first active routing rule (by position) whose process key, element id
   and condition (an expression over the task's variables, compiled by
   :func:`caseflow.expr.compile_expression`, never ``eval``) match; else the BPMN's own
   ``caseflow:queue``; else the first candidate group naming a role that is bound to a
   queue or assigned to one (highest priority level first). Otherwise the task has no
   queue: only its candidates see it.
2. **Capacity.** A queue's load is its unfinished tasks, counted (never a stored
   counter). At ``max_capacity`` the task overflows along the queue's overflow chain to
   the first with room; history says so. (PostgreSQL: the queue row is locked while
   counting, so two commands cannot both take the last place.)
3. **Auto-assignment.** When an active assignment of the queue has ``auto_assign``, its
   strategy (:mod:`caseflow.work.strategies`) picks among the role's holders, never one
   at ``max_tasks_per_user``. (PostgreSQL: the assignment row and the chosen user's row
   are locked, then the user's load is counted again.)
4. **The claimable set, history, the case.** An unassigned task in a queue gets its
   ``work_queue_item``; history gets CREATE (and OVERFLOW, ASSIGN) rows; a task of a case
   moves the case's mapping to the queue's department when it changes.

Completed and cancelled tasks leave the claimable set and get their history row (unless
the human-work service already wrote it in this transaction). Their record is refreshed
from the locked row first, so the engine's copy, read before a concurrent claim or
reprioritisation committed, does not overwrite it.
"""

from __future__ import annotations

import contextvars
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from caseflow.engine.state import UserTaskRecord
from caseflow.errors import ExpressionError, Forbidden, IllegalState
from caseflow.expr import Expression, compile_expression
from caseflow.runtime.ports import TaskChanges, TaskListener, Transaction
from caseflow.store.sql import SqlTransaction
from caseflow.work import sql as w
from caseflow.work.model import SYSTEM_USER, Queue, QueueAssignment, Role, RoutingRule
from caseflow.work.strategies import Candidate, Demand, choose


def new_history_id() -> str:
    """History ids are UUID v7: ordered by creation within a node, so ``(action_at, id)``
    orders one command's rows as they were written."""
    from caseflow.runtime.process_engine import new_id

    return new_id()


@dataclass(slots=True)
class Acting:
    """Who a service call acts as, for the listener running inside its engine command."""

    user: str
    comment: str | None = None
    cancel_task: str | None = None  # cancel: the task the caller named (checked inside)


_ACTING: contextvars.ContextVar[Acting | None] = contextvars.ContextVar(
    "caseflow_work_acting", default=None
)


@contextmanager
def acting(act: Acting) -> Iterator[None]:
    token = _ACTING.set(act)
    try:
        yield
    finally:
        _ACTING.reset(token)


@dataclass(slots=True)
class _Pending:
    """What this command added but has not written yet: loads and queue counts."""

    queue_load: Counter[str] = field(default_factory=Counter)
    user_load: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    """What routing reads about the organisation, as of ``loaded_at`` (monotonic)."""

    loaded_at: float
    rules: list[RoutingRule]
    queues_by_id: dict[str, Queue]
    queues_by_name: dict[str, Queue]
    roles_by_code: dict[str, Role]
    assignments_by_role: dict[str, list[QueueAssignment]]  # active, highest level first
    auto_by_queue: dict[str, list[QueueAssignment]]  # active and auto-assigning

    @classmethod
    def load(cls, work: w.WorkSql) -> RoutingConfig:
        queues = [w.queue(r) for r in work.all(w.Q)]
        roles = [w.role(r) for r in work.all(w.R) if r.active]
        assignments = work.assignments()
        by_role: dict[str, list[QueueAssignment]] = {}
        auto: dict[str, list[QueueAssignment]] = {}
        for a in assignments:
            by_role.setdefault(a.role_id, []).append(a)
            if a.auto_assign:
                auto.setdefault(a.queue_id, []).append(a)
        return cls(
            loaded_at=time.monotonic(),
            rules=work.active_rules(),
            queues_by_id={q.id: q for q in queues},
            queues_by_name={q.name: q for q in queues},
            roles_by_code={r.code: r for r in roles},
            assignments_by_role=by_role,
            auto_by_queue=auto,
        )

    def queue(self, queue_id: str | None) -> Queue | None:
        found = self.queues_by_id.get(queue_id) if queue_id is not None else None
        return found if found is not None and found.active else None


def work_sql(tx: Transaction, tenant_id: str, now: datetime) -> w.WorkSql:
    if not isinstance(tx, SqlTransaction):
        raise TypeError(
            "caseflow.work keeps its rows in SQLite or PostgreSQL; "
            f"{type(tx).__name__} has no organisation, queues or task history"
        )
    return w.WorkSql(tx, tenant_id, now)


class WorkRouter(TaskListener):
    """Routes new tasks, keeps the claimable set and history in step (module docstring)."""

    def __init__(self, tenant_id: str, *, config_ttl: float = 2.0) -> None:
        self.tenant_id = tenant_id
        self.config_ttl = config_ttl
        self._config: RoutingConfig | None = None
        self._expressions: dict[str, Expression] = {}
        self._expressions_lock = threading.Lock()
        # tasks whose completion the service recorded itself, per transaction
        self._recorded: weakref.WeakKeyDictionary[Transaction, set[str]] = (
            weakref.WeakKeyDictionary()
        )

    def recorded(self, tx: Transaction, task_id: str) -> None:
        self._recorded.setdefault(tx, set()).add(task_id)

    def config(self, work: w.WorkSql) -> RoutingConfig:
        """The routing configuration, read at most every ``config_ttl`` seconds.

        Changes made through a :class:`~caseflow.work.WorkService` of this engine take
        effect at once (it calls :meth:`invalidate`); changes made on other nodes within
        ``config_ttl``. New tasks then cost no configuration reads.
        """
        found = self._config
        if found is None or time.monotonic() - found.loaded_at > self.config_ttl:
            found = self._config = RoutingConfig.load(work)
        return found

    def invalidate(self) -> None:
        self._config = None

    # --- the listener ---

    def tasks_changed(self, tx: Transaction, changes: TaskChanges, now: datetime) -> None:
        tenant = self.tenant_id
        created = [t for t in changes.created if t.tenant_id == tenant]
        completed = [t for t in changes.completed if t.tenant_id == tenant]
        cancelled = [t for t in changes.cancelled if t.tenant_id == tenant]
        act = _ACTING.get()
        if act is not None and act.cancel_task is not None:
            self._check_cancel(tx, act, cancelled, now)
        if not (created or completed or cancelled):
            return
        work = work_sql(tx, tenant, now)
        if completed or cancelled:
            self._finished(work, completed, cancelled, act)
        if created:
            config = self.config(work)
            pending = _Pending()
            for task in created:
                self.route(work, task, changes.task_variables(task), config, pending)

    def _check_cancel(
        self, tx: Transaction, act: Acting, cancelled: list[UserTaskRecord], now: datetime
    ) -> None:
        work = work_sql(tx, self.tenant_id, now)
        row = work.lock_task(act.cancel_task or "", act.user)
        if row is None or not any(t.id == act.cancel_task for t in cancelled):
            status = "gone" if row is None else row.status
            raise IllegalState(f"task '{act.cancel_task}' is {status} and cannot be cancelled")
        if not row.manages:
            raise Forbidden(
                f"user '{act.user}' may not cancel task '{act.cancel_task}': no valid grant "
                "of a managing role covers its queue",
                user=act.user,
            )

    def _finished(
        self,
        work: w.WorkSql,
        completed: list[UserTaskRecord],
        cancelled: list[UserTaskRecord],
        act: Acting | None,
    ) -> None:
        recorded = self._recorded.get(work.tx, set())
        # the service locked and recorded its own completions in this transaction already
        others = [t for t in (*completed, *cancelled) if t.id not in recorded]
        if not others:
            return
        ids = sorted({t.id for t in others})
        work.lock_items(ids)
        before = {r.id: r for r in work.lock_tasks(ids)}
        work.drop_items(ids)
        entries = []
        for task in others:
            row = before.get(task.id)
            old_status = None
            if row is not None:
                # the engine read the task before this lock: keep what others wrote since
                old_status = row.status
                task.assignee = row.assignee
                task.priority = row.priority
                task.due_at = row.due_at
                task.follow_up_at = row.follow_up_at
                task.queue = row.queue
                task.claimed_at = row.claimed_at
            if task.status == "COMPLETED":
                entries.append({
                    "id": new_history_id(), "task_id": task.id, "instance_id": task.instance_id,
                    "action": "COMPLETE", "action_by": task.completed_by or SYSTEM_USER,
                    "old_status": old_status, "new_status": "COMPLETED",
                    "old_assignee": task.assignee, "new_assignee": task.assignee,
                    "queue": task.queue,
                    "data": {"outcome": task.outcome} if task.outcome is not None else None,
                })
            else:
                by = act.user if act is not None else SYSTEM_USER
                comment = (act.comment if act is not None else None) or "ended by the process"
                entries.append({
                    "id": new_history_id(), "task_id": task.id, "instance_id": task.instance_id,
                    "action": "CANCEL", "action_by": by, "old_status": old_status,
                    "new_status": "CANCELLED", "old_assignee": task.assignee,
                    "new_assignee": task.assignee, "queue": task.queue, "comment": comment,
                })
        work.add_history(entries)

    # --- routing one new task ---

    def route(
        self,
        work: w.WorkSql,
        task: UserTaskRecord,
        variables: Mapping[str, Any],
        config: RoutingConfig,
        pending: _Pending,
    ) -> None:
        now = work.now
        notes: dict[str, Any] = {}
        created_id = new_history_id()  # ids order one command's rows: CREATE comes first
        history: list[dict[str, Any]] = []
        target, source = self._target(task, variables, config, notes)
        queue: Queue | None = None
        if target is not None:
            queue = target
            task.queue = target.name
        elif task.queue is not None:
            queue = config.queues_by_name.get(task.queue)
            source = "bpmn"
            if queue is None:
                notes["unmanaged_queue"] = True
        if queue is not None and queue.max_capacity is not None:
            queue = self._with_room(work, queue, task, config, pending, history)
        comment = None
        if task.queue is not None:
            comment = f"routed to queue '{task.queue}' ({source})"
        history.insert(0, {
            "id": created_id, "task_id": task.id, "instance_id": task.instance_id,
            "action": "CREATE", "action_by": SYSTEM_USER, "action_at": now,
            "new_status": task.status, "new_assignee": task.assignee, "queue": task.queue,
            "comment": comment, "data": {"routed_by": source, **notes} if source else notes or None,
        })
        if task.queue is not None:
            pending.queue_load[task.queue] += 1
        if task.assignee is None and queue is not None:
            chosen = auto_assign(
                work, queue, task.priority, config.auto_by_queue.get(queue.id, []), pending
            )
            if chosen is not None:
                user_id, strategy = chosen
                task.assignee = user_id
                task.status = "CLAIMED"
                history.append({
                    "id": new_history_id(), "task_id": task.id, "instance_id": task.instance_id,
                    "action": "ASSIGN", "action_by": SYSTEM_USER, "action_at": now,
                    "old_status": "OPEN", "new_status": "CLAIMED", "new_assignee": user_id,
                    "queue": task.queue, "comment": f"auto-assigned ({strategy})",
                    "data": {"strategy": strategy},
                })
        if task.assignee is not None:
            if task.claimed_at is None:
                task.claimed_at = now
            pending.user_load.setdefault(task.assignee, []).append(task.priority)
        elif task.queue is not None and task.status in ("OPEN", "ESCALATED"):
            work.put_item(task.id, task.queue, task.priority, task.created_at)
        work.add_history(history, events=False)  # the recorder reports the new task
        if task.case_id is not None:
            self._follow_case(work, task, queue)

    def _target(
        self,
        task: UserTaskRecord,
        variables: Mapping[str, Any],
        config: RoutingConfig,
        notes: dict[str, Any],
    ) -> tuple[Queue | None, str | None]:
        for rule in config.rules:
            if rule.process_key is not None and rule.process_key != task.process_key:
                continue
            if rule.element_id is not None and rule.element_id != task.element_id:
                continue
            if rule.condition:
                try:
                    matched = bool(self._expression(rule.condition).evaluate(variables))
                except ExpressionError as error:
                    notes.setdefault("rule_errors", []).append(f"{rule.name}: {error}")
                    continue
                if not matched:
                    continue
            found = config.queue(rule.queue_id)
            if found is None:
                continue
            if rule.priority is not None:
                task.priority = rule.priority
            return found, f"rule '{rule.name}'"
        if task.queue is not None:
            return None, None  # the BPMN named it
        for group in task.candidate_groups:
            found_role = config.roles_by_code.get(group)
            if found_role is None:
                continue
            bound = config.queue(found_role.queue_id)
            if bound is not None:
                return bound, f"candidate group '{group}'"
            for a in config.assignments_by_role.get(found_role.id, []):
                assigned = config.queue(a.queue_id)
                if assigned is not None:
                    return assigned, f"candidate group '{group}'"
        return None, None

    def _with_room(
        self,
        work: w.WorkSql,
        queue: Queue,
        task: UserTaskRecord,
        config: RoutingConfig,
        pending: _Pending,
        history: list[dict[str, Any]],
    ) -> Queue:
        """The first queue along ``queue``'s overflow chain with room; ``queue`` itself
        when none has. Each full queue passed leaves an OVERFLOW history row."""
        seen: set[str] = set()
        current = queue
        while True:
            seen.add(current.id)
            if current.max_capacity is None:
                break
            work.lock_queue(current.id)
            load = work.count_open(current.name) + pending.queue_load[current.name]
            if load < current.max_capacity:
                break
            following = config.queue(current.overflow_queue_id)
            if following is not None and following.id in seen:
                following = None
            where = (
                f"overflowed to '{following.name}'"
                if following is not None
                else f"no overflow queue has room: it stays in '{queue.name}'"
            )
            history.append({
                "id": new_history_id(), "task_id": task.id, "instance_id": task.instance_id,
                "action": "OVERFLOW", "action_by": SYSTEM_USER, "action_at": work.now,
                "new_status": task.status, "queue": current.name,
                "comment": f"queue '{current.name}' is at capacity "
                f"({load}/{current.max_capacity}): {where}",
                "data": {
                    "load": load,
                    "max_capacity": current.max_capacity,
                    "overflow_to": following.name if following is not None else None,
                },
            })
            if following is None:
                return queue
            current = following
        task.queue = current.name
        return current

    def _follow_case(self, work: w.WorkSql, task: UserTaskRecord, queue: Queue | None) -> None:
        if task.case_id is None:
            return
        department = queue.department_id if queue is not None else None
        row = work.case_for_update(task.case_id, task.instance_id)
        step = {
            "at": work.now.isoformat(),
            "task_id": task.id,
            "element_id": task.element_id,
            "queue": task.queue,
            "department_id": department,
        }
        if row is None:
            work.insert(w.K, {
                "id": new_history_id(), "tenant_id": work.tenant, "case_id": task.case_id,
                "instance_id": task.instance_id, "process_key": task.process_key,
                "business_key": task.business_key, "initiated_by": None,
                "initiated_at": work.now, "current_department_id": department,
                "previous_department_id": None, "current_queue": task.queue,
                "updated_at": work.now, "routing_history": [step] if department else [],
            })
            return
        moved = department is not None and department != row.current_department_id
        if not moved and row.current_queue == task.queue:
            return  # nothing new to say about where the case is
        values: dict[str, Any] = {"current_queue": task.queue, "updated_at": work.now}
        if moved:
            values["previous_department_id"] = row.current_department_id
            values["current_department_id"] = department
            values["routing_history"] = [*(row.routing_history or []), step]
        work.update_row(w.K, {"id": row.id}, values)

    def _expression(self, source: str) -> Expression:
        found = self._expressions.get(source)
        if found is None:
            found = compile_expression(source)
            with self._expressions_lock:
                self._expressions[source] = found
        return found


def auto_assign(
    work: w.WorkSql,
    queue: Queue,
    priority: int,
    assignments: Sequence[QueueAssignment],
    pending: _Pending | None = None,
) -> tuple[str, str] | None:
    """(user, strategy) chosen by the queue's auto-assigning ``assignments`` (highest
    priority level first), or None."""
    pending = pending or _Pending()
    for a in assignments:
        locked = work.lock_assignment(a.id)
        last = locked.last_assigned_user if locked is not None else a.last_assigned_user
        chosen = _choose_for(work, queue, a, priority, pending, last)
        if chosen is not None:
            if a.strategy == "ROUND_ROBIN":
                work.update_row(w.A, {"id": a.id}, {"last_assigned_user": chosen})
            return chosen, a.strategy
    return None


def _choose_for(
    work: w.WorkSql,
    queue: Queue,
    a: QueueAssignment,
    priority: int,
    pending: _Pending,
    last: str | None,
) -> str | None:
    holders = work.holders(a.role_id)
    if not holders:
        return None
    ids = [h.id for h in holders]
    loads = work.assigned_priorities(ids)
    skills = work.user_skills(ids) if a.strategy == "SKILL_BASED" else {}
    demand = Demand(
        priority=priority,
        required_skills=work.queue_skills(queue.id) if a.strategy == "SKILL_BASED" else {},
        min_experience=queue.min_experience,
        priority_weights=queue.priority_weights,
    )
    excluded: set[str] = set()
    while True:
        candidates = []
        for h in holders:
            if h.id in excluded:
                continue
            mine = loads.get(h.id, []) + pending.user_load.get(h.id, [])
            candidates.append(Candidate(
                user_id=h.id,
                load=len(mine),
                experience_level=h.experience_level,
                skills=skills.get(h.id, {}),
                priorities=mine,
            ))
        chosen = choose(
            a.strategy, candidates, demand, max_tasks=a.max_tasks_per_user, last_assigned=last
        )
        if chosen is None or not work.pg:
            return chosen
        # PostgreSQL: hold the user, then count again (another queue may have assigned)
        work.lock_user(chosen)
        fresh = work.assigned_priorities([chosen])[chosen] + pending.user_load.get(chosen, [])
        if len(fresh) < a.max_tasks_per_user:
            return chosen
        loads[chosen] = fresh
        excluded.add(chosen)


__all__ = ["Acting", "WorkRouter", "acting", "auto_assign", "new_history_id", "work_sql"]
