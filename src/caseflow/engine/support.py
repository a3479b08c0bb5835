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
    Event,
    EventBasedGateway,
    ExternalTask,
    FlowNode,
    IntermediateCatchEvent,
    IntermediateThrowEvent,
    Process,
    StartEvent,
    SubProcess,
    TerminateEventDefinition,
)


def _refuse(node: FlowNode, what: str, process: Process) -> Problem:
    return Problem(
        severity="error",
        code="not-executable",
        message=f"{what} is not executable by caseflow yet",
        element_id=node.id,
        line=node.line,
        process_id=process.id,
    )


def _event_kinds(node: Event) -> str:
    return (
        ", ".join(
            type(d).__name__.removesuffix("EventDefinition").lower() for d in node.event_definitions
        )
        or "none"
    )


def unsupported(process: Process) -> list[Problem]:
    """Problems for every element of ``process`` the executor cannot run."""
    problems: list[Problem] = []
    for node in process.all_nodes.values():
        if isinstance(node, ComplexGateway | EventBasedGateway):
            problems.append(_refuse(node, f"a {node.kind}", process))
        elif isinstance(node, IntermediateCatchEvent):
            problems.append(
                _refuse(node, f"an intermediate {_event_kinds(node)} catch event", process)
            )
        elif isinstance(node, IntermediateThrowEvent) and node.event_definitions:
            problems.append(
                _refuse(node, f"an intermediate {_event_kinds(node)} throw event", process)
            )
        elif isinstance(node, BoundaryEvent) and not all(
            isinstance(d, ErrorEventDefinition) for d in node.event_definitions
        ):
            problems.append(_refuse(node, f"a {_event_kinds(node)} boundary event", process))
        elif isinstance(node, StartEvent) and node.event_definitions:
            problems.append(_refuse(node, f"a {_event_kinds(node)} start event", process))
        elif isinstance(node, EndEvent) and not all(
            isinstance(d, TerminateEventDefinition | ErrorEventDefinition)
            for d in node.event_definitions
        ):
            problems.append(_refuse(node, f"a {_event_kinds(node)} end event", process))
        elif isinstance(node, SubProcess) and (
            node.triggered_by_event or node.is_transaction or node.is_ad_hoc
        ):
            what = (
                "an event subprocess"
                if node.triggered_by_event
                else "a transaction"
                if node.is_transaction
                else "an ad-hoc subprocess"
            )
            problems.append(_refuse(node, what, process))
        elif isinstance(node, ExternalTask) and node.decision_ref:
            problems.append(_refuse(node, "a business rule task with a DMN decision", process))
        if isinstance(node, Activity):
            if node.standard_loop is not None:
                problems.append(_refuse(node, "a standard loop (loopCharacteristics)", process))
            if node.is_for_compensation:
                problems.append(_refuse(node, "a compensation handler", process))
    return problems
