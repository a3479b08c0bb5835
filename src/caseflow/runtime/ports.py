"""The storage port the runtime drives: one abstract class, several adapters.

``caseflow.store.memory.MemoryStore`` keeps rows in dictionaries (tests, benchmarks,
embedded use without a file); ``caseflow.store.sql.SqlStore`` keeps them in SQLite or
PostgreSQL. Both pass the same contract tests (``tests/store``).

A :class:`Transaction` is one unit of work. ``save`` writes an instance's journal with an
optimistic check on ``revision`` and raises :class:`~caseflow.errors.ConcurrencyConflict`
when another transaction got there first; the runtime then rolls back and retries.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from caseflow.engine.state import (
    DEFAULT_TENANT,
    ActivityRecord,
    EventSubscription,
    ExternalTaskRecord,
    Incident,
    InstanceRecord,
    InstanceState,
    Job,
    UserTaskRecord,
    Variable,
)

DefinitionStatus = Literal["Draft", "Testing", "Deployed", "Deprecated"]
DEFINITION_STATUSES: tuple[DefinitionStatus, ...] = ("Draft", "Testing", "Deployed", "Deprecated")


@dataclass(slots=True)
class DeploymentRecord:
    id: str
    name: str
    deployed_at: datetime
    resource_name: str
    source: str  # the original XML, as uploaded
    content_hash: str
    deployed_by: str | None = None
    tenant_id: str = DEFAULT_TENANT


@dataclass(slots=True)
class DefinitionRecord:
    """One version of one process key. Metadata from the seeds travels with it."""

    id: str
    key: str
    version: int
    deployment_id: str
    content_hash: str  # hash of the process's source; an equal hash means "unchanged"
    deployed_at: datetime
    name: str | None = None
    resource_name: str | None = None
    version_tag: str | None = None
    category: str | None = None
    procedure_code: str | None = None
    sla_target_hours: float | None = None
    status: DefinitionStatus = "Deployed"
    deployed_by: str | None = None
    tenant_id: str = DEFAULT_TENANT


@dataclass(slots=True)
class InstanceQuery:
    process_key: str | None = None
    definition_id: str | None = None
    status: str | None = None
    business_key: str | None = None
    case_id: str | None = None
    parent_instance_id: str | None = None
    tenant_id: str | None = None
    limit: int = 100
    offset: int = 0


@dataclass(slots=True)
class TaskQuery:
    """Open user tasks by the usual filters; ``include_closed`` adds finished ones."""

    instance_id: str | None = None
    process_key: str | None = None
    element_id: str | None = None
    assignee: str | None = None
    candidate_group: str | None = None
    candidate_user: str | None = None
    business_key: str | None = None
    include_closed: bool = False
    tenant_id: str | None = None
    limit: int = 100
    offset: int = 0


@dataclass(slots=True)
class TopicRequest:
    topic: str
    lock_duration_ms: int
    variables: Sequence[str] | None = None


@dataclass(slots=True)
class CommandRecord:
    """A finished command, kept under its idempotency key to answer retries."""

    key: str
    command: str
    result: dict[str, Any]
    created_at: datetime
    tenant_id: str = DEFAULT_TENANT


@dataclass(slots=True)
class BufferedMessage:
    """A published message no receiver waited for, kept until ``expires_at`` for a
    receiver that subscribes later (its time to live). Narrowed like a correlation: by
    ``business_key`` (the receiving instance's) and ``correlation_key`` (the receiver's)."""

    id: str
    name: str
    published_at: datetime
    expires_at: datetime
    variables: dict[str, Any] = field(default_factory=dict)
    business_key: str | None = None
    correlation_key: str | None = None
    tenant_id: str = DEFAULT_TENANT

    def matches(self, correlation_key: str | None, business_key: str | None) -> bool:
        """Whether a receiver with these keys may take this message."""
        return (self.correlation_key is None or self.correlation_key == correlation_key) and (
            self.business_key is None or self.business_key == business_key
        )


@dataclass(slots=True)
class OutboxEvent:
    """Something that happened, for the world outside: written in the same transaction as
    the change it reports (a transactional outbox), delivered later, at least once.

    ``type`` is one of the names in :mod:`caseflow.events` (WorkflowStarted,
    StepAssigned, SLABreached, ...). ``payload`` is JSON. Delivery keeps the order of
    one instance's events: the order they were added in, which storage keeps as ``seq``.
    """

    id: str  # UUID v7: consumers deduplicate on it
    type: str
    occurred_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    instance_id: str | None = None
    task_id: str | None = None
    tenant_id: str = DEFAULT_TENANT


@dataclass(slots=True)
class SubscriptionQuery:
    kind: str
    event_name: str
    correlation_key: str | None = None
    business_key: str | None = None
    instance_id: str | None = None
    tenant_id: str = DEFAULT_TENANT


@dataclass(slots=True)
class Page:
    items: list[Any] = field(default_factory=list)
    total: int = 0


class Transaction(abc.ABC):
    """One unit of work; everything read and written goes through here."""

    # --- definitions ---
    @abc.abstractmethod
    def insert_deployment(
        self, deployment: DeploymentRecord, definitions: Sequence[DefinitionRecord]
    ) -> None: ...

    @abc.abstractmethod
    def latest_definition(
        self, key: str, tenant_id: str = DEFAULT_TENANT
    ) -> DefinitionRecord | None:
        """The highest version of ``key``, whatever its status."""

    @abc.abstractmethod
    def get_definition(self, definition_id: str) -> DefinitionRecord | None: ...

    @abc.abstractmethod
    def definition_version(
        self, key: str, version: int, tenant_id: str = DEFAULT_TENANT
    ) -> DefinitionRecord | None: ...

    @abc.abstractmethod
    def list_definitions(
        self, key: str | None = None, tenant_id: str | None = None
    ) -> list[DefinitionRecord]: ...

    @abc.abstractmethod
    def set_definition_status(self, definition_id: str, status: DefinitionStatus) -> None: ...

    @abc.abstractmethod
    def deployment_source(self, deployment_id: str) -> DeploymentRecord | None: ...

    # --- instances ---
    @abc.abstractmethod
    def load_instance(self, instance_id: str) -> InstanceState | None:
        """The instance row and its executions and variables now; the rest on first use."""

    @abc.abstractmethod
    def save(self, state: InstanceState) -> None:
        """Write the state's journal; check and bump ``revision`` (ConcurrencyConflict)."""

    @abc.abstractmethod
    def query_instances(self, query: InstanceQuery) -> list[InstanceRecord]: ...

    @abc.abstractmethod
    def instance_variables(self, instance_id: str) -> list[Variable]: ...

    @abc.abstractmethod
    def activity_history(self, instance_id: str) -> list[ActivityRecord]: ...

    # --- lookups that lead to an instance ---
    @abc.abstractmethod
    def get_task(self, task_id: str) -> UserTaskRecord | None: ...

    @abc.abstractmethod
    def query_tasks(self, query: TaskQuery) -> list[UserTaskRecord]: ...

    @abc.abstractmethod
    def get_external_task(self, external_task_id: str) -> ExternalTaskRecord | None: ...

    @abc.abstractmethod
    def lock_external_tasks(
        self,
        worker_id: str,
        topics: Sequence[TopicRequest],
        max_tasks: int,
        now: datetime,
        tenant_ids: Sequence[str] | None = None,
    ) -> list[ExternalTaskRecord]:
        """Lock up to ``max_tasks`` unlocked (or lock-expired) tasks of the topics.

        Skips tasks of suspended instances and tasks with ``retries == 0``. On PostgreSQL
        one statement with ``FOR UPDATE SKIP LOCKED``; highest priority, oldest first.
        The lock is written here; it does not change the instance's revision.
        ``tenant_ids`` limits the claim to those tenants (``None``: any tenant).
        """

    @abc.abstractmethod
    def extend_external_task_lock(
        self, external_task_id: str, worker_id: str, until: datetime
    ) -> bool: ...

    @abc.abstractmethod
    def find_subscriptions(self, query: SubscriptionQuery) -> list[EventSubscription]: ...

    @abc.abstractmethod
    def open_incidents(self, instance_id: str | None = None) -> list[Incident]: ...

    # --- jobs (timers, async continuations): acquired by any number of executor nodes ---
    @abc.abstractmethod
    def acquire_jobs(
        self,
        node_id: str,
        now: datetime,
        limit: int,
        lock_for: timedelta,
        kinds: Sequence[str] | None = None,
        tenant_ids: Sequence[str] | None = None,
    ) -> list[Job]:
        """Lock up to ``limit`` due jobs for ``node_id``, earliest ``due_at`` first.

        Due: ``due_at <= now``, ``retries > 0``, not locked or lock expired
        (``lock_expires_at <= now``), instance (if any) not SUSPENDED. Sets
        ``lock_owner = node_id`` and ``lock_expires_at = now + lock_for``. On PostgreSQL
        one ``UPDATE ... WHERE (id, tenant_id) IN (SELECT ... ORDER BY due_at FOR UPDATE
        SKIP LOCKED LIMIT n) RETURNING``. Does not change any instance's revision.
        ``kinds`` / ``tenant_ids`` restrict what is acquired (``None``: any).
        """

    @abc.abstractmethod
    def lock_job_for_execution(
        self,
        job_id: str,
        node_id: str,
        now: datetime,
        *,
        read_ahead: Collection[str] | None = None,
    ) -> Job | None:
        """Inside the transaction that executes the job: re-read and row-lock it if
        ``node_id`` still holds an unexpired lock (PostgreSQL ``SELECT ... FOR UPDATE``).

        ``None`` when the lock was lost (expired and taken, released, retried by an
        operator) or the job is gone: the caller must then not execute it. This is what
        makes a job run once: a node whose lock expired and was taken over cannot get
        past here, and a node that got past here holds the row until it commits.

        ``read_ahead``: the caller goes on to load and change the job's instance, and to
        touch its jobs and these of its tables (as ``InstanceState`` names them). A store
        may read them along (PostgreSQL: the instance's row locked first, as every command
        on an instance takes it, then the job and the rows, in the same round trip).
        """

    @abc.abstractmethod
    def record_job_failure(
        self, job_id: str, node_id: str, message: str, next_due_at: datetime, now: datetime
    ) -> Job | None:
        """The job failed on ``node_id``: ``retries -= 1``, ``error_message``,
        ``due_at = next_due_at``, lock released.

        At zero retries an Incident (kind ``failedJob``, with the job's id and its
        instance, execution and element) is written for a job of an instance; the job
        stays, not acquirable, until :meth:`set_job_retries`. Returns the updated job,
        ``None`` if ``node_id`` no longer held it (nothing is changed then).
        """

    @abc.abstractmethod
    def set_job_retries(self, job_id: str, retries: int, now: datetime) -> bool:
        """An operator's retry: set ``retries``, clear the lock and, when ``retries > 0``,
        resolve the job's open incidents (``resolved_at = now``). False: no such job."""

    @abc.abstractmethod
    def release_job(self, job_id: str, node_id: str) -> None:
        """Give back a job acquired but not run (shutdown); a no-op if not ``node_id``'s."""

    @abc.abstractmethod
    def get_job(self, job_id: str) -> Job | None: ...

    @abc.abstractmethod
    def query_jobs(
        self,
        *,
        instance_id: str | None = None,
        kind: str | None = None,
        definition_id: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """Jobs by the given filters, earliest ``due_at`` first."""

    @abc.abstractmethod
    def insert_jobs(self, jobs: Sequence[Job]) -> None:
        """Jobs that belong to no instance (timer start events of a definition).

        A job of an instance is written through ``InstanceState.jobs`` and ``save``
        (ValueError here). A duplicate id raises ConcurrencyConflict.
        """

    @abc.abstractmethod
    def delete_jobs(self, job_ids: Sequence[str]) -> None:
        """Delete jobs by id (unknown ids are ignored); meant for jobs of no instance."""

    # --- idempotency ---
    @abc.abstractmethod
    def get_command(self, key: str, tenant_id: str = DEFAULT_TENANT) -> CommandRecord | None: ...

    @abc.abstractmethod
    def insert_command(self, record: CommandRecord) -> None:
        """Insert; a duplicate key raises ConcurrencyConflict (a racing twin committed)."""

    # --- buffered messages ---
    @abc.abstractmethod
    def lock_message_name(self, name: str, tenant_id: str, *, exclusive: bool) -> None:
        """Order publishing and subscribing for one message name until this transaction
        ends (PostgreSQL: a transaction-level advisory lock, shared for receivers that
        look in the buffer, exclusive for a publisher about to buffer). So a message is
        never buffered while a receiver that would take it commits unseen beside it."""

    @abc.abstractmethod
    def buffer_message(self, message: BufferedMessage) -> None:
        """Keep ``message`` for a later receiver; messages expired by its ``published_at``
        are removed on the way."""

    @abc.abstractmethod
    def take_buffered_message(
        self,
        name: str,
        tenant_id: str,
        correlation_key: str | None,
        business_key: str | None,
        now: datetime,
    ) -> BufferedMessage | None:
        """Remove and return the oldest unexpired message of ``name`` that a receiver
        with these keys may take (see :meth:`BufferedMessage.matches`), if any."""

    @abc.abstractmethod
    def buffered_messages(
        self, tenant_id: str, now: datetime, name: str | None = None, limit: int = 100
    ) -> list[BufferedMessage]:
        """Unexpired buffered messages, oldest first."""

    @abc.abstractmethod
    def discard_buffered_message(self, message_id: str, tenant_id: str) -> bool:
        """Remove a buffered message; whether there was one."""

    # --- the outbox ---
    @abc.abstractmethod
    def add_events(self, events: Sequence[OutboxEvent]) -> None:
        """Append events to the outbox, in this order, committed with the transaction."""

    @abc.abstractmethod
    def events_after(self, seq: int, limit: int = 100) -> list[tuple[int, OutboxEvent]]:
        """Committed events with a ``seq`` above ``seq``, oldest first, with their seq.

        On PostgreSQL a transaction that began earlier may still commit a lower seq after
        a later one is visible: a reader that must see every event keeps its own
        delivery state and does not trust a bare cursor over ``seq``."""


@dataclass(slots=True)
class TaskChanges:
    """What one command did to user tasks, for the human-work layer to act on.

    ``created`` tasks are not written yet: a listener may still set their queue,
    assignee, status, priority or due date, and storage writes what it leaves.
    """

    created: list[UserTaskRecord] = field(default_factory=list)
    completed: list[UserTaskRecord] = field(default_factory=list)
    cancelled: list[UserTaskRecord] = field(default_factory=list)
    # the variables a task sees as the command left them (process scope overlaid by the
    # locals of its enclosing scopes); not written yet either, so only the engine knows
    variables: Callable[[UserTaskRecord], Mapping[str, Any]] | None = None

    def __bool__(self) -> bool:
        return bool(self.created or self.completed or self.cancelled)

    def task_variables(self, task: UserTaskRecord) -> Mapping[str, Any]:
        return {} if self.variables is None else self.variables(task)


class TaskListener(abc.ABC):
    """Told of task changes inside the command's transaction, before it is written."""

    @abc.abstractmethod
    def tasks_changed(self, tx: Transaction, changes: TaskChanges, now: datetime) -> None: ...


@dataclass(slots=True)
class InstanceChanges:
    """What one command did, for listeners that report it (the event recorder).

    ``instances``: each instance the command touched, with its status when the command
    loaded it (``None``: the command created it). ``tasks``: the command's task
    changes, as the task listeners left them (routed, assigned). Nothing is written yet.
    """

    instances: list[tuple[InstanceState, str | None]] = field(default_factory=list)
    tasks: TaskChanges = field(default_factory=TaskChanges)


class InstanceListener(abc.ABC):
    """Told what a command did inside its transaction, after the task listeners and
    before it is written: what it adds (outbox events) commits or rolls back with it."""

    @abc.abstractmethod
    def instances_changed(self, tx: Transaction, changes: InstanceChanges, now: datetime) -> None:
        ...


class Store(abc.ABC):
    """Where state lives. ``transaction()`` commits on success, rolls back on error."""

    @abc.abstractmethod
    def transaction(self, *, read_only: bool = False) -> AbstractContextManager[Transaction]:
        """A unit of work. ``read_only`` is a promise not to write: on SQLite it starts a
        shared read (``BEGIN``) instead of taking the writer lock (``BEGIN IMMEDIATE``),
        so queries do not queue behind commands."""

    def close(self) -> None:  # noqa: B027 - optional for adapters without resources
        """Release connections."""
