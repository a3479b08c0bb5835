"""The execution core: moves tokens through a prepared process model.

A command (start, complete a task, ...) puts operations on an agenda; :meth:`Executor.run`
takes them off one at a time until every token rests in a wait state (a user task, an
external task, a receive task, a join waiting for its siblings, a called process). The
agenda, not the Python stack, carries the work, so a loop of 10,000 iterations is 10,000
turns of a loop, not 10,000 stack frames, and a runaway loop stops at ``max_steps`` with
an error instead of a silent "completed".

Operations:
  enter(node)      a token arrives at a node: multi-instance, input mappings, behaviour
  leave(node)      the node is done: output mappings, then the outgoing flows
  take(flow)       the token moves along a sequence flow to its target

Everything it changes goes through :class:`~caseflow.engine.state.InstanceState`, whose
journal storage writes in one transaction. Time and ids come in; nothing is read from
the system.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from caseflow.engine import timers
from caseflow.engine.compiled import ExecutableProcess, NodePlan
from caseflow.engine.context import DefinitionRef, World
from caseflow.engine.events import (
    keeps_waiting,
    matching_error_boundary,
    matching_escalation_boundary,
    matching_start,
)
from caseflow.engine.state import (
    ACTIVE,
    COMPLETED,
    ERROR,
    SUSPENDED,
    TERMINATED,
    ActivityRecord,
    EventSubscription,
    Execution,
    ExternalTaskRecord,
    Incident,
    InstanceRecord,
    InstanceState,
    Job,
    UserTaskRecord,
)
from caseflow.engine.values import ExecutionFacade, resolve_datetime, resolve_int, resolve_str
from caseflow.engine.variables import ScopeView, VariableStore
from caseflow.errors import (
    CaseflowError,
    ExecutionError,
    ExpressionError,
    IllegalState,
    InstanceNotActive,
    NotFound,
    StepLimitExceeded,
)
from caseflow.model.elements import (
    Activity,
    BoundaryEvent,
    CallActivity,
    CallMapping,
    EndEvent,
    ErrorEventDefinition,
    EscalationEventDefinition,
    Event,
    EventBasedGateway,
    ExclusiveGateway,
    ExternalTask,
    FlowNode,
    InclusiveGateway,
    IntermediateCatchEvent,
    IntermediateThrowEvent,
    IoMapping,
    LinkEventDefinition,
    MessageEventDefinition,
    MultiInstance,
    ParallelGateway,
    ReceiveTask,
    ScriptTask,
    SequenceFlow,
    SignalEventDefinition,
    StartEvent,
    SubProcess,
    Task,
    TerminateEventDefinition,
    TimerEventDefinition,
    UserTask,
)

DEFAULT_MAX_STEPS = 1_000_000
_NO_VARIABLES: Mapping[str, Any] = MappingProxyType({})

Operation = tuple[Callable[..., None], InstanceState, Execution, Any]


class Executor:
    """Runs commands against instance states; one Executor per command."""

    def __init__(
        self,
        world: World,
        *,
        now: datetime,
        new_id: Callable[[], str],
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> None:
        self.world = world
        self.now = now
        self.new_id = new_id
        self.max_steps = max_steps
        self.steps = 0
        self._agenda: deque[Operation] = deque()
        self._vars: dict[str, VariableStore] = {}
        self._new_history: dict[str, ActivityRecord] = {}
        self._models: dict[str, ExecutableProcess] = {}
        self._last_model: tuple[str | None, ExecutableProcess] = (None, None)  # type: ignore[assignment]
        self.thrown_signals: list[tuple[str, str]] = []  # (signal name, tenant), for the runtime
        self._may_join = False  # an instance touched has an inclusive join (see _store)

    # ------------------------------------------------------------------ commands

    def start(
        self,
        ref: DefinitionRef,
        *,
        instance_id: str,
        business_key: str | None = None,
        case_id: str | None = None,
        variables: Mapping[str, Any] | None = None,
        started_by: str | None = None,
        start_event_id: str | None = None,
        parent: tuple[InstanceState, Execution] | None = None,
    ) -> InstanceState:
        """Create an instance of ``ref`` and run it to its first wait states."""
        ex = self.world.executable(ref.id)
        self._models[ref.id] = ex
        process = ex.process
        if start_event_id is not None:
            start = process.all_nodes.get(start_event_id)
            if not isinstance(start, StartEvent) or start.scope_id != process.id:
                raise NotFound("start event", start_event_id)
        else:
            found = ex.none_start.get(process.id)
            if found is None:
                raise IllegalState(
                    f"process '{process.id}' has no none start event to start it by a command"
                )
            start = found
        record = InstanceRecord(
            id=instance_id,
            definition_id=ref.id,
            process_key=ref.key,
            status=ACTIVE,
            started_at=self.now,
            tenant_id=ref.tenant_id,
            business_key=business_key,
            case_id=case_id,
            started_by=started_by,
            root_instance_id=instance_id,
        )
        if parent is not None:
            parent_state, parent_execution = parent
            record.parent_instance_id = parent_state.instance.id
            record.parent_execution_id = parent_execution.id
            record.root_instance_id = (
                parent_state.instance.root_instance_id or parent_state.instance.id
            )
        state = InstanceState.new(record)
        store = self._store(state)
        for name, value in (variables or {}).items():
            store.set_local(None, name, value)
        if isinstance(start, StartEvent) and start.initiator and started_by:
            store.set_local(None, start.initiator, started_by)
        self._attach_event_starts(state, process.id, instance_id)
        token = self._new_execution(state, start.id, parent_id=None)
        self._agenda.append((self._enter, state, token, start))
        return state

    def complete_task(
        self,
        state: InstanceState,
        task_id: str,
        variables: Mapping[str, Any] | None = None,
        *,
        user: str | None = None,
        outcome: str | None = None,
    ) -> None:
        self._require_active(state)
        task = state.tasks.get(task_id)
        if task is None:
            raise NotFound("task", task_id)
        if task.status not in _COMPLETABLE:
            raise IllegalState(f"task '{task_id}' is {task.status} and cannot be completed")
        execution = self._execution(state, task.execution_id)
        if variables:
            store = self._store(state)
            for name, value in variables.items():
                store.set(execution, name, value)
        task.status = "COMPLETED"
        task.completed_at = self.now
        task.completed_by = user
        task.outcome = outcome
        state.tasks.touch(task)
        node = self._ex(state).process.all_nodes[execution.element_id]
        self._agenda.append((self._leave, state, execution, node))

    def complete_external_task(
        self,
        state: InstanceState,
        external_task_id: str,
        worker_id: str,
        variables: Mapping[str, Any] | None = None,
        local_variables: Mapping[str, Any] | None = None,
    ) -> None:
        self._require_active(state)
        task = self._locked_external_task(state, external_task_id, worker_id)
        execution = self._execution(state, task.execution_id)
        store = self._store(state)
        for name, value in (local_variables or {}).items():
            store.set_local(execution, name, value)
        for name, value in (variables or {}).items():
            store.set(execution, name, value)
        self._resolve_incidents(state, external_task_id=task.id)
        state.external_tasks.remove(task)
        node = self._node(state, execution.element_id)
        self._agenda.append((self._leave, state, execution, node))

    def fail_external_task(
        self,
        state: InstanceState,
        external_task_id: str,
        worker_id: str,
        *,
        error_message: str,
        error_details: str | None = None,
        retries: int,
        retry_timeout_ms: int = 0,
    ) -> None:
        """Record a failure; at zero retries the task waits as an incident."""
        self._require_active(state)
        if retries < 0:
            raise IllegalState("retries cannot be negative")
        task = self._locked_external_task(state, external_task_id, worker_id)
        task.retries = retries
        task.error_message = error_message
        task.error_details = error_details
        task.lock_owner = None
        task.lock_expires_at = (
            self.now + timedelta(milliseconds=retry_timeout_ms) if retry_timeout_ms > 0 else None
        )
        state.external_tasks.touch(task)
        if retries == 0:
            self._raise_incident(
                state,
                kind="failedExternalTask",
                message=error_message,
                execution_id=task.execution_id,
                element_id=task.element_id,
                external_task_id=task.id,
            )

    def set_external_task_retries(
        self, state: InstanceState, external_task_id: str, retries: int
    ) -> None:
        """Give a failed task new retries; resolves its incident (the operator's retry)."""
        if retries < 0:
            raise IllegalState("retries cannot be negative")
        task = state.external_tasks.get(external_task_id)
        if task is None:
            raise NotFound("external task", external_task_id)
        task.retries = retries
        task.lock_expires_at = None
        state.external_tasks.touch(task)
        if retries > 0:
            self._resolve_incidents(state, external_task_id=task.id)

    def external_task_bpmn_error(
        self,
        state: InstanceState,
        external_task_id: str,
        worker_id: str,
        *,
        error_code: str,
        error_message: str | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        """The worker reports a business error: caught by a boundary event, or not."""
        self._require_active(state)
        task = self._locked_external_task(state, external_task_id, worker_id)
        execution = self._execution(state, task.execution_id)
        store = self._store(state)
        for name, value in (variables or {}).items():
            store.set(execution, name, value)
        self._throw_error(state, execution, error_code, error_message, from_activity=True)

    def correlate(
        self,
        state: InstanceState,
        subscription_id: str,
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        """Deliver a message or signal to what waits behind ``subscription_id``.

        A non-interrupting boundary or event-subprocess start keeps waiting for the next.
        """
        self._require_active(state)
        sub = state.subscriptions.get(subscription_id)
        if sub is None:
            raise NotFound("event subscription", subscription_id)
        node = self._node(state, sub.element_id)
        if not keeps_waiting(node):
            state.subscriptions.remove(sub)
        self._trigger(state, sub.execution_id, node, variables)

    def fire_job(self, state: InstanceState, job_id: str) -> None:
        """A job of this instance is due: a timer fires, or an async continuation goes on."""
        self._require_active(state)
        job = state.jobs.get(job_id)
        if job is None:
            raise NotFound("job", job_id)
        node = self._node(state, job.element_id or "")
        if job.kind == "async-continuation":
            state.jobs.remove(job)
            execution = self._execution(state, job.execution_id or "")
            step = self._enter_now if job.payload.get("phase") == "before" else self._leave_now
            self._agenda.append((step, state, execution, node))
            return
        cycle = job.payload.get("cycle") if keeps_waiting(node) else None
        following = timers.following(cycle, job.due_at, node.id) if cycle else None
        if following is None:
            state.jobs.remove(job)
        else:
            job.due_at = following.due_at
            job.payload = {**job.payload, "cycle": following.cycle}
            state.jobs.touch(job)
        self._trigger(state, job.execution_id or "", node, None)

    def set_variables(
        self,
        state: InstanceState,
        variables: Mapping[str, Any],
        *,
        scope_execution_id: str | None = None,
        local: bool = False,
    ) -> None:
        if state.instance.status not in (ACTIVE, SUSPENDED):
            raise InstanceNotActive(state.instance.id, state.instance.status)
        scope = self._execution(state, scope_execution_id) if scope_execution_id else None
        store = self._store(state)
        for name, value in variables.items():
            if local:
                store.set_local(scope, name, value)
            else:
                store.set(scope, name, value)

    def suspend(self, state: InstanceState) -> None:
        """Suspend the instance and the processes it called; commands then wait."""
        if state.instance.status != ACTIVE:
            raise InstanceNotActive(state.instance.id, state.instance.status)
        for each in self._hierarchy(state):
            if each.instance.status == ACTIVE:
                each.instance.status = SUSPENDED
                each.instance.suspended_at = self.now
                each.instance_changed = True

    def resume(self, state: InstanceState) -> None:
        if state.instance.status != SUSPENDED:
            raise IllegalState(
                f"process instance '{state.instance.id}' is {state.instance.status}, not SUSPENDED"
            )
        for each in self._hierarchy(state):
            if each.instance.status == SUSPENDED:
                each.instance.status = ACTIVE
                each.instance.suspended_at = None
                each.instance_changed = True

    def terminate(self, state: InstanceState, reason: str | None = None) -> None:
        """End the instance now: every token, task and called process is cancelled."""
        if state.instance.status not in (ACTIVE, SUSPENDED):
            raise InstanceNotActive(state.instance.id, state.instance.status)
        if state.instance.parent_instance_id:
            raise IllegalState(
                f"process instance '{state.instance.id}' was called by"
                f" '{state.instance.parent_instance_id}': terminate that instance instead"
            )
        self._end_instance(state, TERMINATED, reason or "terminated")

    # ------------------------------------------------------------------ the loop

    def run(self) -> None:
        """Work the agenda until every token waits (or the step budget runs out)."""
        agenda = self._agenda
        limit = self.max_steps
        while True:
            steps = self.steps
            try:
                while agenda:
                    steps += 1
                    if steps > limit:
                        raise StepLimitExceeded(
                            f"the command ran more than {limit} steps without reaching"
                            " a wait state; is there a loop without a way out?"
                        )
                    operation, state, execution, arg = agenda.popleft()
                    operation(state, execution, arg)
            finally:
                self.steps = steps
            if not self._fire_enabled_joins():
                return

    # ------------------------------------------------------------------ operations

    def _enter(self, state: InstanceState, execution: Execution, node: FlowNode) -> None:
        if state.instance.status != ACTIVE:
            return  # the instance ended (terminate, error) while this was queued
        execution.element_id = node.id
        plan = self._ex(state).plans[node.id]
        if plan.async_before and not (
            plan.multi_instance and self._is_mi_inner(state, execution, node)
        ):
            self._continue_later(state, execution, node, "before")
            return
        self._enter_planned(state, execution, node, plan)

    def _enter_now(self, state: InstanceState, execution: Execution, node: FlowNode) -> None:
        if state.instance.status != ACTIVE:
            return
        execution.element_id = node.id
        self._enter_planned(state, execution, node, self._ex(state).plans[node.id])

    def _enter_planned(
        self, state: InstanceState, execution: Execution, node: FlowNode, plan: NodePlan
    ) -> None:
        if plan.multi_instance and not self._is_mi_inner(state, execution, node):
            self._start_multi_instance(state, execution, node)  # type: ignore[arg-type]
            return
        self._history_start(state, execution, node)
        if plan.waiting_boundaries and not plan.multi_instance:  # else the body holds them
            self._attach_boundaries(state, execution, node)
        if plan.has_inputs:
            self._apply_inputs(state, execution, node.input_mappings, node.id)  # type: ignore[attr-defined]
        behaviour = _ENTER.get(type(node))
        if behaviour is None:
            raise ExecutionError(f"a {node.kind} is not executable", element_id=node.id)
        behaviour(self, state, execution, node)

    def _leave(self, state: InstanceState, execution: Execution, node: FlowNode) -> None:
        if state.instance.status != ACTIVE:
            return
        plan = self._ex(state).plans[node.id]
        store = self._store(state)
        if plan.has_outputs:
            parent = self._parent(state, execution)
            outputs: tuple[IoMapping, ...] = node.output_mappings  # type: ignore[attr-defined]
            values = self._evaluate_mappings(state, execution, outputs, node.id)
            for name, value in values.items():
                store.set(parent, name, value)
        self._history_end(state, execution, "completed")
        if plan.holder:
            self._drop_held_by(state, execution.id)
        if plan.multi_instance and self._is_mi_inner(state, execution, node):
            self._complete_mi_inner(state, execution, node)  # type: ignore[arg-type]
            return
        store.clear_scope(execution.id)
        if execution.is_mi_body:
            execution.is_mi_body = False
        if plan.async_after:
            self._continue_later(state, execution, node, "after")
            return
        self._leave_now(state, execution, node, plan)

    def _leave_now(
        self,
        state: InstanceState,
        execution: Execution,
        node: FlowNode,
        plan: NodePlan | None = None,
    ) -> None:
        if state.instance.status != ACTIVE:
            return
        if plan is None:
            plan = self._ex(state).plans[node.id]
        if plan.single_target is not None:  # the common case: one way on, nothing to decide
            execution.state = "waiting"
            self._agenda.append((self._take_single, state, execution, plan))
            return
        flows = self._select_outgoing(state, execution, node)
        self._take_all(state, execution, flows)

    def _continue_later(
        self, state: InstanceState, execution: Execution, node: FlowNode, phase: str
    ) -> None:
        """asyncBefore/asyncAfter: end the transaction here; a job goes on from this point,
        so a failure after it becomes a retried job (and an incident), not a failed call."""
        execution.state = "waiting"
        state.executions.touch(execution)
        inst = state.instance
        state.jobs.add(
            Job(
                id=self.new_id(),
                kind="async-continuation",
                due_at=self.now,
                created_at=self.now,
                instance_id=inst.id,
                execution_id=execution.id,
                element_id=node.id,
                definition_id=inst.definition_id,
                payload={"phase": phase},
                tenant_id=inst.tenant_id,
            )
        )

    def _take_single(self, state: InstanceState, execution: Execution, plan: NodePlan) -> None:
        """:meth:`_take` of a node's one unconditional flow, its target known in advance."""
        execution.arrived_via = plan.single_flow.id  # type: ignore[union-attr]
        self._enter(state, execution, plan.single_target)  # type: ignore[arg-type]

    def _take(self, state: InstanceState, execution: Execution, flow: SequenceFlow) -> None:
        execution.arrived_via = flow.id
        target = self._node(state, flow.target_ref)
        self._enter(state, execution, target)

    # ------------------------------------------------------------------ behaviours

    def _pass_through(self, state: InstanceState, execution: Execution, node: FlowNode) -> None:
        self._leave(state, execution, node)

    def _end_event(self, state: InstanceState, execution: Execution, node: EndEvent) -> None:
        for definition in node.event_definitions:
            if isinstance(definition, TerminateEventDefinition):
                self._history_end(state, execution, "completed")
                self._terminate_scope(state, execution, node)
                return
            if isinstance(definition, ErrorEventDefinition):
                code, message = self._error_of(state, definition)
                self._history_end(state, execution, "completed")
                self._throw_error(state, execution, code, message, from_activity=False)
                return
            if isinstance(definition, SignalEventDefinition):
                self._throw_signal(state, definition)
            elif isinstance(definition, EscalationEventDefinition) and self._throw_escalation(
                state, execution, definition
            ):
                return  # an interrupting handler cancelled this token's scope
        self._history_end(state, execution, "completed")
        self._consume(state, execution)

    def _throw_event(
        self, state: InstanceState, execution: Execution, node: IntermediateThrowEvent
    ) -> None:
        for definition in node.event_definitions:
            if isinstance(definition, SignalEventDefinition):
                self._throw_signal(state, definition)
            elif isinstance(definition, EscalationEventDefinition):
                if self._throw_escalation(state, execution, definition):
                    return
            elif isinstance(definition, LinkEventDefinition):
                self._follow_link(state, execution, node, definition.name)
                return
        self._leave(state, execution, node)

    def _catch_event(
        self, state: InstanceState, execution: Execution, node: IntermediateCatchEvent
    ) -> None:
        if any(isinstance(d, LinkEventDefinition) for d in node.event_definitions):
            self._leave(state, execution, node)  # reached by its link: nothing to wait for
            return
        execution.state = "waiting"
        self._attach(state, execution.id, node)

    def _event_gateway(
        self, state: InstanceState, execution: Execution, node: EventBasedGateway
    ) -> None:
        """Wait for whichever of the events after the gateway happens first."""
        execution.state = "waiting"
        for flow in self._ex(state).outgoing.get(node.id, ()):
            target = self._node(state, flow.target_ref)
            if isinstance(target, IntermediateCatchEvent):
                self._attach(state, execution.id, target)
            elif isinstance(target, ReceiveTask):
                self._subscribe_message(state, execution.id, target, target.message_ref)

    def _script_task(self, state: InstanceState, execution: Execution, node: ScriptTask) -> None:
        if node.script is None:
            self._leave(state, execution, node)
            return
        store = self._store(state)
        try:
            result, assigned = node.script.run(self._view(state, execution))
        except ExpressionError as exc:
            raise exc.at_element(node.id) from None
        for name, value in assigned.items():
            store.set(execution, name, value)
        if node.result_variable:
            store.set(execution, node.result_variable, result)
        self._leave(state, execution, node)

    def _user_task(self, state: InstanceState, execution: Execution, node: UserTask) -> None:
        execution.state = "waiting"
        known = self._ex(state).task_literals
        literals = known.get(node.id, _UNKNOWN)
        if literals is _UNKNOWN:
            literals = known[node.id] = _task_literals(node)
        due_at = follow_up_at = None
        if literals is None:
            view = self._view_if_needed(
                state,
                execution,
                (
                    node.priority,
                    node.assignee,
                    node.due_date,
                    node.follow_up_date,
                    *node.candidate_users,
                    *node.candidate_groups,
                ),
            )
            priority = resolve_int(node.priority, view, node.id, default=50)
            assignee = resolve_str(node.assignee, view, node.id)
            candidate_users = _names(node.candidate_users, view, node.id)
            candidate_groups = _names(node.candidate_groups, view, node.id)
            due_at = resolve_datetime(node.due_date, view, node.id, self.now)
            follow_up_at = resolve_datetime(node.follow_up_date, view, node.id, self.now)
        else:
            priority, assignee, candidate_users, candidate_groups = literals
        inst = state.instance
        state.tasks.add(
            UserTaskRecord(  # positional: every task of every process is made here
                self.new_id(),
                inst.id,
                execution.id,
                node.id,
                inst.process_key,
                inst.definition_id,
                node.name,
                "CLAIMED" if assignee else "OPEN",
                self.now,
                priority,
                assignee,
                candidate_users,
                candidate_groups,
                node.form_key,
                node.queue,
                due_at,
                follow_up_at,
                inst.business_key,
                inst.case_id,
                None,  # completed_at
                None,  # completed_by
                None,  # outcome
                inst.tenant_id,
            )
        )

    def _external_task(
        self, state: InstanceState, execution: Execution, node: ExternalTask
    ) -> None:
        if node.decision_ref:
            raise ExecutionError(
                "business rule tasks with a DMN decision are not executable yet", element_id=node.id
            )
        execution.state = "waiting"
        inst = state.instance
        state.external_tasks.add(
            ExternalTaskRecord(
                id=self.new_id(),
                instance_id=inst.id,
                execution_id=execution.id,
                element_id=node.id,
                process_key=inst.process_key,
                definition_id=inst.definition_id,
                topic=node.topic,
                created_at=self.now,
                retries=None,
                priority=resolve_int(
                    node.priority,
                    self._view_if_needed(state, execution, (node.priority,)),
                    node.id,
                    default=0,
                ),
                business_key=inst.business_key,
                tenant_id=inst.tenant_id,
            )
        )

    def _receive_task(self, state: InstanceState, execution: Execution, node: ReceiveTask) -> None:
        execution.state = "waiting"
        self._subscribe_message(state, execution.id, node, node.message_ref)

    def _subprocess(self, state: InstanceState, execution: Execution, node: SubProcess) -> None:
        ex = self._ex(state)
        start = ex.none_start.get(node.id)
        if start is None:
            raise ExecutionError("the subprocess has no none start event", element_id=node.id)
        execution.state = "scope"
        self._attach_event_starts(state, node.id, execution.id)
        child = self._new_execution(state, start.id, parent_id=execution.id)
        self._agenda.append((self._enter, state, child, start))

    def _call_activity(
        self, state: InstanceState, execution: Execution, node: CallActivity
    ) -> None:
        execution.state = "waiting"
        view = self._view(state, execution)
        key = resolve_str(node.called_element, view, node.id)
        if not key:
            raise ExecutionError("the call activity names no process to call", element_id=node.id)
        ref = self.world.called_definition(
            key,
            binding=node.binding,
            version=node.version,
            caller_definition_id=state.instance.definition_id,
            tenant_id=state.instance.tenant_id,
        )
        variables = self._call_inputs(state, execution, node)
        business_key = state.instance.business_key
        if node.business_key is not None:
            value = self._evaluate(node.business_key, state, execution, node.id)
            business_key = None if value is None else str(value)
        child = self.start(
            ref,
            instance_id=self.new_id(),
            business_key=business_key,
            case_id=state.instance.case_id,
            variables=variables,
            started_by=state.instance.started_by,
            parent=(state, execution),
        )
        execution.called_instance_id = child.instance.id
        record = self._new_history.get(execution.history_id or "")
        if record is not None:
            record.called_instance_id = child.instance.id
        self.world.register(child)

    def _exclusive_gateway(
        self, state: InstanceState, execution: Execution, node: FlowNode
    ) -> None:
        self._leave(state, execution, node)

    def _parallel_gateway(self, state: InstanceState, execution: Execution, node: FlowNode) -> None:
        ex = self._ex(state)
        if ex.incoming_count.get(node.id, 0) <= 1:
            self._leave(state, execution, node)
            return
        execution.state = "joining"
        waiting = self._joining_at(state, node.id, execution.parent_id)
        by_flow: dict[str, Execution] = {}
        for each in waiting:
            by_flow.setdefault(each.arrived_via or "", each)
        needed = {f for f in node.incoming if f in ex.process.all_flows}
        if not needed.issubset(by_flow):
            return
        chosen = [by_flow[f] for f in sorted(needed)]
        self._merge(state, execution, chosen, node)

    def _inclusive_gateway(
        self, state: InstanceState, execution: Execution, node: FlowNode
    ) -> None:
        ex = self._ex(state)
        if ex.incoming_count.get(node.id, 0) <= 1:
            self._leave(state, execution, node)
            return
        execution.state = "joining"  # fired by _fire_enabled_joins once nothing can arrive

    # ------------------------------------------------------------------ joins

    def _joining_at(
        self, state: InstanceState, node_id: str, parent_id: str | None
    ) -> list[Execution]:
        return [
            e
            for e in state.executions
            if e.state == "joining" and e.element_id == node_id and e.parent_id == parent_id
        ]

    def _merge(
        self, state: InstanceState, survivor: Execution, merged: list[Execution], node: FlowNode
    ) -> None:
        """Join ``merged`` tokens into ``survivor``, which goes on through ``node``."""
        if survivor not in merged:
            merged = [*merged, survivor]
        for each in merged:
            if each is not survivor:
                self._history_end(state, each, "completed")
                state.executions.remove(each)
        survivor.state = "waiting"
        self._leave(state, survivor, node)

    def _fire_enabled_joins(self) -> bool:
        """Fire every inclusive join no other token can still reach. True if any fired.

        Checked whenever the agenda runs dry, for every instance this command touched:
        a token can stop being able to reach a join by ending, by waiting somewhere
        else, or by leaving on another branch, and each of those is seen here.
        """
        if not self._may_join:
            return False
        for state in self._states():
            if state.instance.status != ACTIVE or not self._ex(state).inclusive_joins:
                continue
            for execution in state.executions:
                if execution.state != "joining":
                    continue
                node = self._node(state, execution.element_id)
                if isinstance(node, InclusiveGateway) and self._inclusive_join_enabled(
                    state, execution, node
                ):
                    waiting = self._joining_at(state, node.id, execution.parent_id)
                    self._merge(state, execution, waiting, node)
                    return True
        return False

    def _inclusive_join_enabled(
        self, state: InstanceState, execution: Execution, node: FlowNode
    ) -> bool:
        ex = self._ex(state)
        upstream = ex.upstream(node.id)
        for other in state.executions:
            if other.parent_id != execution.parent_id or other is execution:
                continue
            if other.state == "joining" and other.element_id == node.id:
                continue
            if other.element_id in upstream:
                return False
        return True

    def _states(self) -> list[InstanceState]:
        return [store.state for store in self._vars.values()]

    # ------------------------------------------------------------------ flows

    def _select_outgoing(
        self, state: InstanceState, execution: Execution, node: FlowNode
    ) -> list[SequenceFlow]:
        ex = self._ex(state)
        flows = ex.outgoing.get(node.id, ())
        if not flows:
            return []
        if isinstance(node, ParallelGateway):
            return list(flows)
        default_id = ex.default_flow.get(node.id)
        if isinstance(node, ExclusiveGateway):
            for flow in flows:
                if flow.id == default_id:
                    continue
                if flow.condition is None or self._condition(flow, state, execution):
                    return [flow]
            if default_id is not None:
                return [ex.process.all_flows[default_id]]
            raise ExecutionError(
                "no outgoing sequence flow of the exclusive gateway can be taken"
                " (no condition is true and there is no default flow)",
                element_id=node.id,
            )
        # inclusive gateways and activities: every flow whose condition holds
        chosen = [
            f
            for f in flows
            if f.id != default_id and (f.condition is None or self._condition(f, state, execution))
        ]
        if not chosen and default_id is not None:
            chosen = [ex.process.all_flows[default_id]]
        if not chosen and isinstance(node, InclusiveGateway):
            raise ExecutionError(
                "no outgoing sequence flow of the inclusive gateway can be taken"
                " (no condition is true and there is no default flow)",
                element_id=node.id,
            )
        if not chosen:
            raise ExecutionError(
                "no outgoing sequence flow can be taken (every condition is false)",
                element_id=node.id,
            )
        return chosen

    def _take_all(
        self, state: InstanceState, execution: Execution, flows: list[SequenceFlow]
    ) -> None:
        if not flows:
            self._consume(state, execution)  # an implicit end
            return
        execution.state = "waiting"
        for flow in flows[1:]:
            sibling = self._new_execution(
                state, execution.element_id, parent_id=execution.parent_id
            )
            self._agenda.append((self._take, state, sibling, flow))
        self._agenda.append((self._take, state, execution, flows[0]))

    def _condition(self, flow: SequenceFlow, state: InstanceState, execution: Execution) -> bool:
        """A flow's condition: no condition is true; null is false; anything else is wrong."""
        if flow.condition is None:
            return True
        value = self._evaluate(flow.condition, state, execution, flow.id)
        if value is None or isinstance(value, bool):
            return bool(value)
        raise ExecutionError(
            f"the condition {flow.condition.source!r} gave {value!r}, not true or false",
            element_id=flow.id,
        )

    # ------------------------------------------------------------------ tokens and scopes

    def _consume(self, state: InstanceState, execution: Execution) -> None:
        """A token ends; its scope completes when no token is left in it."""
        parent_id = execution.parent_id
        self._store(state).clear_scope(execution.id)
        state.executions.remove(execution)
        self._after_token_left(state, parent_id)

    def _after_token_left(self, state: InstanceState, parent_id: str | None) -> None:
        if any(e.parent_id == parent_id for e in state.executions):
            return
        if parent_id is None:
            self._end_instance(state, COMPLETED, None)
            return
        scope = self._execution(state, parent_id)
        node = self._node(state, scope.element_id)
        scope.state = "waiting"
        self._agenda.append((self._leave, state, scope, node))

    def _terminate_scope(self, state: InstanceState, execution: Execution, node: FlowNode) -> None:
        parent_id = execution.parent_id
        state.executions.remove(execution)
        for other in [e for e in state.executions if e.parent_id == parent_id]:
            self._cancel_tree(state, other)
        if parent_id is None:
            self._end_instance(state, COMPLETED, f"terminate end event '{node.id}'")
        else:
            self._after_token_left(state, parent_id)

    def _cancel_tree(self, state: InstanceState, execution: Execution) -> None:
        """Cancel a token or scope with everything under it (tasks, called processes)."""
        for child in [e for e in state.executions if e.parent_id == execution.id]:
            self._cancel_tree(state, child)
        self._drop_attachments(state, execution)
        tables = self._ex(state).row_tables
        if "tasks" in tables:
            for task in [t for t in state.tasks if t.execution_id == execution.id]:
                if task.status not in ("COMPLETED", "CANCELLED"):
                    task.status = "CANCELLED"
                    task.completed_at = self.now
                    state.tasks.touch(task)
        if "external_tasks" in tables:
            for ext in [t for t in state.external_tasks if t.execution_id == execution.id]:
                state.external_tasks.remove(ext)
                self._resolve_incidents(state, external_task_id=ext.id)
        if execution.called_instance_id:
            called = self.world.instance(execution.called_instance_id)
            self._remember(called)
            if called.instance.status in (ACTIVE, SUSPENDED):
                self._end_instance(called, TERMINATED, "the calling activity was cancelled")
        self._history_end(state, execution, "cancelled")
        self._store(state).clear_scope(execution.id)
        state.executions.remove(execution)

    def _drop_attachments(self, state: InstanceState, execution: Execution) -> None:
        """Remove the subscriptions and jobs (timers, an asynchronous continuation) the
        execution held at its element."""
        plan = self._ex(state).plans.get(execution.element_id)
        if plan is not None and (plan.holder or plan.async_before or plan.async_after):
            self._drop_held_by(state, execution.id)

    def _drop_held_by(self, state: InstanceState, holder_id: str) -> None:
        tables = self._ex(state).row_tables
        if "subscriptions" in tables:
            for sub in [s for s in state.subscriptions if s.execution_id == holder_id]:
                state.subscriptions.remove(sub)
        if "jobs" in tables:
            for job in [j for j in state.jobs if j.execution_id == holder_id]:
                state.jobs.remove(job)

    def _end_instance(self, state: InstanceState, status: str, reason: str | None) -> None:
        inst = state.instance
        for execution in [e for e in state.executions if e.parent_id is None]:
            self._cancel_tree(state, execution)
        tables = self._ex(state).row_tables
        if "tasks" in tables:
            for task in state.tasks:
                if task.status not in ("COMPLETED", "CANCELLED"):
                    task.status = "CANCELLED"
                    task.completed_at = self.now
                    state.tasks.touch(task)
        if "subscriptions" in tables:
            for sub in list(state.subscriptions):
                state.subscriptions.remove(sub)
        if "jobs" in tables:
            for job in list(state.jobs):
                state.jobs.remove(job)
        inst.status = status  # type: ignore[assignment]
        inst.ended_at = self.now
        inst.end_reason = reason
        inst.suspended_at = None
        state.instance_changed = True
        if status == COMPLETED and inst.parent_instance_id:
            parent = self.world.instance(inst.parent_instance_id)
            self._remember(parent)
            self._require_active(parent)
            call = parent.executions.get(inst.parent_execution_id or "")
            if call is not None:
                self._agenda.append((self._child_completed, parent, call, state))

    def _child_completed(
        self, state: InstanceState, execution: Execution, child: InstanceState
    ) -> None:
        node = self._node(state, execution.element_id)
        if not isinstance(node, CallActivity):
            raise ExecutionError(
                "a called process returned to a non-call activity", element_id=node.id
            )
        store = self._store(state)
        child_vars = self._store(child).locals_of(None)
        for name, value in self._call_outputs(child, node, child_vars).items():
            store.set(execution, name, value)
        execution.called_instance_id = None
        self._leave(state, execution, node)

    # ------------------------------------------------------------------ errors

    def _error_of(
        self, state: InstanceState, definition: ErrorEventDefinition
    ) -> tuple[str, str | None]:
        errors = self._errors(state)
        if definition.error_ref and definition.error_ref in errors:
            error = errors[definition.error_ref]
            return error[0] or definition.error_ref, error[1]
        return definition.error_ref or "", None

    def _errors(self, state: InstanceState) -> Mapping[str, tuple[str | None, str | None]]:
        ex = self._ex(state)
        return ex.errors

    def _throw_error(
        self,
        state: InstanceState,
        execution: Execution,
        code: str,
        message: str | None,
        *,
        from_activity: bool,
    ) -> None:
        """Find the nearest boundary event that catches ``code`` and take it.

        ``from_activity``: thrown by the activity ``execution`` is at (an external task),
        so its own boundary events come first; an error end event is thrown by its scope.
        """
        ex = self._ex(state)
        current: Execution | None = execution if from_activity else self._parent(state, execution)
        if not from_activity:
            state.executions.remove(execution)
        while current is not None:
            node = ex.node(current.element_id)
            if isinstance(node, SubProcess) and not current.is_mi_body:
                handler = matching_start(ex, node.id, ErrorEventDefinition, code)
                if handler is not None:
                    self._set_error_variables(state, current, handler[1], code, message)
                    self._start_event_subprocess(state, current, *handler)
                    return
            is_inner = (
                isinstance(node, Activity)
                and node.multi_instance is not None
                and (self._is_mi_inner(state, current, node))
            )
            if not is_inner:
                boundary = matching_error_boundary(ex, current.element_id, code)
                if boundary is not None:
                    self._catch_error(state, current, boundary, code, message)
                    return
            current = self._parent(state, current)
        handler = matching_start(ex, ex.process.id, ErrorEventDefinition, code)
        if handler is not None:
            self._set_error_variables(state, None, handler[1], code, message)
            self._start_event_subprocess(state, None, *handler)
            return
        # nothing in this instance catches it: a called process hands it to its caller
        inst = state.instance
        if inst.parent_instance_id:
            parent = self.world.instance(inst.parent_instance_id)
            self._remember(parent)
            self._end_instance(state, TERMINATED, f"error '{code}' passed to the calling process")
            call = parent.executions.get(inst.parent_execution_id or "")
            if call is not None:
                call.called_instance_id = None
                self._throw_error(parent, call, code, message, from_activity=True)
            return
        self._raise_incident(
            state,
            kind="unhandledError",
            message=f"BPMN error '{code}' was not caught" + (f": {message}" if message else ""),
            execution_id=execution.id,
            element_id=execution.element_id,
        )
        self._end_instance(state, ERROR, f"unhandled BPMN error '{code}'")

    def _catch_error(
        self,
        state: InstanceState,
        execution: Execution,
        boundary: BoundaryEvent,
        code: str,
        message: str | None,
    ) -> None:
        parent_id = execution.parent_id
        self._cancel_tree(state, execution)
        token = self._new_execution(state, boundary.id, parent_id=parent_id)
        self._set_error_variables(state, token, boundary, code, message)
        self._history_start(state, token, boundary)
        self._agenda.append((self._leave, state, token, boundary))

    def _set_error_variables(
        self,
        state: InstanceState,
        execution: Execution | None,
        catcher: Event,
        code: str,
        message: str | None,
    ) -> None:
        store = self._store(state)
        for definition in catcher.event_definitions:
            if isinstance(definition, ErrorEventDefinition):
                if definition.error_code_variable:
                    store.set(execution, definition.error_code_variable, code)
                if definition.error_message_variable:
                    store.set(execution, definition.error_message_variable, message)

    # ------------------------------------------------------------------ waiting events

    def _attach(self, state: InstanceState, holder_id: str, node: Event) -> None:
        """Make ``node`` wait for its event: a timer job or a subscription of ``holder_id``."""
        for definition in node.event_definitions:
            if isinstance(definition, TimerEventDefinition):
                self._schedule_timer(state, holder_id, node, definition)
            elif isinstance(definition, MessageEventDefinition):
                self._subscribe_message(state, holder_id, node, definition.message_ref)
            elif isinstance(definition, SignalEventDefinition):
                name = self._ex(state).signals.get(definition.signal_ref or "")
                self._subscribe(
                    state, holder_id, node, "signal", name or definition.signal_ref or node.id, None
                )

    def _attach_boundaries(
        self, state: InstanceState, execution: Execution, node: FlowNode
    ) -> None:
        for boundary in self._ex(state).waiting_boundaries.get(node.id, ()):
            self._attach(state, execution.id, boundary)

    def _attach_event_starts(self, state: InstanceState, scope_id: str, holder_id: str) -> None:
        """Event subprocesses of a scope start waiting when the scope starts."""
        for _, start in self._ex(state).event_starts.get(scope_id, ()):
            self._attach(state, holder_id, start)

    def _holder(self, state: InstanceState, holder_id: str) -> Execution | None:
        """The execution holding a subscription; None for the process scope itself."""
        return None if holder_id == state.instance.id else self._execution(state, holder_id)

    def _subscribe_message(
        self, state: InstanceState, holder_id: str, node: FlowNode, message_ref: str | None
    ) -> None:
        name, key_expression = self._ex(state).messages.get(
            message_ref or "", (message_ref or node.id, None)
        )
        correlation_key = None
        if key_expression is not None:
            value = self._evaluate(key_expression, state, self._holder(state, holder_id), node.id)
            correlation_key = None if value is None else str(value)
        self._subscribe(state, holder_id, node, "message", name, correlation_key)

    def _subscribe(
        self,
        state: InstanceState,
        holder_id: str,
        node: FlowNode,
        kind: str,
        name: str,
        correlation_key: str | None,
    ) -> None:
        inst = state.instance
        state.subscriptions.add(
            EventSubscription(
                id=self.new_id(),
                instance_id=inst.id,
                execution_id=holder_id,
                element_id=node.id,
                kind=kind,  # type: ignore[arg-type]
                event_name=name,
                created_at=self.now,
                correlation_key=correlation_key,
                tenant_id=inst.tenant_id,
            )
        )

    def _schedule_timer(
        self,
        state: InstanceState,
        holder_id: str,
        node: FlowNode,
        definition: TimerEventDefinition,
    ) -> None:
        value = definition.value
        if not isinstance(value, str):
            value = self._evaluate(value, state, self._holder(state, holder_id), node.id)
        if isinstance(value, datetime):
            schedule = timers.Schedule(value if value.tzinfo else value.replace(tzinfo=UTC))
        elif isinstance(value, timedelta):
            schedule = timers.Schedule(self.now + value)
        else:
            schedule = timers.first(definition.timer_kind, str(value), self.now, node.id)
        inst = state.instance
        state.jobs.add(
            Job(
                id=self.new_id(),
                kind="timer",
                due_at=schedule.due_at,
                created_at=self.now,
                instance_id=inst.id,
                execution_id=holder_id,
                element_id=node.id,
                definition_id=inst.definition_id,
                payload={"cycle": schedule.cycle} if schedule.cycle else {},
                tenant_id=inst.tenant_id,
            )
        )

    def _trigger(
        self,
        state: InstanceState,
        holder_id: str,
        node: FlowNode,
        variables: Mapping[str, Any] | None,
    ) -> None:
        """The event ``node`` waited for has happened for ``holder_id``: move on."""
        holder = self._holder(state, holder_id)
        store = self._store(state)
        for name, value in (variables or {}).items():
            store.set(holder, name, value)
        if isinstance(node, BoundaryEvent):
            if holder is None:
                raise ExecutionError(
                    "a boundary event fired without its activity", element_id=node.id
                )
            self._fire_boundary(state, holder, node)
            return
        if isinstance(node, StartEvent):  # the start of an event subprocess
            esp = self._node(state, node.scope_id)
            if not isinstance(esp, SubProcess):
                raise ExecutionError(
                    "a start event fired outside an event subprocess", element_id=node.id
                )
            self._start_event_subprocess(state, holder, esp, node)
            return
        if holder is None:
            raise ExecutionError("an event fired without its token", element_id=node.id)
        if holder.element_id != node.id:  # waiting at an event-based gateway
            self._drop_held_by(state, holder.id)
            self._history_end(state, holder, "completed")
            flow = next(
                f
                for f in self._ex(state).outgoing.get(holder.element_id, ())
                if f.target_ref == node.id
            )
            holder.arrived_via = flow.id
            holder.element_id = node.id
            self._history_start(state, holder, node)
        self._agenda.append((self._leave, state, holder, node))

    def _fire_boundary(
        self, state: InstanceState, activity: Execution, boundary: BoundaryEvent
    ) -> None:
        parent_id = activity.parent_id
        if boundary.cancel_activity:
            self._cancel_tree(state, activity)
        token = self._new_execution(state, boundary.id, parent_id=parent_id)
        self._history_start(state, token, boundary)
        self._agenda.append((self._leave, state, token, boundary))

    def _start_event_subprocess(
        self,
        state: InstanceState,
        scope: Execution | None,
        esp: SubProcess,
        start: StartEvent,
    ) -> None:
        """Run an event subprocess in ``scope`` (None: the process); interrupting ones end
        everything else in the scope first."""
        parent_id = scope.id if scope is not None else None
        if start.is_interrupting:
            for other in [e for e in state.executions if e.parent_id == parent_id]:
                self._cancel_tree(state, other)
            self._drop_held_by(state, scope.id if scope is not None else state.instance.id)
        body = self._new_execution(state, esp.id, parent_id=parent_id)
        self._history_start(state, body, esp)
        body.state = "scope"
        self._attach_event_starts(state, esp.id, body.id)
        token = self._new_execution(state, start.id, parent_id=body.id)
        self._history_start(state, token, start)
        self._agenda.append((self._leave, state, token, start))

    def _throw_signal(self, state: InstanceState, definition: SignalEventDefinition) -> None:
        """Signals are broadcast: the runtime delivers them to every waiting receiver."""
        name = self._ex(state).signals.get(definition.signal_ref or "")
        self.thrown_signals.append((name or definition.signal_ref or "", state.instance.tenant_id))

    def _throw_escalation(
        self, state: InstanceState, execution: Execution, definition: EscalationEventDefinition
    ) -> bool:
        """Hand an escalation to the nearest handler; True if that cancelled the thrower.

        An escalation nobody catches is not an error: the thrower just goes on.
        """
        ex = self._ex(state)
        code = ex.escalations.get(definition.escalation_ref or "") or definition.escalation_ref
        current = self._parent(state, execution)
        while True:
            scope_id = ex.process.id if current is None else current.element_id
            node = ex.node(scope_id) if current is not None else None
            if current is None or (isinstance(node, SubProcess) and not current.is_mi_body):
                handler = matching_start(ex, scope_id, EscalationEventDefinition, code)
                if handler is not None:
                    self._start_event_subprocess(state, current, *handler)
                    return handler[1].is_interrupting
            if current is None:
                break
            if not (
                isinstance(node, Activity)
                and node.multi_instance is not None
                and self._is_mi_inner(state, current, node)
            ):
                boundary = matching_escalation_boundary(ex, current.element_id, code)
                if boundary is not None:
                    self._fire_boundary(state, current, boundary)
                    return boundary.cancel_activity
            current = self._parent(state, current)
        inst = state.instance
        if inst.parent_instance_id:  # a called process escalates to its call activity
            parent = self.world.instance(inst.parent_instance_id)
            self._remember(parent)
            call = parent.executions.get(inst.parent_execution_id or "")
            if call is not None:
                boundary = matching_escalation_boundary(self._ex(parent), call.element_id, code)
                if boundary is not None:
                    self._fire_boundary(parent, call, boundary)
                    return boundary.cancel_activity
        return False

    def _follow_link(
        self, state: InstanceState, execution: Execution, node: FlowNode, name: str
    ) -> None:
        """A link throw event jumps to the catch event of the same name in its scope."""
        ex = self._ex(state)
        target = next(
            (
                n
                for n in ex.process.all_nodes.values()
                if isinstance(n, IntermediateCatchEvent)
                and n.scope_id == node.scope_id
                and any(
                    isinstance(d, LinkEventDefinition) and d.name == name
                    for d in n.event_definitions
                )
            ),
            None,
        )
        if target is None:
            raise ExecutionError(f"no link catch event named '{name}'", element_id=node.id)
        self._history_end(state, execution, "completed")
        self._enter(state, execution, target)

    # ------------------------------------------------------------------ multi-instance

    def _is_mi_inner(self, state: InstanceState, execution: Execution, node: FlowNode) -> bool:
        if execution.is_mi_body or execution.parent_id is None:
            return False
        parent = state.executions.get(execution.parent_id)
        return parent is not None and parent.is_mi_body and parent.element_id == node.id

    def _start_multi_instance(self, state: InstanceState, body: Execution, node: Activity) -> None:
        mi = _mi(node)
        self._history_start(state, body, node, element_type="multiInstanceBody")
        if node.id in self._ex(state).waiting_boundaries:
            self._attach_boundaries(state, body, node)
        items = self._mi_items(state, body, node)
        count = len(items) if items is not None else self._mi_cardinality(state, body, node)
        body.is_mi_body = True
        body.state = "scope"
        store = self._store(state)
        store.set_local(body, "nrOfInstances", count)
        store.set_local(body, "nrOfCompletedInstances", 0)
        store.set_local(
            body, "nrOfActiveInstances", 0 if count == 0 else (1 if mi.is_sequential else count)
        )
        if mi.output_collection:
            store.set_local(body, mi.output_collection, [None] * count)
        if count == 0:
            self._finish_mi_body(state, body, node)
            return
        for index in range(1 if mi.is_sequential else count):
            self._start_mi_inner(state, body, node, index, items)

    def _mi_items(self, state: InstanceState, body: Execution, node: Activity) -> list[Any] | None:
        mi = _mi(node)
        if mi.collection is None:
            return None
        value = self._evaluate(mi.collection, state, body, node.id)
        if isinstance(value, list | tuple):
            return list(value)
        raise ExecutionError(
            f"the multi-instance collection {mi.collection.source!r} gave"
            f" {type(value).__name__}, not a list",
            element_id=node.id,
        )

    def _mi_cardinality(self, state: InstanceState, body: Execution, node: Activity) -> int:
        mi = _mi(node)
        if mi.loop_cardinality is None:
            raise ExecutionError(
                "multi-instance needs a loop cardinality or a collection", element_id=node.id
            )
        value = self._evaluate(mi.loop_cardinality, state, body, node.id)
        try:
            count = int(value)
        except (TypeError, ValueError):
            raise ExecutionError(
                f"the loop cardinality gave {value!r}, not a number", element_id=node.id
            ) from None
        if count < 0:
            raise ExecutionError(f"the loop cardinality gave {count}", element_id=node.id)
        return count

    def _start_mi_inner(
        self,
        state: InstanceState,
        body: Execution,
        node: Activity,
        index: int,
        items: list[Any] | None,
    ) -> None:
        mi = _mi(node)
        inner = self._new_execution(state, node.id, parent_id=body.id)
        inner.loop_counter = index
        store = self._store(state)
        store.set_local(inner, "loopCounter", index)
        if items is not None and mi.element_variable:
            store.set_local(inner, mi.element_variable, items[index])
        self._agenda.append((self._enter, state, inner, node))

    def _complete_mi_inner(self, state: InstanceState, inner: Execution, node: Activity) -> None:
        mi = _mi(node)
        store = self._store(state)
        body = self._execution(state, inner.parent_id or "")
        if mi.output_collection and mi.output_element is not None:
            value = self._evaluate(mi.output_element, state, inner, node.id)
            collected = list(store.get(body, mi.output_collection) or [])
            if inner.loop_counter is not None and inner.loop_counter < len(collected):
                collected[inner.loop_counter] = value
                store.set_local(body, mi.output_collection, collected)
        completed = int(store.get(body, "nrOfCompletedInstances", 0)) + 1
        active = int(store.get(body, "nrOfActiveInstances", 0)) - 1
        total = int(store.get(body, "nrOfInstances", 0))
        store.set_local(body, "nrOfCompletedInstances", completed)
        store.set_local(body, "nrOfActiveInstances", active)
        done = completed >= total
        if not done and mi.completion_condition is not None:
            value = self._evaluate(mi.completion_condition, state, inner, node.id)
            done = bool(value)
        store.clear_scope(inner.id)
        next_index = (inner.loop_counter or 0) + 1
        state.executions.remove(inner)
        if done:
            for other in [e for e in state.executions if e.parent_id == body.id]:
                self._cancel_tree(state, other)
            self._finish_mi_body(state, body, node)
        elif mi.is_sequential:
            store.set_local(body, "nrOfActiveInstances", 1)
            items = self._mi_items(state, body, node)
            self._start_mi_inner(state, body, node, next_index, items)

    def _finish_mi_body(self, state: InstanceState, body: Execution, node: Activity) -> None:
        mi = _mi(node)
        store = self._store(state)
        collected = store.get(body, mi.output_collection) if mi.output_collection else None
        store.clear_scope(body.id)
        if mi.output_collection:
            store.set(self._parent(state, body), mi.output_collection, collected)
        body.is_mi_body = False
        body.state = "waiting"
        self._history_end(state, body, "completed")
        if node.async_after:
            self._continue_later(state, body, node, "after")
            return
        self._leave_now(state, body, node)

    # ------------------------------------------------------------------ call mappings

    def _call_inputs(
        self, state: InstanceState, execution: Execution, node: CallActivity
    ) -> dict[str, Any]:
        store = self._store(state)
        result: dict[str, Any] = {}
        if node.propagate_all_parent_variables or any(m.all_variables for m in node.in_mappings):
            result.update(store.visible(execution))
        for mapping in node.in_mappings:
            if mapping.all_variables:
                continue
            result.update(self._mapped(state, execution, mapping, node.id, store))
        return result

    def _call_outputs(
        self, child: InstanceState, node: CallActivity, child_vars: dict[str, Any]
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        if node.propagate_all_child_variables or any(m.all_variables for m in node.out_mappings):
            result.update(child_vars)
        store = self._store(child)
        for mapping in node.out_mappings:
            if mapping.all_variables:
                continue
            result.update(self._mapped(child, None, mapping, node.id, store))
        return result

    def _mapped(
        self,
        state: InstanceState,
        execution: Execution | None,
        mapping: CallMapping,
        element_id: str,
        store: VariableStore,
    ) -> dict[str, Any]:
        target = mapping.target or mapping.source
        if not target:
            return {}
        if mapping.source_expression is not None:
            return {target: self._evaluate(mapping.source_expression, state, execution, element_id)}
        if mapping.source is not None:
            return {target: store.get(execution, mapping.source)}
        return {}

    # ------------------------------------------------------------------ helpers

    def _apply_inputs(
        self,
        state: InstanceState,
        execution: Execution,
        mappings: tuple[IoMapping, ...],
        element_id: str,
    ) -> None:
        values = self._evaluate_mappings(state, execution, mappings, element_id)
        store = self._store(state)
        for name, value in values.items():
            store.set_local(execution, name, value)

    def _evaluate_mappings(
        self,
        state: InstanceState,
        execution: Execution,
        mappings: Iterable[IoMapping],
        element_id: str,
    ) -> dict[str, Any]:
        return {
            m.target: (
                None if m.source is None else self._evaluate(m.source, state, execution, element_id)
            )
            for m in mappings
        }

    def _evaluate(
        self,
        expression: Any,
        state: InstanceState,
        execution: Execution | None,
        element_id: str,
    ) -> Any:
        try:
            return expression.evaluate(self._view(state, execution))
        except ExpressionError as exc:
            raise exc.at_element(element_id) from None

    def _view(self, state: InstanceState, execution: Execution | None) -> ScopeView:
        return ScopeView(
            self._store(state),
            execution,
            {"execution": ExecutionFacade(state, execution, self._store(state))},
        )

    def _view_if_needed(
        self, state: InstanceState, execution: Execution, values: tuple[Any, ...]
    ) -> Mapping[str, Any]:
        """A scope view only when one of ``values`` is an expression: most are literals."""
        if all(v is None or isinstance(v, str) for v in values):
            return _NO_VARIABLES
        return self._view(state, execution)

    def _store(self, state: InstanceState) -> VariableStore:
        store = self._vars.get(state.instance.id)
        if store is None:
            store = VariableStore(state, self.new_id)
            self._vars[state.instance.id] = store
            if self._ex(state).inclusive_joins:
                self._may_join = True
        return store

    def _remember(self, state: InstanceState) -> None:
        self._store(state)

    def _parent(self, state: InstanceState, execution: Execution) -> Execution | None:
        return state.executions.get(execution.parent_id) if execution.parent_id else None

    def _execution(self, state: InstanceState, execution_id: str) -> Execution:
        execution = state.executions.get(execution_id)
        if execution is None:
            raise ExecutionError(f"execution '{execution_id}' no longer exists")
        return execution

    def _node(self, state: InstanceState, node_id: str) -> FlowNode:
        return self._ex(state).process.all_nodes[node_id]

    def _ex(self, state: InstanceState) -> ExecutableProcess:
        """The prepared model of ``state``'s definition, asked of the world once."""
        definition_id = state.instance.definition_id
        if definition_id is self._last_model[0]:  # nearly every call: the same definition
            return self._last_model[1]
        found = self._models.get(definition_id)
        if found is None:
            found = self.world.executable(definition_id)
            self._models[definition_id] = found
        self._last_model = (definition_id, found)
        return found

    def _new_execution(
        self, state: InstanceState, element_id: str, *, parent_id: str | None
    ) -> Execution:
        execution = Execution(
            id=self.new_id(),
            instance_id=state.instance.id,
            element_id=element_id,
            state="waiting",
            created_at=self.now,
            parent_id=parent_id,
            tenant_id=state.instance.tenant_id,
        )
        state.executions.add(execution)
        return execution

    def _require_active(self, state: InstanceState) -> None:
        if state.instance.status != ACTIVE:
            raise InstanceNotActive(state.instance.id, state.instance.status)

    def _locked_external_task(
        self, state: InstanceState, external_task_id: str, worker_id: str
    ) -> ExternalTaskRecord:
        task = state.external_tasks.get(external_task_id)
        if task is None:
            raise NotFound("external task", external_task_id)
        if task.lock_owner != worker_id or (
            task.lock_expires_at is not None and task.lock_expires_at <= self.now
        ):
            raise IllegalState(
                f"external task '{external_task_id}' is not locked by worker '{worker_id}'"
            )
        return task

    def _hierarchy(self, state: InstanceState) -> list[InstanceState]:
        """The instance and every process it called, still running, depth first."""
        found = [state]
        for execution in state.executions:
            if execution.called_instance_id:
                child = self.world.instance(execution.called_instance_id)
                self._remember(child)
                found.extend(self._hierarchy(child))
        return found

    def _raise_incident(
        self,
        state: InstanceState,
        *,
        kind: str,
        message: str,
        execution_id: str | None = None,
        element_id: str | None = None,
        external_task_id: str | None = None,
    ) -> None:
        state.incidents.add(
            Incident(
                id=self.new_id(),
                instance_id=state.instance.id,
                kind=kind,
                message=message,
                created_at=self.now,
                execution_id=execution_id,
                element_id=element_id,
                external_task_id=external_task_id,
                tenant_id=state.instance.tenant_id,
            )
        )

    def _resolve_incidents(self, state: InstanceState, *, external_task_id: str) -> None:
        for incident in state.incidents:
            if incident.external_task_id == external_task_id and incident.resolved_at is None:
                incident.resolved_at = self.now
                state.incidents.touch(incident)

    def _history_start(
        self,
        state: InstanceState,
        execution: Execution,
        node: FlowNode,
        *,
        element_type: str | None = None,
    ) -> None:
        inst = state.instance
        record = ActivityRecord(  # positional: this runs on every step (see the fields)
            self.new_id(),
            inst.id,
            execution.id,
            node.id,
            element_type or node.kind,
            self.now,
            node.name,
            None,
            None,
            None,
            inst.tenant_id,
        )
        state.history.append(record)
        self._new_history[record.id] = record
        execution.history_id = record.id
        # every move of a token starts a history record: the one place to journal it
        state.executions.touch(execution)

    def _history_end(self, state: InstanceState, execution: Execution, outcome: str) -> None:
        history_id = execution.history_id
        if history_id is None:
            return
        execution.history_id = None
        state.executions.touch(execution)
        record = self._new_history.pop(history_id, None)
        if record is None:
            # written by an earlier command: only ended_at and outcome are updated
            record = ActivityRecord(
                id=history_id,
                instance_id=state.instance.id,
                execution_id=execution.id,
                element_id=execution.element_id,
                element_type="",
                started_at=execution.created_at,
            )
            state.history_updates[history_id] = record
        record.ended_at = self.now
        record.outcome = outcome  # type: ignore[assignment]


def _mi(node: Activity) -> MultiInstance:
    if node.multi_instance is None:
        raise ExecutionError("the activity is not multi-instance", element_id=node.id)
    return node.multi_instance


_UNKNOWN: Any = object()
_COMPLETABLE = frozenset(("OPEN", "CLAIMED", "DELEGATED", "ESCALATED"))


def _task_literals(
    node: UserTask,
) -> tuple[int, str | None, tuple[str, ...], tuple[str, ...]] | None:
    """A user task's priority, assignee and candidates when none is an expression and
    it has no dates (a literal due date may be a duration from now): every task of the
    node then gets the same, worked out once. None otherwise, or when a literal is bad
    (each task then reports it, as before)."""
    plain = (node.priority, node.assignee, *node.candidate_users, *node.candidate_groups)
    if node.due_date is not None or node.follow_up_date is not None:
        return None
    if not all(v is None or isinstance(v, str) for v in plain):
        return None
    try:
        return (
            resolve_int(node.priority, _NO_VARIABLES, node.id, default=50),
            resolve_str(node.assignee, _NO_VARIABLES, node.id),
            _names(node.candidate_users, _NO_VARIABLES, node.id),
            _names(node.candidate_groups, _NO_VARIABLES, node.id),
        )
    except ExecutionError:
        return None


def _names(values: tuple[Any, ...], view: Mapping[str, Any], element_id: str) -> tuple[str, ...]:
    """Candidate users or groups: literals and expressions, lists flattened."""
    result: list[str] = []
    for value in values:
        if isinstance(value, str):
            result.append(value)
            continue
        try:
            evaluated = value.evaluate(view)
        except ExpressionError as exc:
            raise exc.at_element(element_id) from None
        if evaluated is None:
            continue
        if isinstance(evaluated, list | tuple):
            result.extend(str(v) for v in evaluated if v is not None)
        else:
            result.extend(part.strip() for part in str(evaluated).split(",") if part.strip())
    return tuple(dict.fromkeys(result))


_ENTER: dict[type, Callable[[Executor, InstanceState, Execution, Any], None]] = {
    StartEvent: Executor._pass_through,
    IntermediateThrowEvent: Executor._throw_event,
    IntermediateCatchEvent: Executor._catch_event,
    EventBasedGateway: Executor._event_gateway,
    BoundaryEvent: Executor._pass_through,
    EndEvent: Executor._end_event,
    Task: Executor._pass_through,
    ScriptTask: Executor._script_task,
    UserTask: Executor._user_task,
    ExternalTask: Executor._external_task,
    ReceiveTask: Executor._receive_task,
    SubProcess: Executor._subprocess,
    CallActivity: Executor._call_activity,
    ExclusiveGateway: Executor._exclusive_gateway,
    ParallelGateway: Executor._parallel_gateway,
    InclusiveGateway: Executor._inclusive_gateway,
}

__all__ = ["DEFAULT_MAX_STEPS", "CaseflowError", "Executor"]
