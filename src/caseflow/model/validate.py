"""Semantic checks on a parsed model: what the engine relies on before it deploys.

Every finding is a :class:`~caseflow.errors.Problem` with a stable ``code`` (listed in
:data:`RULES`), the element id, its source line and the process. Errors block a
deployment; warnings point at models that run but probably not as meant.

Problems the parser already found (expressions that do not compile, duplicate ids,
ignored vendor extensions, ...) travel in ``Definitions.parse_problems`` and are
repeated here, so ``validate(definitions)`` is the one complete list.
"""

from __future__ import annotations

import re
import zoneinfo
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from typing import Final, Protocol

import isodate

from caseflow.errors import Problem
from caseflow.model.elements import (
    Activity,
    BoundaryEvent,
    CallActivity,
    CancelEventDefinition,
    CompensateEventDefinition,
    ComplexGateway,
    ConditionalEventDefinition,
    Definitions,
    EndEvent,
    ErrorEventDefinition,
    EscalationEventDefinition,
    Event,
    EventBasedGateway,
    ExclusiveGateway,
    FlowNode,
    FlowScope,
    Gateway,
    InclusiveGateway,
    IntermediateCatchEvent,
    IntermediateThrowEvent,
    LinkEventDefinition,
    MessageEventDefinition,
    ParallelGateway,
    Process,
    ReceiveTask,
    SequenceFlow,
    SignalEventDefinition,
    StartEvent,
    SubProcess,
    TimerEventDefinition,
)

__all__ = ["RULES", "is_valid_timer", "validate"]

# code -> what it means (errors unless marked); the documentation of the rule set
RULES: Final[dict[str, str]] = {
    "no-process": "the document has no (executable) process",
    "start-event-required": "a process or subprocess without a start event",
    "end-event-required": "a process or subprocess without an end event",
    "single-blank-start-event": "more than one none start event in one scope",
    "sub-process-blank-start-event": "a typed start event in an embedded subprocess",
    "event-sub-process-typed-start-event": "a none start event in an event subprocess",
    "sequence-flow-ref": "a sequence flow whose source or target does not exist",
    "sequence-flow-scope": "a sequence flow crossing a subprocess boundary",
    "flow-direction": "flows into start/boundary events or out of end events",
    "unreachable": "a node no start event can reach",
    "disconnected": "a node without any sequence flow in a scope without start event",
    "implicit-end": "(warning) a path ending at a node that is not an end event",
    "conditional-flows": "a non-default flow without condition after an XOR/OR split",
    "default-flow": "a default flow that is not outgoing, has a condition, or is not allowed",
    "boundary-event": "a boundary event attached to nothing, to a non-activity, ...",
    "event-definition": "an intermediate catch event without an event definition",
    "single-event-definition": "an event with several event definitions",
    "event-based-gateway": "an event-based gateway with <2 flows, conditions or bad targets",
    "link-event": "a link throw without catch, a catch without throw, unnamed or duplicate",
    "undefined-ref": "a message/signal/error/escalation reference to nothing",
    "missing-name": "a message or signal without a name (warning for errors/escalations)",
    "duplicate-name": "(warning) two messages/signals/errors/escalations with one name",
    "unused-definition": "(warning) a message/signal/error/escalation nobody refers to",
    "unsupported-element": "an element the engine does not execute",
    "called-element": "a call activity without calledElement",
    "multi-instance": "multi-instance without loop cardinality or collection",
    "timer": "a timer without value or whose ISO 8601 / cron text does not parse",
    "fake-join": "(warning) an activity with several incoming flows (implicit merge)",
    "implicit-split": "(warning) a node with several unconditional outgoing flows",
    "gateway-join-fork": "(warning) a gateway that both joins and forks",
    "duplicate-sequence-flow": "(warning) two flows with the same source, target, condition",
    # reported by the parser, repeated by validate()
    "duplicate-id": "two elements with one id",
    "missing-id": "an element without id",
    "expression": "an expression that does not compile",
    "script": "a script that cannot be used",
    "unsupported-language": "an expression in a language caseflow does not run",
    "external-task-topic": "(warning) a service task that names no topic",
    "empty-condition": "(warning) an empty conditionExpression, read as no condition",
    "informal-expression": "(warning) a tExpression condition read as a formal one",
    "invalid-value": "(warning) an attribute value that is not what it should be",
    "timer-ambiguous": "(warning) a timer with more than one of date, duration, cycle",
    "diagram": "(warning) diagram shapes or edges that could not be read",
    "ignored": "(warning) something the engine does not execute",
    "not-executed": "(warning) modelled but not executed; refused by unsupported-element",
}

