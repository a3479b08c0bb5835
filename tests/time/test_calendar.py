"""BusinessCalendar: working hours, lunch breaks, weekends, holidays, overrides, DST."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from caseflow.errors import CaseflowError
from caseflow.time.calendar import (
    BusinessCalendar,
    CalendarError,
    DayCount,
    Interval,
    Override,
    OverrideKind,
    YearHolidays,
    country_holiday_provider,
    parse_hours,
    weekly_hours,
    weekly_hours_from_json,
    weekly_hours_to_json,
)

H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)
OFFICE = "08:00-12:00, 13:00-17:00"


def at(zone: str, y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(zone))


def office(zone: str = "Asia/Ho_Chi_Minh", **kwargs: object) -> BusinessCalendar:
    return BusinessCalendar(zone=zone, weekly=weekly_hours(weekdays=OFFICE), **kwargs)  # type: ignore[arg-type]


HCM = "Asia/Ho_Chi_Minh"


def hcm(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> dt.datetime:
    return at(HCM, y, mo, d, h, mi)


# 2025-01-06 is a Monday.


# --- hours ------------------------------------------------------------------------------


def test_hours_parse_sort_and_merge() -> None:
    assert parse_hours("13:00-17:00,08:00-12:00") == (Interval(480, 720), Interval(780, 1020))
    assert parse_hours("08:00-12:00, 12:00-13:00") == (Interval(480, 780),)
    assert parse_hours("") == ()
    assert parse_hours(["00:00-24:00"]) == (Interval(0, 1440),)
    assert str(Interval.parse("8:05-9:30")) == "08:05-09:30"
    assert Interval.of(dt.time(8), None) == Interval(480, 1440)
    assert Interval.parse("08:00-12:00").length == 4 * H


@pytest.mark.parametrize(
    "text",
    ["08:00-07:00", "08:00", "8-12", "08:00-24:01", "25:00-26:00", "08:60-09:00", "12:00-12:00"],
)
def test_bad_intervals_are_refused(text: str) -> None:
    with pytest.raises(CalendarError):
        Interval.parse(text)


def test_overlapping_hours_are_refused() -> None:
    with pytest.raises(CalendarError, match="overlap"):
        parse_hours("08:00-12:00, 11:00-13:00")
    with pytest.raises(CalendarError):
        Interval.of(dt.time(8, 0, 30), dt.time(9))


def test_weekly_hours_json_round_trip() -> None:
    weekly = weekly_hours(weekdays=OFFICE, sat="08:00-11:30")
    data = weekly_hours_to_json(weekly)
    assert data["mon"] == ["08:00-12:00", "13:00-17:00"]
    assert data["sat"] == ["08:00-11:30"]
    assert "sun" not in data
    assert weekly_hours_from_json(data) == weekly
    with pytest.raises(CalendarError, match="weekday"):
        weekly_hours_from_json({"monday": ["08:00-12:00"]})
    with pytest.raises(CalendarError):
        weekly_hours_from_json({"mon": 8})


def test_calendar_errors_are_caseflow_errors() -> None:
    assert issubclass(CalendarError, CaseflowError)
    with pytest.raises(CalendarError, match="zone"):
        BusinessCalendar(zone="Mars/Olympus", weekly=weekly_hours())
    with pytest.raises(CalendarError, match="seven"):
        BusinessCalendar(zone="UTC", weekly=(parse_hours(OFFICE),))  # type: ignore[arg-type]


# --- adding working time ---------------------------------------------------------------


def test_add_within_a_morning() -> None:
    cal = office()
    assert cal.add(hcm(2025, 1, 6, 9), 2 * H) == hcm(2025, 1, 6, 11)


def test_add_jumps_the_lunch_break() -> None:
    cal = office()
    assert cal.add(hcm(2025, 1, 6, 11), 2 * H) == hcm(2025, 1, 6, 14)
    assert cal.add(hcm(2025, 1, 6, 11, 30), 30 * M + 1 * M) == hcm(2025, 1, 6, 13, 1)


def test_add_ends_at_the_end_of_an_interval_not_after_the_break() -> None:
    cal = office()
    assert cal.add(hcm(2025, 1, 6, 8), 4 * H) == hcm(2025, 1, 6, 12)
    assert cal.add(hcm(2025, 1, 6, 8), 8 * H) == hcm(2025, 1, 6, 17)


def test_add_jumps_the_weekend() -> None:
    cal = office()
    assert cal.add(hcm(2025, 1, 10, 16), 2 * H) == hcm(2025, 1, 13, 9)  # Fri -> Mon


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (hcm(2025, 1, 6, 6), hcm(2025, 1, 6, 9)),  # before opening
        (hcm(2025, 1, 6, 12, 30), hcm(2025, 1, 6, 14)),  # in the lunch break
        (hcm(2025, 1, 6, 12), hcm(2025, 1, 6, 14)),  # at the start of the break
        (hcm(2025, 1, 6, 17), hcm(2025, 1, 7, 9)),  # at closing
        (hcm(2025, 1, 6, 21), hcm(2025, 1, 7, 9)),  # in the evening
        (hcm(2025, 1, 11, 10), hcm(2025, 1, 13, 9)),  # on Saturday
    ],
)
def test_add_from_outside_working_hours_starts_at_the_next_opening(
    start: dt.datetime, expected: dt.datetime
) -> None:
    assert office().add(start, H) == expected


def test_zero_duration_is_the_start_itself() -> None:
    cal = office()
    saturday = hcm(2025, 1, 11, 10)
    assert cal.add(saturday, dt.timedelta(0)) == saturday
    assert cal.add(hcm(2025, 1, 6, 9), dt.timedelta(0)) == hcm(2025, 1, 6, 9)


def test_results_are_utc_and_inputs_must_be_aware() -> None:
    cal = office()
    result = cal.add(hcm(2025, 1, 6, 9), H)
    assert result.tzinfo is dt.UTC
    assert result == dt.datetime(2025, 1, 6, 3, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="naive"):
        cal.add(dt.datetime(2025, 1, 6, 9), H)  # noqa: DTZ001
    with pytest.raises(ValueError, match="negative"):
        cal.add(hcm(2025, 1, 6, 9), -H)
    with pytest.raises(TypeError):
        cal.is_working_time(dt.date(2025, 1, 6))  # type: ignore[arg-type]


def test_a_thousand_working_hours() -> None:
    cal = office()
    # 1000 h = 125 days of 8 h = 25 weeks: from Monday 08:00 to the 25th Friday's close
    assert cal.add(hcm(2025, 6, 2, 8), 1000 * H) == hcm(2025, 11, 21, 17)
    assert cal.working_time_between(hcm(2025, 6, 2, 8), hcm(2025, 11, 21, 17)) == 1000 * H


class CountingCalendar(BusinessCalendar):
    def __init__(self) -> None:
        super().__init__(zone=HCM, weekly=weekly_hours(weekdays=OFFICE))
        self.dates_looked_at = 0

    def hours_on(self, day: dt.date) -> tuple[Interval, ...]:
        self.dates_looked_at += 1
        return super().hours_on(day)


def test_long_durations_walk_dates_not_minutes() -> None:
    cal = CountingCalendar()
    cal.add(hcm(2025, 6, 2, 8), 1000 * H)
    assert cal.dates_looked_at < 200  # ~175 calendar days
    cal.add(hcm(2025, 6, 2, 8), 1000 * H)
    assert cal.dates_looked_at < 200  # and a second time from the cache


def test_a_calendar_without_working_time_gives_up() -> None:
    cal = BusinessCalendar(zone="UTC", weekly=weekly_hours())
    with pytest.raises(CalendarError, match="no working time"):
        cal.add(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), H)
    with pytest.raises(CalendarError, match="no working time"):
        cal.add_working_days(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), 0)
    with pytest.raises(CalendarError, match="no working time"):
        cal.next_working_time(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    lonely = cal.with_overrides([Override.working_day(dt.date(2025, 1, 1), "09:00-10:00")])
    with pytest.raises(CalendarError, match="no working day"):
        lonely.add_working_days(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), 1)
    only_override = cal.with_overrides([Override.working_day(dt.date(2030, 1, 1), "09:00-10:00")])
    assert only_override.add(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), H) == dt.datetime(
        2030, 1, 1, 10, tzinfo=dt.UTC
    )


# --- measuring ---------------------------------------------------------------------------


def test_working_time_between() -> None:
    cal = office()
    assert cal.working_time_between(hcm(2025, 1, 6, 9), hcm(2025, 1, 6, 9)) == dt.timedelta(0)
    assert cal.working_time_between(hcm(2025, 1, 6, 11), hcm(2025, 1, 6, 14)) == 2 * H
    assert cal.working_time_between(hcm(2025, 1, 10, 16), hcm(2025, 1, 13, 9)) == 2 * H
    assert cal.working_time_between(hcm(2025, 1, 11, 0), hcm(2025, 1, 12, 23)) == dt.timedelta(0)
    assert cal.working_time_between(hcm(2025, 1, 6, 0), hcm(2025, 1, 13, 0)) == 40 * H
    assert cal.working_time_between(hcm(2025, 1, 6, 14), hcm(2025, 1, 6, 11)) == -2 * H


def test_is_working_time_is_half_open() -> None:
    cal = office()
    assert cal.is_working_time(hcm(2025, 1, 6, 8))
    assert cal.is_working_time(hcm(2025, 1, 6, 11, 59))
    assert not cal.is_working_time(hcm(2025, 1, 6, 12))
    assert cal.is_working_time(hcm(2025, 1, 6, 13))
    assert not cal.is_working_time(hcm(2025, 1, 6, 17))
    assert not cal.is_working_time(hcm(2025, 1, 6, 7, 59))
    assert not cal.is_working_time(hcm(2025, 1, 11, 10))


def test_next_working_time() -> None:
    cal = office()
    assert cal.next_working_time(hcm(2025, 1, 6, 9)) == hcm(2025, 1, 6, 9)
    assert cal.next_working_time(hcm(2025, 1, 6, 12)) == hcm(2025, 1, 6, 13)
    assert cal.next_working_time(hcm(2025, 1, 10, 17)) == hcm(2025, 1, 13, 8)
    assert cal.end_of_working_day(hcm(2025, 1, 6, 9)) == hcm(2025, 1, 6, 17)
    assert cal.end_of_working_day(hcm(2025, 1, 10, 18)) == hcm(2025, 1, 13, 17)


# --- holidays and overrides -------------------------------------------------------------


def test_explicit_holidays() -> None:
    cal = office(holidays={dt.date(2025, 1, 7): "founders' day"})
    assert cal.add(hcm(2025, 1, 6, 16), 2 * H) == hcm(2025, 1, 8, 9)
    assert cal.holiday_name(dt.date(2025, 1, 7)) == "founders' day"
    assert not cal.is_working_day(dt.date(2025, 1, 7))
    assert office(holidays=[dt.date(2025, 1, 7)]).hours_on(dt.date(2025, 1, 7)) == ()


def test_a_holiday_override_on_a_weekday() -> None:
    cal = office(overrides=[Override.holiday(dt.date(2025, 1, 7), "bridge day")])
    assert cal.add(hcm(2025, 1, 6, 16), 2 * H) == hcm(2025, 1, 8, 9)
    assert cal.holiday_name(dt.date(2025, 1, 7)) == "bridge day"


def test_a_make_up_saturday_with_its_own_hours() -> None:
    saturday = dt.date(2025, 1, 11)
    cal = office(overrides=[Override.working_day(saturday, "08:00-11:30", "decree 1/2025")])
    assert cal.add(hcm(2025, 1, 10, 16), 2 * H) == hcm(2025, 1, 11, 9)
    assert cal.add(hcm(2025, 1, 10, 16), 5 * H) == hcm(2025, 1, 13, 8, 30)
    assert cal.working_time_on(saturday) == 3.5 * H
    assert cal.holiday_name(saturday) is None


def test_a_make_up_day_without_hours_works_the_usual_day() -> None:
    cal = office(overrides=[Override.working_day(dt.date(2025, 1, 11))])
    assert cal.hours_on(dt.date(2025, 1, 11)) == parse_hours(OFFICE)


def test_an_override_beats_a_holiday_and_can_shorten_a_day() -> None:
    cal = office(
        holidays=[dt.date(2025, 1, 7)],
        overrides=[
            Override.working_day(dt.date(2025, 1, 7)),
            Override.working_day(dt.date(2025, 1, 8), "08:00-12:00", "half day"),
        ],
    )
    assert cal.is_working_day(dt.date(2025, 1, 7))
    assert cal.working_time_on(dt.date(2025, 1, 8)) == 4 * H
    rows = cal.describe(dt.date(2025, 1, 7), dt.date(2025, 1, 8))
    assert rows[1][2] == "override WORKING_DAY: half day"


def test_override_validation() -> None:
    with pytest.raises(CalendarError, match="no hours"):
        Override(dt.date(2025, 1, 1), OverrideKind.HOLIDAY, parse_hours("08:00-12:00"))
    with pytest.raises(CalendarError, match="needs hours"):
        Override(dt.date(2025, 1, 1), OverrideKind.WORKING_DAY, ())
    with pytest.raises(CalendarError, match="date"):
        Override(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), OverrideKind.HOLIDAY)
    assert Override(dt.date(2025, 1, 1), "HOLIDAY").kind is OverrideKind.HOLIDAY  # type: ignore[arg-type]
    with pytest.raises(CalendarError, match="two overrides"):
        office(overrides=[Override.holiday(dt.date(2025, 1, 1))] * 2)


def test_with_overrides_adds_or_replaces() -> None:
    base = office(overrides=[Override.holiday(dt.date(2025, 1, 7))])
    added = base.with_overrides([Override.holiday(dt.date(2025, 1, 8))])
    assert not added.is_working_day(dt.date(2025, 1, 7))
    assert not added.is_working_day(dt.date(2025, 1, 8))
    replaced = base.with_overrides([Override.holiday(dt.date(2025, 1, 8))], replace=True)
    assert replaced.is_working_day(dt.date(2025, 1, 7))
    assert base.is_working_day(dt.date(2025, 1, 8))  # the original is unchanged


def test_a_provider_gives_days_off_and_make_up_days_per_year() -> None:
    asked: list[int] = []

    def provider(year: int) -> YearHolidays:
        asked.append(year)
        return YearHolidays(
            {dt.date(year, 1, 1): "new year"}, {dt.date(year, 1, 11): "swap"}
        )

    cal = office(provider=provider)
    assert not cal.is_working_day(dt.date(2025, 1, 1))
    assert cal.is_working_day(dt.date(2025, 1, 11))  # a Saturday worked
    assert cal.describe(dt.date(2025, 1, 11), dt.date(2025, 1, 11))[0][2] == (
        "make-up working day: swap"
    )
    cal.is_working_day(dt.date(2025, 3, 1))
    cal.is_working_day(dt.date(2026, 3, 1))
    assert asked == [2025, 2026]  # once per year


def test_country_holidays_from_the_holidays_package() -> None:
    provider = country_holiday_provider("DE", "BY")
    year = provider(2025)
    assert dt.date(2025, 1, 6) in year.days_off  # Epiphany, a Bavarian holiday
    assert dt.date(2025, 12, 25) in year.days_off
    with pytest.raises(CalendarError):
        country_holiday_provider("XX")
    with pytest.raises(CalendarError):
        country_holiday_provider("VN", "ZZ")


# --- working days ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (hcm(2025, 1, 6, 10), 3, hcm(2025, 1, 9, 17)),  # Mon -> Thu close
        (hcm(2025, 1, 6, 10), 1, hcm(2025, 1, 7, 17)),
        (hcm(2025, 1, 6, 10), 0, hcm(2025, 1, 6, 17)),  # same-day service
        (hcm(2025, 1, 10, 10), 1, hcm(2025, 1, 13, 17)),  # Fri -> Mon
        (hcm(2025, 1, 6, 18), 1, hcm(2025, 1, 8, 17)),  # after hours: received Tue
        (hcm(2025, 1, 6, 7), 1, hcm(2025, 1, 7, 17)),  # before opening: received Mon
        (hcm(2025, 1, 11, 10), 1, hcm(2025, 1, 14, 17)),  # Saturday: received Mon
        (hcm(2025, 1, 6, 10), 5, hcm(2025, 1, 13, 17)),
    ],
)
def test_working_days_end_of_day(start: dt.datetime, days: int, expected: dt.datetime) -> None:
    assert office().add_working_days(start, days) == expected


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (hcm(2025, 1, 6, 10), 3, hcm(2025, 1, 9, 10)),
        (hcm(2025, 1, 10, 15, 30), 1, hcm(2025, 1, 13, 15, 30)),
        (hcm(2025, 1, 6, 10), 0, hcm(2025, 1, 6, 10)),
        (hcm(2025, 1, 6, 18), 2, hcm(2025, 1, 9, 8)),  # received Tue 08:00
        (hcm(2025, 1, 6, 12, 30), 1, hcm(2025, 1, 7, 12)),  # lunch: the morning is used
    ],
)
def test_working_days_same_time(start: dt.datetime, days: int, expected: dt.datetime) -> None:
    assert office().add_working_days(start, days, count=DayCount.SAME_TIME) == expected


def test_working_days_same_time_is_capped_on_a_shorter_day() -> None:
    cal = office(overrides=[Override.working_day(dt.date(2025, 1, 11), "08:00-11:00")])
    due = cal.add_working_days(hcm(2025, 1, 10, 15), 1, count=DayCount.SAME_TIME)
    assert due == hcm(2025, 1, 11, 11)


def test_working_days_skip_holidays_and_refuse_negatives() -> None:
    cal = office(overrides=[Override.holiday(dt.date(2025, 1, 8))])
    assert cal.add_working_days(hcm(2025, 1, 6, 10), 2) == hcm(2025, 1, 9, 17)
    assert list(cal.working_days(dt.date(2025, 1, 6), dt.date(2025, 1, 12))) == [
        dt.date(2025, 1, 6), dt.date(2025, 1, 7), dt.date(2025, 1, 9), dt.date(2025, 1, 10),
    ]
    with pytest.raises(ValueError, match="negative"):
        cal.add_working_days(hcm(2025, 1, 6, 10), -1)


# --- time zones and DST ----------------------------------------------------------------

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
ALL_DAY = "00:00-24:00"


def around_the_clock(zone: str) -> BusinessCalendar:
    return BusinessCalendar(
        zone=zone, weekly=weekly_hours(weekdays=ALL_DAY, sat=ALL_DAY, sun=ALL_DAY)
    )


def test_a_zone_without_dst_has_equal_days() -> None:
    cal = office(HCM)
    for day in (dt.date(2025, 1, 6), dt.date(2025, 3, 31), dt.date(2025, 10, 27)):
        assert cal.working_time_on(day) == 8 * H


@pytest.mark.parametrize(
    ("zone", "spring", "fall"),
    [(BERLIN, dt.date(2025, 3, 30), dt.date(2025, 10, 26)),
     (NEW_YORK, dt.date(2025, 3, 9), dt.date(2025, 11, 2))],
)
def test_dst_days_are_23_and_25_hours_long(zone: str, spring: dt.date, fall: dt.date) -> None:
    cal = around_the_clock(zone)
    assert cal.working_time_on(spring) == 23 * H
    assert cal.working_time_on(fall) == 25 * H
    assert cal.working_time_on(spring + dt.timedelta(days=1)) == 24 * H


def test_adding_across_spring_forward_counts_real_hours() -> None:
    cal = around_the_clock(BERLIN)
    start = at(BERLIN, 2025, 3, 29, 23)  # CET
    assert cal.add(start, 3 * H) == at(BERLIN, 2025, 3, 30, 3)  # 02:00-03:00 never happened
    assert cal.add(start, 3 * H) == dt.datetime(2025, 3, 30, 1, tzinfo=dt.UTC)


def test_adding_across_fall_back_counts_the_repeated_hour() -> None:
    cal = around_the_clock(NEW_YORK)
    start = at(NEW_YORK, 2025, 11, 2, 0)  # EDT
    assert cal.add(start, 3 * H) == dt.datetime(2025, 11, 2, 7, tzinfo=dt.UTC)  # 02:00 EST
    assert cal.add(start, 3 * H) == at(NEW_YORK, 2025, 11, 2, 2)


def test_a_night_shift_on_the_dst_sundays() -> None:
    cal = BusinessCalendar(zone=NEW_YORK, weekly=weekly_hours(sun="00:00-06:00"))
    assert cal.working_time_on(dt.date(2025, 3, 9)) == 5 * H
    assert cal.working_time_on(dt.date(2025, 11, 2)) == 7 * H
    assert cal.working_time_on(dt.date(2025, 11, 9)) == 6 * H


def test_an_interval_starting_in_the_gap() -> None:
    cal = BusinessCalendar(zone=BERLIN, weekly=weekly_hours(sun="02:30-05:00"))
    # 02:30 does not exist on 2025-03-30: read with CET, it is 03:30 CEST
    assert cal.next_working_time(at(BERLIN, 2025, 3, 30, 0)) == dt.datetime(
        2025, 3, 30, 1, 30, tzinfo=dt.UTC
    )
    assert cal.working_time_on(dt.date(2025, 3, 30)) == 1.5 * H
    assert cal.working_time_on(dt.date(2025, 4, 6)) == 2.5 * H
    gone = BusinessCalendar(zone=BERLIN, weekly=weekly_hours(sun="02:00-03:00"))
    assert gone.working_time_on(dt.date(2025, 3, 30)) == dt.timedelta(0)
    assert gone.working_time_on(dt.date(2025, 10, 26)) == 2 * H


def test_office_hours_follow_the_local_clock_across_the_dst_weekend() -> None:
    cal = office(BERLIN)
    friday = at(BERLIN, 2025, 3, 28, 16)  # CET, UTC+1
    assert cal.add(friday, 2 * H) == at(BERLIN, 2025, 3, 31, 9)  # CEST, UTC+2
    assert cal.add(friday, 2 * H) == dt.datetime(2025, 3, 31, 7, tzinfo=dt.UTC)
    assert cal.working_time_between(at(BERLIN, 2025, 3, 28, 8), at(BERLIN, 2025, 3, 31, 17)) == (
        16 * H
    )
    assert cal.add_working_days(at(BERLIN, 2025, 10, 24, 10), 1) == at(BERLIN, 2025, 10, 27, 17)


def test_inputs_in_any_zone() -> None:
    cal = office(HCM)
    same = dt.datetime(2025, 1, 6, 2, tzinfo=dt.UTC)  # 09:00 in Ho Chi Minh City
    assert cal.add(same, H) == cal.add(hcm(2025, 1, 6, 9), H)
    assert cal.add(same.astimezone(ZoneInfo(NEW_YORK)), H) == hcm(2025, 1, 6, 10)
