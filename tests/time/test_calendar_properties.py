"""Properties of business-time arithmetic, on calendars with breaks, holidays and DST."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from caseflow.time.calendar import BusinessCalendar, DayCount, Override, weekly_hours
from caseflow.time.holidays_vn import vietnam_calendar
from caseflow.time.sla import SlaStatus, at_risk_at, sla_status

CALENDARS = {
    "vietnam": vietnam_calendar(),
    # office hours with a Saturday morning, a night shift on Sunday over the DST changes,
    # and overrides; Berlin changes its clocks at 02:00-03:00 on Sundays
    "berlin": BusinessCalendar(
        zone="Europe/Berlin",
        weekly=weekly_hours(
            weekdays="07:30-12:00, 12:45-16:15", sat="09:00-12:00", sun="00:00-05:30"
        ),
        holidays=[dt.date(2025, 12, 25), dt.date(2025, 12, 26)],
        overrides=[
            Override.holiday(dt.date(2025, 3, 31)),
            Override.working_day(dt.date(2025, 3, 30), "01:00-04:00, 20:00-24:00"),
        ],
    ),
    "new_york": BusinessCalendar(
        zone="America/New_York",
        weekly=weekly_hours(weekdays="09:00-17:00", sun="00:30-03:30"),
    ),
}

calendars = st.sampled_from(sorted(CALENDARS)).map(CALENDARS.__getitem__)
instants = st.datetimes(
    min_value=dt.datetime(2024, 12, 1),  # noqa: DTZ001 - made aware by timezones=
    max_value=dt.datetime(2027, 1, 31),  # noqa: DTZ001
    timezones=st.just(dt.UTC),
)
durations = st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(hours=600))
slow = settings(deadline=None, max_examples=150)


@slow
@given(calendars, instants, durations)
def test_adding_then_measuring_gives_the_duration_back(
    cal: BusinessCalendar, a: dt.datetime, d: dt.timedelta
) -> None:
    assert cal.working_time_between(a, cal.add(a, d)) == d


@slow
@given(calendars, instants, durations)
def test_add_ends_in_working_time_at_or_after_the_start(
    cal: BusinessCalendar, a: dt.datetime, d: dt.timedelta
) -> None:
    end = cal.add(a, d)
    assert end >= a
    assert end.tzinfo is dt.UTC
    if d:
        assert cal.is_working_time(end - dt.timedelta(microseconds=1))


@slow
@given(calendars, instants, instants, durations)
def test_add_is_monotonic_in_the_start(
    cal: BusinessCalendar, a: dt.datetime, b: dt.datetime, d: dt.timedelta
) -> None:
    a, b = min(a, b), max(a, b)
    assert cal.add(a, d) <= cal.add(b, d)


@slow
@given(calendars, instants, durations, durations)
def test_add_is_monotonic_and_additive_in_the_duration(
    cal: BusinessCalendar, a: dt.datetime, d: dt.timedelta, e: dt.timedelta
) -> None:
    d, e = min(d, e), max(d, e)
    assert cal.add(a, d) <= cal.add(a, e)
    assert cal.add(cal.add(a, d), e - d) == cal.add(a, e)


@slow
@given(calendars, instants, instants, instants)
def test_measuring_is_additive_and_antisymmetric(
    cal: BusinessCalendar, a: dt.datetime, b: dt.datetime, c: dt.datetime
) -> None:
    assert cal.working_time_between(a, b) + cal.working_time_between(b, c) == (
        cal.working_time_between(a, c)
    )
    assert cal.working_time_between(a, b) == -cal.working_time_between(b, a)
    assert cal.working_time_between(a, b) <= abs(b - a)


@slow
@given(calendars, instants)
def test_next_working_time_skips_only_idle_time(cal: BusinessCalendar, t: dt.datetime) -> None:
    nxt = cal.next_working_time(t)
    assert nxt >= t
    assert cal.is_working_time(nxt)
    assert cal.working_time_between(t, nxt) == dt.timedelta(0)
    assert cal.is_working_time(t) == (nxt == t)


@slow
@given(calendars, instants, st.integers(min_value=0, max_value=40))
def test_working_days_land_on_working_days_in_order(
    cal: BusinessCalendar, t: dt.datetime, n: int
) -> None:
    end = cal.add_working_days(t, n)
    same_time = cal.add_working_days(t, n, count=DayCount.SAME_TIME)
    assert t < end
    assert same_time <= end
    assert cal.is_working_time(end - dt.timedelta(microseconds=1))
    assert cal.add_working_days(t, n + 1) > end
    assert cal.add_working_days(t, n + 1, count=DayCount.SAME_TIME) > same_time


@slow
@given(calendars, instants, durations, durations)
def test_the_sla_status_never_goes_back(
    cal: BusinessCalendar, start: dt.datetime, budget: dt.timedelta, later: dt.timedelta
) -> None:
    due = cal.add(start, budget)
    order = [SlaStatus.ON_TRACK, SlaStatus.AT_RISK, SlaStatus.BREACHED]
    ranks = [
        order.index(sla_status(start=start, due=due, now=now, calendar=cal))
        for now in sorted([start, cal.add(start, later), due, at_risk_at(start, due, cal)])
    ]
    assert ranks == sorted(ranks)
    assert sla_status(start=start, due=due, now=at_risk_at(start, due, cal), calendar=cal) is (
        SlaStatus.AT_RISK
    )