_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?/,#\-]+$")
_CRON_MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)


def _words(kind: str) -> str:
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", kind).lower()
    return words.replace("sub process", "subprocess").replace("ad hoc", "ad-hoc")


def _label(node: FlowNode) -> str:
    return f"{_words(node.kind)} '{node.id}'"


def _parse_datetime(text: str) -> None:
    """Raise ValueError unless ``text`` is an ISO 8601 date-time (or date)."""
    base, at, zone = text.partition("@")  # Zeebe: 2024-01-01T10:00:00@Europe/Berlin
    if at:
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {zone!r}") from exc
    if "T" in base:
        isodate.parse_datetime(base)
    else:
        isodate.parse_date(base)


def _parse_duration(text: str) -> None:
    if not text.startswith(("P", "-P")) or not any(c.isdigit() for c in text):
        raise ValueError("a duration is P[n]Y[n]M[n]W[n]DT[n]H[n]M[n]S")
    isodate.parse_duration(text)


def _parse_cycle(text: str) -> None:
    if text in _CRON_MACROS:
        return
    if not text.startswith("R"):
        fields = text.split()
        if 5 <= len(fields) <= 7 and all(_CRON_FIELD.match(f) for f in fields):
            return
        raise ValueError("not an ISO 8601 repetition (R[n]/...) nor a cron expression")
    parts = text.split("/")
    if not re.fullmatch(r"R\d*", parts[0]):
        raise ValueError(f"bad repetition {parts[0]!r}")
    rest = parts[1:]
    if len(rest) == 1:
        _parse_duration(rest[0])
    elif len(rest) == 2:
        first, second = rest
        if first.startswith("P"):
            _parse_duration(first)
            _parse_datetime(second)
        else:
            _parse_datetime(first)
            _parse_duration(second)
    else:
        raise ValueError("expected R[n]/duration, R[n]/start/duration or R[n]/duration/end")


def is_valid_timer(kind: str, text: str) -> str | None:
    """``None`` when ``text`` is a valid timer value of ``kind``, else the reason."""
    text = text.strip()
    try:
        if kind == "date":
            _parse_datetime(text)
        elif kind == "duration":
            _parse_duration(text)
        else:
            _parse_cycle(text)
    except (ValueError, isodate.ISO8601Error) as exc:
        return str(exc) or type(exc).__name__
    return None


def validate(definitions: Definitions, *, executable_only: bool = True) -> list[Problem]:
    """Check ``definitions``; returns parse problems and rule findings together.

    With ``executable_only`` (the default) processes marked ``isExecutable="false"`` are
    not checked and their parse problems are left out: they will never run.
    """
    return _Validator(definitions, executable_only).run()


