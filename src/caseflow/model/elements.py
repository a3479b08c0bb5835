"""The immutable process model: what a BPMN 2.0 document means once parsed.

Everything here is a frozen dataclass. The parser (``caseflow.model.bpmn``) builds it,
the validator reads it, the engine executes it. Vendor extension attributes (Camunda 7,
Flowable/Activiti, Zeebe) are normalised into the same fields, so the engine never looks
at a namespace. Expressions are kept compiled (``caseflow.expr.Expression``); a field
holding a plain value (a literal assignee, say) is a ``str``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:
    from caseflow.errors import Problem
    from caseflow.expr import Expression, Script

    Value: TypeAlias = "str | Expression"
else:
    Value = object

_EMPTY: Mapping[str, object] = MappingProxyType({})


# --- root elements -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    name: str
    correlation_key: Expression | None = None  # zeebe:subscription correlationKey


@dataclass(frozen=True, slots=True)
class Signal:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Error:
    id: str
    name: str
    error_code: str | None


@dataclass(frozen=True, slots=True)
class Escalation:
    id: str
    name: str
    escalation_code: str | None


# --- event definitions ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventDefinition:
    id: str | None


@dataclass(frozen=True, slots=True)
class MessageEventDefinition(EventDefinition):
    message_ref: str | None  # id of a Message


@dataclass(frozen=True, slots=True)
class TimerEventDefinition(EventDefinition):
    timer_kind: Literal["date", "duration", "cycle"]
    value: Value  # ISO 8601 text, or an expression that yields one


@dataclass(frozen=True, slots=True)
class ErrorEventDefinition(EventDefinition):
    error_ref: str | None  # id of an Error; None catches every error
    error_code_variable: str | None = None
    error_message_variable: str | None = None


@dataclass(frozen=True, slots=True)
class SignalEventDefinition(EventDefinition):
    signal_ref: str | None


@dataclass(frozen=True, slots=True)
class EscalationEventDefinition(EventDefinition):
    escalation_ref: str | None


@dataclass(frozen=True, slots=True)
class TerminateEventDefinition(EventDefinition):
    pass


@dataclass(frozen=True, slots=True)
class ConditionalEventDefinition(EventDefinition):
    condition: Expression | None


@dataclass(frozen=True, slots=True)
class LinkEventDefinition(EventDefinition):
    name: str


@dataclass(frozen=True, slots=True)
class CompensateEventDefinition(EventDefinition):
    activity_ref: str | None = None


@dataclass(frozen=True, slots=True)
class CancelEventDefinition(EventDefinition):
    pass


# --- data mappings and loops ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IoMapping:
    """One input or output parameter: ``target`` receives the value of ``source``.

    ``source`` is an expression, or ``None`` for "null". Camunda's inputParameter/
    outputParameter and Zeebe's ioMapping input/output both land here.
    """

    target: str
    source: Expression | None


@dataclass(frozen=True, slots=True)
class CallMapping:
    """A call activity's in/out variable mapping (camunda:in / camunda:out, zeebe)."""

    target: str | None  # None with all_variables
    source: str | None = None  # a variable name
    source_expression: Expression | None = None
    all_variables: bool = False
    local: bool = False


@dataclass(frozen=True, slots=True)
class MultiInstance:
    is_sequential: bool
    loop_cardinality: Expression | None = None
    collection: Expression | None = None  # evaluates to the list to iterate
    element_variable: str | None = None
    completion_condition: Expression | None = None
    output_collection: str | None = None  # zeebe outputCollection
    output_element: Expression | None = None  # zeebe outputElement


@dataclass(frozen=True, slots=True)
class StandardLoop:
    loop_condition: Expression | None
    test_before: bool = False
    loop_maximum: int | None = None


