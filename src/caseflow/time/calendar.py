"""Business calendars: when people work, and arithmetic in working time.

A :class:`BusinessCalendar` knows, for every local date of its IANA zone, the working
intervals of that date (several per day, so a lunch break is a gap between two). A date's
hours come from, first match wins:

1. an :class:`Override` of that date (what an administrator decided: a bridge day off,
   a Saturday that becomes a working day by decree, a shortened day);
2. a holiday (the explicit ``holidays`` or the country's, from a :data:`HolidayProvider`):
   no hours;
3. a make-up working day that the holiday provider knows (a weekend day worked in
   exchange for a bridge day off): ``makeup_hours``;
4. the weekly hours of that weekday.

It is pure: no SQL, no clock. Instants go in and come out as timezone-aware datetimes
and come out in UTC; a naive datetime is refused (guessing its zone would hide a bug).
Working time is real elapsed time: the working intervals are wall-clock times in the
calendar's zone, turned into UTC instants date by date, so a shift across a DST change
lasts what it really lasted. As PEP 495 reads them, a wall-clock time that does not
exist (in the spring-forward gap) takes the offset from before the change, so 02:30 on
the day Berlin skips 02:00-03:00 is 03:30; an ambiguous one (in the fall-back hour) is
its first occurrence. Everything walks date by date over intervals, never minute by minute:
adding 1,000 working hours looks at ~180 dates.

Intervals are half-open, ``[start, end)``: 12:00 is not working time under 08:00-12:00,
and :meth:`BusinessCalendar.add` answers the *earliest* instant at which the duration
has elapsed, so four working hours from 08:00 end at 12:00, not at 13:00 after lunch.

Deadlines counted in working days (:meth:`BusinessCalendar.add_working_days`) follow the
Vietnamese Civil Code 2015, art. 147-148, which public-service procedures apply: the day
the dossier is received is not counted, the period ends at the end of its last day, and a
last day that is a day off moves to the next working day. A dossier received after the
office closed (or on a day off) counts as received the next working day. "The end of the
day" is taken as the close of business of that day (the time the receipt promises the
result by), not midnight. ``DayCount.SAME_TIME`` gives the other common reading, the
same point of the working day n working days later.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from caseflow.errors import CaseflowError

__all__ = [
    "WEEKDAY_NAMES",
    "BusinessCalendar",
    "CalendarError",
    "DayCount",
    "DayHours",
    "HolidayProvider",
    "Interval",
    "Override",
    "OverrideKind",
    "WeeklyHours",
    "YearHolidays",
    "as_utc",
    "country_holiday_provider",
    "hours_to_json",
    "parse_hours",
    "weekly_hours",
    "weekly_hours_from_json",
    "weekly_hours_to_json",
]

UTC: Final = dt.UTC
MINUTES_PER_DAY: Final = 24 * 60
WEEKDAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

MAX_IDLE_DAYS: Final = 3660
"""How many dates in a row without working time before a search gives up (ten years):
a calendar without any working time would otherwise be searched forever."""

_DAY_CACHE_SIZE: Final = 4096


class CalendarError(CaseflowError, ValueError):
    """A calendar, its hours or an SLA spec cannot be used as given."""

    code = "calendar_invalid"


# --- hours --------------------------------------------------------------------------------


_HHMM = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def _minute_of(text: str) -> int:
    match = _HHMM.match(text)
    if match is None:
        raise CalendarError(f"not a time of day (HH:MM): {text!r}")
    hour, minute = int(match.group(1)), int(match.group(2))
    if minute > 59 or hour > 24 or (hour == 24 and minute != 0):
        raise CalendarError(f"not a time of day (HH:MM, up to 24:00): {text!r}")
    return hour * 60 + minute


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    """Working hours within one day, in wall-clock minutes after local midnight.

    ``end`` may be 1440 (24:00): an interval runs at most to the end of its own date.
    """

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= MINUTES_PER_DAY:
            raise CalendarError(f"an interval must be 00:00 <= start < end <= 24:00: {self}")

    @classmethod
    def parse(cls, text: str) -> Interval:
        """``"08:00-12:00"``."""
        start, sep, end = text.partition("-")
        if not sep:
            raise CalendarError(f"not an interval (HH:MM-HH:MM): {text!r}")
        return cls(_minute_of(start), _minute_of(end))

    @classmethod
    def of(cls, start: dt.time, end: dt.time | None) -> Interval:
        """From times of day; ``end=None`` means 24:00. Seconds are not supported."""
        for t in (start, end):
            if t is not None and (t.second or t.microsecond or t.tzinfo):
                raise CalendarError(f"working hours are whole minutes, no zone: {t}")
        end_minute = MINUTES_PER_DAY if end is None else end.hour * 60 + end.minute
        return cls(start.hour * 60 + start.minute, end_minute)

    @property
    def length(self) -> dt.timedelta:
        """The wall-clock length (a DST change inside it makes the real one differ)."""
        return dt.timedelta(minutes=self.end - self.start)

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


DayHours = tuple[Interval, ...]
"""The working intervals of one day, sorted, not touching; empty: a day off."""

WeeklyHours = tuple[DayHours, DayHours, DayHours, DayHours, DayHours, DayHours, DayHours]
"""Monday's hours first (``date.weekday()`` indexes it)."""


