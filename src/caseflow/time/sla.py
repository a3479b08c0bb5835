"""Service levels in business time: due dates, the tightest of several SLAs, SLA status.

Pure, like :mod:`caseflow.time.calendar`: the start, the current time and the calendar
come in as arguments.

**Declaring an SLA.** An SLA is a duration of *working* time:

* ISO 8601: ``PT16H`` (16 working hours), ``PT90M``, ``PT1.5H``, ``P3D`` (3 working
  days), ``P1DT4H``. Weeks, months and years are refused: their length in working time is
  a matter of opinion.
* shorthand: ``16h``, ``90m``, ``3d``, ``1d4h``, ``2h30m``.
* numbers from rows: :meth:`SlaSpec.hours` (a definition's ``sla_target_hours``),
  :meth:`SlaSpec.minutes` (a step's or a queue's SLA in minutes).

Days are working days counted as :meth:`BusinessCalendar.add_working_days` counts them
(the receiving day not counted, due at the close of the last day: what "handled within 3
working days" means for a public-service procedure). Days and hours together (``P1DT4H``)
mean: the same point of the working day one working day later, then 4 working hours.
Hours alone are working time from the start (from the next opening if the start is
outside working hours): ``PT16H`` on a 2x4-hour day is two full working days.

In BPMN, on a user task or on the process (the engine reads it; this module parses it)::

    <bpmn:userTask id="review" caseflow:sla="PT16H" .../>
    <bpmn:process id="permit" caseflow:sla="P15D" ...>

with ``xmlns:caseflow="http://caseflow.dev/schema/bpmn"``.

**Status.** :func:`sla_status`: ``MET`` (completed by the due time), ``BREACHED``
(completed late, or still open after it), ``AT_RISK`` (open, and at least
``at_risk_share`` of the business time between start and due is used), ``ON_TRACK``.
The share is measured in business time, so a task due Monday morning is not at risk on
Saturday night just because the weekend went by. :func:`at_risk_at` says when the status
turns to ``AT_RISK``, to schedule a reminder or escalation job at that moment.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Final

from caseflow.time.calendar import BusinessCalendar, CalendarError, DayCount, as_utc

__all__ = [
    "DEFAULT_AT_RISK_SHARE",
    "Deadline",
    "SlaSpec",
    "SlaStatus",
    "at_risk_at",
    "overdue_by",
    "parse_sla",
    "sla_status",
    "tightest",
]

DEFAULT_AT_RISK_SHARE: Final = 0.8

_ZERO = dt.timedelta(0)
_NUMBER = r"\d+(?:[.,]\d+)?"
_ISO = re.compile(
    rf"^P(?:(?P<days>\d+)D)?"
    rf"(?:T(?:(?P<hours>{_NUMBER})H)?(?:(?P<minutes>{_NUMBER})M)?(?:(?P<seconds>{_NUMBER})S)?)?$"
)
_SHORT = re.compile(
    rf"^(?:(?P<days>\d+)\s*d)?\s*(?:(?P<hours>{_NUMBER})\s*h)?\s*"
    rf"(?:(?P<minutes>{_NUMBER})\s*m(?:in)?)?\s*(?:(?P<seconds>{_NUMBER})\s*s)?$"
)


class SlaStatus(StrEnum):
    ON_TRACK = "ON_TRACK"
    AT_RISK = "AT_RISK"
    BREACHED = "BREACHED"
    MET = "MET"


def _number(text: str | None) -> Decimal:
    if not text:
        return Decimal(0)
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation as error:  # pragma: no cover - the regexes only let digits in
        raise CalendarError(f"not a number: {text!r}") from error


@dataclass(frozen=True, slots=True)
class SlaSpec:
    """An SLA: ``working_days`` then ``working_time``; ``source`` names where it came
    from (``"definition"``, ``"task"``, ``"queue"`` ...), for reports and escalations."""

    working_days: int = 0
    working_time: dt.timedelta = _ZERO
    source: str = ""

    def __post_init__(self) -> None:
        if self.working_days < 0 or self.working_time < _ZERO:
            raise CalendarError(f"an SLA cannot be negative: {self}")

    @classmethod
    def parse(cls, text: str, source: str = "") -> SlaSpec:
        """``PT16H``, ``P3D``, ``P1DT4H``, ``16h``, ``3d``, ``1d4h``, ``90m`` (see module)."""
        cleaned = text.strip()
        match = _ISO.match(cleaned.upper()) if cleaned[:1] in "Pp" else _SHORT.match(
            cleaned.lower()
        )
        if not cleaned or match is None or not any(match.groupdict().values()):
            raise CalendarError(
                f"not an SLA duration: {text!r} (ISO 8601 like PT16H or P3D, or 16h, 3d, 1d4h;"
                " weeks, months and years are not working-time units)"
            )
        parts = match.groupdict()
        seconds = (
            _number(parts["hours"]) * 3600
            + _number(parts["minutes"]) * 60
            + _number(parts["seconds"])
        )
        micros = int((seconds * 1_000_000).to_integral_value())
        return cls(int(parts["days"] or 0), dt.timedelta(microseconds=micros), source)

    @classmethod
    def hours(cls, hours: float | Decimal, source: str = "definition") -> SlaSpec:
        """A target in working hours, like a definition's ``sla_target_hours``."""
        return cls(0, dt.timedelta(hours=float(hours)), source)

    @classmethod
    def minutes(cls, minutes: float | Decimal, source: str = "task") -> SlaSpec:
        """A target in working minutes, like a step's or a queue's SLA."""
        return cls(0, dt.timedelta(minutes=float(minutes)), source)

    @classmethod
    def days(cls, days: int, source: str = "definition") -> SlaSpec:
        """A target in working days, like a procedure's legal processing time."""
        return cls(days, _ZERO, source)

    def due(self, start: dt.datetime, calendar: BusinessCalendar) -> dt.datetime:
        """When this SLA is due for work that started at ``start``."""
        if self.working_days and not self.working_time:
            return calendar.add_working_days(start, self.working_days)
        if self.working_days:
            start = calendar.add_working_days(start, self.working_days, count=DayCount.SAME_TIME)
        return calendar.add(start, self.working_time)

    def iso(self) -> str:
        """The ISO 8601 text of this SLA (``P3D``, ``PT16H``, ``P1DT4H30M``)."""
        seconds = self.working_time.total_seconds()
        hours, rest = divmod(int(seconds), 3600)
        minutes, whole = divmod(rest, 60)
        fraction = self.working_time.microseconds
        time = ""
        if hours:
            time += f"{hours}H"
        if minutes:
            time += f"{minutes}M"
        if whole or fraction:
            time += f"{whole}.{fraction:06d}".rstrip("0").rstrip(".") + "S"
        days = f"{self.working_days}D" if self.working_days else ""
        if not days and not time:
            return "PT0S"
        return f"P{days}" + (f"T{time}" if time else "")


