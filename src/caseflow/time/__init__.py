"""Time: business calendars, SLAs and due dates, and the job executor.

* :mod:`caseflow.time.calendar`: :class:`BusinessCalendar`, arithmetic in working time
  (pure: no SQL, no clock).
* :mod:`caseflow.time.holidays_vn`: :func:`vietnam_calendar`, the government office
  calendar with Vietnam's public holidays.
* :mod:`caseflow.time.sla`: SLA specs, the tightest due date, SLA status (pure).
* :mod:`caseflow.time.calendar_store`: calendars and their overrides in the database
  (imported on its own: it needs SQLAlchemy).
"""

from __future__ import annotations

from caseflow.time.calendar import (
    BusinessCalendar,
    CalendarError,
    DayCount,
    Interval,
    Override,
    OverrideKind,
    country_holiday_provider,
    parse_hours,
    weekly_hours,
)
from caseflow.time.holidays_vn import VN_OFFICE_HOURS, VN_ZONE, vietnam_calendar
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

__all__ = [
    "DEFAULT_AT_RISK_SHARE",
    "VN_OFFICE_HOURS",
    "VN_ZONE",
    "BusinessCalendar",
    "CalendarError",
    "DayCount",
    "Deadline",
    "Interval",
    "Override",
    "OverrideKind",
    "SlaSpec",
    "SlaStatus",
    "at_risk_at",
    "country_holiday_provider",
    "overdue_by",
    "parse_hours",
    "parse_sla",
    "sla_status",
    "tightest",
    "vietnam_calendar",
    "weekly_hours",
]
