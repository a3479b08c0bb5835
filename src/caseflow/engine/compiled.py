"""A process model prepared for execution: lookups and graph facts computed once.

The parser gives the model as written; the executor needs it indexed (outgoing flows in
order, the default flow, boundary events per activity, the none start event of every
scope) and needs one graph fact that is costly to find at run time: which nodes can
still reach an inclusive join. All of that is computed here, once per definition.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from caseflow.model.elements import (
    Activity,
    BoundaryEvent,
    Definitions,
    ErrorEventDefinition,
    Event,
    EventBasedGateway,
    ExternalTask,
    FlowNode,
    FlowScope,
    Gateway,
    InclusiveGateway,
    IntermediateCatchEvent,
    MessageEventDefinition,
    Process,
    ReceiveTask,
    SequenceFlow,
    SignalEventDefinition,
    StartEvent,
    SubProcess,
    TimerEventDefinition,
    UserTask,
)

if TYPE_CHECKING:
    from caseflow.expr import Expression


@dataclass(frozen=True, slots=True)
class NodePlan:
    """What the executor asks of a node on every pass, answered once per definition."""

    node: FlowNode
    single_flow: SequenceFlow | None  # the one outgoing flow, unconditional: no choice
    single_target: FlowNode | None  # where that flow leads
    is_activity: bool
    multi_instance: bool
    async_before: bool
    async_after: bool
    has_inputs: bool
    has_outputs: bool
    holder: bool  # its executions may hold subscriptions or timers
    waiting_boundaries: bool


@dataclass(slots=True)
class ExecutableProcess:
    process: Process
    outgoing: dict[str, tuple[SequenceFlow, ...]] = field(default_factory=dict)
    incoming_count: dict[str, int] = field(default_factory=dict)
    default_flow: dict[str, str] = field(default_factory=dict)
    boundaries: dict[str, tuple[BoundaryEvent, ...]] = field(default_factory=dict)
    none_start: dict[str, StartEvent] = field(default_factory=dict)  # scope id -> start
    errors: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    # error id -> (error code, name); message id -> (name, correlation key expression)
    messages: dict[str, tuple[str, Expression | None]] = field(default_factory=dict)
    signals: dict[str, str] = field(default_factory=dict)  # signal id -> name
    escalations: dict[str, str | None] = field(default_factory=dict)  # id -> code
    # boundary events that wait (timer, message, signal), per activity id
    waiting_boundaries: dict[str, tuple[BoundaryEvent, ...]] = field(default_factory=dict)
    # event subprocesses directly in a scope (process or subprocess id), with their start
    event_starts: dict[str, tuple[tuple[SubProcess, StartEvent], ...]] = field(default_factory=dict)
    # nodes whose executions may hold subscriptions or timer jobs
    holders: frozenset[str] = frozenset()
    # the InstanceState tables ("tasks", "external_tasks", "subscriptions", "jobs") an
    # instance of this process can have rows in: the executor leaves the others alone
    # (never loading them to look for rows), and a store need not read them ahead
    row_tables: frozenset[str] = frozenset()
    # an inclusive gateway with several incoming flows: only then can a token wait to join
    # until nothing else can reach it, which the executor checks after every step
    inclusive_joins: bool = False
    plans: dict[str, NodePlan] = field(default_factory=dict)
    # per user task: (priority, assignee, candidate users, candidate groups) when none of
    # its attributes is an expression (then every task of it looks alike), else None;
    # filled by the executor on first use
    task_literals: dict[str, tuple[int, str | None, tuple[str, ...], tuple[str, ...]] | None] = (
        field(default_factory=dict)
    )
    _upstream: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.process.id

    def node(self, node_id: str) -> FlowNode:
        return self.process.all_nodes[node_id]

    def scope(self, scope_id: str) -> FlowScope:
        if scope_id == self.process.id:
            return self.process
        scope = self.process.all_nodes[scope_id]
        if not isinstance(scope, SubProcess):
            raise TypeError(f"'{scope_id}' is not a process or subprocess")
        return scope

    def error_boundaries(self, activity_id: str) -> tuple[BoundaryEvent, ...]:
        return tuple(
            b
            for b in self.boundaries.get(activity_id, ())
            if any(isinstance(d, ErrorEventDefinition) for d in b.event_definitions)
        )

    def upstream(self, node_id: str) -> frozenset[str]:
        """Nodes of the same scope from which a token can still reach ``node_id``."""
        found = self._upstream.get(node_id)
        if found is None:
            found = self._compute_upstream(node_id)
            self._upstream[node_id] = found
        return found

    def _compute_upstream(self, node_id: str) -> frozenset[str]:
        nodes = self.process.all_nodes
        scope_id = nodes[node_id].scope_id
        seen: set[str] = set()
        todo = deque([node_id])
        while todo:
            current = todo.popleft()
            node = nodes[current]
            preds: list[str] = [
                self.process.all_flows[f].source_ref
                for f in node.incoming
                if f in self.process.all_flows
            ]
            if isinstance(node, BoundaryEvent):
                preds.append(node.attached_to)
            for pred in preds:
                if pred not in seen and pred in nodes and nodes[pred].scope_id == scope_id:
                    seen.add(pred)
                    todo.append(pred)
        return frozenset(seen)


def prepare(process: Process, definitions: Definitions | None = None) -> ExecutableProcess:
    """Index ``process`` (with the root elements of its ``definitions``) for the executor."""
    ex = ExecutableProcess(process=process)
    if definitions is not None:
        ex.errors = {e.id: (e.error_code, e.name) for e in definitions.errors.values()}
        ex.signals = {g.id: g.name or g.id for g in definitions.signals.values()}
        ex.escalations = {e.id: e.escalation_code for e in definitions.escalations.values()}
        ex.messages = {
            m.id: (m.name or m.id, m.correlation_key) for m in definitions.messages.values()
        }
    flows_by_source: dict[str, list[SequenceFlow]] = {}
    incoming: dict[str, int] = {}
    for flow in process.all_flows.values():
        flows_by_source.setdefault(flow.source_ref, []).append(flow)
        incoming[flow.target_ref] = incoming.get(flow.target_ref, 0) + 1
    boundaries: dict[str, list[BoundaryEvent]] = {}
    for node in process.all_nodes.values():
        # keep the order the node lists its outgoing flows in, then any the node omitted
        listed = [process.all_flows[f] for f in node.outgoing if f in process.all_flows]
        listed_ids = {f.id for f in listed}
        listed += [f for f in flows_by_source.get(node.id, []) if f.id not in listed_ids]
        ex.outgoing[node.id] = tuple(listed)
        ex.incoming_count[node.id] = incoming.get(node.id, 0)
        if isinstance(node, Activity | Gateway) and node.default_flow:
            ex.default_flow[node.id] = node.default_flow
        if isinstance(node, BoundaryEvent):
            boundaries.setdefault(node.attached_to, []).append(node)
        if isinstance(node, StartEvent) and not node.event_definitions:
            scope_id = node.scope_id
            ex.none_start.setdefault(scope_id, node)
    ex.boundaries = {k: tuple(v) for k, v in boundaries.items()}
    holders: set[str] = set()
    for activity_id, attached in ex.boundaries.items():
        waiting = tuple(b for b in attached if _waits(b))
        if waiting:
            ex.waiting_boundaries[activity_id] = waiting
            holders.add(activity_id)
    event_starts: dict[str, list[tuple[SubProcess, StartEvent]]] = {}
    for node in process.all_nodes.values():
        if isinstance(node, SubProcess) and node.triggered_by_event:
            for start in node.start_events:
                event_starts.setdefault(node.scope_id, []).append((node, start))
                if _waits(start):
                    holders.add(node.scope_id)
        elif isinstance(node, ReceiveTask | IntermediateCatchEvent | EventBasedGateway):
            holders.add(node.id)
    ex.event_starts = {k: tuple(v) for k, v in event_starts.items()}
    ex.holders = frozenset(holders)
    ex.row_tables = _row_tables(process)
    ex.inclusive_joins = any(
        isinstance(node, InclusiveGateway) and ex.incoming_count.get(node.id, 0) > 1
        for node in process.all_nodes.values()
    )
    ex.plans = {node.id: _plan(ex, node) for node in process.all_nodes.values()}
    return ex


def _plan(ex: ExecutableProcess, node: FlowNode) -> NodePlan:
    flows = ex.outgoing.get(node.id, ())
    single = (
        flows[0]
        if len(flows) == 1 and flows[0].condition is None and node.id not in ex.default_flow
        else None
    )
    activity = node if isinstance(node, Activity) else None
    inputs = getattr(node, "input_mappings", ())
    outputs = getattr(node, "output_mappings", ())
    return NodePlan(
        node=node,
        single_flow=single,
        single_target=ex.process.all_nodes.get(single.target_ref) if single is not None else None,
        is_activity=activity is not None,
        multi_instance=activity is not None and activity.multi_instance is not None,
        async_before=activity is not None and activity.async_before,
        async_after=activity is not None and activity.async_after,
        has_inputs=bool(inputs),
        has_outputs=bool(outputs),
        holder=node.id in ex.holders,
        waiting_boundaries=node.id in ex.waiting_boundaries,
    )


def _row_tables(process: Process) -> frozenset[str]:
    """Where the executor can put rows of an instance of ``process`` (see row_tables)."""
    tables: set[str] = set()
    for node in process.all_nodes.values():
        if isinstance(node, UserTask):
            tables.add("tasks")
        elif isinstance(node, ExternalTask):
            tables.add("external_tasks")
        elif isinstance(node, ReceiveTask):
            tables.add("subscriptions")
        if isinstance(node, Activity) and (node.async_before or node.async_after):
            tables.add("jobs")  # an asynchronous continuation
        if isinstance(node, Event):
            for definition in node.event_definitions:
                if isinstance(definition, TimerEventDefinition):
                    tables.add("jobs")
                elif isinstance(definition, MessageEventDefinition | SignalEventDefinition):
                    tables.add("subscriptions")
    return frozenset(tables)


def _waits(node: Event) -> bool:
    """An event that waits for a timer, a message or a signal (not an error or escalation)."""
    return any(
        isinstance(d, TimerEventDefinition | MessageEventDefinition | SignalEventDefinition)
        for d in node.event_definitions
    )