def _normalise(intervals: Iterable[Interval]) -> DayHours:
    ordered = sorted(intervals)
    merged: list[Interval] = []
    for interval in ordered:
        if merged and interval.start < merged[-1].end:
            raise CalendarError(f"working intervals overlap: {merged[-1]} and {interval}")
        if merged and interval.start == merged[-1].end:  # touching: one interval
            merged[-1] = Interval(merged[-1].start, interval.end)
        else:
            merged.append(interval)
    return tuple(merged)


def parse_hours(hours: str | Iterable[str | Interval]) -> DayHours:
    """``"08:00-12:00, 13:00-17:00"`` or a list of such intervals; ``""``: no hours."""
    if isinstance(hours, str):
        parts: Iterable[str | Interval] = [p for p in hours.split(",") if p.strip()]
    else:
        parts = hours
    return _normalise(p if isinstance(p, Interval) else Interval.parse(p) for p in parts)


def weekly_hours(
    *,
    mon: str | Iterable[str | Interval] = (),
    tue: str | Iterable[str | Interval] = (),
    wed: str | Iterable[str | Interval] = (),
    thu: str | Iterable[str | Interval] = (),
    fri: str | Iterable[str | Interval] = (),
    sat: str | Iterable[str | Interval] = (),
    sun: str | Iterable[str | Interval] = (),
    weekdays: str | Iterable[str | Interval] | None = None,
) -> WeeklyHours:
    """Weekly hours by day; ``weekdays`` sets Monday to Friday at once."""
    if weekdays is not None:
        mon = tue = wed = thu = fri = weekdays
    return (
        parse_hours(mon), parse_hours(tue), parse_hours(wed), parse_hours(thu),
        parse_hours(fri), parse_hours(sat), parse_hours(sun),
    )


def hours_to_json(hours: DayHours) -> list[str]:
    return [str(i) for i in hours]


def weekly_hours_to_json(weekly: WeeklyHours) -> dict[str, list[str]]:
    """``{"mon": ["08:00-12:00", "13:00-17:00"], ...}``; days without hours are left out."""
    return {
        name: hours_to_json(day) for name, day in zip(WEEKDAY_NAMES, weekly, strict=True) if day
    }


def weekly_hours_from_json(data: Mapping[str, Any]) -> WeeklyHours:
    """The inverse of :func:`weekly_hours_to_json`; a missing day has no hours."""
    unknown = set(data) - set(WEEKDAY_NAMES)
    if unknown:
        raise CalendarError(f"unknown weekday(s) {sorted(unknown)}; use {list(WEEKDAY_NAMES)}")
    days: list[DayHours] = []
    for name in WEEKDAY_NAMES:
        value = data.get(name) or []
        if not isinstance(value, (list, tuple, str)):
            raise CalendarError(f"hours of {name} must be a list of 'HH:MM-HH:MM': {value!r}")
        days.append(parse_hours(value))
    return (days[0], days[1], days[2], days[3], days[4], days[5], days[6])


# --- overrides and holidays --------------------------------------------------------------


class OverrideKind(StrEnum):
    HOLIDAY = "HOLIDAY"
    WORKING_DAY = "WORKING_DAY"


@dataclass(frozen=True, slots=True)
class Override:
    """What an administrator decided about one date of one calendar.

    ``HOLIDAY``: no working time that date. ``WORKING_DAY``: that date is worked, with
    ``hours`` (``None``: the calendar's ``makeup_hours``, its usual working day); a
    working-day override of an ordinary weekday with other hours shortens or lengthens it.
    """

    day: dt.date
    kind: OverrideKind
    hours: DayHours | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.day, dt.datetime) or not isinstance(self.day, dt.date):
            raise CalendarError(f"an override is for a date, not {self.day!r}")
        object.__setattr__(self, "kind", OverrideKind(self.kind))
        if self.kind is OverrideKind.HOLIDAY and self.hours is not None:
            raise CalendarError(f"a HOLIDAY override has no hours ({self.day})")
        if self.kind is OverrideKind.WORKING_DAY and self.hours is not None:
            if not self.hours:
                raise CalendarError(f"a WORKING_DAY override needs hours or None ({self.day})")
            object.__setattr__(self, "hours", _normalise(self.hours))

    @classmethod
    def holiday(cls, day: dt.date, reason: str = "") -> Override:
        return cls(day, OverrideKind.HOLIDAY, None, reason)

    @classmethod
    def working_day(
        cls, day: dt.date, hours: str | Iterable[str | Interval] | None = None, reason: str = ""
    ) -> Override:
        return cls(
            day, OverrideKind.WORKING_DAY, None if hours is None else parse_hours(hours), reason
        )


