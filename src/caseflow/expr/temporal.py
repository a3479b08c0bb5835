"""Dates, times and durations for FEEL: ISO 8601 text in, Python temporal values out.

Days-and-time durations are ``timedelta``; years-and-months durations are
:class:`~caseflow.expr.values.YearMonthDuration` because a month has no fixed length.
Every function returns ``None`` for input it cannot handle (FEEL's null), never raises
on bad data. Nothing here reads the clock.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from caseflow.expr.values import YearMonthDuration, is_number

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?")
_DURATION = re.compile(
    r"(-)?P(?!$)(?:(\d{1,9})Y)?(?:(\d{1,9})M)?(?:(\d{1,9})W)?(?:(\d{1,9})D)?"
    r"(?:T(?=\d)(?:(\d{1,9})H)?(?:(\d{1,9})M)?(?:(\d{1,9}(?:\.\d{1,9})?)S)?)?"
)


def parse_date(text: str) -> date | None:
    if not _DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def parse_time(text: str) -> time | None:
    if not _TIME.fullmatch(text):
        return None
    try:
        return time.fromisoformat(text)
    except ValueError:
        return None


def parse_datetime(text: str) -> datetime | None:
    if "T" not in text:
        d = parse_date(text)
        return None if d is None else datetime(d.year, d.month, d.day)  # noqa: DTZ001
    day, _, clock = text.partition("T")
    d = parse_date(day)
    t = parse_time(clock)
    if d is None or t is None:
        return None
    return datetime.combine(d, t)


def parse_duration(text: str) -> timedelta | YearMonthDuration | None:
    m = _DURATION.fullmatch(text)
    if not m:
        return None
    neg, y, mo, w, d, h, mi, s = m.groups()
    sign = -1 if neg else 1
    if y or mo:
        if w or d or h or mi or s:
            return None  # FEEL keeps the two kinds of duration apart
        return YearMonthDuration(sign * (int(y or 0) * 12 + int(mo or 0)))
    try:
        td = timedelta(
            weeks=int(w or 0),
            days=int(d or 0),
            hours=int(h or 0),
            minutes=int(mi or 0),
            seconds=float(s or 0),
        )
    except OverflowError:
        return None
    return -td if sign < 0 else td


def format_duration(td: timedelta) -> str:
    if not td:
        return "PT0S"
    sign = "-" if td < timedelta(0) else ""
    td = abs(td)
    days = td.days
    secs = td.seconds
    h, rest = divmod(secs, 3600)
    m, s = divmod(rest, 60)
    out = f"{sign}P"
    if days:
        out += f"{days}D"
    if h or m or s or td.microseconds:
        out += "T"
        if h:
            out += f"{h}H"
        if m:
            out += f"{m}M"
        if s or td.microseconds:
            if td.microseconds:
                frac = f"{td.microseconds:06d}".rstrip("0")
                out += f"{s}.{frac}S"
            else:
                out += f"{s}S"
    return out


def format_value(x: Any) -> str | None:
    if isinstance(x, datetime):
        return x.isoformat()
    if isinstance(x, date | time):
        return x.isoformat()
    if isinstance(x, timedelta):
        return format_duration(x)
    if isinstance(x, YearMonthDuration):
        return str(x)
    return None


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year = d.year + y
    day = min(d.day, calendar.monthrange(year, m + 1)[1])
    return d.replace(year=year, month=m + 1, day=day)


def _as_float(n: Any) -> float:
    return float(n) if type(n) is not float else n


def add(a: Any, b: Any) -> Any:
    """``a + b`` for temporal values (either order), or None."""
    ta, tb = type(a), type(b)
    if tb is timedelta:
        if ta is timedelta:
            return a + b
        if ta is datetime:
            return a + b
        if ta is date:
            return (datetime(a.year, a.month, a.day) + b).date()  # noqa: DTZ001
        if ta is time:
            base = datetime.combine(date(2000, 1, 1), a)
            return (base + b).timetz()
    elif tb is YearMonthDuration:
        if ta is YearMonthDuration:
            return YearMonthDuration(a.months + b.months)
        if ta is datetime or ta is date:
            return add_months(a, b.months)
    elif ta is timedelta or ta is YearMonthDuration:
        return add(b, a)
    return None


def sub(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if tb is timedelta or tb is YearMonthDuration:
        if ta is timedelta or ta is YearMonthDuration or ta in (date, datetime, time):
            return add(a, -b if tb is timedelta else YearMonthDuration(-b.months))
        return None
    if ta is tb and ta in (date, datetime, time):
        if ta is time:
            base = date(2000, 1, 1)
            return datetime.combine(base, a) - datetime.combine(base, b)
        return a - b
    return None


def mul(a: Any, b: Any) -> Any:
    if is_number(a) and not is_number(b):
        a, b = b, a
    if not is_number(b):
        return None
    if type(a) is timedelta:
        return a * _as_float(b)
    if type(a) is YearMonthDuration:
        return YearMonthDuration(int(a.months * Decimal(str(b))))
    return None


def div(a: Any, b: Any) -> Any:
    ta = type(a)
    if ta is timedelta:
        if type(b) is timedelta:
            return None if not b else Decimal(a // timedelta(microseconds=1)) / Decimal(
                b // timedelta(microseconds=1)
            )
        if is_number(b) and b:
            return a / _as_float(b)
    if ta is YearMonthDuration:
        if type(b) is YearMonthDuration:
            return None if not b.months else Decimal(a.months) / Decimal(b.months)
        if is_number(b) and b:
            return YearMonthDuration(int(Decimal(a.months) / Decimal(str(b))))
    return None


def prop(x: Any, name: str) -> Any:
    """FEEL properties of temporal values (``d.year``, ``dur.hours``), or None."""
    t = type(x)
    if t is date or t is datetime:
        if name == "year":
            return x.year
        if name == "month":
            return x.month
        if name == "day":
            return x.day
        if name == "weekday":
            return x.isoweekday()
    if t is time or t is datetime:
        if name == "hour":
            return x.hour
        if name == "minute":
            return x.minute
        if name == "second":
            return x.second
        if name == "time offset":
            return x.utcoffset()
        if name == "timezone":
            return x.tzname()
    if t is timedelta:
        total = abs(x)
        sign = -1 if x < timedelta(0) else 1
        if name == "days":
            return sign * total.days
        if name == "hours":
            return sign * (total.seconds // 3600)
        if name == "minutes":
            return sign * (total.seconds % 3600 // 60)
        if name == "seconds":
            return sign * (total.seconds % 60)
    if t is YearMonthDuration:
        sign = -1 if x.months < 0 else 1
        if name == "years":
            return sign * (abs(x.months) // 12)
        if name == "months":
            return sign * (abs(x.months) % 12)
    return None
