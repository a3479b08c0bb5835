"""The storage port in dictionaries: tests, benchmarks, embedded use without a file.

It keeps the contract of :class:`~caseflow.store.sql.SqlStore` where a caller can see
it: rows are copied on the way in and out (a caller's later change to a record never
leaks into the store), a transaction that raises leaves nothing behind (an undo log),
``save`` checks and bumps the revision, duplicate keys raise
:class:`~caseflow.errors.ConcurrencyConflict`, queries sort the same way, candidates
come back sorted, variables come back as the SQL store gives them.

One transaction at a time: ``transaction()`` holds the store's lock until it ends, so
threads queue (as SQLite writers do). Do not open a second transaction in the same
thread while one is open.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any, Generic, TypeVar

import uuid_utils

from caseflow.engine.state import (
    DEFAULT_TENANT,
    ActivityRecord,
    EventSubscription,
    Execution,
    ExternalTaskRecord,
    Incident,
    InstanceRecord,
    InstanceState,
    Job,
    Table,
    UserTaskRecord,
    Variable,
)
from caseflow.errors import ConcurrencyConflict, NotFound
from caseflow.runtime.ports import (
    BufferedMessage,
    CommandRecord,
    DefinitionRecord,
    DefinitionStatus,
    DeploymentRecord,
    InstanceQuery,
    OutboxEvent,
    Store,
    SubscriptionQuery,
    TaskQuery,
    TopicRequest,
    Transaction,
)
from caseflow.store import codec
from caseflow.store.schema import OPEN_TASK_STATUSES

DOOMED = "rolled back: a write in this transaction lost a race (ConcurrencyConflict)"

R = TypeVar("R")
_MISSING: Any = object()


def _clone(record: R) -> R:
    """A copy of a record: its class called with its field values (what copy.copy does,
    several times faster), with mutable JSON values copied deeply."""
    copier = _COPIERS.get(type(record))
    if copier is None:
        copier = _COPIERS[type(record)] = _copier(type(record))
    return copier(record)  # type: ignore[no-any-return]


def _copier(cls: type[Any]) -> Callable[[Any], Any]:
    if not is_dataclass(cls) or any(not f.init for f in fields(cls)):
        return _generic_copy
    names = [f.name for f in fields(cls)]
    if len(names) < 2:
        return _generic_copy
    values = attrgetter(*names)

    def plain(record: Any) -> Any:
        return cls(*values(record))

    if cls is Variable:

        def variable(record: Variable) -> Variable:
            c: Variable = plain(record)
            if isinstance(c.value, dict | list):
                c.value = copy.deepcopy(c.value)
            return c

        return variable
    if cls is Job:

        def job(record: Job) -> Job:
            c: Job = plain(record)
            c.payload = copy.deepcopy(c.payload)
            return c

        return job
    if cls is CommandRecord:

        def command(record: CommandRecord) -> CommandRecord:
            c: CommandRecord = plain(record)
            c.result = copy.deepcopy(c.result)
            return c

        return command
    if cls is UserTaskRecord:

        def task(record: UserTaskRecord) -> UserTaskRecord:
            c: UserTaskRecord = plain(record)
            if c.candidate_users:
                c.candidate_users = tuple(sorted(set(c.candidate_users)))
            if c.candidate_groups:
                c.candidate_groups = tuple(sorted(set(c.candidate_groups)))
            return c

        return task
    return plain


def _generic_copy(record: Any) -> Any:
    c = copy.copy(record)
    if isinstance(record, Variable) and isinstance(record.value, dict | list):
        c.value = copy.deepcopy(record.value)
    return c


_COPIERS: dict[type[Any], Callable[[Any], Any]] = {}


def _stored_variable(var: Variable) -> Variable:
    """The variable as the SQL store would give it back (same codec, same checks)."""
    c = _clone(var)
    c.value = codec.decode(var.type, codec.encode(var))
    if var.type == "json":
        c.value = _json_copy(c.value)
    return c


def _json_copy(value: Any) -> Any:
    """A copy of a JSON value as the SQL store gives it back (see codec.dumps_json)."""
    return None if value is None else codec.loads_json(codec.dumps_json(value))


class _Rows(Generic[R]):
    """One table: rows by id, and the ids of each instance's rows."""

    def __init__(self, undo: Callable[[], list[tuple[Any, ...]]]) -> None:
        self.rows: dict[str, R] = {}
        self.by_instance: dict[str, set[str]] = {}
        self._undo = undo

    def put(self, row: R) -> None:
        key: str = row.id  # type: ignore[attr-defined]
        self._undo().append((self, key, self.rows.get(key, _MISSING)))
        self._raw_put(key, row)

    def delete(self, key: str) -> None:
        old = self.rows.get(key, _MISSING)
        if old is not _MISSING:
            self._undo().append((self, key, old))
            self._raw_delete(key)

    def of_instance(self, instance_id: str) -> list[R]:
        return [self.rows[k] for k in self.by_instance.get(instance_id, ())]

    def _raw_put(self, key: str, row: R) -> None:
        old = self.rows.get(key)
        if old is not None:
            self._unindex(key, old)
        self.rows[key] = row
        instance_id = getattr(row, "instance_id", None)
        if instance_id is not None:
            self.by_instance.setdefault(instance_id, set()).add(key)

    def _raw_delete(self, key: str) -> None:
        old = self.rows.pop(key)
        self._unindex(key, old)

    def _unindex(self, key: str, row: R) -> None:
        instance_id = getattr(row, "instance_id", None)
        if instance_id is not None:
            ids = self.by_instance.get(instance_id)
            if ids is not None:
                ids.discard(key)
                if not ids:
                    del self.by_instance[instance_id]

    def restore(self, key: str, old: Any) -> None:
        if old is _MISSING:
            if key in self.rows:
                self._raw_delete(key)
        else:
            self._raw_put(key, old)