# --- flow elements --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SequenceFlow:
    id: str
    source_ref: str
    target_ref: str
    name: str | None = None
    condition: Expression | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowNode:
    """Common to every node. ``kind`` is the BPMN tag name, e.g. ``"userTask"``."""

    id: str
    kind: str
    name: str | None = None
    incoming: tuple[str, ...] = ()  # sequence flow ids
    outgoing: tuple[str, ...] = ()
    scope_id: str = ""  # the process or subprocess that directly contains the node
    documentation: str | None = None
    line: int | None = None
    extensions: Mapping[str, object] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event(FlowNode):
    event_definitions: tuple[EventDefinition, ...] = ()
    input_mappings: tuple[IoMapping, ...] = ()
    output_mappings: tuple[IoMapping, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StartEvent(Event):
    is_interrupting: bool = True  # for starts of event subprocesses
    form_key: str | None = None
    initiator: str | None = None  # camunda:initiator / flowable:initiator


@dataclass(frozen=True, slots=True, kw_only=True)
class EndEvent(Event):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class IntermediateCatchEvent(Event):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class IntermediateThrowEvent(Event):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class BoundaryEvent(Event):
    attached_to: str
    cancel_activity: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Activity(FlowNode):
    default_flow: str | None = None
    input_mappings: tuple[IoMapping, ...] = ()
    output_mappings: tuple[IoMapping, ...] = ()
    multi_instance: MultiInstance | None = None
    standard_loop: StandardLoop | None = None
    boundary_events: tuple[str, ...] = ()  # ids of BoundaryEvents attached here
    async_before: bool = False
    async_after: bool = False
    is_for_compensation: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Task(Activity):
    """A plain ``task`` or ``manualTask``: passes straight through."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UserTask(Activity):
    assignee: Value | None = None
    candidate_users: tuple[Value, ...] = ()
    candidate_groups: tuple[Value, ...] = ()
    form_key: str | None = None
    due_date: Value | None = None
    follow_up_date: Value | None = None
    priority: Value | None = None
    queue: str | None = None  # caseflow:queue, an explicit work queue
    sla: str | None = None  # caseflow:sla, the step's SLA in business time ("PT16H", "3d")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptTask(Activity):
    script_format: str | None = None
    script: Script | None = None
    result_variable: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalTask(Activity):
    """A serviceTask, sendTask or businessRuleTask done by an outside worker.

    ``topic`` comes from camunda:topic, zeebe:taskDefinition type, flowable's external
    worker topic, or falls back to the element id (reported by the validator).
    """

    topic: str
    retries: int | None = None
    priority: Value | None = None
    decision_ref: str | None = None  # businessRuleTask: the DMN decision to evaluate
    result_variable: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiveTask(Activity):
    message_ref: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallActivity(Activity):
    called_element: Value | None = None
    binding: Literal["latest", "version", "deployment", "versionTag"] = "latest"
    version: int | None = None
    in_mappings: tuple[CallMapping, ...] = ()
    out_mappings: tuple[CallMapping, ...] = ()
    business_key: Expression | None = None
    propagate_all_parent_variables: bool = False  # zeebe default is True; set by parser
    propagate_all_child_variables: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Gateway(FlowNode):
    default_flow: str | None = None
    gateway_direction: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExclusiveGateway(Gateway):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ParallelGateway(Gateway):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class InclusiveGateway(Gateway):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class EventBasedGateway(Gateway):
    instantiate: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ComplexGateway(Gateway):
    """Parsed so it can be reported; the engine does not execute it."""


# --- containers -----------------------------------------------------------------------


# Not slotted: SubProcess inherits from both Activity and FlowScope, and two slotted
# bases with fields of their own cannot be combined ("instance lay-out conflict").
@dataclass(frozen=True, kw_only=True)
class FlowScope:
    """What processes and subprocesses share: nodes and flows, directly contained."""

    nodes: Mapping[str, FlowNode] = field(default_factory=lambda: MappingProxyType({}))
    flows: Mapping[str, SequenceFlow] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def start_events(self) -> tuple[StartEvent, ...]:
        return tuple(n for n in self.nodes.values() if isinstance(n, StartEvent))

    @property
    def event_subprocesses(self) -> tuple[SubProcess, ...]:
        return tuple(
            n for n in self.nodes.values() if isinstance(n, SubProcess) and n.triggered_by_event
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SubProcess(Activity, FlowScope):
    triggered_by_event: bool = False
    is_transaction: bool = False
    is_ad_hoc: bool = False


@dataclass(frozen=True, slots=True)
class Lane:
    id: str
    name: str | None
    flow_node_refs: tuple[str, ...] = ()
    child_lanes: tuple[Lane, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Process(FlowScope):
    id: str
    name: str | None = None
    is_executable: bool | None = None
    lanes: tuple[Lane, ...] = ()
    documentation: str | None = None
    line: int | None = None
    version_tag: str | None = None  # camunda:versionTag
    candidate_starter_groups: tuple[str, ...] = ()
    candidate_starter_users: tuple[str, ...] = ()
    # every node and flow of the process, subprocesses included, by id
    all_nodes: Mapping[str, FlowNode] = field(default_factory=lambda: MappingProxyType({}))
    all_flows: Mapping[str, SequenceFlow] = field(default_factory=lambda: MappingProxyType({}))

    def node(self, node_id: str) -> FlowNode:
        return self.all_nodes[node_id]

    def scope_of(self, node: FlowNode) -> FlowScope:
        """The process or subprocess that directly contains ``node``."""
        if node.scope_id == self.id:
            return self
        scope = self.all_nodes[node.scope_id]
        if not isinstance(scope, SubProcess):
            raise TypeError(f"scope '{node.scope_id}' of '{node.id}' is not a subprocess")
        return scope


@dataclass(frozen=True, slots=True)
class Participant:
    id: str
    name: str | None
    process_ref: str | None


@dataclass(frozen=True, slots=True)
class MessageFlow:
    id: str
    source_ref: str
    target_ref: str
    message_ref: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Collaboration:
    id: str
    name: str | None = None
    participants: tuple[Participant, ...] = ()
    message_flows: tuple[MessageFlow, ...] = ()


# --- diagram interchange ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bounds:
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class Shape:
    id: str | None
    element_id: str
    bounds: Bounds
    is_expanded: bool | None = None
    is_horizontal: bool | None = None
    label: Bounds | None = None


@dataclass(frozen=True, slots=True)
class Edge:
    id: str | None
    element_id: str
    waypoints: tuple[tuple[float, float], ...]
    label: Bounds | None = None


@dataclass(frozen=True, slots=True)
class Diagram:
    id: str | None
    name: str | None
    plane_element: str | None
    shapes: tuple[Shape, ...] = ()
    edges: tuple[Edge, ...] = ()


# --- the document ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Definitions:
    """One parsed BPMN document."""

    id: str | None
    target_namespace: str | None
    exporter: str | None
    exporter_version: str | None
    processes: tuple[Process, ...]
    collaborations: tuple[Collaboration, ...] = ()
    messages: Mapping[str, Message] = field(default_factory=lambda: MappingProxyType({}))
    signals: Mapping[str, Signal] = field(default_factory=lambda: MappingProxyType({}))
    errors: Mapping[str, Error] = field(default_factory=lambda: MappingProxyType({}))
    escalations: Mapping[str, Escalation] = field(default_factory=lambda: MappingProxyType({}))
    diagrams: tuple[Diagram, ...] = ()
    # what the parser reported (ignored elements, expressions that do not compile, ...);
    # kept here so that validating the definitions alone repeats it
    parse_problems: tuple[Problem, ...] = ()

    def process(self, process_id: str) -> Process:
        for p in self.processes:
            if p.id == process_id:
                return p
        raise KeyError(process_id)

    @property
    def executable_processes(self) -> tuple[Process, ...]:
        """Processes an engine should deploy: all but those marked isExecutable="false"."""
        return tuple(p for p in self.processes if p.is_executable is not False)
