"""The Vietnam government office calendar: Tet, the decree swaps, overrides."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from caseflow.time.calendar import BusinessCalendar, Override
from caseflow.time.holidays_vn import VN_OFFICE_HOURS, VN_ZONE, vietnam_calendar

H = dt.timedelta(hours=1)
D = dt.date


def hcm(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(VN_ZONE))


@pytest.fixture(scope="module")
def vn() -> BusinessCalendar:
    return vietnam_calendar()


def weekdays_off(cal: BusinessCalendar, year: int) -> list[dt.date]:
    day, found = D(year, 1, 1), []
    while day.year == year:
        if day.weekday() < 5 and not cal.is_working_day(day):
            found.append(day)
        day += dt.timedelta(days=1)
    return found


VN_2025_WEEKDAYS_OFF = [
    D(2025, 1, 1),  # New Year
    D(2025, 1, 27), D(2025, 1, 28), D(2025, 1, 29), D(2025, 1, 30), D(2025, 1, 31),  # Tet
    D(2025, 4, 7),  # Hung Kings (10/3 lunar)
    D(2025, 4, 30), D(2025, 5, 1),
    D(2025, 5, 2),  # bridge day, worked on Saturday 26/4
    D(2025, 9, 1), D(2025, 9, 2),  # National Day
]
VN_2026_WEEKDAYS_OFF = [
    D(2026, 1, 1),
    D(2026, 2, 16), D(2026, 2, 17), D(2026, 2, 18), D(2026, 2, 19), D(2026, 2, 20),  # Tet
    D(2026, 4, 27),  # Hung Kings, observed (26/4 is a Sunday)
    D(2026, 4, 30), D(2026, 5, 1),
    D(2026, 8, 31),  # bridge day, worked on Saturday 22/8
    D(2026, 9, 1), D(2026, 9, 2),
    D(2026, 11, 24),  # Vietnam Cultural Day, from 2026
]


def test_the_weekdays_off_in_2025_and_2026(vn: BusinessCalendar) -> None:
    assert weekdays_off(vn, 2025) == VN_2025_WEEKDAYS_OFF
    assert weekdays_off(vn, 2026) == VN_2026_WEEKDAYS_OFF


def test_the_make_up_saturdays_are_worked(vn: BusinessCalendar) -> None:
    for saturday in (D(2025, 4, 26), D(2026, 8, 22)):
        assert vn.hours_on(saturday) == VN_OFFICE_HOURS
        assert vn.working_time_on(saturday) == 8 * H
    assert not vn.is_working_day(D(2025, 4, 19))  # an ordinary Saturday


def test_working_days_per_year(vn: BusinessCalendar) -> None:
    assert len(list(vn.working_days(D(2025, 1, 1), D(2025, 12, 31)))) == 261 - 12 + 1
    assert len(list(vn.working_days(D(2026, 1, 1), D(2026, 12, 31)))) == 261 - 13 + 1


def test_tet_2025_is_nine_days_off(vn: BusinessCalendar) -> None:
    # off from Saturday 25/1 to Sunday 2/2/2025
    assert vn.next_working_time(hcm(2025, 1, 24, 17)) == hcm(2025, 2, 3, 8)
    assert vn.working_time_between(hcm(2025, 1, 24, 17), hcm(2025, 2, 3, 8)) == dt.timedelta(0)
    # 16 working hours from Friday afternoon: 2 h, Monday 3/2 8 h, Tuesday 6 h
    assert vn.add(hcm(2025, 1, 24, 15), 16 * H) == hcm(2025, 2, 4, 15)
    # "3 working days" received the Friday before Tet: due Wednesday 5/2 at the close
    assert vn.add_working_days(hcm(2025, 1, 24, 10), 3) == hcm(2025, 2, 5, 17)


def test_tet_2026_is_nine_days_off(vn: BusinessCalendar) -> None:
    # off from Saturday 14/2 to Sunday 22/2/2026
    assert vn.add(hcm(2026, 2, 13, 16), 2 * H) == hcm(2026, 2, 23, 9)
    assert vn.add_working_days(hcm(2026, 2, 13, 16), 1) == hcm(2026, 2, 23, 17)
    assert vn.holiday_name(D(2026, 2, 17)) == "Tết Nguyên Đán"


def test_the_april_may_2025_swap(vn: BusinessCalendar) -> None:
    # Friday 25/4 -> Saturday 26/4 (worked); Tuesday 29/4 + 1 day -> Monday 5/5 after the break
    assert vn.add(hcm(2025, 4, 25, 16), 2 * H) == hcm(2025, 4, 26, 9)
    assert vn.add_working_days(hcm(2025, 4, 29, 9), 1) == hcm(2025, 5, 5, 17)


def test_lunch_break_in_the_office_day(vn: BusinessCalendar) -> None:
    assert vn.add(hcm(2025, 3, 3, 11), 2 * H) == hcm(2025, 3, 3, 14)
    assert vn.working_time_on(D(2025, 3, 3)) == 8 * H


def test_other_office_hours_and_saturday_desks() -> None:
    late_lunch = vietnam_calendar(hours="08:00-12:00, 13:30-17:00")
    assert late_lunch.working_time_on(D(2025, 3, 3)) == 7.5 * H
    assert late_lunch.add(hcm(2025, 3, 3, 11), 2 * H) == hcm(2025, 3, 3, 14, 30)
    desk = vietnam_calendar(saturday="07:30-11:30")
    assert desk.working_time_on(D(2025, 3, 8)) == 4 * H
    assert not desk.is_working_day(D(2025, 2, 1))  # a Saturday in Tet stays off


def test_decree_days_are_added_as_overrides() -> None:
    # say a decree gives Monday 23/2/2026 off too and has Saturday 7/3 worked for it
    cal = vietnam_calendar(
        overrides=[
            Override.holiday(D(2026, 2, 23), "Tet: decree swap"),
            Override.working_day(D(2026, 3, 7), reason="worked for 23/2"),
        ]
    )
    assert cal.next_working_time(hcm(2026, 2, 13, 17)) == hcm(2026, 2, 24, 8)
    assert cal.holiday_name(D(2026, 2, 23)) == "Tet: decree swap"
    assert cal.hours_on(D(2026, 3, 7)) == VN_OFFICE_HOURS
    # an override also cancels a package holiday
    cancelled = vietnam_calendar(overrides=[Override.working_day(D(2026, 11, 24))])
    assert cancelled.is_working_day(D(2026, 11, 24))


def test_holiday_names_in_english() -> None:
    cal = vietnam_calendar(language="en_US")
    assert cal.holiday_name(D(2025, 1, 29)) == "Lunar New Year"
    assert cal.holiday_name(D(2025, 3, 3)) is None


def test_no_dst_in_ho_chi_minh_city(vn: BusinessCalendar) -> None:
    for day in vn.working_days(D(2025, 1, 1), D(2025, 12, 31)):
        assert vn.working_time_on(day) == 8 * H


def test_lunar_holidays_move_every_year(vn: BusinessCalendar) -> None:
    assert not vn.is_working_day(D(2027, 2, 8))  # Tet 2027 (Saturday 6/2) runs into Monday
    assert not vn.is_working_day(D(2027, 4, 16))  # Hung Kings 2027
    assert vn.is_working_day(D(2027, 4, 7))
