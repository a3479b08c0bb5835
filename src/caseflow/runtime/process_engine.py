"""The process engine as callers use it: deploy, start, complete, query.

Each public command is one storage transaction: load the instance rows it needs, let the
pure :class:`~caseflow.engine.executor.Executor` move the tokens, write the journal with
an optimistic revision check. A conflict (another node changed the same instance first)
is retried here, so callers never see a locking error. A command given an idempotency
key answers a retry with the first call's result instead of acting twice.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import uuid_utils

from caseflow.clock import Clock, SystemClock
from caseflow.engine import timers
from caseflow.engine.compiled import ExecutableProcess, prepare
from caseflow.engine.context import DefinitionRef, World
from caseflow.engine.events import start_event_name, timer_of
from caseflow.engine.executor import DEFAULT_MAX_STEPS, Executor
from caseflow.engine.state import (
    DEFAULT_TENANT,
    OPEN_TASK_STATUSES,
    ActivityRecord,
    EventSubscription,
    ExternalTaskRecord,
    Incident,
    InstanceRecord,
    InstanceState,
    Job,
    UserTaskRecord,
)
from caseflow.engine.support import unsupported
from caseflow.errors import (
    CaseflowError,
    ConcurrencyConflict,
    IllegalState,
    NotFound,
    Problem,
    ValidationFailed,
)
from caseflow.model import parse_bpmn, validate
from caseflow.model.elements import Definitions, Process, UserTask
from caseflow.runtime.ports import (
    BufferedMessage,
    CommandRecord,
    DefinitionRecord,
    DefinitionStatus,
    DeploymentRecord,
    InstanceChanges,
    InstanceListener,
    InstanceQuery,
    Store,
    SubscriptionQuery,
    TaskChanges,
    TaskListener,
    TaskQuery,
    TopicRequest,
    Transaction,
)
from caseflow.time.sla import parse_sla

T = TypeVar("T")
_log = logging.getLogger("caseflow.runtime")

STARTABLE_BY_KEY: frozenset[str] = frozenset({"Deployed"})
STARTABLE_BY_VERSION: frozenset[str] = frozenset({"Deployed", "Testing"})
# what of its instance a job of an unknown process reads along: its jobs, and leaving its
# node, the subscriptions and tasks attached to it
_JOB_TABLES = ("jobs", "subscriptions", "tasks")


def new_id() -> str:
    """A random, time-ordered key (UUID v7): unique across nodes, kind to B-tree indexes."""
    return str(uuid_utils.uuid7())


class MessageNotCorrelated(NotFound):
    """A message found no waiting receiver; it is reported, never dropped silently."""

    code = "message_not_correlated"

    def __init__(self, name: str, detail: str = "") -> None:
        super().__init__("subscription for message", name)
        self.args = (f"no process instance waits for message '{name}'{detail}",)


@dataclass(frozen=True, slots=True)
class DefinitionMetadata:
    """What the seeds keep about a definition beyond its BPMN."""

    category: str | None = None
    procedure_code: str | None = None
    sla_target_hours: float | None = None
    status: DefinitionStatus = "Deployed"


@dataclass(frozen=True, slots=True)
class DeploymentResult:
    deployment_id: str | None  # None: nothing changed, nothing deployed
    definitions: tuple[DefinitionRecord, ...]
    unchanged: tuple[DefinitionRecord, ...]
    warnings: tuple[Problem, ...]


@dataclass(slots=True)
class InstanceView:
    """An instance with where it stands: its record, active elements and variables."""

    instance: InstanceRecord
    active_elements: list[str]
    variables: dict[str, Any]
    tasks: list[UserTaskRecord] = field(default_factory=list)
    external_tasks: list[ExternalTaskRecord] = field(default_factory=list)
    subscriptions: list[EventSubscription] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MessagePublished:
    """Where a published message went: to these instances (waiting, or started by it), or,
    when none took it, into the buffer until ``expires_at`` (``buffered_id``)."""

    instance_ids: list[str]
    buffered_id: str | None = None
    expires_at: datetime | None = None


@dataclass(slots=True)
class LockedExternalTask:
    task: ExternalTaskRecord
    variables: dict[str, Any]


class _Unit(World):
    """One command's view of the world: a transaction plus the instances it touched."""

    def __init__(self, engine: ProcessEngine, tx: Transaction) -> None:
        self.engine = engine
        self.tx = tx
        self.states: dict[str, InstanceState] = {}
        self.loaded_status: dict[str, str] = {}  # instance id -> status when loaded
        self.buffer_checked: set[str] = set()  # message subscriptions looked up in the buffer

    def executable(self, definition_id: str) -> ExecutableProcess:
        return self.engine._executable(self.tx, definition_id)

    def called_definition(
        self,
        key: str,
        *,
        binding: str,
        version: int | None,
        caller_definition_id: str,
        tenant_id: str,
    ) -> DefinitionRef:
        if binding == "version" and version is not None:
            record = self.tx.definition_version(key, version, tenant_id)
            if record is None:
                raise NotFound("process definition", f"{key}:{version}")
        elif binding == "deployment":
            caller = self.tx.get_definition(caller_definition_id)
            record = next(
                (
                    d
                    for d in self.tx.list_definitions(key, tenant_id)
                    if caller is not None and d.deployment_id == caller.deployment_id
                ),
                None,
            ) or self.engine._startable(self.tx, key, tenant_id)
        else:
            record = self.engine._startable(self.tx, key, tenant_id)
        return _ref(record)

    def instance(self, instance_id: str) -> InstanceState:
        state = self.states.get(instance_id)
        if state is None:
            state = self.tx.load_instance(instance_id)
            if state is None:
                raise NotFound("process instance", instance_id)
            self.states[instance_id] = state
            self.loaded_status[instance_id] = state.instance.status
        return state

    def register(self, state: InstanceState) -> None:
        self.states[state.instance.id] = state

    def executor(self) -> Executor:
        return Executor(
            self,
            now=self.engine.clock.now(),
            new_id=self.engine.new_id,
            max_steps=self.engine.max_steps,
        )

    def task_changes(self) -> TaskChanges:
        changes = TaskChanges(variables=self.task_variables)
        for state in self.states.values():
            inserted, updated, _ = state.tasks.changes()
            changes.created.extend(t for t in inserted if t.status != "CANCELLED")
            for task in updated:
                if task.status == "COMPLETED":
                    changes.completed.append(task)
                elif task.status == "CANCELLED":
                    changes.cancelled.append(task)
        return changes

    def task_variables(self, task: UserTaskRecord) -> dict[str, Any]:
        """What ``task`` sees now: process variables, then each enclosing scope's locals."""
        state = self.states.get(task.instance_id)
        if state is None:
            return {}
        scopes: list[str] = []
        scope_id: str | None = task.execution_id
        while scope_id is not None and scope_id not in scopes:
            scopes.append(scope_id)
            execution = state.executions.get(scope_id)
            scope_id = execution.parent_id if execution is not None else None
        by_scope: dict[str | None, dict[str, Any]] = {}
        for variable in state.variables:
            by_scope.setdefault(variable.scope_id, {})[variable.name] = variable.value
        seen = dict(by_scope.get(None, {}))
        for scope in reversed(scopes):
            seen.update(by_scope.get(scope, {}))
        return seen

    def instance_changes(self, tasks: TaskChanges) -> InstanceChanges:
        loaded = self.loaded_status
        return InstanceChanges(
            instances=[(s, loaded.get(i)) for i, s in self.states.items()], tasks=tasks
        )

    def save_all(self) -> None:
        for state in self.states.values():
            self.tx.save(state)