@dataclass(frozen=True, slots=True)
class YearHolidays:
    """One year of a country's days off, and the weekend days worked in exchange."""

    days_off: Mapping[dt.date, str] = field(default_factory=dict)
    working_days: Mapping[dt.date, str] = field(default_factory=dict)


HolidayProvider = Callable[[int], YearHolidays]
"""A year's holidays, asked once per year a calendar touches (the calendar caches it)."""


def country_holiday_provider(
    country: str, subdivision: str | None = None, *, language: str | None = None
) -> HolidayProvider:
    """The public holidays of ``country`` (ISO 3166-1) from the ``holidays`` package.

    Days off include the observed (substitute) days and the bridge days that the package
    knows from government decrees; ``working_days`` are the weekend days worked in
    exchange (the package's ``weekend_workdays``). Holiday names are in ``language``
    (default: the country's own language). Raises :class:`CalendarError` for a country or
    subdivision the package does not know.
    """
    import holidays

    try:
        probe = holidays.country_holidays(country, subdiv=subdivision, years=())
    except NotImplementedError as error:
        raise CalendarError(f"no public holidays known for {country!r}/{subdivision!r}") from error
    # never the package's guess from the process locale: the same names on every machine
    language = language or probe.default_language

    def provide(year: int) -> YearHolidays:
        found = holidays.country_holidays(
            country, subdiv=subdivision, years=year, language=language
        )
        days_off = {day: str(name) for day, name in found.items() if day.year == year}
        worked = {day: "" for day in found.weekend_workdays if day.year == year}
        return YearHolidays(days_off, worked)

    return provide


# --- the calendar -----------------------------------------------------------------------


class DayCount(StrEnum):
    """How :meth:`BusinessCalendar.add_working_days` places the deadline on its last day."""

    END_OF_DAY = "END_OF_DAY"
    """The close of business of the n-th working day (Civil Code art. 148; the default)."""
    SAME_TIME = "SAME_TIME"
    """The same point of the working day (same working time since opening), capped at
    the close: on days with equal hours, the same time of day (a start in the lunch
    break is the end of the morning)."""


Span = tuple[dt.datetime, dt.datetime]


def as_utc(value: dt.datetime, what: str = "time") -> dt.datetime:
    """``value`` in UTC; a naive datetime (or not a datetime) is refused."""
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{what} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive {what} {value!r}: business calendars take aware datetimes")
    return value.astimezone(UTC)


def _zone(zone: str | ZoneInfo) -> ZoneInfo:
    if isinstance(zone, ZoneInfo):
        return zone
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise CalendarError(f"unknown time zone {zone!r}") from error


def _usual_day(weekly: WeeklyHours) -> DayHours:
    """The hours most weekdays have (Monday's on a tie): a make-up day works these."""
    counts = Counter(day for day in weekly if day)
    if not counts:
        return ()
    best = max(counts.values())
    return next(day for day in weekly if day and counts[day] == best)