class _Validator:
    def __init__(self, definitions: Definitions, executable_only: bool) -> None:
        self.definitions = definitions
        self.executable_only = executable_only
        self.problems: list[Problem] = []
        self.process_id: str | None = None

    def add(
        self,
        severity: str,
        code: str,
        message: str,
        element_id: str | None = None,
        line: int | None = None,
    ) -> None:
        self.problems.append(Problem(severity, code, message, element_id, line, self.process_id))

    def error(self, code: str, message: str, node: FlowNode | SequenceFlow | None = None) -> None:
        self.add("error", code, message, node.id if node else None, node.line if node else None)

    def warning(self, code: str, message: str, node: FlowNode | SequenceFlow | None = None) -> None:
        self.add("warning", code, message, node.id if node else None, node.line if node else None)

    # -- driver ---------------------------------------------------------------------------

    def run(self) -> list[Problem]:
        d = self.definitions
        checked = d.executable_processes if self.executable_only else d.processes
        checked_ids = {p.id for p in checked}
        if not d.processes:
            self.error("no-process", "the document defines no process")
        elif not checked:
            self.error(
                "no-process",
                f"none of the {len(d.processes)} process(es) is executable "
                '(all are marked isExecutable="false")',
            )
        for process in checked:
            self.process_id = process.id
            self.check_process(process)
        self.process_id = None
        self.check_root_elements(d.processes)

        refused = {
            p.element_id for p in self.problems if p.code == "unsupported-element" and p.element_id
        }
        parse_problems = [
            p
            for p in d.parse_problems
            if (p.process_id is None or p.process_id in checked_ids)
            and not (p.code == "not-executed" and p.element_id in refused)
        ]
        return parse_problems + self.problems

    def check_process(self, process: Process) -> None:
        self.check_scope(process, process)
        for node in process.all_nodes.values():
            self.check_node(process, node)
        for flow in process.all_flows.values():
            self.check_flow_refs(process, flow)

    # -- scopes ---------------------------------------------------------------------------

    def check_scope(
        self, process: Process, scope: Process | SubProcess, reached_from_parent: bool = True
    ) -> None:
        """Start/end events, reachability and links of one scope, then its subprocesses."""
        scope_id = scope.id
        nodes = list(scope.nodes.values())
        is_sub = is_event_sub = ad_hoc = False
        what = "process"
        if isinstance(scope, SubProcess):
            is_sub = True
            is_event_sub = scope.triggered_by_event
            ad_hoc = scope.is_ad_hoc
            what = "event subprocess" if is_event_sub else _words(scope.kind)
        starts = [n for n in nodes if isinstance(n, StartEvent)]
        if not ad_hoc:
            if not starts:
                self.scope_problem(
                    "start-event-required",
                    f"{what} '{scope_id}' has no start event",
                    scope,
                    process,
                )
            if not any(isinstance(n, EndEvent) for n in nodes):
                self.scope_problem(
                    "end-event-required", f"{what} '{scope_id}' has no end event", scope, process
                )
        blank = [s for s in starts if not s.event_definitions]
        if not is_event_sub and len(blank) > 1:
            for start in blank[1:]:
                self.error(
                    "single-blank-start-event",
                    f"{what} '{scope_id}' has {len(blank)} none start events "
                    f"({', '.join(s.id for s in blank)}); which one starts is ambiguous",
                    start,
                )
        for start in starts:
            if is_sub and not is_event_sub and start.event_definitions:
                self.error(
                    "sub-process-blank-start-event",
                    f"start event '{start.id}' of embedded {what} '{scope_id}' has an event "
                    "definition; an embedded subprocess starts with a none start event",
                    start,
                )
            if is_event_sub and not start.event_definitions:
                self.error(
                    "event-sub-process-typed-start-event",
                    f"start event '{start.id}' of event subprocess '{scope_id}' has no event "
                    "definition; it would never be triggered",
                    start,
                )
        self.check_links(nodes, scope_id)
        # inside a subprocess nobody reaches, unreachable nodes are not news
        reached = (
            self.check_reachability(process, scope, nodes, starts, ad_hoc)
            if reached_from_parent
            else set()
        )
        for node in nodes:
            if isinstance(node, SubProcess):
                self.check_scope(
                    process,
                    node,
                    reached_from_parent and (node.id in reached or node.triggered_by_event),
                )

    def scope_problem(
        self, code: str, message: str, scope: Process | SubProcess, process: Process
    ) -> None:
        if isinstance(scope, SubProcess):
            self.error(code, message, scope)
        else:
            self.add("error", code, message, scope.id, process.line)

    def check_links(self, nodes: list[FlowNode], scope_id: str) -> None:
        throws: dict[str, list[FlowNode]] = defaultdict(list)
        catches: dict[str, list[FlowNode]] = defaultdict(list)
        for node in nodes:
            if not isinstance(node, IntermediateThrowEvent | IntermediateCatchEvent):
                continue
            for definition in node.event_definitions:
                if isinstance(definition, LinkEventDefinition):
                    target = throws if isinstance(node, IntermediateThrowEvent) else catches
                    target[definition.name].append(node)
                    if not definition.name:
                        self.error("link-event", f"link event '{node.id}' has no link name", node)
        for name, nodes_with_name in throws.items():
            if name and name not in catches:
                for node in nodes_with_name:
                    self.error(
                        "link-event",
                        f"link throw event '{node.id}' names link '{name}', but no link catch "
                        f"event in '{scope_id}' has that name",
                        node,
                    )
        for name, nodes_with_name in catches.items():
            if not name:
                continue
            if name not in throws:
                for node in nodes_with_name:
                    self.error(
                        "link-event",
                        f"link catch event '{node.id}' (link '{name}') has no link throw "
                        f"event in '{scope_id}'",
                        node,
                    )
            for node in nodes_with_name[1:]:
                self.error(
                    "link-event",
                    f"link name '{name}' is caught by several events in '{scope_id}' "
                    f"({', '.join(n.id for n in nodes_with_name)})",
                    node,
                )

    def check_reachability(
        self,
        process: Process,
        scope: FlowScope,
        nodes: list[FlowNode],
        starts: list[StartEvent],
        ad_hoc: bool,
    ) -> set[str]:
        """Report unreachable (or disconnected) nodes; return the ids reached."""
        in_scope = {n.id for n in nodes}
        if ad_hoc:
            return in_scope  # every activity of an ad-hoc subprocess may start
        flows = process.all_flows
        entries: list[str] = [s.id for s in starts]
        for node in nodes:
            if (
                (isinstance(node, SubProcess) and node.triggered_by_event)
                or (isinstance(node, Activity) and node.is_for_compensation)
                or (
                    isinstance(node, IntermediateCatchEvent)
                    and any(isinstance(d, LinkEventDefinition) for d in node.event_definitions)
                )
            ):
                entries.append(node.id)
        if not starts:
            # nothing to reach from: only report what has no flows at all
            for node in nodes:
                if node.id in entries or isinstance(node, BoundaryEvent):
                    continue
                if not node.incoming and not node.outgoing:
                    self.error(
                        "disconnected",
                        f"{_label(node)} is not connected to any sequence flow",
                        node,
                    )
            return in_scope
        reached: set[str] = set()
        todo = deque(entries)
        while todo:
            node_id = todo.popleft()
            if node_id in reached or node_id not in in_scope:
                continue
            reached.add(node_id)
            node = process.all_nodes[node_id]
            for flow_id in node.outgoing:
                flow = flows.get(flow_id)
                if flow is not None and flow.target_ref not in reached:
                    todo.append(flow.target_ref)
            if isinstance(node, Activity):
                todo.extend(node.boundary_events)
        for node in nodes:
            if node.id in reached:
                continue
            if isinstance(node, BoundaryEvent) and node.attached_to not in reached:
                continue  # reported through its activity (or by boundary-event)
            self.error(
                "unreachable",
                f"{_label(node)} cannot be reached from any start event",
                node,
            )
        return reached

    # -- nodes ----------------------------------------------------------------------------

    def check_node(self, process: Process, node: FlowNode) -> None:
        flows = process.all_flows
        outgoing = [flows[f] for f in node.outgoing if f in flows]
        incoming = [flows[f] for f in node.incoming if f in flows]
        self.check_unsupported(node)
        self.check_flow_direction(node, incoming, outgoing)
        if isinstance(node, Event):
            self.check_event(node)
        if isinstance(node, BoundaryEvent):
            self.check_attachment(process, node)
        if isinstance(node, Gateway):
            self.check_gateway(process, node, incoming, outgoing)
        else:
            self.check_split(node, outgoing)
        if isinstance(node, Activity):
            self.check_activity(process, node, incoming, outgoing)
        self.check_implicit_end(process, node, outgoing)
        self.check_duplicate_flows(node, outgoing)

    def check_duplicate_flows(self, node: FlowNode, outgoing: list[SequenceFlow]) -> None:
        seen: dict[tuple[str, str | None], str] = {}
        for flow in outgoing:
            condition = flow.condition.source if flow.condition is not None else None
            key = (flow.target_ref, condition)
            if key in seen:
                self.warning(
                    "duplicate-sequence-flow",
                    f"sequence flow '{flow.id}' repeats '{seen[key]}' (same source "
                    f"'{node.id}', target '{flow.target_ref}' and condition)",
                    flow,
                )
            else:
                seen[key] = flow.id

    def check_unsupported(self, node: FlowNode) -> None:
        reasons: list[str] = []
        if isinstance(node, ComplexGateway):
            reasons.append("complex gateways are not executed")
        if isinstance(node, EventBasedGateway) and node.instantiate:
            reasons.append("instantiating event-based gateways are not executed")
        if isinstance(node, Event):
            for definition in node.event_definitions:
                if isinstance(definition, CompensateEventDefinition):
                    reasons.append("compensation events are not executed")
                elif isinstance(definition, CancelEventDefinition):
                    reasons.append("cancel events are not executed")
                elif isinstance(definition, ConditionalEventDefinition):
                    reasons.append("conditional events are not executed (yet)")
        if isinstance(node, Activity) and node.is_for_compensation:
            reasons.append("compensation handlers are not executed")
        if isinstance(node, SubProcess):
            if node.is_transaction:
                reasons.append("transactions are not executed")
            if node.is_ad_hoc:
                reasons.append("ad-hoc subprocesses are not executed")
        if reasons:
            self.error(
                "unsupported-element",
                f"{_label(node)} is refused: {'; '.join(dict.fromkeys(reasons))}",
                node,
            )

    def check_flow_direction(
        self, node: FlowNode, incoming: list[SequenceFlow], outgoing: list[SequenceFlow]
    ) -> None:
        if isinstance(node, StartEvent | BoundaryEvent) and incoming:
            self.error(
                "flow-direction",
                f"{_label(node)} has incoming sequence flows ({', '.join(f.id for f in incoming)})",
                node,
            )
        if isinstance(node, EndEvent) and outgoing:
            self.error(
                "flow-direction",
                f"{_label(node)} has outgoing sequence flows ({', '.join(f.id for f in outgoing)})",
                node,
            )

    def check_event(self, event: Event) -> None:
        definitions = event.event_definitions
        if len(definitions) > 1:
            kinds = ", ".join(type(d).__name__ for d in definitions)
            self.error(
                "single-event-definition",
                f"{_label(event)} has {len(definitions)} event definitions ({kinds}); "
                "multiple and parallel-multiple events are not executed",
                event,
            )
        if isinstance(event, IntermediateCatchEvent) and not definitions:
            self.error(
                "event-definition",
                f"{_label(event)} has no event definition, so nothing can trigger it",
                event,
            )
        for definition in definitions:
            if isinstance(definition, TimerEventDefinition):
                self.check_timer(event, definition)
        if isinstance(event, BoundaryEvent):
            self.check_boundary(event)

    def check_timer(self, event: Event, timer: TimerEventDefinition) -> None:
        value = timer.value
        if isinstance(value, str):
            if not value.strip():
                self.error(
                    "timer",
                    f"timer of {_label(event)} has no date, duration or cycle",
                    event,
                )
                return
            reason = is_valid_timer(timer.timer_kind, value)
            if reason is not None:
                self.error(
                    "timer",
                    f"timer {timer.timer_kind} of {_label(event)} is not valid: {value!r} "
                    f"({reason})",
                    event,
                )

    def check_attachment(self, process: Process, event: BoundaryEvent) -> None:
        if not event.attached_to:
            self.error("boundary-event", f"{_label(event)} is not attached to anything", event)
            return
        host = process.all_nodes.get(event.attached_to)
        if host is None:
            self.error(
                "boundary-event",
                f"{_label(event)} is attached to '{event.attached_to}', which is not a flow "
                f"node of process '{process.id}'",
                event,
            )
        elif not isinstance(host, Activity):
            self.error(
                "boundary-event",
                f"{_label(event)} is attached to {_label(host)}; only activities can carry "
                "boundary events",
                event,
            )
        elif host.scope_id != event.scope_id:
            self.error(
                "boundary-event",
                f"{_label(event)} is in '{event.scope_id}' but its activity "
                f"'{host.id}' is in '{host.scope_id}'",
                event,
            )

    def check_boundary(self, event: BoundaryEvent) -> None:
        if not event.event_definitions:
            self.error(
                "boundary-event",
                f"{_label(event)} has no event definition, so nothing can trigger it",
                event,
            )
        for definition in event.event_definitions:
            if isinstance(definition, ErrorEventDefinition) and not event.cancel_activity:
                self.error(
                    "boundary-event",
                    f"error {_label(event)} is non-interrupting; error boundary events "
                    "always interrupt",
                    event,
                )

    def check_gateway(
        self,
        process: Process,
        gateway: Gateway,
        incoming: list[SequenceFlow],
        outgoing: list[SequenceFlow],
    ) -> None:
        default = gateway.default_flow
        if default is not None:
            if isinstance(gateway, ParallelGateway | EventBasedGateway):
                self.error(
                    "default-flow",
                    f"{_label(gateway)} cannot have a default flow ('{default}')",
                    gateway,
                )
            else:
                self.check_default(process, gateway, default)
        if isinstance(gateway, ExclusiveGateway | InclusiveGateway) and len(outgoing) > 1:
            for flow in outgoing:
                if flow.id != default and flow.condition is None:
                    self.error(
                        "conditional-flows",
                        f"sequence flow '{flow.id}' leaves {_label(gateway)} without a "
                        "condition and is not its default flow",
                        flow,
                    )
        if isinstance(gateway, ParallelGateway):
            for flow in outgoing:
                if flow.condition is not None:
                    self.warning(
                        "conditional-flows",
                        f"the condition of sequence flow '{flow.id}' after {_label(gateway)} "
                        "is ignored (parallel gateways take every flow)",
                        flow,
                    )
        if isinstance(gateway, EventBasedGateway):
            self.check_event_gateway(process, gateway, outgoing)
        if len(incoming) > 1 and len(outgoing) > 1:
            self.warning(
                "gateway-join-fork",
                f"{_label(gateway)} both joins ({len(incoming)} incoming) and forks "
                f"({len(outgoing)} outgoing); split it into two gateways",
                gateway,
            )

    def check_event_gateway(
        self, process: Process, gateway: EventBasedGateway, outgoing: list[SequenceFlow]
    ) -> None:
        if len(outgoing) < 2:
            self.error(
                "event-based-gateway",
                f"{_label(gateway)} has {len(outgoing)} outgoing flow(s); it needs at least 2",
                gateway,
            )
        for flow in outgoing:
            if flow.condition is not None:
                self.error(
                    "event-based-gateway",
                    f"sequence flow '{flow.id}' after {_label(gateway)} has a condition; "
                    "flows after an event-based gateway cannot",
                    flow,
                )
            target = process.all_nodes.get(flow.target_ref)
            if target is None:
                continue
            ok = isinstance(target, ReceiveTask) or (
                isinstance(target, IntermediateCatchEvent)
                and len(target.event_definitions) == 1
                and not isinstance(target.event_definitions[0], LinkEventDefinition)
            )
            if not ok:
                self.error(
                    "event-based-gateway",
                    f"{_label(gateway)} leads to {_label(target)}; only intermediate catch "
                    "events and receive tasks may follow an event-based gateway",
                    flow,
                )

    def check_default(self, process: Process, node: Activity | Gateway, default: str) -> None:
        if default not in node.outgoing:
            self.error(
                "default-flow",
                f"default flow '{default}' of {_label(node)} is not one of its outgoing flows",
                node,
            )
            return
        flow = process.all_flows[default]
        if flow.condition is not None:
            self.error(
                "default-flow",
                f"default flow '{default}' of {_label(node)} has a condition; a default "
                "flow must not",
                flow,
            )

    def check_split(self, node: FlowNode, outgoing: list[SequenceFlow]) -> None:
        """Conditional and implicit splits out of activities and events."""
        if len(outgoing) < 2:
            return
        default = node.default_flow if isinstance(node, Activity) else None
        conditional = [f for f in outgoing if f.condition is not None]
        if default is not None or conditional:
            for flow in outgoing:
                if flow.id != default and flow.condition is None:
                    self.warning(
                        "conditional-flows",
                        f"sequence flow '{flow.id}' leaves {_label(node)} without a condition "
                        "next to conditional/default flows; it is always taken",
                        flow,
                    )
        else:
            self.warning(
                "implicit-split",
                f"{_label(node)} has {len(outgoing)} unconditional outgoing flows and so "
                "splits in parallel implicitly; use a parallel gateway",
                node,
            )

    def check_activity(
        self,
        process: Process,
        activity: Activity,
        incoming: list[SequenceFlow],
        outgoing: list[SequenceFlow],
    ) -> None:
        if activity.default_flow is not None:
            self.check_default(process, activity, activity.default_flow)
        if len(incoming) > 1:
            self.warning(
                "fake-join",
                f"{_label(activity)} has {len(incoming)} incoming flows; each arriving token "
                "runs it again (no join) - use a gateway to merge",
                activity,
            )
        if isinstance(activity, CallActivity):
            called = activity.called_element
            if called is None or (isinstance(called, str) and not called.strip()):
                self.error("called-element", f"{_label(activity)} names no calledElement", activity)
        mi = activity.multi_instance
        if mi is not None and mi.loop_cardinality is None and mi.collection is None:
            self.error(
                "multi-instance",
                f"multi-instance {_label(activity)} has neither a loop cardinality nor a "
                "collection",
                activity,
            )

    def check_implicit_end(
        self, process: Process, node: FlowNode, outgoing: list[SequenceFlow]
    ) -> None:
        if outgoing or isinstance(node, EndEvent):
            return
        scope = process.all_nodes.get(node.scope_id)
        if isinstance(scope, SubProcess) and scope.is_ad_hoc:
            return
        if isinstance(node, SubProcess) and node.triggered_by_event:
            return
        if isinstance(node, Activity) and node.is_for_compensation:
            return
        if isinstance(node, Event) and any(
            isinstance(d, CompensateEventDefinition)
            or (isinstance(d, LinkEventDefinition) and isinstance(node, IntermediateThrowEvent))
            for d in node.event_definitions
        ):
            return
        self.warning(
            "implicit-end",
            f"{_label(node)} has no outgoing sequence flow; the path ends there implicitly "
            "(use an end event)",
            node,
        )

    # -- flows ----------------------------------------------------------------------------

    def check_flow_refs(self, process: Process, flow: SequenceFlow) -> None:
        nodes = process.all_nodes
        scope_id = self.flow_scope(process, flow)
        ends: list[FlowNode] = []
        for role, ref in (("sourceRef", flow.source_ref), ("targetRef", flow.target_ref)):
            if not ref:
                self.error("sequence-flow-ref", f"sequence flow '{flow.id}' has no {role}", flow)
            elif ref not in nodes:
                self.error(
                    "sequence-flow-ref",
                    f"{role} '{ref}' of sequence flow '{flow.id}' is not a flow node of "
                    f"process '{process.id}'",
                    flow,
                )
            else:
                ends.append(nodes[ref])
        for end in ends:
            if end.scope_id != scope_id:
                self.error(
                    "sequence-flow-scope",
                    f"sequence flow '{flow.id}' in '{scope_id}' connects {_label(end)}, which "
                    f"is inside '{end.scope_id}'; sequence flows cannot cross subprocess "
                    "boundaries",
                    flow,
                )

    @staticmethod
    def flow_scope(process: Process, flow: SequenceFlow) -> str:
        if flow.id in process.flows:
            return process.id
        for node in process.all_nodes.values():
            if isinstance(node, SubProcess) and flow.id in node.flows:
                return node.id
        return process.id

    # -- root elements --------------------------------------------------------------------

    def check_root_elements(self, processes: Iterable[Process]) -> None:
        d = self.definitions
        checked = {p.id for p in (d.executable_processes if self.executable_only else d.processes)}
        used: dict[str, set[str]] = defaultdict(set)
        for process in processes:
            self.process_id = process.id
            for node in process.all_nodes.values():
                refs: list[tuple[str, str | None]] = []
                if isinstance(node, Event):
                    for definition in node.event_definitions:
                        if isinstance(definition, MessageEventDefinition):
                            refs.append(("message", definition.message_ref))
                        elif isinstance(definition, SignalEventDefinition):
                            refs.append(("signal", definition.signal_ref))
                        elif isinstance(definition, ErrorEventDefinition):
                            refs.append(("error", definition.error_ref))
                        elif isinstance(definition, EscalationEventDefinition):
                            refs.append(("escalation", definition.escalation_ref))
                elif isinstance(node, ReceiveTask):
                    refs.append(("message", node.message_ref))
                message_ref = node.extensions.get("message_ref")
                if isinstance(message_ref, str):
                    refs.append(("message", message_ref))
                for kind, ref in refs:
                    if ref is None:
                        continue
                    used[kind].add(ref)
                    if process.id in checked and ref not in self.table(kind):
                        self.error(
                            "undefined-ref",
                            f"{_label(node)} refers to {kind} '{ref}', which the document "
                            "does not define",
                            node,
                        )
        self.process_id = None
        for collaboration in d.collaborations:
            for message_flow in collaboration.message_flows:
                if message_flow.message_ref:
                    used["message"].add(message_flow.message_ref)
        for kind in ("message", "signal", "error", "escalation"):
            by_name: dict[str, list[str]] = defaultdict(list)
            for root_id, element in self.table(kind).items():
                name = element.name
                if name:
                    by_name[name].append(root_id)
                    continue
                needs_name = kind in ("message", "signal") and root_id in used[kind]
                self.add(
                    "error" if needs_name else "warning",
                    "missing-name",
                    f"{kind} '{root_id}' has no name"
                    + ("; it cannot be correlated" if needs_name else ""),
                    root_id,
                )
            for name, ids in by_name.items():
                if len(ids) > 1:
                    self.add(
                        "warning",
                        "duplicate-name",
                        f"{kind}s {', '.join(repr(i) for i in ids)} share the name {name!r}",
                        ids[1],
                    )
            for root_id in self.table(kind):
                if root_id not in used[kind]:
                    self.add(
                        "warning",
                        "unused-definition",
                        f"{kind} '{root_id}' is not referred to by any event or task",
                        root_id,
                    )

    def table(self, kind: str) -> Mapping[str, _Named]:
        d = self.definitions
        tables: dict[str, Mapping[str, _Named]] = {
            "message": d.messages,
            "signal": d.signals,
            "error": d.errors,
            "escalation": d.escalations,
        }
        return tables[kind]


class _Named(Protocol):
    """Message, Signal, Error and Escalation: root elements with a name."""

    @property
    def name(self) -> str: ...
