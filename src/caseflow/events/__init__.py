"""Events for the world outside: the transactional outbox and its delivery.

* :mod:`caseflow.events.names`: the event types, their payloads, constructors (the SLA
  and escalation jobs build theirs with :func:`sla_breached` and
  :func:`escalation_triggered`, then ``tx.add_events([...])``);
* :mod:`caseflow.events.recorder`: the engine's default instance listener, which writes
  a command's events in the command's transaction;
* :mod:`caseflow.events.log`, :mod:`caseflow.events.dispatcher`, :mod:`caseflow.events.hub`,
  :mod:`caseflow.events.sinks` (imported on their own: they need SQLAlchemy): reading the
  outbox in commit order, delivery to webhooks, brokers and server-sent events.
"""

from __future__ import annotations

from caseflow.events.names import (
    EVENT_TYPES,
    escalation_triggered,
    event,
    new_event_id,
    sla_breached,
)
from caseflow.events.recorder import EventRecorder

__all__ = [
    "EVENT_TYPES",
    "EventRecorder",
    "escalation_triggered",
    "event",
    "new_event_id",
    "sla_breached",
]
