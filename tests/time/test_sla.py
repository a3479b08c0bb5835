"""SLA specs, the tightest due date, and SLA status in business time."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from caseflow.time.calendar import BusinessCalendar, CalendarError, Override, weekly_hours
from caseflow.time.holidays_vn import vietnam_calendar
from caseflow.time.sla import (
    DEFAULT_AT_RISK_SHARE,
    Deadline,
    SlaSpec,
    SlaStatus,
    at_risk_at,
    overdue_by,
    parse_sla,
    sla_status,
    tightest,
)

H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def hcm(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=ZONE)


@pytest.fixture(scope="module")
def cal() -> BusinessCalendar:
    # Monday 2025-03-03 ... no holidays in March 2025
    return BusinessCalendar(
        zone=ZONE,
        weekly=weekly_hours(weekdays="08:00-12:00, 13:00-17:00"),
        overrides=[Override.holiday(dt.date(2025, 3, 12), "office closed")],
    )


# --- specs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days", "time"),
    [
        ("PT16H", 0, 16 * H),
        ("pt16h", 0, 16 * H),
        ("PT90M", 0, 90 * M),
        ("PT1.5H", 0, 90 * M),
        ("PT1,5H", 0, 90 * M),
        ("PT1H30M", 0, 90 * M),
        ("PT30S", 0, dt.timedelta(seconds=30)),
        ("P3D", 3, dt.timedelta(0)),
        ("P1DT4H", 1, 4 * H),
        ("P0D", 0, dt.timedelta(0)),
        ("16h", 0, 16 * H),
        ("3d", 3, dt.timedelta(0)),
        ("1d4h", 1, 4 * H),
        ("1d 4h", 1, 4 * H),
        ("2h30m", 0, 150 * M),
        ("90m", 0, 90 * M),
        ("90min", 0, 90 * M),
        (" 2.5h ", 0, 150 * M),
    ],
)
def test_parse(text: str, days: int, time: dt.timedelta) -> None:
    spec = SlaSpec.parse(text, "task")
    assert (spec.working_days, spec.working_time, spec.source) == (days, time, "task")


@pytest.mark.parametrize(
    "text", ["", "P", "PT", "P1W", "P1M", "P1Y", "PT-1H", "-3d", "3 weeks", "soon", "16", "h"]
)
def test_parse_refuses(text: str) -> None:
    with pytest.raises(CalendarError, match="SLA"):
        SlaSpec.parse(text)


def test_parse_sla_treats_blank_as_no_sla() -> None:
    assert parse_sla(None) is None
    assert parse_sla("  ") is None
    assert parse_sla("PT8H", "task") == SlaSpec(0, 8 * H, "task")


@pytest.mark.parametrize("text", ["PT16H", "P3D", "P1DT4H30M", "PT0S", "PT1.5S", "PT25H"])
def test_iso_round_trip(text: str) -> None:
    assert SlaSpec.parse(text).iso() == text


def test_specs_from_numbers() -> None:
    assert SlaSpec.hours(16) == SlaSpec(0, 16 * H, "definition")
    assert SlaSpec.hours(Decimal("1.5")).working_time == 90 * M
    assert SlaSpec.minutes(45, source="queue") == SlaSpec(0, 45 * M, "queue")
    assert SlaSpec.days(3).working_days == 3
    with pytest.raises(CalendarError, match="negative"):
        SlaSpec.hours(-1)


# --- due dates --------------------------------------------------------------------------


def test_due_in_working_hours(cal: BusinessCalendar) -> None:
    start = hcm(2025, 3, 7, 15)  # Friday
    assert SlaSpec.parse("PT16H").due(start, cal) == hcm(2025, 3, 11, 15)
    assert SlaSpec.parse("PT0S").due(start, cal) == start


def test_due_in_working_days_is_the_close_of_the_last_day(cal: BusinessCalendar) -> None:
    start = hcm(2025, 3, 10, 9)  # Monday; Wednesday 12/3 is closed
    assert SlaSpec.parse("P3D").due(start, cal) == hcm(2025, 3, 14, 17)
    assert SlaSpec.parse("P1DT4H").due(start, cal) == hcm(2025, 3, 11, 14)


def test_the_tightest_sla_wins(cal: BusinessCalendar) -> None:
    start = hcm(2025, 3, 3, 9)
    definition = SlaSpec.hours(40, "definition")
    task = SlaSpec.parse("P3D", "task")
    queue = SlaSpec.minutes(600, "queue")
    best = tightest([definition, task, None, queue], start, cal)
    assert best == Deadline(hcm(2025, 3, 4, 11), queue)
    assert tightest([definition, task], start, cal) == Deadline(hcm(2025, 3, 6, 17), task)
    assert tightest([None], start, cal) is None
    assert tightest([], start, cal) is None
    # a tie: the first given wins
    same = SlaSpec.hours(8, "a"), SlaSpec.parse("PT480M", "b")
    found = tightest(same, start, cal)
    assert found is not None
    assert found.spec.source == "a"


# --- status -----------------------------------------------------------------------------


def test_status_over_the_life_of_a_task(cal: BusinessCalendar) -> None:
    start = hcm(2025, 3, 3, 8)  # Monday, 10 working hours: due Tuesday 10:00
    due = SlaSpec.hours(10).due(start, cal)
    assert due == hcm(2025, 3, 4, 10)

    def status(now: dt.datetime) -> SlaStatus:
        return sla_status(start=start, due=due, now=now, calendar=cal)

    assert status(hcm(2025, 3, 3, 8)) is SlaStatus.ON_TRACK
    assert status(hcm(2025, 3, 3, 16)) is SlaStatus.ON_TRACK  # 7 of 10 h
    assert status(hcm(2025, 3, 3, 16, 59)) is SlaStatus.ON_TRACK
    assert status(hcm(2025, 3, 3, 17)) is SlaStatus.AT_RISK  # 8 of 10 h = 80 %
    assert status(hcm(2025, 3, 4, 8)) is SlaStatus.AT_RISK  # the night used nothing
    assert status(hcm(2025, 3, 4, 10)) is SlaStatus.AT_RISK  # due, not yet late
    assert status(hcm(2025, 3, 4, 10, 1)) is SlaStatus.BREACHED
    assert status(hcm(2025, 3, 2, 10)) is SlaStatus.ON_TRACK  # before the start


def test_completed_work_is_met_or_breached(cal: BusinessCalendar) -> None:
    start, due = hcm(2025, 3, 3, 8), hcm(2025, 3, 4, 10)
    for completed, expected in [
        (hcm(2025, 3, 4, 9), SlaStatus.MET),
        (due, SlaStatus.MET),
        (hcm(2025, 3, 4, 10, 1), SlaStatus.BREACHED),
    ]:
        assert sla_status(
            start=start, due=due, calendar=cal, completed_at=completed, now=hcm(2025, 4, 1)
        ) is expected


def test_the_weekend_does_not_put_work_at_risk(cal: BusinessCalendar) -> None:
    start = hcm(2025, 3, 7, 13)  # Friday afternoon, 8 h: due Monday noon
    due = SlaSpec.hours(8).due(start, cal)
    assert due == hcm(2025, 3, 10, 12)
    sunday_night = hcm(2025, 3, 9, 23)  # 4 of 8 working hours, though 58 of 71 real ones
    assert sla_status(start=start, due=due, now=sunday_night, calendar=cal) is (
        SlaStatus.ON_TRACK
    )


def test_at_risk_at_is_when_the_status_turns(cal: BusinessCalendar) -> None:
    start, due = hcm(2025, 3, 3, 9, 7), hcm(2025, 3, 5, 15, 31)
    turn = at_risk_at(start, due, cal)
    before = turn - dt.timedelta(microseconds=1)
    assert sla_status(start=start, due=due, now=before, calendar=cal) is SlaStatus.ON_TRACK
    assert sla_status(start=start, due=due, now=turn, calendar=cal) is SlaStatus.AT_RISK
    used = cal.working_time_between(start, turn)
    assert abs(used / cal.working_time_between(start, due) - DEFAULT_AT_RISK_SHARE) < 1e-9


def test_a_configurable_share(cal: BusinessCalendar) -> None:
    start, due = hcm(2025, 3, 3, 8), hcm(2025, 3, 4, 10)
    now = hcm(2025, 3, 3, 14)  # 5 of 10 h
    assert sla_status(start=start, due=due, now=now, calendar=cal, at_risk_share=0.5) is (
        SlaStatus.AT_RISK
    )
    assert sla_status(start=start, due=due, now=now, calendar=cal, at_risk_share=0.6) is (
        SlaStatus.ON_TRACK
    )
    assert at_risk_at(start, due, cal, 0.5) == now
    for bad in (0, -0.1, 1.5):
        with pytest.raises(ValueError, match="share"):
            sla_status(start=start, due=due, now=now, calendar=cal, at_risk_share=bad)
        with pytest.raises(ValueError, match="share"):
            at_risk_at(start, due, cal, bad)


def test_a_zero_budget_is_at_risk_until_due(cal: BusinessCalendar) -> None:
    start = due = hcm(2025, 3, 3, 9)
    assert sla_status(start=start, due=due, now=start, calendar=cal) is SlaStatus.AT_RISK
    assert at_risk_at(start, due, cal) == start
    later = hcm(2025, 3, 3, 9, 1)
    assert sla_status(start=start, due=due, now=later, calendar=cal) is SlaStatus.BREACHED


def test_status_needs_now_or_completion(cal: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="now"):
        sla_status(start=hcm(2025, 3, 3), due=hcm(2025, 3, 4), calendar=cal)


def test_overdue_by_counts_business_time(cal: BusinessCalendar) -> None:
    due = hcm(2025, 3, 7, 16)  # Friday
    assert overdue_by(due, hcm(2025, 3, 10, 9), cal) == 2 * H
    assert overdue_by(due, hcm(2025, 3, 7, 10), cal) == dt.timedelta(0)


def test_a_procedure_in_vietnam_over_tet() -> None:
    vn = vietnam_calendar()
    received = hcm(2026, 2, 12, 10)  # Thursday before the Tet break
    deadline = tightest(
        [SlaSpec.days(5, "procedure"), SlaSpec.hours(24, "definition")], received, vn
    )
    assert deadline is not None
    # 24 h: Thursday 6, Friday 8, (Tet, 14/2-22/2), Monday 23/2 8, Tuesday 2
    assert deadline.due_at == hcm(2026, 2, 24, 10)
    assert deadline.spec.source == "definition"
    # 5 working days: Friday 13/2, then Monday 23/2 to Thursday 26/2
    assert SlaSpec.days(5).due(received, vn) == hcm(2026, 2, 26, 17)
    # in the middle of Tet the work is not at risk: no working time passes
    assert sla_status(
        start=received, due=deadline.due_at, now=hcm(2026, 2, 18, 12), calendar=vn
    ) is SlaStatus.ON_TRACK


def test_naive_times_are_refused(cal: BusinessCalendar) -> None:
    naive = dt.datetime(2025, 3, 3, 9)  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive"):
        sla_status(start=hcm(2025, 3, 3), due=hcm(2025, 3, 4), calendar=cal, now=naive)
    with pytest.raises(ValueError, match="naive"):
        sla_status(start=hcm(2025, 3, 3), due=hcm(2025, 3, 4), calendar=cal, completed_at=naive)
