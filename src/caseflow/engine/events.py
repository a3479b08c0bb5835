"""Facts about events: which handler catches an error or escalation, what a start event
waits for, whether a catch waits on after it fires."""

from __future__ import annotations

from caseflow.engine.compiled import ExecutableProcess
from caseflow.model.elements import (
    BoundaryEvent,
    ErrorEventDefinition,
    EscalationEventDefinition,
    Event,
    FlowNode,
    MessageEventDefinition,
    SignalEventDefinition,
    StartEvent,
    SubProcess,
    TimerEventDefinition,
)


def timer_of(event: Event) -> TimerEventDefinition | None:
    return next((d for d in event.event_definitions if isinstance(d, TimerEventDefinition)), None)


def start_event_name(ex: ExecutableProcess, event: Event, kind: str) -> str | None:
    """The message or signal name ``event`` waits for (``kind`` "message"/"signal")."""
    for definition in event.event_definitions:
        if kind == "message" and isinstance(definition, MessageEventDefinition):
            ref = definition.message_ref or ""
            return ex.messages.get(ref, (ref, None))[0]
        if kind == "signal" and isinstance(definition, SignalEventDefinition):
            ref = definition.signal_ref or ""
            return ex.signals.get(ref, ref)
    return None


def keeps_waiting(node: FlowNode) -> bool:
    """A non-interrupting boundary or event-subprocess start waits on after firing."""
    if isinstance(node, BoundaryEvent):
        return not node.cancel_activity
    if isinstance(node, StartEvent):
        return not node.is_interrupting
    return False


def matching_start(
    ex: ExecutableProcess, scope_id: str, kind: type, code: str | None
) -> tuple[SubProcess, StartEvent] | None:
    """The event subprocess of ``scope_id`` whose error/escalation start catches ``code``;
    one naming the code wins over a catch-all."""
    catch_all = None
    for esp, start in ex.event_starts.get(scope_id, ()):
        for definition in start.event_definitions:
            if not isinstance(definition, kind):
                continue
            ref = getattr(definition, "error_ref", None) or getattr(
                definition, "escalation_ref", None
            )
            if ref is None:
                catch_all = catch_all or (esp, start)
            elif code_of(ex, ref) == code:
                return esp, start
    return catch_all


def code_of(ex: ExecutableProcess, ref: str) -> str:
    if ref in ex.errors:
        return ex.errors[ref][0] or ref
    if ref in ex.escalations:
        return ex.escalations[ref] or ref
    return ref


def matching_escalation_boundary(
    ex: ExecutableProcess, activity_id: str, code: str | None
) -> BoundaryEvent | None:
    catch_all = None
    for boundary in ex.boundaries.get(activity_id, ()):
        for definition in boundary.event_definitions:
            if not isinstance(definition, EscalationEventDefinition):
                continue
            if definition.escalation_ref is None:
                catch_all = catch_all or boundary
            elif code_of(ex, definition.escalation_ref) == code:
                return boundary
    return catch_all


def matching_error_boundary(
    ex: ExecutableProcess, activity_id: str, code: str
) -> BoundaryEvent | None:
    catch_all: BoundaryEvent | None = None
    for boundary in ex.error_boundaries(activity_id):
        for definition in boundary.event_definitions:
            if not isinstance(definition, ErrorEventDefinition):
                continue
            if definition.error_ref is None:
                catch_all = catch_all or boundary
                continue
            error_code = ex.errors.get(definition.error_ref, (None, None))[0]
            if (error_code or definition.error_ref) == code:
                return boundary
    return catch_all