def _ref(record: DefinitionRecord) -> DefinitionRef:
    return DefinitionRef(
        id=record.id,
        key=record.key,
        version=record.version,
        tenant_id=record.tenant_id,
        deployment_id=record.deployment_id,
    )


class ProcessEngine:
    """Deploy BPMN, run instances, hand out work: the engine behind the CLI and the API."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        id_factory: Callable[[], str] = new_id,
        max_steps: int = DEFAULT_MAX_STEPS,
        max_attempts: int = 20,
        model_cache_size: int = 256,
        task_listeners: Sequence[TaskListener] = (),
        instance_listeners: Sequence[InstanceListener] | None = None,
    ) -> None:
        self.store = store
        self.task_listeners = list(task_listeners)
        # told after a command committed what it did to user tasks (metrics count them);
        # unlike task listeners they see only what really happened, once
        self.committed_task_listeners: list[Callable[[TaskChanges], None]] = []
        # None: the default, the event recorder (the transactional outbox); () for none
        if instance_listeners is None:
            from caseflow.events.recorder import EventRecorder

            instance_listeners = (EventRecorder(),)
        self.instance_listeners = list(instance_listeners)
        self.clock: Clock = clock or SystemClock()
        self.new_id = id_factory
        self.max_steps = max_steps
        self.max_attempts = max_attempts
        self._models: OrderedDict[str, ExecutableProcess] = OrderedDict()
        self._model_cache_size = model_cache_size
        self._models_lock = threading.Lock()

    # ------------------------------------------------------------------ running commands

    def _command(
        self,
        name: str,
        body: Callable[[_Unit], dict[str, Any]],
        *,
        idempotency_key: str | None = None,
        tenant_id: str = DEFAULT_TENANT,
    ) -> dict[str, Any]:
        """Run ``body`` in one transaction, retried on conflict; its result is JSON-able."""
        for attempt in range(self.max_attempts):
            committed: TaskChanges | None = None
            try:
                with self.store.transaction() as tx:
                    if idempotency_key is not None:
                        done = tx.get_command(idempotency_key, tenant_id)
                        if done is not None:
                            if done.command != name:
                                raise IllegalState(
                                    f"idempotency key '{idempotency_key}' was used for"
                                    f" '{done.command}', not '{name}'"
                                )
                            return done.result
                    unit = _Unit(self, tx)
                    result = body(unit)
                    changes = None
                    if self.task_listeners:
                        changes = unit.task_changes()
                        if changes:
                            now = self.clock.now()
                            for listener in self.task_listeners:
                                listener.tasks_changed(tx, changes, now)
                    if self.instance_listeners and unit.states:
                        everything = unit.instance_changes(changes or unit.task_changes())
                        now = self.clock.now()
                        for observer in self.instance_listeners:
                            observer.instances_changed(tx, everything, now)
                    if self.committed_task_listeners:  # read before the journal is written
                        committed = changes if changes is not None else unit.task_changes()
                    unit.save_all()
                    if idempotency_key is not None:
                        tx.insert_command(
                            CommandRecord(
                                key=idempotency_key,
                                command=name,
                                result=result,
                                created_at=self.clock.now(),
                                tenant_id=tenant_id,
                            )
                        )
                # committed: tell whoever counts (metrics), never failing the command
                if committed:
                    self._tell_committed(committed)
                return result
            except ConcurrencyConflict:
                if attempt + 1 >= self.max_attempts:
                    raise
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # noqa: S311 - jitter
        raise AssertionError("unreachable")

    def _tell_committed(self, changes: TaskChanges) -> None:
        for listener in self.committed_task_listeners:
            try:
                listener(changes)
            except Exception:  # noqa: BLE001 - an observer must not fail a committed command
                _log.exception("a committed-task listener failed")

    def _read(self, body: Callable[[Transaction], T]) -> T:
        with self.store.transaction() as tx:
            return body(tx)

    # ------------------------------------------------------------------ definitions

    def validate(
        self,
        source: bytes | str,
        *,
        resource_name: str | None = None,
        executable_only: bool = True,
    ) -> list[Problem]:
        """Every problem with a document: parse warnings, rule errors, what cannot run.

        ``executable_only=False`` also checks processes marked isExecutable="false"
        (documentation models), for the modelling rules only.
        """
        parsed = parse_bpmn(source, resource_name=resource_name)
        # validate() includes the parser's own problems
        problems = list(validate(parsed.definitions, executable_only=executable_only))
        for process in parsed.definitions.executable_processes:
            problems.extend(unsupported(process))
        return problems

    def deploy(
        self,
        source: bytes | str,
        *,
        name: str | None = None,
        resource_name: str = "process.bpmn",
        deployed_by: str | None = None,
        tenant_id: str = DEFAULT_TENANT,
        metadata: DefinitionMetadata | None = None,
    ) -> DeploymentResult:
        """Deploy every executable process of a BPMN document as a new version of its key.

        A process whose document is byte-for-byte what its latest version was deployed
        from is left alone; if nothing changed, nothing is deployed.
        """
        parsed = parse_bpmn(source, resource_name=resource_name)
        definitions = parsed.definitions
        problems = list(validate(definitions))  # includes the parser's own
        executable = definitions.executable_processes
        for process in executable:
            problems.extend(unsupported(process))
            problems.extend(_sla_problems(process))
        errors = [p for p in problems if p.severity == "error"]
        if not executable:
            errors.append(
                Problem("error", "no-executable-process", "the document has no executable process")
            )
        if errors:
            raise ValidationFailed(
                f"'{resource_name}' cannot be deployed: {len(errors)} problem(s)", errors
            )
        text = source.decode("utf-8-sig") if isinstance(source, bytes) else source
        content_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
        meta = metadata or DefinitionMetadata()
        warnings = tuple(p for p in problems if p.severity != "error")

        def body(unit: _Unit) -> dict[str, Any]:
            now = self.clock.now()
            deployment_id = self.new_id()
            created: list[DefinitionRecord] = []
            unchanged: list[DefinitionRecord] = []
            for process in executable:
                latest = unit.tx.latest_definition(process.id, tenant_id)
                if latest is not None and latest.content_hash == content_hash:
                    unchanged.append(latest)
                    continue
                created.append(
                    DefinitionRecord(
                        id=self.new_id(),
                        key=process.id,
                        version=(latest.version + 1) if latest else 1,
                        deployment_id=deployment_id,
                        content_hash=content_hash,
                        deployed_at=now,
                        name=process.name,
                        resource_name=resource_name,
                        version_tag=process.version_tag,
                        category=meta.category,
                        procedure_code=meta.procedure_code,
                        sla_target_hours=meta.sla_target_hours,
                        status=meta.status,
                        deployed_by=deployed_by,
                        tenant_id=tenant_id,
                    )
                )
            if created:
                unit.tx.insert_deployment(
                    DeploymentRecord(
                        id=deployment_id,
                        name=name or resource_name,
                        deployed_at=now,
                        resource_name=resource_name,
                        source=text,
                        content_hash=content_hash,
                        deployed_by=deployed_by,
                        tenant_id=tenant_id,
                    ),
                    created,
                )
                self._schedule_start_timers(unit, created, now)
            return {
                "deployment_id": deployment_id if created else None,
                "created": [d.id for d in created],
                "unchanged": [d.id for d in unchanged],
            }

        result = self._command("deploy", body, tenant_id=tenant_id)
        return self._read(
            lambda tx: DeploymentResult(
                deployment_id=result["deployment_id"],
                definitions=tuple(_definition(tx, i) for i in result["created"]),
                unchanged=tuple(_definition(tx, i) for i in result["unchanged"]),
                warnings=warnings,
            )
        )

    def definitions(
        self, key: str | None = None, tenant_id: str | None = None
    ) -> list[DefinitionRecord]:
        return self._read(lambda tx: tx.list_definitions(key, tenant_id))

    def definition(self, definition_id: str) -> DefinitionRecord:
        return self._read(lambda tx: _definition(tx, definition_id))

    def definition_source(self, definition_id: str) -> str:
        def read(tx: Transaction) -> str:
            deployment = tx.deployment_source(_definition(tx, definition_id).deployment_id)
            if deployment is None:
                raise NotFound("deployment of definition", definition_id)
            return deployment.source

        return self._read(read)

    def set_definition_status(self, definition_id: str, status: DefinitionStatus) -> None:
        def body(unit: _Unit) -> dict[str, Any]:
            _definition(unit.tx, definition_id)
            unit.tx.set_definition_status(definition_id, status)
            return {}

        self._command("set_definition_status", body)

    def _startable(self, tx: Transaction, key: str, tenant_id: str) -> DefinitionRecord:
        candidates = [
            d for d in tx.list_definitions(key, tenant_id) if d.status in STARTABLE_BY_KEY
        ]
        if not candidates:
            if tx.latest_definition(key, tenant_id) is None:
                raise NotFound("process definition", key)
            raise IllegalState(f"process '{key}' has no version with status Deployed")
        return max(candidates, key=lambda d: d.version)

    def _executable(self, tx: Transaction, definition_id: str) -> ExecutableProcess:
        with self._models_lock:
            found = self._models.get(definition_id)
            if found is not None:
                self._models.move_to_end(definition_id)
                return found
        record = _definition(tx, definition_id)
        deployment = tx.deployment_source(record.deployment_id)
        if deployment is None:
            raise NotFound("deployment", record.deployment_id)
        parsed: Definitions = parse_bpmn(
            deployment.source, resource_name=deployment.resource_name
        ).definitions
        prepared = prepare(parsed.process(record.key), parsed)
        with self._models_lock:
            self._models[definition_id] = prepared
            while len(self._models) > self._model_cache_size:
                self._models.popitem(last=False)
        return prepared

    # ------------------------------------------------------------------ instances

    def start(
        self,
        key: str,
        *,
        business_key: str | None = None,
        case_id: str | None = None,
        variables: Mapping[str, Any] | None = None,
        started_by: str | None = None,
        version: int | None = None,
        tenant_id: str = DEFAULT_TENANT,
        idempotency_key: str | None = None,
    ) -> InstanceRecord:
        """Start the latest Deployed version of ``key`` (or ``version``)."""
        started: list[InstanceRecord] = []

        def body(unit: _Unit) -> dict[str, Any]:
            if version is not None:
                record = unit.tx.definition_version(key, version, tenant_id)
                if record is None:
                    raise NotFound("process definition", f"{key}:{version}")
                if record.status not in STARTABLE_BY_VERSION:
                    raise IllegalState(
                        f"process '{key}' version {version} is {record.status}:"
                        " it starts no new instances"
                    )
            else:
                record = self._startable(unit.tx, key, tenant_id)
            executor = unit.executor()
            state = executor.start(
                _ref(record),
                instance_id=self.new_id(),
                business_key=business_key,
                case_id=case_id,
                variables=variables,
                started_by=started_by,
            )
            unit.register(state)
            self._run(unit, executor)
            started[:] = [state.instance]  # as written when the command commits
            return {"instance_id": state.instance.id}

        result = self._command("start", body, idempotency_key=idempotency_key, tenant_id=tenant_id)
        if started and started[0].id == result["instance_id"]:
            return replace(started[0])
        # an answer to a retried call: the instance as it stands now
        return self.instance_record(result["instance_id"])

    def instance_record(self, instance_id: str) -> InstanceRecord:
        def read(tx: Transaction) -> InstanceRecord:
            state = tx.load_instance(instance_id)
            if state is None:
                raise NotFound("process instance", instance_id)
            return state.instance

        return self._read(read)

    def instance(self, instance_id: str) -> InstanceView:
        """The instance with its active elements, variables and open work."""

        def read(tx: Transaction) -> InstanceView:
            state = tx.load_instance(instance_id)
            if state is None:
                raise NotFound("process instance", instance_id)
            active = sorted({e.element_id for e in state.executions})
            return InstanceView(
                instance=state.instance,
                active_elements=active,
                variables={v.name: v.value for v in state.variables if v.scope_id is None},
                tasks=list(state.tasks),
                external_tasks=list(state.external_tasks),
                subscriptions=list(state.subscriptions),
                incidents=[i for i in state.incidents if i.resolved_at is None],
            )

        return self._read(read)

    def instances(self, query: InstanceQuery | None = None) -> list[InstanceRecord]:
        return self._read(lambda tx: tx.query_instances(query or InstanceQuery()))

    def history(self, instance_id: str) -> list[ActivityRecord]:
        return self._read(lambda tx: tx.activity_history(instance_id))

    def variables(self, instance_id: str) -> dict[str, Any]:
        def read(tx: Transaction) -> dict[str, Any]:
            if tx.load_instance(instance_id) is None:
                raise NotFound("process instance", instance_id)
            return {
                v.name: v.value for v in tx.instance_variables(instance_id) if v.scope_id is None
            }

        return self._read(read)

    def set_variables(self, instance_id: str, variables: Mapping[str, Any]) -> None:
        self._on_instance(
            "set_variables", instance_id, lambda ex, st: ex.set_variables(st, variables)
        )

    def suspend(self, instance_id: str) -> None:
        self._on_instance("suspend", instance_id, lambda ex, st: ex.suspend(st))

    def resume(self, instance_id: str) -> None:
        self._on_instance("resume", instance_id, lambda ex, st: ex.resume(st))

    def terminate(self, instance_id: str, reason: str | None = None) -> None:
        self._on_instance("terminate", instance_id, lambda ex, st: ex.terminate(st, reason))

    def _on_instance(
        self,
        name: str,
        instance_id: str,
        action: Callable[[Executor, InstanceState], None],
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        def body(unit: _Unit) -> dict[str, Any]:
            state = unit.instance(instance_id)
            executor = unit.executor()
            action(executor, state)
            self._run(unit, executor)
            return {"instance_id": instance_id}

        return self._command(name, body, idempotency_key=idempotency_key)

    # ------------------------------------------------------------------ user tasks

    def tasks(self, query: TaskQuery | None = None) -> list[UserTaskRecord]:
        return self._read(lambda tx: tx.query_tasks(query or TaskQuery()))

    def task(self, task_id: str) -> UserTaskRecord:
        def read(tx: Transaction) -> UserTaskRecord:
            task = tx.get_task(task_id)
            if task is None:
                raise NotFound("task", task_id)
            return task

        return self._read(read)

    def complete_task(
        self,
        task_id: str,
        variables: Mapping[str, Any] | None = None,
        *,
        user: str | None = None,
        outcome: str | None = None,
        idempotency_key: str | None = None,
        authorize: Callable[[Transaction, UserTaskRecord], None] | None = None,
    ) -> list[UserTaskRecord]:
        """Complete a user task and move its process on; returns the user tasks this
        opened (the next steps), so a client needs no second query to find them.

        ``authorize`` runs inside the transaction with the task as stored, before
        anything changes; it refuses by raising (the human-work layer checks grants).
        """
        opened: list[UserTaskRecord] = []

        def body(unit: _Unit) -> dict[str, Any]:
            task = unit.tx.get_task(task_id)
            if task is None:
                raise NotFound("task", task_id)
            if authorize is not None:
                authorize(unit.tx, task)
            if task.status not in OPEN_TASK_STATUSES:  # history now, not in the state
                raise IllegalState(f"task '{task_id}' is {task.status} and cannot be completed")
            state = unit.instance(task.instance_id)
            executor = unit.executor()
            executor.complete_task(state, task_id, variables, user=user, outcome=outcome)
            self._run(unit, executor)
            opened[:] = [
                t
                for each in unit.states.values()
                for t in each.tasks.changes()[0]
                if t.status not in ("COMPLETED", "CANCELLED")
            ]
            return {
                "instance_id": task.instance_id,
                "task_id": task_id,
                "opened": [t.id for t in opened],
            }

        result = self._command("complete_task", body, idempotency_key=idempotency_key)
        if [t.id for t in opened] == result["opened"]:
            return opened
        # an answer to a retried call: the tasks as they stand now
        return self._read(
            lambda tx: [t for i in result["opened"] if (t := tx.get_task(i)) is not None]
        )

    # ------------------------------------------------------------------ external tasks

    def fetch_and_lock(
        self,
        worker_id: str,
        topics: Sequence[TopicRequest],
        *,
        max_tasks: int = 10,
    ) -> list[LockedExternalTask]:
        """Lock up to ``max_tasks`` tasks of the topics for ``worker_id``, with variables."""
        if max_tasks <= 0:
            return []

        def body(tx: Transaction) -> list[LockedExternalTask]:
            locked = tx.lock_external_tasks(worker_id, topics, max_tasks, self.clock.now())
            wanted = {t.topic: t.variables for t in topics}
            result = []
            for task in locked:
                names = wanted.get(task.topic)
                values = {
                    v.name: v.value
                    for v in tx.instance_variables(task.instance_id)
                    if v.scope_id is None and (names is None or v.name in names)
                }
                result.append(LockedExternalTask(task=task, variables=values))
            return result

        return self._read(body)

    def extend_lock(self, external_task_id: str, worker_id: str, duration_ms: int) -> None:
        def body(tx: Transaction) -> None:
            until = self.clock.now() + timedelta(milliseconds=duration_ms)
            if not tx.extend_external_task_lock(external_task_id, worker_id, until):
                if tx.get_external_task(external_task_id) is None:
                    raise NotFound("external task", external_task_id)
                raise IllegalState(
                    f"external task '{external_task_id}' is not locked by worker '{worker_id}'"
                )

        self._read(body)

    def _on_external_task(
        self,
        name: str,
        external_task_id: str,
        action: Callable[[Executor, InstanceState], None],
        idempotency_key: str | None = None,
    ) -> None:
        def body(unit: _Unit) -> dict[str, Any]:
            task = unit.tx.get_external_task(external_task_id)
            if task is None:
                raise NotFound("external task", external_task_id)
            state = unit.instance(task.instance_id)
            executor = unit.executor()
            action(executor, state)
            self._run(unit, executor)
            return {"instance_id": task.instance_id}

        self._command(name, body, idempotency_key=idempotency_key)

    def complete_external_task(
        self,
        external_task_id: str,
        worker_id: str,
        variables: Mapping[str, Any] | None = None,
        *,
        local_variables: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        self._on_external_task(
            "complete_external_task",
            external_task_id,
            lambda ex, st: ex.complete_external_task(
                st, external_task_id, worker_id, variables, local_variables
            ),
            idempotency_key,
        )

    def handle_failure(
        self,
        external_task_id: str,
        worker_id: str,
        *,
        error_message: str,
        error_details: str | None = None,
        retries: int,
        retry_timeout_ms: int = 0,
    ) -> None:
        self._on_external_task(
            "external_task_failure",
            external_task_id,
            lambda ex, st: ex.fail_external_task(
                st,
                external_task_id,
                worker_id,
                error_message=error_message,
                error_details=error_details,
                retries=retries,
                retry_timeout_ms=retry_timeout_ms,
            ),
        )

    def handle_bpmn_error(
        self,
        external_task_id: str,
        worker_id: str,
        *,
        error_code: str,
        error_message: str | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        self._on_external_task(
            "external_task_bpmn_error",
            external_task_id,
            lambda ex, st: ex.external_task_bpmn_error(
                st,
                external_task_id,
                worker_id,
                error_code=error_code,
                error_message=error_message,
                variables=variables,
            ),
        )

    def set_external_task_retries(self, external_task_id: str, retries: int) -> None:
        self._on_external_task(
            "set_external_task_retries",
            external_task_id,
            lambda ex, st: ex.set_external_task_retries(st, external_task_id, retries),
        )

    def incidents(self, instance_id: str | None = None) -> list[Incident]:
        return self._read(lambda tx: tx.open_incidents(instance_id))

    # ------------------------------------------------------------------ signals, jobs, starts

    def _run(self, unit: _Unit, executor: Executor) -> None:
        """Run the agenda, then deliver the signals it threw and the buffered messages its
        new receivers may take, until nothing is left."""
        executor.run()
        while True:
            if executor.thrown_signals:
                pending, executor.thrown_signals = executor.thrown_signals, []
                for name, tenant_id in pending:
                    self._broadcast(unit, executor, name, tenant_id, None)
            elif not self._deliver_buffered(unit, executor):
                return
            executor.run()

    def _deliver_buffered(self, unit: _Unit, executor: Executor) -> bool:
        """Give each message receiver this command opened the oldest buffered message it
        may take (see :meth:`publish_message`); whether one was delivered."""
        delivered = False
        for state in list(unit.states.values()):
            for sub in state.subscriptions.inserted():
                if sub.kind != "message" or sub.id in unit.buffer_checked:
                    continue
                unit.buffer_checked.add(sub.id)
                message = unit.tx.take_buffered_message(
                    sub.event_name,
                    sub.tenant_id,
                    sub.correlation_key,
                    state.instance.business_key,
                    self.clock.now(),
                )
                if message is not None:
                    executor.correlate(state, sub.id, message.variables)
                    delivered = True
        return delivered

    def _broadcast(
        self,
        unit: _Unit,
        executor: Executor,
        name: str,
        tenant_id: str,
        variables: Mapping[str, Any] | None,
    ) -> int:
        """Deliver signal ``name`` to every waiting receiver and start every process it
        starts; the number reached."""
        stored = unit.tx.find_subscriptions(
            SubscriptionQuery(kind="signal", event_name=name, tenant_id=tenant_id)
        )
        targets = [(s.instance_id, s.id) for s in stored if s.instance_id not in unit.states]
        for state in list(unit.states.values()):  # this unit's own, unsaved view wins
            targets.extend(
                (state.instance.id, sub.id)
                for sub in state.subscriptions
                if sub.kind == "signal"
                and sub.event_name == name
                and state.instance.tenant_id == tenant_id
            )
        reached = 0
        for instance_id, subscription_id in targets:
            state = unit.instance(instance_id)
            if state.instance.status == "ACTIVE" and subscription_id in state.subscriptions.rows:
                executor.correlate(state, subscription_id, variables)
                reached += 1
        for record, start_id in self._start_events(unit, "signal", name, tenant_id):
            self._start_at(unit, executor, record, start_id, None, variables)
            reached += 1
        return reached

    def throw_signal(
        self,
        name: str,
        *,
        variables: Mapping[str, Any] | None = None,
        tenant_id: str = DEFAULT_TENANT,
    ) -> int:
        """Broadcast a signal; returns how many receivers and start events it reached."""

        def body(unit: _Unit) -> dict[str, Any]:
            executor = unit.executor()
            reached = self._broadcast(unit, executor, name, tenant_id, variables)
            self._run(unit, executor)
            return {"reached": reached}

        return int(self._command("throw_signal", body, tenant_id=tenant_id)["reached"])

    def _start_events(
        self, unit: _Unit, kind: str, name: str, tenant_id: str
    ) -> list[tuple[DefinitionRecord, str]]:
        """(definition, start event id) of each startable process whose start event waits
        for the message or signal ``name``."""
        latest: dict[str, DefinitionRecord] = {}
        for record in unit.tx.list_definitions(None, tenant_id):
            if record.status in STARTABLE_BY_KEY and (
                record.key not in latest or record.version > latest[record.key].version
            ):
                latest[record.key] = record
        found = []
        for record in latest.values():
            ex = self._executable(unit.tx, record.id)
            for start in ex.process.start_events:
                if start_event_name(ex, start, kind) == name:
                    found.append((record, start.id))
        return found

    def _start_at(
        self,
        unit: _Unit,
        executor: Executor,
        record: DefinitionRecord,
        start_event_id: str,
        business_key: str | None,
        variables: Mapping[str, Any] | None,
    ) -> str:
        state = executor.start(
            _ref(record),
            instance_id=self.new_id(),
            business_key=business_key,
            variables=variables,
            start_event_id=start_event_id,
        )
        unit.register(state)
        return state.instance.id

    def _schedule_start_timers(
        self, unit: _Unit, created: Sequence[DefinitionRecord], now: datetime
    ) -> None:
        """Timer start events of new versions get their first job; those of the versions
        they replace stop."""
        for record in created:
            ex = self._executable(unit.tx, record.id)
            starts = [(s, t) for s in ex.process.start_events if (t := timer_of(s)) is not None]
            if record.status != "Deployed":
                continue
            old = [
                job.id
                for previous in unit.tx.list_definitions(record.key, record.tenant_id)
                if previous.id != record.id
                for job in unit.tx.query_jobs(definition_id=previous.id, kind="timer")
                if job.instance_id is None
            ]
            unit.tx.delete_jobs(old)
            jobs = []
            for start, definition in starts:
                value = definition.value
                if not isinstance(value, str):  # no instance yet: no variables to read
                    value = str(value.evaluate({}))
                schedule = timers.first(definition.timer_kind, value, now, start.id)
                jobs.append(self._start_timer_job(record, start.id, schedule, now))
            unit.tx.insert_jobs(jobs)

    def _start_timer_job(
        self, record: DefinitionRecord, start_id: str, schedule: timers.Schedule, now: datetime
    ) -> Job:
        return Job(
            id=self.new_id(),
            kind="timer",
            due_at=schedule.due_at,
            created_at=now,
            definition_id=record.id,
            element_id=start_id,
            payload={"cycle": schedule.cycle} if schedule.cycle else {},
            tenant_id=record.tenant_id,
        )

    def execute_job(
        self, job_id: str, node_id: str, *, definition_id: str | None = None
    ) -> None:
        """Run a due job that ``node_id`` acquired, in one transaction.

        Raises IllegalState if the node no longer holds the job's lock (it expired and
        another node took it): the job then runs there, not here. ``definition_id``, the
        acquired job's, is a hint: with it, only the tables the process can have rows in
        are read along with the job (see ExecutableProcess.row_tables).
        """

        def body(unit: _Unit) -> dict[str, Any]:
            now = self.clock.now()
            tables = self._job_tables(unit, definition_id)
            job = unit.tx.lock_job_for_execution(job_id, node_id, now, read_ahead=tables)
            if job is None:
                raise IllegalState(f"job '{job_id}' is not locked by node '{node_id}'")
            executor = unit.executor()
            if job.instance_id is not None:
                state = unit.instance(job.instance_id)
                executor.fire_job(state, job.id)
            else:
                self._fire_start_timer(unit, executor, job, now)
            self._run(unit, executor)
            return {"job_id": job_id}

        self._command("execute_job", body)

    def _job_tables(self, unit: _Unit, definition_id: str | None) -> Collection[str]:
        """What of a job's instance its execution will touch, as far as is known."""
        if definition_id is None:
            return _JOB_TABLES
        try:
            return unit.executable(definition_id).row_tables
        except NotFound:  # the definition went away: the job's run decides what that means
            return _JOB_TABLES

    def _fire_start_timer(self, unit: _Unit, executor: Executor, job: Job, now: datetime) -> None:
        unit.tx.delete_jobs([job.id])
        record = unit.tx.get_definition(job.definition_id or "")
        if record is None or record.status != "Deployed" or job.element_id is None:
            return  # the definition went away or stopped starting instances
        self._start_at(unit, executor, record, job.element_id, None, None)
        cycle = job.payload.get("cycle")
        following = timers.following(cycle, job.due_at, job.element_id) if cycle else None
        if following is not None:
            unit.tx.insert_jobs([self._start_timer_job(record, job.element_id, following, now)])

    def retry_job(self, job_id: str, retries: int = 3) -> None:
        """An operator's retry of a job that ran out of retries: resolves its incident."""
        if retries <= 0:
            raise IllegalState("a retried job needs at least one retry")

        def body(unit: _Unit) -> dict[str, Any]:
            if not unit.tx.set_job_retries(job_id, retries, self.clock.now()):
                raise NotFound("job", job_id)
            return {"job_id": job_id}

        self._command("retry_job", body)

    def jobs(self, instance_id: str | None = None, kind: str | None = None) -> list[Job]:
        return self._read(lambda tx: tx.query_jobs(instance_id=instance_id, kind=kind))

    # ------------------------------------------------------------------ messages

    def correlate_message(
        self,
        message_name: str,
        *,
        business_key: str | None = None,
        correlation_key: str | None = None,
        instance_id: str | None = None,
        variables: Mapping[str, Any] | None = None,
        all_matches: bool = False,
        tenant_id: str = DEFAULT_TENANT,
        idempotency_key: str | None = None,
    ) -> list[str]:
        """Deliver a message to the instance(s) waiting for it; their ids are returned.

        No waiting receiver raises :class:`MessageNotCorrelated`; more than one, without
        ``all_matches``, raises IllegalState, as delivering to an arbitrary one would.
        """

        def body(unit: _Unit) -> dict[str, Any]:
            return self._correlate(
                unit, message_name, business_key, correlation_key, instance_id, variables,
                all_matches, tenant_id,
            )

        result = self._command(
            "correlate_message", body, idempotency_key=idempotency_key, tenant_id=tenant_id
        )
        return list(result["instance_ids"])

    def _correlate(
        self,
        unit: _Unit,
        message_name: str,
        business_key: str | None,
        correlation_key: str | None,
        instance_id: str | None,
        variables: Mapping[str, Any] | None,
        all_matches: bool,
        tenant_id: str,
    ) -> dict[str, Any]:
        subs = unit.tx.find_subscriptions(
            SubscriptionQuery(
                kind="message",
                event_name=message_name,
                correlation_key=correlation_key,
                business_key=business_key,
                instance_id=instance_id,
                tenant_id=tenant_id,
            )
        )
        executor = unit.executor()
        if not subs and instance_id is None:
            starts = self._start_events(unit, "message", message_name, tenant_id)
            if not starts:
                raise MessageNotCorrelated(
                    message_name, _describe(business_key, correlation_key)
                )
            if len(starts) > 1 and not all_matches:
                raise IllegalState(
                    f"message '{message_name}' starts {len(starts)} processes;"
                    " deliver to all to start each"
                )
            started = [
                self._start_at(unit, executor, record, start_id, business_key, variables)
                for record, start_id in starts
            ]
            self._run(unit, executor)
            return {"instance_ids": sorted(started)}
        if not subs:
            raise MessageNotCorrelated(message_name, _describe(business_key, correlation_key))
        if len(subs) > 1 and not all_matches:
            raise IllegalState(
                f"message '{message_name}' matches {len(subs)} waiting receivers;"
                " give a business key or correlation key, or deliver to all"
            )
        for sub in subs:
            executor.correlate(unit.instance(sub.instance_id), sub.id, variables)
        self._run(unit, executor)
        return {"instance_ids": sorted({s.instance_id for s in subs})}

    def publish_message(
        self,
        message_name: str,
        *,
        time_to_live: timedelta,
        business_key: str | None = None,
        correlation_key: str | None = None,
        variables: Mapping[str, Any] | None = None,
        all_matches: bool = False,
        tenant_id: str = DEFAULT_TENANT,
        idempotency_key: str | None = None,
    ) -> MessagePublished:
        """Deliver a message as :meth:`correlate_message` does; when no receiver waits for
        it and no message start event takes it, keep it for ``time_to_live``: the first
        receiver that subscribes meanwhile with matching keys takes it (the oldest first).

        A buffered message starts no instance later: message start events take messages
        when they are published.
        """
        if time_to_live <= timedelta(0):
            raise IllegalState("a buffered message needs a positive time to live")

        def body(unit: _Unit) -> dict[str, Any]:
            try:
                return self._correlate(
                    unit, message_name, business_key, correlation_key, None, variables,
                    all_matches, tenant_id,
                )
            except MessageNotCorrelated:
                pass
            # under the name's lock no receiver opens unseen: look again, then buffer
            unit.tx.lock_message_name(message_name, tenant_id, exclusive=True)
            query = SubscriptionQuery(
                kind="message", event_name=message_name, correlation_key=correlation_key,
                business_key=business_key, tenant_id=tenant_id,
            )
            if unit.tx.find_subscriptions(query):
                # a receiver committed meanwhile: start again (and deliver to it)
                raise ConcurrencyConflict(f"a receiver of message '{message_name}' appeared")
            now = self.clock.now()
            message = BufferedMessage(
                id=self.new_id(),
                name=message_name,
                published_at=now,
                expires_at=now + time_to_live,
                variables=dict(variables or {}),
                business_key=business_key,
                correlation_key=correlation_key,
                tenant_id=tenant_id,
            )
            unit.tx.buffer_message(message)
            return {
                "instance_ids": [],
                "buffered_id": message.id,
                "expires_at": message.expires_at.isoformat(),
            }

        result = self._command(
            "publish_message", body, idempotency_key=idempotency_key, tenant_id=tenant_id
        )
        expires = result.get("expires_at")
        return MessagePublished(
            instance_ids=list(result["instance_ids"]),
            buffered_id=result.get("buffered_id"),
            expires_at=datetime.fromisoformat(expires) if expires else None,
        )

    def buffered_messages(
        self, *, name: str | None = None, limit: int = 100, tenant_id: str = DEFAULT_TENANT
    ) -> list[BufferedMessage]:
        """Messages waiting in the buffer for a receiver, oldest first (expired ones not)."""
        now = self.clock.now()
        return self._read(lambda tx: tx.buffered_messages(tenant_id, now, name, limit))

    def discard_buffered_message(
        self, message_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> None:
        """Drop a buffered message no receiver should get after all."""

        def body(unit: _Unit) -> dict[str, Any]:
            if not unit.tx.discard_buffered_message(message_id, tenant_id):
                raise NotFound("buffered message", message_id)
            return {}

        self._command("discard_buffered_message", body, tenant_id=tenant_id)


def _sla_problems(process: Process) -> list[Problem]:
    """``caseflow:sla`` values that are not business-time durations."""
    found = []
    for node in process.all_nodes.values():
        if isinstance(node, UserTask) and node.sla is not None:
            try:
                parse_sla(node.sla, node.id)
            except CaseflowError as exc:
                found.append(Problem("error", "sla", str(exc), node.id, node.line, process.id))
    return found


def _describe(business_key: str | None, correlation_key: str | None) -> str:
    parts = []
    if business_key is not None:
        parts.append(f"business key '{business_key}'")
    if correlation_key is not None:
        parts.append(f"correlation key '{correlation_key}'")
    return (" with " + " and ".join(parts)) if parts else ""


def _definition(tx: Transaction, definition_id: str) -> DefinitionRecord:
    record = tx.get_definition(definition_id)
    if record is None:
        raise NotFound("process definition", definition_id)
    return record


__all__ = [
    "DefinitionMetadata",
    "DeploymentResult",
    "InstanceView",
    "LockedExternalTask",
    "MessageNotCorrelated",
    "MessagePublished",
    "ProcessEngine",
    "new_id",
]
