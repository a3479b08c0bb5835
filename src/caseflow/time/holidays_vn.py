"""Vietnam out of the box: the government office calendar of public-service procedures.

**Hours.** Civil servants work 8 hours a day, 40 a week, Monday to Friday (Decision
188/1999/QD-TTg); each province sets the clock times, most often 08:00-12:00 and
13:00-17:00 (Ha Noi), some 07:30-11:30 and 13:00-17:00 (Ho Chi Minh City and others),
and a one-stop-shop desk may open on Saturday mornings. :data:`VN_OFFICE_HOURS` is the
Ha Noi schedule; pass ``hours=`` (e.g. ``"08:00-12:00, 13:30-17:00"``) for another
office, and add Saturday hours with ``saturday=``.

**Holidays.** From the ``holidays`` package (``holidays.country_holidays("VN")``), which
computes the lunar dates and knows the Labour Code 2019 (art. 112) days off: New Year
(1/1), Tet Nguyen Dan (the last day of the lunar year and the first four days of the new
one, with a day before Tet or after it when one of them falls on a weekend), Hung Kings'
Commemoration (10/3 lunar), Reunification Day (30/4), Labour Day (1/5), National Day (2/9
and 1/9 or 3/9), Vietnam Cultural Day (24/11, from 2026), their observed days, and the
swaps that government decrees made for public servants (a bridge day off, worked on a
Saturday; the package's ``weekend_workdays``, which this calendar works with
:data:`VN_OFFICE_HOURS`).

What the package gives for 2025 and 2026 (weekdays only; weekends are off anyway):

* 2025: 1/1; Tet 27/1-31/1 (with weekends: 25/1-2/2, the nine days the government
  announced); Hung Kings 7/4; 30/4, 1/5 and the bridge day 2/5 (worked on Saturday
  26/4); National Day 1/9-2/9.
* 2026: 1/1; Tet 16/2-20/2 (with weekends: 14/2-22/2, nine days); Hung Kings 27/4
  (observed, 26/4 is a Sunday); 30/4, 1/5; National Day 1/9-2/9 and the bridge day 31/8
  (worked on Saturday 22/8); Vietnam Cultural Day 24/11.

**When a decree says more.** The government decides each year's Tet plan, and the
package only knows the decrees of its release. An administrator records anything else
as overrides of the calendar (``calendar_override`` rows, see
:mod:`caseflow.time.calendar_store`): each extra Tet day as ``HOLIDAY`` with the decree
in ``reason``, each Saturday worked in exchange as ``WORKING_DAY``; an override wins
over the package for its date (so a package day can also be cancelled).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from caseflow.time.calendar import (
    BusinessCalendar,
    DayHours,
    Interval,
    Override,
    country_holiday_provider,
    parse_hours,
    weekly_hours,
)

__all__ = ["VN_COUNTRY", "VN_OFFICE_HOURS", "VN_ZONE", "vietnam_calendar"]

VN_ZONE: Final = "Asia/Ho_Chi_Minh"
VN_COUNTRY: Final = "VN"
VN_OFFICE_HOURS: Final[DayHours] = parse_hours("08:00-12:00, 13:00-17:00")


def vietnam_calendar(
    *,
    hours: str | Iterable[str | Interval] = VN_OFFICE_HOURS,
    saturday: str | Iterable[str | Interval] = (),
    overrides: Iterable[Override] = (),
    language: str = "vi",
    name: str = "VN",
) -> BusinessCalendar:
    """Vietnam's government office calendar; holidays are computed lazily per year.

    ``language`` names the holidays: ``"vi"`` (the default) or ``"en_US"``.
    """
    office = parse_hours(hours)
    return BusinessCalendar(
        zone=VN_ZONE,
        weekly=weekly_hours(weekdays=office, sat=saturday),
        provider=country_holiday_provider(VN_COUNTRY, language=language),
        overrides=overrides,
        makeup_hours=office,
        name=name,
    )
