"""The dashboards' reports, on SQLite and PostgreSQL: each figure from one statement."""

from __future__ import annotations

import datetime as dt

import pytest

from caseflow.clock import ManualClock
from caseflow.store.sql import SqlStore
from caseflow.work.reports import WorkReports
from tests.work.conftest import Org

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)


def reports(org: Org) -> WorkReports:
    assert isinstance(org.engine.store, SqlStore)
    return WorkReports(org.engine.store)


def test_queue_performance_counts_ages_and_utilisation(org: Org, clock: ManualClock) -> None:
    work = org.work
    work.update_queue("intake", max_capacity=4)
    started = clock.now()
    first = org.start()
    clock.advance(HOUR)
    second = org.start()
    clock.advance(HOUR)
    org.start()
    clock.advance(HOUR)
    work.claim("lan", first)
    work.escalate("sup", second, comment="stuck")
    by_queue = {q.queue: q for q in reports(org).queue_performance(clock.now())}
    intake = by_queue["intake"]
    assert (intake.open, intake.claimed, intake.escalated, intake.load) == (1, 1, 1, 3)
    assert intake.max_capacity == 4
    assert intake.utilisation == pytest.approx(0.75)
    assert intake.oldest_age_seconds == pytest.approx((clock.now() - started).total_seconds())
    assert intake.average_age_seconds == pytest.approx(2 * 3600)
    legal = by_queue["legal"]
    assert (legal.load, legal.utilisation, legal.oldest_age_seconds) == (0, None, None)
    # a worker's view: only the queues their valid grants cover
    assert [q.queue for q in reports(org).queue_performance(clock.now(), actor="lan")] == [
        "intake"
    ]
    assert reports(org).queue_performance(clock.now(), actor="out") == []


def test_user_workload_in_a_window(org: Org, clock: ManualClock) -> None:
    work = org.work
    since = clock.now()
    tasks = [org.start() for _ in range(4)]
    work.claim("lan", tasks[0])
    work.claim("lan", tasks[1])
    work.claim("binh", tasks[2])
    clock.advance(10 * MINUTE)
    work.complete("lan", tasks[0])
    work.delegate("binh", tasks[2], "lan")
    clock.advance(MINUTE)
    rows = {u.user_id: u for u in reports(org).user_workload(clock.now(), since)}  # [since, now)
    lan = rows["lan"]
    assert (lan.assigned, lan.claimed, lan.completed) == (2, 1, 1)  # tasks[1] and the delegated
    assert lan.average_handle_seconds == pytest.approx(600)
    binh = rows["binh"]
    assert (binh.assigned, binh.delegated_away, binh.completed) == (0, 1, 0)
    assert binh.average_handle_seconds is None
    # a window that ends before the completion counts none
    earlier = {u.user_id: u for u in reports(org).user_workload(clock.now(), since, since)}
    assert earlier["lan"].completed == 0
    assert set(rows) == {"lan", "binh", "chi", "sup", "out"}


def test_process_performance_average_p95_and_sla(org: Org, clock: ManualClock) -> None:
    work = org.work
    since = clock.now()
    tasks = [org.start() for _ in range(20)]
    for task in tasks:
        work.claim("lan", task)
    due = clock.now() + 5 * MINUTE + 30 * dt.timedelta(seconds=1)
    work.set_due_date("sup", tasks[0], due)  # completed at +1 min: within
    work.set_due_date("sup", tasks[9], due)  # completed at +10 min: late
    work.set_due_date("sup", tasks[19], due)  # completed at +20 min: late
    for task in tasks:  # instance k (from 1) takes k minutes
        clock.advance(MINUTE)
        work.complete("lan", task)
    org.start()  # started, not completed
    [row] = reports(org).process_performance(clock.now(), since, clock.now() + MINUTE)
    assert row.process_key == "p"
    assert (row.started, row.completed) == (21, 20)
    assert row.average_completion_seconds == pytest.approx(10.5 * 60)
    assert row.p95_completion_seconds == pytest.approx(19 * 60)  # nearest rank: 19th of 20
    assert (row.tasks_completed_with_due, row.tasks_completed_within_due) == (3, 1)
    assert row.sla_compliance == pytest.approx(1 / 3)
    # a window after everything: nothing
    assert reports(org).process_performance(clock.now() + HOUR, clock.now() + MINUTE) == []


def test_process_performance_p95_of_a_few(org: Org, clock: ManualClock) -> None:
    work = org.work
    since = clock.now()
    tasks = [org.start() for _ in range(3)]
    for task in tasks:
        work.claim("lan", task)
    for task in (tasks[1], tasks[2], tasks[0]):
        clock.advance(MINUTE if task is tasks[1] else 2 * MINUTE)
        work.complete("lan", task)
    [row] = reports(org).process_performance(clock.now() + MINUTE, since)
    assert row.p95_completion_seconds == pytest.approx(5 * 60)  # ceil(0.95 * 3) = 3rd
    assert row.sla_compliance is None


def test_escalations_per_day(org: Org, clock: ManualClock) -> None:
    work = org.work
    since = clock.now()
    a, b, c = org.start(), org.start(), org.start()
    work.escalate("sup", a, comment="first")
    work.escalate("sup", a, comment="again")
    work.escalate("sup", b)
    clock.advance(dt.timedelta(days=1))
    work.escalate("sup", c)
    days = reports(org).escalations(clock.now() + MINUTE, since)
    first = since.date().isoformat()
    second = (since + dt.timedelta(days=1)).date().isoformat()
    assert [(d.day, d.escalations, d.tasks) for d in days] == [(first, 3, 2), (second, 1, 1)]
    assert reports(org).escalations(clock.now(), since, since + HOUR)[0].escalations == 3
