"""When a BPMN timer fires: ISO 8601 dates, durations and cycles, and cron cycles.

A timer definition's text (after its expression, if any, is evaluated) is turned into
the next due time. A cycle also yields what is left of it, so the job that fires can
schedule the next one: ``R3/PT10M`` fires three times ten minutes apart, ``R/P1D``
forever, ``R2/2025-01-06T09:00:00Z/P1W`` twice from a start, and a cron expression
(five or six fields, as Camunda and Zeebe accept) at each matching time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import isodate
from croniter import croniter

from caseflow.errors import ExecutionError


@dataclass(frozen=True, slots=True)
class Schedule:
    """The next firing, and the cycle that continues after it (None: fires once)."""

    due_at: dt.datetime
    cycle: str | None = None  # the cycle text to continue with after this firing


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _date(text: str) -> dt.datetime:
    text = text.strip()
    if "@" in text:  # Zeebe allows a zone id suffix: 2025-01-01T10:00:00@Europe/Berlin
        stamp, zone = text.split("@", 1)
        from zoneinfo import ZoneInfo

        local: dt.datetime = isodate.parse_datetime(stamp).replace(tzinfo=ZoneInfo(zone))
        return local.astimezone(dt.UTC)
    if "T" not in text:
        day = isodate.parse_date(text)
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return _aware(isodate.parse_datetime(text)).astimezone(dt.UTC)


def _duration(text: str) -> dt.timedelta | isodate.Duration:
    return isodate.parse_duration(text.strip())


def first(kind: str, text: str, now: dt.datetime, element_id: str) -> Schedule:
    """The first firing of a timer of ``kind`` (date, duration or cycle) set at ``now``.

    Cron cycles are read in UTC.
    """
    try:
        if kind == "date":
            return Schedule(_date(text))
        if kind == "duration":
            return Schedule(now + _duration(text))
        found = _cycle(text, now, first=True)
        if found is None:
            raise ValueError("the cycle never fires")
        return found
    except (isodate.ISO8601Error, ValueError, KeyError) as exc:
        raise ExecutionError(
            f"the timer {kind} {text!r} is not valid ISO 8601 or cron: {exc}", element_id=element_id
        ) from None


def following(cycle: str, fired_at: dt.datetime, element_id: str) -> Schedule | None:
    """The firing after one at ``fired_at``, or None when the cycle is used up."""
    try:
        return _cycle(cycle, fired_at, first=False)
    except (isodate.ISO8601Error, ValueError, KeyError) as exc:
        raise ExecutionError(
            f"the timer cycle {cycle!r} is not valid: {exc}", element_id=element_id
        ) from None


def _cycle(text: str, base: dt.datetime, *, first: bool) -> Schedule | None:
    text = text.strip()
    if not text.startswith("R"):
        fields = text.split()
        if len(fields) not in (5, 6, 7) or not croniter.is_valid(text):
            raise ValueError("expected R[n]/... or a cron expression")
        nxt = croniter(text, base).get_next(dt.datetime)
        return Schedule(_aware(nxt), text)
    parts = text.split("/")
    count_text = parts[0][1:]
    remaining = int(count_text) if count_text else None  # None: forever
    if remaining is not None and remaining <= 0:
        if first:
            raise ValueError("a cycle must repeat at least once")
        return None
    if len(parts) == 2:  # R[n]/duration
        period = _duration(parts[1])
        due = base + period
        start_text = None
    elif len(parts) == 3 and parts[1].startswith("P"):  # R[n]/duration/end
        period = _duration(parts[1])
        due = base + period
        if due > _date(parts[2]):
            return None
        start_text = None
    elif len(parts) == 3:  # R[n]/start/duration
        start = _date(parts[1])
        period = _duration(parts[2])
        due = start
        while due < base or (not first and due == base):  # the first one not yet past
            due = due + period
        start_text = parts[1]
    else:
        raise ValueError("expected R[n]/duration, R[n]/start/duration or R[n]/duration/end")
    left = None if remaining is None else remaining - 1
    if left == 0:
        return Schedule(due, None)
    rest = "/".join([f"R{'' if left is None else left}", *parts[1:]])
    if start_text is not None:
        rest = "/".join([f"R{'' if left is None else left}", start_text, parts[2]])
    return Schedule(due, rest)
