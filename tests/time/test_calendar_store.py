"""Calendars and overrides in the database: the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from caseflow.runtime.ports import Store
from caseflow.store.sql import SqlStore
from caseflow.time.calendar import CalendarError, Override, parse_hours, weekly_hours
from caseflow.time.calendar_store import (
    CalendarRecord,
    OverrideRecord,
    delete_calendar,
    delete_override,
    find_calendar,
    get_calendar,
    list_calendars,
    list_overrides,
    load_calendar,
    save_calendar,
    save_override,
    vietnam_calendar_record,
)
from caseflow.time.holidays_vn import VN_OFFICE_HOURS, vietnam_calendar

NOW = dt.datetime(2025, 11, 3, 9, 30, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(days=2)
D = dt.date
H = dt.timedelta(hours=1)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_store(request: pytest.FixtureRequest) -> SqlStore:
    if request.param == "sqlite":
        store: Store = request.getfixturevalue("sqlite_store")
    else:
        make: Callable[[], Store] = request.getfixturevalue("postgres_stores")
        store = make()
    assert isinstance(store, SqlStore)
    return store


def hcm(y: int, mo: int, d: int, h: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))


DECREE = [
    OverrideRecord("o1", "vn", Override.holiday(D(2026, 2, 23), "Tet: decree swap"), NOW,
                   created_by="admin"),
    OverrideRecord("o2", "vn", Override.working_day(D(2026, 3, 7), reason="worked for 23/2"), NOW),
    OverrideRecord("o3", "vn", Override.working_day(D(2026, 3, 14), "08:00-11:30"), NOW),
]


def test_a_calendar_and_its_overrides_round_trip(sql_store: SqlStore) -> None:
    record = vietnam_calendar_record("vn", NOW)
    with sql_store.transaction() as tx:
        save_calendar(tx, record)
        for override in DECREE:
            save_override(tx, override)
    with sql_store.transaction(read_only=True) as tx:
        assert get_calendar(tx, "vn") == record
        assert list_overrides(tx.conn, "vn") == DECREE
        loaded = load_calendar(tx, "vn")
    assert loaded is not None
    expected = vietnam_calendar(overrides=[o.override for o in DECREE])
    for day in (D(2026, 2, 20), D(2026, 2, 23), D(2026, 3, 7), D(2026, 3, 14), D(2026, 4, 27)):
        assert loaded.hours_on(day) == expected.hours_on(day), day
    assert loaded.holiday_name(D(2026, 2, 23)) == "Tet: decree swap"
    assert loaded.add(hcm(2026, 2, 13, 16), 2 * H) == hcm(2026, 2, 24, 9)
    assert loaded.weekly[0] == VN_OFFICE_HOURS


def test_timestamps_come_back_aware_utc(sql_store: SqlStore) -> None:
    plus7 = NOW.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    with sql_store.transaction() as tx:
        save_calendar(tx, vietnam_calendar_record("vn", plus7))
    with sql_store.transaction(read_only=True) as tx:
        found = get_calendar(tx, "vn")
    assert found is not None
    assert found.created_at == NOW
    assert found.created_at.utcoffset() == dt.timedelta(0)


def test_saving_again_updates_and_keeps_created_at(sql_store: SqlStore) -> None:
    record = vietnam_calendar_record("vn", NOW)
    changed = replace(
        record,
        weekly_hours=weekly_hours(weekdays="07:30-11:30, 13:00-17:00", sat="07:30-11:30"),
        description=None,
        updated_at=LATER,
        created_at=LATER,
    )
    with sql_store.transaction() as tx:
        save_calendar(tx, record)
    with sql_store.transaction() as tx:
        save_calendar(tx, changed)
    with sql_store.transaction(read_only=True) as tx:
        found = get_calendar(tx, "vn")
        calendar = load_calendar(tx, "vn")
    assert found == replace(changed, created_at=NOW)
    assert calendar is not None
    assert calendar.working_time_on(D(2025, 11, 8)) == 4 * H  # a Saturday desk now


def test_an_override_per_date_replaced_in_place(sql_store: SqlStore) -> None:
    with sql_store.transaction() as tx:
        save_calendar(tx, vietnam_calendar_record("vn", NOW))
        save_override(tx, DECREE[0])
        save_override(
            tx,
            OverrideRecord(
                "o9", "vn", Override.working_day(D(2026, 2, 23)), LATER, created_by="boss"
            ),
        )
    with sql_store.transaction(read_only=True) as tx:
        (only,) = list_overrides(tx, "vn")
    assert only == OverrideRecord(
        "o1", "vn", Override.working_day(D(2026, 2, 23)), LATER, created_by="boss"
    )


def test_list_overrides_by_range_and_delete(sql_store: SqlStore) -> None:
    with sql_store.transaction() as tx:
        save_calendar(tx, vietnam_calendar_record("vn", NOW))
        for override in DECREE:
            save_override(tx, override)
    with sql_store.transaction() as tx:
        assert [o.id for o in list_overrides(tx, "vn", first=D(2026, 3, 1))] == ["o2", "o3"]
        assert [o.id for o in list_overrides(tx, "vn", last=D(2026, 3, 7))] == ["o1", "o2"]
        assert delete_override(tx, "vn", D(2026, 3, 7))
        assert not delete_override(tx, "vn", D(2026, 3, 7))
        assert [o.id for o in list_overrides(tx, "vn")] == ["o1", "o3"]


def test_calendars_by_name_per_tenant(sql_store: SqlStore) -> None:
    berlin = CalendarRecord(
        id="de-by",
        name="Munich office",
        zone="Europe/Berlin",
        weekly_hours=weekly_hours(weekdays="09:00-17:00"),
        created_at=NOW,
        updated_at=NOW,
        tenant_id="acme",
        makeup_hours=parse_hours("09:00-13:00"),
        holiday_country="DE",
        holiday_subdivision="BY",
    )
    with sql_store.transaction() as tx:
        save_calendar(tx, vietnam_calendar_record("vn", NOW))
        save_calendar(tx, vietnam_calendar_record("vn-acme", NOW, tenant_id="acme"))
        save_calendar(tx, berlin)
    with sql_store.transaction(read_only=True) as tx:
        assert [c.id for c in list_calendars(tx)] == ["vn"]
        assert [c.name for c in list_calendars(tx, "acme")] == ["Munich office", "VN"]
        assert find_calendar(tx, "Munich office", "acme") == berlin
        assert find_calendar(tx, "Munich office") is None
        assert get_calendar(tx, "de-by") is None  # another tenant's
        munich = load_calendar(tx, tenant_id="acme", name="Munich office")
        assert load_calendar(tx, "nope") is None
        with pytest.raises(CalendarError):
            load_calendar(tx)
    assert munich is not None
    assert not munich.is_working_day(D(2025, 1, 6))  # Epiphany in Bavaria
    assert munich.working_time_on(D(2025, 1, 7)) == 8 * H


def test_delete_calendar_takes_its_overrides(sql_store: SqlStore) -> None:
    with sql_store.transaction() as tx:
        save_calendar(tx, vietnam_calendar_record("vn", NOW))
        for override in DECREE:
            save_override(tx, override)
    with sql_store.transaction() as tx:
        assert delete_calendar(tx, "vn")
        assert not delete_calendar(tx, "vn")
        assert list_overrides(tx, "vn") == []
        assert get_calendar(tx, "vn") is None


def test_a_calendar_that_cannot_work_is_not_saved(sql_store: SqlStore) -> None:
    bad = replace(vietnam_calendar_record("vn", NOW), zone="Mars/Olympus")
    with pytest.raises(CalendarError, match="zone"), sql_store.transaction() as tx:
        save_calendar(tx, bad)
    unknown_country = replace(vietnam_calendar_record("vn", NOW), holiday_country="XX")
    with pytest.raises(CalendarError), sql_store.transaction() as tx:
        save_calendar(tx, unknown_country)
    with sql_store.transaction(read_only=True) as tx:
        assert list_calendars(tx) == []


def test_names_are_unique_per_tenant_and_overrides_need_a_calendar(sql_store: SqlStore) -> None:
    with sql_store.transaction() as tx:
        save_calendar(tx, vietnam_calendar_record("vn", NOW))
    with pytest.raises(sa.exc.IntegrityError), sql_store.transaction() as tx:
        save_calendar(tx, vietnam_calendar_record("vn-2", NOW))
    with pytest.raises(sa.exc.IntegrityError), sql_store.transaction() as tx:
        save_override(tx, replace(DECREE[0], calendar_id="missing"))


def test_the_kind_is_checked_by_the_database(sql_store: SqlStore) -> None:
    with sql_store.transaction() as tx:
        save_calendar(tx, vietnam_calendar_record("vn", NOW))
    with pytest.raises(sa.exc.IntegrityError), sql_store.transaction() as tx:
        tx.conn.execute(
            sa.text(
                "INSERT INTO calendar_override (id, tenant_id, calendar_id, day, kind, created_at)"
                " VALUES ('x', 'default', 'vn', :day, 'HALF_DAY', :now)"
            ),
            {"day": D(2026, 1, 2), "now": NOW},
        )
