"""What this engine executes, said out loud at deploy time.

The parser reads all of BPMN 2.0; the validator checks the model is sound. This module
answers a third question: can *this* engine run it? A deployment with an element the
executor would not run as the standard says is refused here, by element id and name,
rather than accepted and left to misbehave on the first case that reaches it.
"""

from __future__ import annotations

from caseflow.errors import Problem
from caseflow.model.elements import (
    Activity,
    BoundaryEvent,
    ComplexGateway,
    EndEvent,
    ErrorEventDefinition,
    EscalationEventDefinition,
    Event,
    EventBasedGateway,
    EventDefinition,
    ExternalTask,
    FlowNode,
    IntermediateCatchEvent,
    IntermediateThrowEvent,
    LinkEventDefinition,
    MessageEventDefinition,
    Process,
    SignalEventDefinition,
    StartEvent,
    SubProcess,
    TerminateEventDefinition,
    TimerEventDefinition,
)

WAITING = (TimerEventDefinition, MessageEventDefinition, SignalEventDefinition)
CATCHABLE_BY_BOUNDARY = (*WAITING, ErrorEventDefinition, EscalationEventDefinition)
THROWN_BY_END = (
    TerminateEventDefinition,
    ErrorEventDefinition,
    SignalEventDefinition,
    EscalationEventDefinition,
)
THROWN_IN_FLOW = (SignalEventDefinition, EscalationEventDefinition, LinkEventDefinition)
CAUGHT_IN_FLOW = (*WAITING, LinkEventDefinition)


def _refuse(node: FlowNode, what: str, process: Process) -> Problem:
    return Problem(
        severity="error",
        code="not-executable",
        message=f"{what} is not executable by caseflow yet",
        element_id=node.id,
        line=node.line,
        process_id=process.id,
    )


def _kinds(definitions: tuple[EventDefinition, ...]) -> str:
    names = [type(d).__name__.removesuffix("EventDefinition").lower() for d in definitions]
    return " and ".join(names) or "none"


def _only(node: Event, allowed: tuple[type, ...]) -> bool:
    """At most one event definition, of an allowed kind (none counts as allowed)."""
    definitions = node.event_definitions
    return len(definitions) <= 1 and all(isinstance(d, allowed) for d in definitions)


def unsupported(process: Process) -> list[Problem]:
    """Problems for every element of ``process`` the executor cannot run."""
    problems: list[Problem] = []

    def refuse(node: FlowNode, what: str) -> None:
        problems.append(_refuse(node, what, process))

    for node in process.all_nodes.values():
        if isinstance(node, ComplexGateway):
            refuse(node, "a complex gateway")
        elif isinstance(node, EventBasedGateway) and node.instantiate:
            refuse(node, "an instantiating event-based gateway")
        elif isinstance(node, IntermediateCatchEvent) and (
            not node.event_definitions or not _only(node, CAUGHT_IN_FLOW)
        ):
            refuse(node, f"an intermediate {_kinds(node.event_definitions)} catch event")
        elif isinstance(node, IntermediateThrowEvent) and not _only(node, THROWN_IN_FLOW):
            refuse(node, f"an intermediate {_kinds(node.event_definitions)} throw event")
        elif isinstance(node, BoundaryEvent) and (
            not node.event_definitions or not _only(node, CATCHABLE_BY_BOUNDARY)
        ):
            refuse(node, f"a {_kinds(node.event_definitions)} boundary event")
        elif isinstance(node, StartEvent):
            in_event_subprocess = node.scope_id != process.id and _is_event_subprocess(
                process, node.scope_id
            )
            allowed = CATCHABLE_BY_BOUNDARY if in_event_subprocess else WAITING
            if not _only(node, allowed):
                refuse(node, f"a {_kinds(node.event_definitions)} start event")
        elif isinstance(node, EndEvent) and not _only(node, THROWN_BY_END):
            refuse(node, f"a {_kinds(node.event_definitions)} end event")
        elif isinstance(node, SubProcess) and (node.is_transaction or node.is_ad_hoc):
            refuse(node, "a transaction" if node.is_transaction else "an ad-hoc subprocess")
        elif isinstance(node, ExternalTask) and node.decision_ref:
            refuse(node, "a business rule task with a DMN decision")
        if isinstance(node, Activity):
            if node.standard_loop is not None:
                refuse(node, "a standard loop (loopCharacteristics)")
            if node.is_for_compensation:
                refuse(node, "a compensation handler")
    return problems


def _is_event_subprocess(process: Process, scope_id: str) -> bool:
    scope = process.all_nodes.get(scope_id)
    return isinstance(scope, SubProcess) and scope.triggered_by_event
