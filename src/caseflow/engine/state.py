"""The runtime state of one process instance, as the rows that hold it.

Each record class is one table row (``caseflow.store`` maps them 1:1). An
:class:`InstanceState` is the aggregate a command works on: the instance row, its
executions (tokens and scopes) and variables, and its open tasks, external tasks, event
subscriptions, jobs and incidents. The core changes it only through the methods here,
which keep a journal of what was inserted, updated and deleted, so that storage writes
exactly the difference and nothing is serialised whole.

Runtime state never grows with the work done: a token that moves is the same row with a
new ``element_id``; what happened is appended to ``history`` (written, never loaded).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

InstanceStatus = Literal["ACTIVE", "SUSPENDED", "COMPLETED", "TERMINATED", "ERROR"]
ACTIVE: InstanceStatus = "ACTIVE"
SUSPENDED: InstanceStatus = "SUSPENDED"
COMPLETED: InstanceStatus = "COMPLETED"
TERMINATED: InstanceStatus = "TERMINATED"
ERROR: InstanceStatus = "ERROR"
ENDED_STATUSES = frozenset({COMPLETED, TERMINATED, ERROR})

DEFAULT_TENANT = "default"


@dataclass(slots=True)
class InstanceRecord:
    id: str
    definition_id: str
    process_key: str
    status: InstanceStatus
    started_at: datetime
    tenant_id: str = DEFAULT_TENANT
    business_key: str | None = None
    case_id: str | None = None
    started_by: str | None = None
    parent_instance_id: str | None = None  # the calling instance (call activity)
    parent_execution_id: str | None = None  # the call activity's execution there
    root_instance_id: str | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    suspended_at: datetime | None = None
    revision: int = 0  # optimistic lock; bumped by storage on every committed change


ExecutionState = Literal["waiting", "joining", "scope"]


@dataclass(slots=True)
class Execution:
    """A token, or a scope that holds tokens (subprocess, multi-instance body).

    ``parent_id`` is the enclosing scope execution, ``None`` for the process scope.
    A token at a subprocess *is* that subprocess's scope (state ``scope``); the tokens
    inside name it as parent. A multi-instance activity has a body execution
    (``is_mi_body``) whose children run the activity once each (``loop_counter``).
    """

    id: str
    instance_id: str
    element_id: str
    state: ExecutionState
    created_at: datetime
    parent_id: str | None = None
    arrived_via: str | None = None  # the sequence flow a joining token came by
    is_mi_body: bool = False
    loop_counter: int | None = None
    history_id: str | None = None  # the open ActivityRecord of the element it is at
    called_instance_id: str | None = None  # the child instance a call activity waits for
    tenant_id: str = DEFAULT_TENANT


VariableType = Literal[
    "null", "string", "integer", "decimal", "float", "boolean", "date", "datetime", "json"
]


@dataclass(slots=True)
class Variable:
    """A typed variable; ``scope_id`` is an execution id, ``None`` for the instance."""

    id: str
    instance_id: str
    name: str
    value: Any
    type: VariableType
    scope_id: str | None = None
    tenant_id: str = DEFAULT_TENANT


TaskStatus = Literal["OPEN", "CLAIMED", "COMPLETED", "CANCELLED", "DELEGATED", "ESCALATED"]
OPEN_TASK_STATUSES = frozenset({"OPEN", "CLAIMED", "DELEGATED", "ESCALATED"})


@dataclass(slots=True)
class UserTaskRecord:
    id: str
    instance_id: str
    execution_id: str
    element_id: str
    process_key: str
    definition_id: str
    name: str | None
    status: TaskStatus
    created_at: datetime
    priority: int = 50
    assignee: str | None = None
    candidate_users: tuple[str, ...] = ()
    candidate_groups: tuple[str, ...] = ()
    form_key: str | None = None
    queue: str | None = None
    due_at: datetime | None = None
    follow_up_at: datetime | None = None
    business_key: str | None = None
    case_id: str | None = None
    completed_at: datetime | None = None
    completed_by: str | None = None
    outcome: str | None = None
    tenant_id: str = DEFAULT_TENANT
    # set by the human-work layer when a task is assigned as it is created (routing,
    # auto-assignment); it travels with the record because the row is not written yet
    claimed_at: datetime | None = None


@dataclass(slots=True)
class ExternalTaskRecord:
    id: str
    instance_id: str
    execution_id: str
    element_id: str
    process_key: str
    definition_id: str
    topic: str
    created_at: datetime
    retries: int | None = None  # None: never failed yet
    priority: int = 0
    lock_owner: str | None = None
    lock_expires_at: datetime | None = None
    error_message: str | None = None
    error_details: str | None = None
    business_key: str | None = None
    suspended: bool = False
    tenant_id: str = DEFAULT_TENANT


SubscriptionKind = Literal["message", "signal", "conditional"]


@dataclass(slots=True)
class EventSubscription:
    id: str
    instance_id: str
    execution_id: str
    element_id: str  # the catching node (receive task, catch event, boundary, start)
    kind: SubscriptionKind
    event_name: str
    created_at: datetime
    correlation_key: str | None = None
    tenant_id: str = DEFAULT_TENANT


JobKind = Literal["timer", "async-continuation"]


@dataclass(slots=True)
class Job:
    id: str
    kind: JobKind
    due_at: datetime
    created_at: datetime
    instance_id: str | None = None
    execution_id: str | None = None
    element_id: str | None = None
    definition_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    retries: int = 3
    lock_owner: str | None = None
    lock_expires_at: datetime | None = None
    error_message: str | None = None
    tenant_id: str = DEFAULT_TENANT


@dataclass(slots=True)
class Incident:
    id: str
    instance_id: str
    kind: str  # "failedExternalTask" | "failedJob" | "unhandledError" | ...
    message: str
    created_at: datetime
    execution_id: str | None = None
    element_id: str | None = None
    external_task_id: str | None = None
    job_id: str | None = None
    resolved_at: datetime | None = None
    tenant_id: str = DEFAULT_TENANT


@dataclass(slots=True)
class ActivityRecord:
    """History: one element entered (and later left) by one execution. Append-only."""

    id: str
    instance_id: str
    execution_id: str
    element_id: str
    element_type: str
    started_at: datetime
    element_name: str | None = None
    ended_at: datetime | None = None
    outcome: Literal["completed", "cancelled"] | None = None
    called_instance_id: str | None = None
    tenant_id: str = DEFAULT_TENANT


R = TypeVar("R")


class Table(Generic[R]):
    """A keyed collection of one kind of record that journals its changes.

    ``loader`` fills it on first use, so a command that never touches (say) jobs
    never reads them.
    """

    __slots__ = ("_deleted", "_inserted", "_loader", "_rows", "_updated")

    def __init__(self, loader: Callable[[], list[R]] | None = None) -> None:
        self._rows: dict[str, R] | None = None if loader else {}
        self._loader = loader
        self._inserted: set[str] = set()
        self._updated: set[str] = set()
        self._deleted: dict[str, R] = {}

    @property
    def rows(self) -> dict[str, R]:
        if self._rows is None:
            if self._loader is None:
                raise RuntimeError("a table without rows needs a loader")
            self._rows = {r.id: r for r in self._loader()}  # type: ignore[attr-defined]
        return self._rows

    def __iter__(self) -> Iterator[R]:
        return iter(list(self.rows.values()))

    def __len__(self) -> int:
        return len(self.rows)

    # the methods below read ``_rows`` first and fall back to the loading property:
    # they run several times per step of every command

    def get(self, key: str) -> R | None:
        rows = self._rows
        return (self.rows if rows is None else rows).get(key)

    def add(self, row: R) -> R:
        key: str = row.id  # type: ignore[attr-defined]
        rows = self._rows
        (self.rows if rows is None else rows)[key] = row
        self._inserted.add(key)
        if self._deleted:
            self._deleted.pop(key, None)
        return row

    def touch(self, row: R) -> None:
        """Mark a row changed in place (a row already inserted or removed needs nothing)."""
        key: str = row.id  # type: ignore[attr-defined]
        if key not in self._inserted:
            rows = self._rows
            if key in (self.rows if rows is None else rows):
                self._updated.add(key)

    def remove(self, row: R) -> None:
        key: str = row.id  # type: ignore[attr-defined]
        self.rows.pop(key, None)
        if key in self._inserted:
            self._inserted.discard(key)
        else:
            self._updated.discard(key)
            self._deleted[key] = row

    @property
    def loaded(self) -> bool:
        return self._rows is not None

    def changes(self) -> tuple[list[R], list[R], list[R]]:
        """(inserted, updated, deleted) since load or the last :meth:`reset_journal`."""
        if self._rows is None:
            return [], [], []
        rows = self._rows
        return (
            [rows[k] for k in self._inserted],
            [rows[k] for k in self._updated],
            list(self._deleted.values()),
        )

    def inserted(self) -> list[R]:
        """The rows inserted since load or the last :meth:`reset_journal`."""
        if self._rows is None or not self._inserted:
            return []
        rows = self._rows
        return [rows[k] for k in self._inserted]

    def reset_journal(self) -> None:
        if self._inserted:
            self._inserted.clear()
        if self._updated:
            self._updated.clear()
        if self._deleted:
            self._deleted.clear()


@dataclass(slots=True)
class InstanceState:
    """One process instance's runtime rows, plus the history a command appended.

    ``tasks`` holds the instance's open user tasks (and a closed one a command looked up
    by id): a completed or cancelled task is history, which no command changes, so a
    command's cost does not grow with the tasks an instance has finished.
    """

    instance: InstanceRecord
    executions: Table[Execution]
    variables: Table[Variable]
    tasks: Table[UserTaskRecord]
    external_tasks: Table[ExternalTaskRecord]
    subscriptions: Table[EventSubscription]
    jobs: Table[Job]
    incidents: Table[Incident]
    history: list[ActivityRecord] = field(default_factory=list)
    history_updates: dict[str, ActivityRecord] = field(default_factory=dict)
    is_new: bool = False
    instance_changed: bool = False

    @classmethod
    def new(cls, instance: InstanceRecord) -> InstanceState:
        return cls(
            instance=instance,
            executions=Table(),
            variables=Table(),
            tasks=Table(),
            external_tasks=Table(),
            subscriptions=Table(),
            jobs=Table(),
            incidents=Table(),
            is_new=True,
        )

    def tables(self) -> dict[str, Table[Any]]:
        return {
            "executions": self.executions,
            "variables": self.variables,
            "tasks": self.tasks,
            "external_tasks": self.external_tasks,
            "subscriptions": self.subscriptions,
            "jobs": self.jobs,
            "incidents": self.incidents,
        }

    def reset_journal(self) -> None:
        """Forget the journal after storage wrote it."""
        for table in (
            self.executions,
            self.variables,
            self.tasks,
            self.external_tasks,
            self.subscriptions,
            self.jobs,
            self.incidents,
        ):
            # Table.reset_journal inlined: this runs after every command
            if table._inserted:
                table._inserted.clear()
            if table._updated:
                table._updated.clear()
            if table._deleted:
                table._deleted.clear()
        self.history.clear()
        self.history_updates.clear()
        self.is_new = False
        self.instance_changed = False