def parse_sla(text: str | None, source: str = "") -> SlaSpec | None:
    """:meth:`SlaSpec.parse`, with ``None`` or blank text meaning "no SLA"."""
    if text is None or not text.strip():
        return None
    return SlaSpec.parse(text, source)


@dataclass(frozen=True, slots=True)
class Deadline:
    due_at: dt.datetime
    spec: SlaSpec


def tightest(
    specs: Iterable[SlaSpec | None], start: dt.datetime, calendar: BusinessCalendar
) -> Deadline | None:
    """The earliest due date among the SLAs that apply (``None`` entries are skipped);
    on a tie the first spec given wins. ``None`` when no SLA applies."""
    best: Deadline | None = None
    for spec in specs:
        if spec is None:
            continue
        due = spec.due(start, calendar)
        if best is None or due < best.due_at:
            best = Deadline(due, spec)
    return best


def _check_share(share: float) -> None:
    if not 0 < share <= 1:
        raise ValueError(f"at_risk_share must be in (0, 1]: {share}")


def _threshold(
    start: dt.datetime, due: dt.datetime, calendar: BusinessCalendar, share: float
) -> dt.timedelta:
    budget = max(calendar.working_time_between(start, due), _ZERO)
    return budget * share


def at_risk_at(
    start: dt.datetime,
    due: dt.datetime,
    calendar: BusinessCalendar,
    at_risk_share: float = DEFAULT_AT_RISK_SHARE,
) -> dt.datetime:
    """The instant an open SLA turns ``AT_RISK``: once ``at_risk_share`` of its business
    time is used."""
    _check_share(at_risk_share)
    return calendar.add(start, _threshold(start, due, calendar, at_risk_share))


def sla_status(
    *,
    start: dt.datetime,
    due: dt.datetime,
    calendar: BusinessCalendar,
    now: dt.datetime | None = None,
    completed_at: dt.datetime | None = None,
    at_risk_share: float = DEFAULT_AT_RISK_SHARE,
) -> SlaStatus:
    """The status of work started at ``start`` and due at ``due``.

    Completed work (``completed_at``) is ``MET`` or ``BREACHED``, whatever ``now`` is.
    Open work needs ``now``: ``BREACHED`` after the due time (at the due time itself it is
    not late yet), ``AT_RISK`` once ``at_risk_share`` of the business time between start
    and due is used, else ``ON_TRACK``.
    """
    _check_share(at_risk_share)
    start, due = as_utc(start, "start"), as_utc(due, "due")
    if completed_at is not None:
        return SlaStatus.MET if as_utc(completed_at, "completed_at") <= due else SlaStatus.BREACHED
    if now is None:
        raise ValueError("sla_status needs now (open work) or completed_at")
    now = as_utc(now, "now")
    if now > due:
        return SlaStatus.BREACHED
    used = calendar.working_time_between(start, now)
    if used >= _threshold(start, due, calendar, at_risk_share):
        return SlaStatus.AT_RISK
    return SlaStatus.ON_TRACK


def overdue_by(due: dt.datetime, now: dt.datetime, calendar: BusinessCalendar) -> dt.timedelta:
    """Business time past the due time (zero when not late): for escalation levels."""
    return max(calendar.working_time_between(due, now), _ZERO)
