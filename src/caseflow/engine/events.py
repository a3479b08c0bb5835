"""Facts about event definitions that the executor and the runtime both need."""

from __future__ import annotations

from caseflow.engine.compiled import ExecutableProcess
from caseflow.model.elements import (
    Event,
    MessageEventDefinition,
    SignalEventDefinition,
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