class BusinessCalendar:
    """Working hours in a zone, with holidays and overrides; see the module docstring.

    Instances are immutable in meaning (they cache the UTC intervals of the dates they
    were asked about); :meth:`with_overrides` makes a changed copy.
    """

    def __init__(
        self,
        *,
        zone: str | ZoneInfo,
        weekly: WeeklyHours,
        holidays: Mapping[dt.date, str] | Iterable[dt.date] = (),
        provider: HolidayProvider | None = None,
        overrides: Iterable[Override] = (),
        makeup_hours: DayHours | None = None,
        name: str = "",
    ) -> None:
        self.zone = _zone(zone)
        if len(weekly) != 7:
            raise CalendarError(f"weekly hours need seven days, Monday first; got {len(weekly)}")
        self.weekly: WeeklyHours = weekly_hours(
            mon=weekly[0], tue=weekly[1], wed=weekly[2], thu=weekly[3],
            fri=weekly[4], sat=weekly[5], sun=weekly[6],
        )
        self.holidays: dict[dt.date, str] = (
            dict(holidays) if isinstance(holidays, Mapping) else dict.fromkeys(holidays, "")
        )
        self.provider = provider
        self.overrides: dict[dt.date, Override] = {}
        for override in overrides:
            if override.day in self.overrides:
                raise CalendarError(f"two overrides for {override.day}")
            self.overrides[override.day] = override
        self.makeup_hours: DayHours = (
            _usual_day(self.weekly) if makeup_hours is None else _normalise(makeup_hours)
        )
        self.name = name
        self._years: dict[int, YearHolidays] = {}
        self._days: dict[dt.date, tuple[Span, ...]] = {}

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.name or '?'!r}, zone={self.zone.key!r})"

    def with_overrides(
        self, overrides: Iterable[Override], *, replace: bool = False
    ) -> BusinessCalendar:
        """A copy with ``overrides`` added (a later one for the same date wins), or
        with only them if ``replace``."""
        merged = {} if replace else dict(self.overrides)
        for override in overrides:
            merged[override.day] = override
        copy = BusinessCalendar(
            zone=self.zone,
            weekly=self.weekly,
            holidays=self.holidays,
            provider=self.provider,
            overrides=merged.values(),
            makeup_hours=self.makeup_hours,
            name=self.name,
        )
        copy._years = self._years  # same provider: its years can be shared
        return copy

    # --- dates ---

    def _year(self, year: int) -> YearHolidays:
        found = self._years.get(year)
        if found is None:
            found = self._years[year] = (
                self.provider(year) if self.provider is not None else YearHolidays()
            )
        return found

    def holiday_name(self, day: dt.date) -> str | None:
        """Why ``day`` is a holiday (override reason or holiday name), or None."""
        override = self.overrides.get(day)
        if override is not None:
            return override.reason if override.kind is OverrideKind.HOLIDAY else None
        if day in self.holidays:
            return self.holidays[day]
        return self._year(day.year).days_off.get(day)

    def hours_on(self, day: dt.date) -> DayHours:
        """The working intervals of a local date (wall-clock), after every rule."""
        override = self.overrides.get(day)
        if override is not None:
            if override.kind is OverrideKind.HOLIDAY:
                return ()
            return override.hours if override.hours is not None else self.makeup_hours
        if day in self.holidays:
            return ()
        year = self._year(day.year)
        if day in year.days_off:
            return ()
        if day in year.working_days and not self.weekly[day.weekday()]:
            return self.makeup_hours
        return self.weekly[day.weekday()]

    def is_working_day(self, day: dt.date) -> bool:
        return bool(self._spans(day))

    def working_days(self, first: dt.date, last: dt.date) -> Iterator[dt.date]:
        """The working dates from ``first`` to ``last``, both included."""
        day = first
        while day <= last:
            if self._spans(day):
                yield day
            day += dt.timedelta(days=1)

    def _spans(self, day: dt.date) -> tuple[Span, ...]:
        """The working intervals of a local date as UTC instants, cached."""
        spans = self._days.get(day)
        if spans is not None:
            return spans
        built: list[Span] = []
        for interval in self.hours_on(day):
            start = self._instant(day, interval.start)
            end = self._instant(day, interval.end)
            if built and start < built[-1][1]:  # a fold moved it back: never overlap
                start = built[-1][1]
            if start < end:
                built.append((start, end))
        spans = tuple(built)
        if len(self._days) >= _DAY_CACHE_SIZE:
            self._days.clear()
        self._days[day] = spans
        return spans

    def _instant(self, day: dt.date, minute: int) -> dt.datetime:
        if minute == MINUTES_PER_DAY:
            day, minute = day + dt.timedelta(days=1), 0
        hour, minute = divmod(minute, 60)
        local = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.zone)
        return local.astimezone(UTC)

    def _local_date(self, t: dt.datetime) -> dt.date:
        return t.astimezone(self.zone).date()

    def _scan(self, t: dt.datetime) -> Iterator[tuple[dt.date, Span]]:
        """Every working span that ends after ``t``, in order, with its local date.

        Gives up (:class:`CalendarError`) after :data:`MAX_IDLE_DAYS` dates without any.
        """
        day = self._local_date(t) - dt.timedelta(days=1)
        idle = 0
        while True:
            spans = self._spans(day)
            for span in spans:
                if span[1] > t:
                    yield day, span
            idle = 0 if spans else idle + 1
            if idle > MAX_IDLE_DAYS:
                raise CalendarError(
                    f"calendar {self.name or '?'!r} has no working time in the "
                    f"{MAX_IDLE_DAYS} days after {day - dt.timedelta(days=MAX_IDLE_DAYS)}"
                )
            day += dt.timedelta(days=1)

    # --- instants ---

    def is_working_time(self, t: dt.datetime) -> bool:
        t = as_utc(t)
        day = self._local_date(t)
        return any(
            start <= t < end
            for d in (day - dt.timedelta(days=1), day)
            for start, end in self._spans(d)
        )

    def next_working_time(self, t: dt.datetime) -> dt.datetime:
        """``t`` if it is working time, else the next opening."""
        t = as_utc(t)
        _, (start, _end) = next(self._scan(t))
        return max(start, t)

    def end_of_working_day(self, t: dt.datetime) -> dt.datetime:
        """The close of the working day ``t`` is in (or, outside working time, of the
        next working day)."""
        t = as_utc(t)
        day, _ = next(self._scan(t))
        return self._spans(day)[-1][1]

    def add(self, start: dt.datetime, duration: dt.timedelta) -> dt.datetime:
        """The earliest instant by which ``duration`` of working time has passed since
        ``start``. A zero duration gives ``start`` itself (even outside working time)."""
        t = as_utc(start, "start")
        if duration < dt.timedelta(0):
            raise ValueError(f"a negative duration cannot be added: {duration}")
        remaining = duration
        if not remaining:
            return t
        for _, (span_start, span_end) in self._scan(t):
            begin = max(span_start, t)
            available = span_end - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        raise AssertionError("unreachable: _scan never ends")  # pragma: no cover

    def working_time_between(self, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
        """The working time from ``a`` to ``b``; negative when ``b`` is before ``a``."""
        a, b = as_utc(a, "a"), as_utc(b, "b")
        if b < a:
            return -self.working_time_between(b, a)
        total = dt.timedelta(0)
        day = self._local_date(a) - dt.timedelta(days=1)
        last = self._local_date(b)
        while day <= last:
            for start, end in self._spans(day):
                if end > a and start < b:
                    total += min(end, b) - max(start, a)
            day += dt.timedelta(days=1)
        return total

    def working_time_on(self, day: dt.date) -> dt.timedelta:
        """The real working time of a local date (DST changes included)."""
        return sum((end - start for start, end in self._spans(day)), dt.timedelta(0))

    def add_working_days(
        self, start: dt.datetime, days: int, *, count: DayCount = DayCount.END_OF_DAY
    ) -> dt.datetime:
        """The deadline ``days`` working days after ``start`` (see the module docstring).

        ``start`` is first moved to the next working time (a dossier received after
        hours is received the next working day); that receiving day is not counted.
        ``END_OF_DAY``: the close of the ``days``-th working day after it (0: the close
        of the receiving day). ``SAME_TIME``: the same working time since opening on the
        ``days``-th working day, capped at its close (0: the receiving instant).
        """
        if days < 0:
            raise ValueError(f"working days must not be negative: {days}")
        t = as_utc(start, "start")
        received_day, _ = next(self._scan(t))
        received = max(t, self._spans(received_day)[0][0])
        target = received_day
        for _ in range(days):
            target = self._next_working_date(target)
        spans = self._spans(target)
        if count is DayCount.END_OF_DAY:
            return spans[-1][1]
        into_day = self.working_time_between(self._spans(received_day)[0][0], received)
        return self.add(spans[0][0], min(into_day, self.working_time_on(target)))

    def _next_working_date(self, day: dt.date) -> dt.date:
        for _ in range(MAX_IDLE_DAYS):
            day += dt.timedelta(days=1)
            if self._spans(day):
                return day
        raise CalendarError(
            f"calendar {self.name or '?'!r} has no working day in the {MAX_IDLE_DAYS} days "
            f"after {day - dt.timedelta(days=MAX_IDLE_DAYS)}"
        )

    def describe(self, first: dt.date, last: dt.date) -> Sequence[tuple[dt.date, DayHours, str]]:
        """Each date from ``first`` to ``last`` with its hours and why (for admin pages)."""
        rows: list[tuple[dt.date, DayHours, str]] = []
        day = first
        while day <= last:
            override = self.overrides.get(day)
            if override is not None:
                why = f"override {override.kind.value}: {override.reason}".rstrip(": ")
            elif (name := self.holiday_name(day)) is not None:
                why = f"holiday: {name}" if name else "holiday"
            elif day in self._year(day.year).working_days and not self.weekly[day.weekday()]:
                why = f"make-up working day: {self._year(day.year).working_days[day]}".rstrip(": ")
            else:
                why = ""
            rows.append((day, self.hours_on(day), why))
            day += dt.timedelta(days=1)
        return rows