class MemoryStore(Store):
    """All state in this process's memory; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._undo_log: list[tuple[Any, ...]] = []
        undo = self._get_undo
        self.deployments: _Rows[DeploymentRecord] = _Rows(undo)
        self.definitions: _Rows[DefinitionRecord] = _Rows(undo)
        self.instances: _Rows[InstanceRecord] = _Rows(undo)
        self.executions: _Rows[Execution] = _Rows(undo)
        self.variables: _Rows[Variable] = _Rows(undo)
        self.tasks: _Rows[UserTaskRecord] = _Rows(undo)
        self.external_tasks: _Rows[ExternalTaskRecord] = _Rows(undo)
        self.subscriptions: _Rows[EventSubscription] = _Rows(undo)
        self.jobs: _Rows[Job] = _Rows(undo)
        self.incidents: _Rows[Incident] = _Rows(undo)
        self.history: _Rows[ActivityRecord] = _Rows(undo)
        self.history_seq: dict[str, int] = {}
        self.commands: dict[tuple[str, str], CommandRecord] = {}
        self.outbox: dict[int, OutboxEvent] = {}  # by seq, which only grows
        self.outbox_seq = 0
        self.buffered: dict[str, BufferedMessage] = {}  # by id, in publishing order

    def _get_undo(self) -> list[tuple[Any, ...]]:
        return self._undo_log

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[MemoryTransaction]:
        with self._lock:
            self._undo_log = []
            tx = MemoryTransaction(self)
            try:
                yield tx
                if tx.doomed:
                    raise ConcurrencyConflict(DOOMED)
            except BaseException:
                self._rollback()
                raise
            finally:
                tx.closed = True
                self._undo_log = []

    def _rollback(self) -> None:
        for entry in reversed(self._undo_log):
            target = entry[0]
            if isinstance(target, _Rows):
                target.restore(entry[1], entry[2])
            else:  # a plain dict
                key, old = entry[1], entry[2]
                if old is _MISSING:
                    target.pop(key, None)
                else:
                    target[key] = old

    def _dict_put(self, target: dict[Any, Any], key: Any, value: Any) -> None:
        self._undo_log.append((target, key, target.get(key, _MISSING)))
        target[key] = value

    def _dict_pop(self, target: dict[Any, Any], key: Any) -> Any:
        old = target.pop(key, _MISSING)
        if old is not _MISSING:
            self._undo_log.append((target, key, old))
        return None if old is _MISSING else old


_TABLES = ("executions", "variables", "tasks", "external_tasks", "subscriptions", "jobs",
           "incidents")


class MemoryTransaction(Transaction):
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.closed = False
        self.doomed = False

    def _conflict(self, message: str) -> ConcurrencyConflict:
        self.doomed = True  # like SqlStore: a transaction that lost a race never commits
        return ConcurrencyConflict(message)

    # --- definitions ---

    def insert_deployment(
        self, deployment: DeploymentRecord, definitions: Sequence[DefinitionRecord]
    ) -> None:
        st = self.store
        if deployment.id in st.deployments.rows:
            raise self._conflict(f"deployment {deployment.id!r} exists")
        taken = {(d.tenant_id, d.key, d.version) for d in st.definitions.rows.values()}
        for d in definitions:
            if (d.tenant_id, d.key, d.version) in taken or d.id in st.definitions.rows:
                raise self._conflict(
                    f"deployment {deployment.id!r}: a definition version was taken meanwhile"
                )
            taken.add((d.tenant_id, d.key, d.version))
        st.deployments.put(_clone(deployment))
        for d in definitions:
            st.definitions.put(_clone(d))

    def latest_definition(
        self, key: str, tenant_id: str = DEFAULT_TENANT
    ) -> DefinitionRecord | None:
        found = [
            d for d in self.store.definitions.rows.values()
            if d.key == key and d.tenant_id == tenant_id
        ]
        return _clone(max(found, key=lambda d: d.version)) if found else None

    def get_definition(self, definition_id: str) -> DefinitionRecord | None:
        d = self.store.definitions.rows.get(definition_id)
        return None if d is None else _clone(d)

    def definition_version(
        self, key: str, version: int, tenant_id: str = DEFAULT_TENANT
    ) -> DefinitionRecord | None:
        for d in self.store.definitions.rows.values():
            if d.key == key and d.version == version and d.tenant_id == tenant_id:
                return _clone(d)
        return None

    def list_definitions(
        self, key: str | None = None, tenant_id: str | None = None
    ) -> list[DefinitionRecord]:
        found = [
            d for d in self.store.definitions.rows.values()
            if (key is None or d.key == key) and (tenant_id is None or d.tenant_id == tenant_id)
        ]
        found.sort(key=lambda d: (d.tenant_id, d.key, d.version))
        return [_clone(d) for d in found]

    def set_definition_status(self, definition_id: str, status: DefinitionStatus) -> None:
        d = self.store.definitions.rows.get(definition_id)
        if d is None:
            raise NotFound("process definition", definition_id)
        changed = _clone(d)
        changed.status = status
        self.store.definitions.put(changed)

    def deployment_source(self, deployment_id: str) -> DeploymentRecord | None:
        d = self.store.deployments.rows.get(deployment_id)
        return None if d is None else _clone(d)

    # --- instances ---

    def load_instance(self, instance_id: str) -> InstanceState | None:
        st = self.store
        instance = st.instances.rows.get(instance_id)
        if instance is None:
            return None

        def lazy(rows: _Rows[Any], *, open_tasks: bool = False) -> Callable[[], list[Any]]:
            def load() -> list[Any]:
                if self.closed:
                    raise RuntimeError(
                        "an instance's rows were first touched after its transaction ended; "
                        "load and use an InstanceState within one transaction"
                    )
                return [
                    _clone(r) for r in rows.of_instance(instance_id)
                    if not open_tasks or r.status in OPEN_TASK_STATUSES
                ]

            return load

        return InstanceState(
            instance=_clone(instance),
            executions=_filled([_clone(r) for r in st.executions.of_instance(instance_id)]),
            variables=_filled([_clone(r) for r in st.variables.of_instance(instance_id)]),
            tasks=Table(lazy(st.tasks, open_tasks=True)),
            external_tasks=Table(lazy(st.external_tasks)),
            subscriptions=Table(lazy(st.subscriptions)),
            jobs=Table(lazy(st.jobs)),
            incidents=Table(lazy(st.incidents)),
        )

    def save(self, state: InstanceState) -> None:
        st = self.store
        tables = state.tables()
        changes = {name: tables[name].changes() for name in _TABLES}
        if not (
            state.is_new
            or state.instance_changed
            or state.history
            or state.history_updates
            or any(any(c) for c in changes.values())
        ):
            return
        instance = state.instance
        current = st.instances.rows.get(instance.id)
        if state.is_new:
            if current is not None:
                raise self._conflict(f"process instance {instance.id!r} was created twice")
        elif current is None or current.revision != instance.revision:
            raise self._conflict(
                f"process instance {instance.id!r} changed after revision "
                f"{instance.revision} was read"
            )
        stored = _clone(instance)
        stored.revision = instance.revision + 1
        st.instances.put(stored)
        for name in _TABLES:
            rows: _Rows[Any] = getattr(st, name)
            inserted, updated, deleted = changes[name]
            for r in deleted:
                rows.delete(r.id)
            copy_in = _stored_variable if name == "variables" else _clone
            for r in (*updated, *inserted):
                stored_row = copy_in(r)
                if isinstance(stored_row, Job):
                    stored_row.payload = _json_copy(r.payload)
                rows.put(stored_row)
        # history is kept as written, not copied: the engine never changes a history
        # record it has handed over (an end comes as a new record in history_updates,
        # applied to a copy below), and reads hand out copies
        written = {id(a) for a in state.history}
        for seq, activity in enumerate(state.history):
            st.history.put(activity)
            st._dict_put(st.history_seq, activity.id, seq)
        for activity in state.history_updates.values():
            if id(activity) in written:
                continue  # inserted above with its final values
            old = st.history.rows.get(activity.id)
            if old is not None:
                new = _clone(old)
                new.ended_at = activity.ended_at
                new.outcome = activity.outcome
                new.called_instance_id = activity.called_instance_id
                new.element_name = activity.element_name
                st.history.put(new)
        instance.revision += 1
        state.reset_journal()

    def query_instances(self, query: InstanceQuery) -> list[InstanceRecord]:
        q = query
        found = [
            i for i in self.store.instances.rows.values()
            if (q.process_key is None or i.process_key == q.process_key)
            and (q.definition_id is None or i.definition_id == q.definition_id)
            and (q.status is None or i.status == q.status)
            and (q.business_key is None or i.business_key == q.business_key)
            and (q.case_id is None or i.case_id == q.case_id)
            and (q.parent_instance_id is None or i.parent_instance_id == q.parent_instance_id)
            and (q.tenant_id is None or i.tenant_id == q.tenant_id)
        ]
        found.sort(key=lambda i: i.id)
        found.sort(key=lambda i: i.started_at, reverse=True)
        return [_clone(i) for i in found[q.offset : q.offset + q.limit]]

    def instance_variables(self, instance_id: str) -> list[Variable]:
        found = self.store.variables.of_instance(instance_id)
        found.sort(key=lambda v: (v.scope_id is not None, v.scope_id or "", v.name))
        return [_clone(v) for v in found]

    def activity_history(self, instance_id: str) -> list[ActivityRecord]:
        seq = self.store.history_seq
        found = self.store.history.of_instance(instance_id)
        found.sort(key=lambda a: (a.started_at, seq[a.id], a.id))
        return [_clone(a) for a in found]

    # --- lookups that lead to an instance ---

    def get_task(self, task_id: str) -> UserTaskRecord | None:
        t = self.store.tasks.rows.get(task_id)
        return None if t is None else _clone(t)

    def query_tasks(self, query: TaskQuery) -> list[UserTaskRecord]:
        q = query
        tasks = self.store.tasks
        candidates = (
            tasks.of_instance(q.instance_id) if q.instance_id is not None else tasks.rows.values()
        )
        found = [
            t for t in candidates
            if (q.instance_id is None or t.instance_id == q.instance_id)
            and (q.process_key is None or t.process_key == q.process_key)
            and (q.element_id is None or t.element_id == q.element_id)
            and (q.assignee is None or t.assignee == q.assignee)
            and (q.business_key is None or t.business_key == q.business_key)
            and (q.tenant_id is None or t.tenant_id == q.tenant_id)
            and (q.include_closed or t.status in OPEN_TASK_STATUSES)
            and (q.candidate_group is None or q.candidate_group in t.candidate_groups)
            and (q.candidate_user is None or q.candidate_user in t.candidate_users)
        ]
        found.sort(key=lambda t: (-t.priority, t.created_at, t.id))
        return [_clone(t) for t in found[q.offset : q.offset + q.limit]]

    def get_external_task(self, external_task_id: str) -> ExternalTaskRecord | None:
        t = self.store.external_tasks.rows.get(external_task_id)
        return None if t is None else _clone(t)

    def lock_external_tasks(
        self,
        worker_id: str,
        topics: Sequence[TopicRequest],
        max_tasks: int,
        now: datetime,
        tenant_ids: Sequence[str] | None = None,
    ) -> list[ExternalTaskRecord]:
        if max_tasks <= 0 or not topics:
            return []
        until: dict[str, datetime] = {}
        for request in topics:
            until.setdefault(request.topic, now + timedelta(milliseconds=request.lock_duration_ms))
        tenants = None if tenant_ids is None else set(tenant_ids)
        found = [
            t for t in self.store.external_tasks.rows.values()
            if t.topic in until
            and not t.suspended
            and (t.retries is None or t.retries > 0)
            and (t.lock_expires_at is None or t.lock_expires_at <= now)
            and (tenants is None or t.tenant_id in tenants)
        ]
        found.sort(key=lambda t: (-t.priority, t.created_at, t.id))
        locked = []
        for task in found[:max_tasks]:
            task = _clone(task)
            task.lock_owner = worker_id
            task.lock_expires_at = until[task.topic]
            self.store.external_tasks.put(task)
            locked.append(_clone(task))
        return locked

    def extend_external_task_lock(
        self, external_task_id: str, worker_id: str, until: datetime
    ) -> bool:
        task = self.store.external_tasks.rows.get(external_task_id)
        if task is None or task.lock_owner != worker_id:
            return False
        task = _clone(task)
        task.lock_expires_at = until
        self.store.external_tasks.put(task)
        return True

    def find_subscriptions(self, query: SubscriptionQuery) -> list[EventSubscription]:
        q = query
        instances = self.store.instances.rows
        found = [
            e for e in self.store.subscriptions.rows.values()
            if e.tenant_id == q.tenant_id
            and e.kind == q.kind
            and e.event_name == q.event_name
            and (q.correlation_key is None or e.correlation_key == q.correlation_key)
            and (q.instance_id is None or e.instance_id == q.instance_id)
            and (
                q.business_key is None
                or (
                    e.instance_id in instances
                    and instances[e.instance_id].business_key == q.business_key
                )
            )
        ]
        found.sort(key=lambda e: (e.created_at, e.id))
        return [_clone(e) for e in found]

    def open_incidents(self, instance_id: str | None = None) -> list[Incident]:
        rows = self.store.incidents
        source = rows.rows.values() if instance_id is None else rows.of_instance(instance_id)
        found = [i for i in source if i.resolved_at is None]
        found.sort(key=lambda i: (i.created_at, i.id))
        return [_clone(i) for i in found]

    # --- jobs ---

    def acquire_jobs(
        self,
        node_id: str,
        now: datetime,
        limit: int,
        lock_for: timedelta,
        kinds: Sequence[str] | None = None,
        tenant_ids: Sequence[str] | None = None,
    ) -> list[Job]:
        if limit <= 0:
            return []
        st = self.store
        kind_set = None if kinds is None else set(kinds)
        tenants = None if tenant_ids is None else set(tenant_ids)

        def suspended(job: Job) -> bool:
            instance = None if job.instance_id is None else st.instances.rows.get(job.instance_id)
            return instance is not None and instance.status == "SUSPENDED"

        found = [
            j for j in st.jobs.rows.values()
            if j.due_at <= now
            and j.retries > 0
            and (j.lock_expires_at is None or j.lock_expires_at <= now)
            and (kind_set is None or j.kind in kind_set)
            and (tenants is None or j.tenant_id in tenants)
            and not suspended(j)
        ]
        found.sort(key=lambda j: (j.due_at, j.id))
        acquired = []
        for job in found[:limit]:
            job = _clone(job)
            job.lock_owner = node_id
            job.lock_expires_at = now + lock_for
            st.jobs.put(job)
            acquired.append(_clone(job))
        return acquired

    def lock_job_for_execution(
        self,
        job_id: str,
        node_id: str,
        now: datetime,
        *,
        read_ahead: Collection[str] | None = None,
    ) -> Job | None:
        job = self.store.jobs.rows.get(job_id)
        if (
            job is None
            or job.lock_owner != node_id
            or job.lock_expires_at is None
            or job.lock_expires_at <= now
        ):
            return None
        return _clone(job)

    def record_job_failure(
        self, job_id: str, node_id: str, message: str, next_due_at: datetime, now: datetime
    ) -> Job | None:
        st = self.store
        job = st.jobs.rows.get(job_id)
        if job is None or job.lock_owner != node_id:
            return None
        job = _clone(job)
        job.retries = max(job.retries - 1, 0)
        job.error_message = message
        job.due_at = next_due_at
        job.lock_owner = None
        job.lock_expires_at = None
        st.jobs.put(job)
        if job.retries == 0 and job.instance_id is not None:
            st.incidents.put(
                Incident(
                    id=str(uuid_utils.uuid7()),
                    instance_id=job.instance_id,
                    kind="failedJob",
                    message=message,
                    created_at=now,
                    execution_id=job.execution_id,
                    element_id=job.element_id,
                    job_id=job.id,
                    tenant_id=job.tenant_id,
                )
            )
        return _clone(job)

    def set_job_retries(self, job_id: str, retries: int, now: datetime) -> bool:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, not {retries}")
        st = self.store
        job = st.jobs.rows.get(job_id)
        if job is None:
            return False
        job = _clone(job)
        job.retries = retries
        job.lock_owner = None
        job.lock_expires_at = None
        st.jobs.put(job)
        if retries > 0 and job.instance_id is not None:
            for incident in st.incidents.of_instance(job.instance_id):
                if incident.job_id == job_id and incident.resolved_at is None:
                    resolved = _clone(incident)
                    resolved.resolved_at = now
                    st.incidents.put(resolved)
        return True

    def release_job(self, job_id: str, node_id: str) -> None:
        job = self.store.jobs.rows.get(job_id)
        if job is not None and job.lock_owner == node_id:
            job = _clone(job)
            job.lock_owner = None
            job.lock_expires_at = None
            self.store.jobs.put(job)

    def get_job(self, job_id: str) -> Job | None:
        job = self.store.jobs.rows.get(job_id)
        return None if job is None else _clone(job)

    def query_jobs(
        self,
        *,
        instance_id: str | None = None,
        kind: str | None = None,
        definition_id: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        rows = self.store.jobs
        source = rows.rows.values() if instance_id is None else rows.of_instance(instance_id)
        found = [
            j for j in source
            if (kind is None or j.kind == kind)
            and (definition_id is None or j.definition_id == definition_id)
        ]
        found.sort(key=lambda j: (j.due_at, j.id))
        return [_clone(j) for j in found[:limit]]

    def insert_jobs(self, jobs: Sequence[Job]) -> None:
        st = self.store
        seen: set[str] = set()
        for job in jobs:
            if job.instance_id is not None:
                raise ValueError(
                    f"job {job.id!r} belongs to instance {job.instance_id!r}:"
                    " write it through InstanceState.jobs"
                )
            if job.id in st.jobs.rows or job.id in seen:
                raise self._conflict(f"a job with id {job.id!r} exists")
            seen.add(job.id)
        for job in jobs:
            stored = _clone(job)
            stored.payload = _json_copy(job.payload)
            st.jobs.put(stored)

    def delete_jobs(self, job_ids: Sequence[str]) -> None:
        for job_id in job_ids:
            self.store.jobs.delete(job_id)

    # --- idempotency ---

    def get_command(self, key: str, tenant_id: str = DEFAULT_TENANT) -> CommandRecord | None:
        c = self.store.commands.get((tenant_id, key))
        return None if c is None else _clone(c)

    def insert_command(self, record: CommandRecord) -> None:
        key = (record.tenant_id, record.key)
        if key in self.store.commands:
            raise self._conflict(
                f"command {record.key!r} (tenant {record.tenant_id!r}) was already recorded"
            )
        stored = _clone(record)
        stored.result = _json_copy(record.result)
        self.store._dict_put(self.store.commands, key, stored)

    def add_events(self, events: Sequence[OutboxEvent]) -> None:
        st = self.store
        for event in events:
            st.outbox_seq += 1  # like a database sequence: not given back on rollback
            stored = _clone(event)
            # a shallow copy now, the JSON round trip (what SQL gives back) when read:
            # every command writes events, few are ever read from this store
            stored.payload = dict(event.payload)
            st._dict_put(st.outbox, st.outbox_seq, stored)

    # --- buffered messages (transactions here run one at a time: no lock to take) ---

    def lock_message_name(self, name: str, tenant_id: str, *, exclusive: bool) -> None:
        return None

    def buffer_message(self, message: BufferedMessage) -> None:
        st = self.store
        for old in list(st.buffered.values()):
            if old.tenant_id == message.tenant_id and old.expires_at <= message.published_at:
                st._dict_pop(st.buffered, old.id)
        stored = _clone(message)
        stored.variables = _json_copy(message.variables)
        st._dict_put(st.buffered, message.id, stored)

    def take_buffered_message(
        self,
        name: str,
        tenant_id: str,
        correlation_key: str | None,
        business_key: str | None,
        now: datetime,
    ) -> BufferedMessage | None:
        st = self.store
        for message in sorted(st.buffered.values(), key=lambda m: (m.published_at, m.id)):
            if (
                message.name == name
                and message.tenant_id == tenant_id
                and message.expires_at > now
                and message.matches(correlation_key, business_key)
            ):
                st._dict_pop(st.buffered, message.id)
                taken = _clone(message)
                taken.variables = _json_copy(message.variables)
                return taken
        return None

    def buffered_messages(
        self, tenant_id: str, now: datetime, name: str | None = None, limit: int = 100
    ) -> list[BufferedMessage]:
        found = sorted(
            (
                m for m in self.store.buffered.values()
                if m.tenant_id == tenant_id and m.expires_at > now
                and (name is None or m.name == name)
            ),
            key=lambda m: (m.published_at, m.id),
        )
        return [_clone(m) for m in found[:limit]]

    def discard_buffered_message(self, message_id: str, tenant_id: str) -> bool:
        st = self.store
        message = st.buffered.get(message_id)
        if message is None or message.tenant_id != tenant_id:
            return False
        st._dict_pop(st.buffered, message_id)
        return True

    def events_after(self, seq: int, limit: int = 100) -> list[tuple[int, OutboxEvent]]:
        found = sorted(k for k in self.store.outbox if k > seq)[:limit]
        every = []
        for k in found:
            event = _clone(self.store.outbox[k])
            event.payload = _json_copy(event.payload)
            every.append((k, event))
        return every


def _filled(rows: list[R]) -> Table[R]:
    table: Table[R] = Table()
    for row in rows:
        table.rows[row.id] = row  # type: ignore[attr-defined]
    return table
