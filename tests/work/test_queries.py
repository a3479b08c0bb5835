"""Task lists: whose tasks, filters, variables, order, pages, counts, queue statistics."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from caseflow.clock import ManualClock
from caseflow.work import TaskFilter, VariableFilter
from tests.work.conftest import Org, one_task_process


def ids(tasks: list[object]) -> list[str]:
    return [t.id for t in tasks]  # type: ignore[attr-defined]


def test_my_tasks_available_visible_and_managed(org: Org) -> None:
    work = org.work
    org.engine.deploy(one_task_process("legal_case", groups="lawyers"))
    mine = org.start()
    theirs = org.start()
    free = org.start()
    legal = org.start("legal_case")
    work.claim("lan", mine)
    work.claim("binh", theirs)
    assert ids(work.my_tasks("lan")) == [mine]
    assert ids(work.available_tasks("lan")) == [free]
    assert set(ids(work.tasks("lan"))) == {mine, theirs, free}  # everything in my queue
    assert ids(work.tasks("chi")) == [legal]
    assert set(ids(work.tasks("sup", TaskFilter(scope="managed")))) == {mine, theirs, free, legal}
    assert work.tasks("lan", TaskFilter(scope="managed")) == []
    assert work.tasks("out") == []
    assert work.count_tasks("lan") == 3
    assert work.count_tasks("lan", TaskFilter(scope="mine")) == 1


def test_candidate_users_and_groups_are_honoured(org: Org) -> None:
    work = org.work
    org.engine.deploy(one_task_process("personal", users="out"))
    org.engine.deploy(one_task_process("for_lawyers", groups="lawyers", queue="intake"))
    personal = org.start("personal")
    mixed = org.start("for_lawyers")
    assert ids(work.tasks("out")) == [personal]  # a candidate user, no grant needed
    assert ids(work.tasks("chi")) == [mixed]  # a candidate group outside the queue
    assert set(ids(work.tasks("lan"))) == {mixed}  # the queue is theirs
    assert work.claim("chi", mixed).assignee == "chi"
    work.deactivate_user("out", by="hr")
    assert work.tasks("out") == []  # but an inactive user sees nothing


def test_filters(org: Org, clock: ManualClock) -> None:
    work = org.work
    start = clock.now()
    a = org.start(business_key="BK-A", case_id="C-1")
    clock.advance(dt.timedelta(minutes=5))
    b = org.start(business_key="BK-B", case_id="C-2")
    work.set_due_date("sup", a, start + dt.timedelta(days=1))
    work.set_due_date("sup", b, start + dt.timedelta(days=3))
    work.set_priority("sup", b, 75)
    work.claim("lan", b)
    work.set_follow_up("lan", b, start + dt.timedelta(days=2))

    def q(**kw: object) -> list[str]:
        return ids(work.tasks("lan", TaskFilter(**kw)))  # type: ignore[arg-type]

    assert q(business_key="BK-A") == [a]
    assert q(case_id="C-2") == [b]
    assert q(statuses=["CLAIMED"]) == [b]
    assert q(queues=["intake"]) == [b, a]
    assert q(queues=["legal"]) == []
    assert q(min_priority=60) == [b]
    assert q(max_priority=60) == [a]
    assert q(due_before=start + dt.timedelta(days=2)) == [a]
    assert q(due_after=start + dt.timedelta(days=2)) == [b]
    assert q(follow_up_before=start + dt.timedelta(days=3)) == [b]
    assert q(follow_up_after=start + dt.timedelta(days=3)) == []
    assert q(created_before=start + dt.timedelta(minutes=1)) == [a]
    assert q(process_key="p", element_id="t") == [b, a]
    assert q(instance_id=work.task("lan", a).instance_id) == [a]
    assert q(assignee="lan") == [b]
    assert q(candidate_group="clerks") == [b, a]
    assert q(candidate_group="lawyers") == []
    work.claim("lan", a)
    work.complete("lan", a)
    assert q() == [b]
    assert q(statuses=None) == [b, a]
    assert q(statuses=["COMPLETED"]) == [a]


def test_order_and_pages(org: Org, clock: ManualClock) -> None:
    work = org.work
    made = []
    for _ in range(7):
        made.append(org.start())
        clock.advance(dt.timedelta(minutes=1))
    work.set_priority("sup", made[3], 90)
    work.set_due_date("sup", made[5], clock.now())
    default = ids(work.tasks("lan"))
    assert default == [made[3], *made[:3], *made[4:]]  # priority, then oldest
    pages = [ids(work.tasks("lan", TaskFilter(limit=3, offset=o))) for o in (0, 3, 6)]
    assert [t for page in pages for t in page] == default
    assert [len(p) for p in pages] == [3, 3, 1]
    newest = ids(work.tasks("lan", TaskFilter(sort=[("created_at", True)])))
    assert newest == made[::-1]
    by_due = ids(work.tasks("lan", TaskFilter(sort=[("due_at", False)], limit=2)))
    assert by_due[0] == made[5]  # tasks without a due date come last
    with pytest.raises(ValueError, match="cannot sort"):
        work.tasks("lan", TaskFilter(sort=[("instance_id", False)]))  # type: ignore[list-item]


def test_tasks_by_process_variable_values_in_one_query(org: Org) -> None:
    work = org.work
    a = org.start(variables={"amount": 1500, "region": "north", "urgent": True,
                             "filed": dt.date(2025, 1, 2), "fee": Decimal("12.50")})
    b = org.start(variables={"amount": 700, "region": "south", "urgent": False,
                             "filed": dt.date(2025, 1, 5), "fee": Decimal("3.00")})
    c = org.start(variables={"amount": 2500.5, "region": "northwest", "note": None})

    def where(*filters: VariableFilter) -> set[str]:
        return set(ids(work.tasks("lan", TaskFilter(variables=filters))))

    v = VariableFilter
    assert where(v("amount", "gt", 1000)) == {a, c}
    assert where(v("amount", "lte", 700)) == {b}
    assert where(v("amount", "gt", 1000), v("region", "eq", "north")) == {a}
    assert where(v("region", "ne", "north")) == {b, c}
    assert where(v("region", "like", "north%")) == {a, c}
    assert where(v("urgent", "eq", True)) == {a}
    assert where(v("urgent", "ne", True)) == {b}
    assert where(v("filed", "lt", dt.date(2025, 1, 3))) == {a}
    assert where(v("fee", "gte", Decimal("10"))) == {a}
    assert where(v("note", "eq", None)) == {c}
    assert where(v("missing", "eq", 1)) == set()
    assert work.count_tasks("lan", TaskFilter(variables=[v("amount", "gt", 1000)])) == 2
    with pytest.raises(ValueError, match="like"):
        work.tasks("lan", TaskFilter(variables=[v("amount", "like", 1)]))
    with pytest.raises(ValueError):
        work.tasks("lan", TaskFilter(variables=[v("urgent", "gt", True)]))


def test_queue_stats(org: Org, clock: ManualClock) -> None:
    work = org.work
    work.update_queue("intake", max_capacity=10)
    first = org.start()
    clock.advance(dt.timedelta(minutes=30))
    claimed, delegated, escalated, done = (org.start() for _ in range(4))
    work.claim("lan", claimed)
    work.claim("lan", delegated)
    work.delegate("lan", delegated, "binh")
    work.escalate("sup", escalated)
    work.set_due_date("sup", escalated, clock.now() - dt.timedelta(minutes=1))
    work.claim("binh", done)
    work.complete("binh", done)
    clock.advance(dt.timedelta(minutes=30))
    stats = {s.queue: s for s in work.queue_stats()}
    intake = stats["intake"]
    assert (intake.open, intake.claimed, intake.delegated, intake.escalated) == (1, 1, 1, 1)
    assert (intake.load, intake.overdue, intake.max_capacity) == (4, 1, 10)
    assert intake.utilisation == pytest.approx(0.4)
    assert intake.oldest_age_seconds == 3600
    assert intake.oldest_created_at == work.task("lan", first).created_at
    legal = stats["legal"]
    assert (legal.load, legal.oldest_age_seconds, legal.utilisation) == (0, None, None)
    assert [s.queue for s in work.queue_stats("lan")] == ["intake"]  # the queues they cover
    assert [s.queue for s in work.queue_stats("out")] == []
