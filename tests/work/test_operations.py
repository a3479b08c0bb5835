"""Operations on work items: who may do each, what it changes, the history it writes."""

from __future__ import annotations

import datetime as dt

import pytest

from caseflow.clock import ManualClock
from caseflow.errors import Forbidden, IllegalState, NotFound
from caseflow.work import WorkService
from tests.work.conftest import Org, one_task_process


def actions(work: WorkService, task_id: str) -> list[tuple[str, str, str | None, str | None]]:
    return [(h.action, h.action_by, h.old_status, h.new_status) for h in work.task_history(task_id)]


def test_claim_takes_an_open_task_and_writes_history(org: Org) -> None:
    work = org.work
    task_id = org.start()
    task = work.claim("lan", task_id)
    assert (task.status, task.assignee, task.claimed_by) == ("CLAIMED", "lan", "lan")
    assert task.claimed_at is not None
    assert actions(work, task_id) == [
        ("CREATE", "SYSTEM", None, "OPEN"),
        ("CLAIM", "lan", "OPEN", "CLAIMED"),
    ]
    [claim] = [h for h in work.task_history(task_id) if h.action == "CLAIM"]
    assert (claim.old_assignee, claim.new_assignee, claim.queue) == (None, "lan", "intake")
    # claiming one's own task again changes nothing
    assert work.claim("lan", task_id).assignee == "lan"
    assert len(work.task_history(task_id)) == 2


def test_claim_refusals(org: Org) -> None:
    work = org.work
    task_id = org.start()
    with pytest.raises(Forbidden, match="'out' may not claim"):
        work.claim("out", task_id)
    with pytest.raises(Forbidden):
        work.claim("chi", task_id)  # a lawyer: the clerks' queue is not theirs
    with pytest.raises(NotFound):
        work.claim("lan", "no-such-task")
    work.claim("lan", task_id)
    with pytest.raises(IllegalState, match="already claimed by 'lan'"):
        work.claim("binh", task_id)
    assert work.task("lan", task_id).assignee == "lan"
    assert [h.action for h in work.task_history(task_id)] == ["CREATE", "CLAIM"]


def test_a_completed_task_can_never_be_claimed(org: Org) -> None:
    work = org.work
    task_id = org.start()
    work.claim("lan", task_id)
    work.complete("lan", task_id)
    for user in ("lan", "binh"):
        with pytest.raises(IllegalState, match="COMPLETED"):
            work.claim(user, task_id)
    assert work.claim_next("binh") is None
    assert work.task("lan", task_id).status == "COMPLETED"


def test_claim_next_takes_the_highest_priority_then_the_oldest(
    org: Org, clock: ManualClock
) -> None:
    work = org.work
    first = org.start()
    clock.advance(dt.timedelta(minutes=1))
    second = org.start()
    clock.advance(dt.timedelta(minutes=1))
    urgent = org.start()
    work.set_priority("sup", urgent, 90)
    assert work.claim_next("out") is None  # no grant, nothing
    got = [work.claim_next("lan"), work.claim_next("binh"), work.claim_next("lan")]
    assert [t.id if t else None for t in got] == [urgent, first, second]
    assert [t.assignee if t else None for t in got] == ["lan", "binh", "lan"]
    assert work.claim_next("lan") is None
    for task in got:
        assert task is not None
        assert [h.action for h in work.task_history(task.id)][-1] == "CLAIM"


def test_claim_next_in_given_queues_only(org: Org) -> None:
    work = org.work
    org.engine.deploy(one_task_process("legal_case", groups="lawyers"))
    legal = org.start("legal_case")
    intake = org.start()
    assert work.claim_next("sup", ["legal"]) is not None
    assert work.claim_next("sup", ["legal"]) is None
    assert work.claim_next("lan", ["legal"]) is None  # not theirs: ignored
    claimed = work.claim_next("sup")
    assert claimed is not None and claimed.id == intake
    assert work.task("sup", legal).assignee == "sup"
    assert work.claim_next("sup", []) is None


def test_unclaim_gives_the_task_back_to_its_queue(org: Org) -> None:
    work = org.work
    task_id = org.start()
    work.claim("lan", task_id)
    with pytest.raises(Forbidden):
        work.unclaim("binh", task_id)  # not theirs, not a manager
    task = work.unclaim("lan", task_id, comment="wrong case")
    assert (task.status, task.assignee, task.claimed_at) == ("OPEN", None, None)
    assert [t.id for t in work.available_tasks("binh")] == [task_id]
    work.claim("binh", task_id)
    work.unclaim("sup", task_id)  # a manager may
    with pytest.raises(IllegalState, match="OPEN"):
        work.unclaim("sup", task_id)
    assert [h.action for h in work.task_history(task_id)] == [
        "CREATE", "CLAIM", "UNCLAIM", "CLAIM", "UNCLAIM",
    ]
    assert work.task_history(task_id)[2].comment == "wrong case"


def test_complete_is_for_the_assignee_who_still_holds_a_grant(org: Org) -> None:
    work = org.work
    task_id = org.start()
    with pytest.raises(Forbidden, match="claim it first"):
        work.complete("lan", task_id)
    work.claim("lan", task_id)
    with pytest.raises(Forbidden, match="claimed by 'lan'"):
        work.complete("binh", task_id)
    with pytest.raises(Forbidden):
        work.complete("out", task_id)
    work.complete("lan", task_id, {"note": "fine"}, outcome="approve",
                  outcome_reason="all papers there", form_data={"checked": True},
                  comment="done")
    task = work.task("lan", task_id)
    assert (task.status, task.completed_by, task.outcome) == ("COMPLETED", "lan", "approve")
    assert task.outcome_reason == "all papers there"
    assert task.form_data == {"checked": True}
    assert org.engine.variables(task.instance_id)["outcome"] == "approve"
    assert org.engine.variables(task.instance_id)["note"] == "fine"
    last = work.task_history(task_id)[-1]
    assert (last.action, last.action_by, last.old_status, last.new_status) == (
        "COMPLETE", "lan", "CLAIMED", "COMPLETED",
    )
    assert last.comment == "done"
    assert last.data == {"outcome": "approve", "outcome_reason": "all papers there"}
    with pytest.raises(IllegalState):
        work.complete("lan", task_id)
    assert [h.action for h in work.task_history(task_id)].count("COMPLETE") == 1


def test_delegate_and_resolve(org: Org) -> None:
    work = org.work
    task_id = org.start()
    work.claim("lan", task_id)
    with pytest.raises(Forbidden):
        work.delegate("binh", task_id, "lan")  # only the assignee delegates
    with pytest.raises(Forbidden, match="'chi' may not work"):
        work.delegate("lan", task_id, "chi")  # the delegate must be able to work it
    with pytest.raises(IllegalState):
        work.delegate("lan", task_id, "lan")
    task = work.delegate("lan", task_id, "binh", comment="please check the stamp")
    assert (task.status, task.assignee, task.owner) == ("DELEGATED", "binh", "lan")
    assert [t.id for t in work.my_tasks("lan")] == [task_id]  # the owner still sees it
    assert [t.id for t in work.my_tasks("binh")] == [task_id]
    with pytest.raises(IllegalState, match="resolve it"):
        work.complete("binh", task_id)
    with pytest.raises(Forbidden):
        work.complete("lan", task_id)
    with pytest.raises(Forbidden):
        work.resolve("lan", task_id)  # the owner does not resolve
    with pytest.raises(IllegalState):
        work.unclaim("binh", task_id)
    task = work.resolve("binh", task_id, comment="stamp is fine")
    assert (task.status, task.assignee, task.owner) == ("CLAIMED", "lan", None)
    work.complete("lan", task_id)
    assert [h.action for h in work.task_history(task_id)] == [
        "CREATE", "CLAIM", "DELEGATE", "RESOLVE", "COMPLETE",
    ]
    delegate = work.task_history(task_id)[2]
    assert (delegate.old_assignee, delegate.new_assignee, delegate.data) == (
        "lan", "binh", {"owner": "lan"},
    )


def test_reassign(org: Org) -> None:
    work = org.work
    task_id = org.start()
    with pytest.raises(Forbidden):
        work.reassign("lan", task_id, "binh")  # not theirs (unassigned), not a manager
    task = work.reassign("sup", task_id, "lan", comment="you know this one")
    assert (task.status, task.assignee, task.claimed_by) == ("CLAIMED", "lan", "sup")
    assert work.available_tasks("binh") == []
    task = work.reassign("lan", task_id, "binh")  # the assignee hands over
    assert task.assignee == "binh"
    with pytest.raises(Forbidden, match="'chi' may not work"):
        work.reassign("sup", task_id, "chi")
    with pytest.raises(NotFound):
        work.reassign("sup", task_id, "nobody")
    with pytest.raises(IllegalState):
        work.reassign("sup", task_id, "binh")
    assert [(h.action, h.old_assignee, h.new_assignee) for h in work.task_history(task_id)][1:] == [
        ("REASSIGN", None, "lan"), ("REASSIGN", "lan", "binh"),
    ]


def test_escalate_raises_level_and_priority_and_keeps_it_claimable(org: Org) -> None:
    work = org.work
    task_id = org.start()
    with pytest.raises(Forbidden):
        work.escalate("lan", task_id)  # unassigned and not a manager
    task = work.escalate("sup", task_id, comment="citizen complained")
    assert (task.status, task.escalation_level, task.priority) == ("ESCALATED", 1, 60)
    assert task.escalated_at is not None
    claimed = work.claim_next("lan")
    assert claimed is not None and claimed.id == task_id
    assert (claimed.status, claimed.assignee) == ("ESCALATED", "lan")
    task = work.escalate("lan", task_id, priority_step=50)  # the assignee may raise it
    assert (task.escalation_level, task.priority, task.assignee) == (2, 100, "lan")
    with pytest.raises(Forbidden, match="escalate to a user"):
        work.escalate("lan", task_id, to_user="binh")
    task = work.escalate("sup", task_id, to_user="binh", to_queue="intake")
    assert (task.assignee, task.escalation_level, task.priority) == ("binh", 3, 100)
    entry = work.task_history(task_id)[-1]
    assert (entry.action, entry.old_assignee, entry.new_assignee) == ("ESCALATE", "lan", "binh")
    assert entry.data == {"level": 3, "priority": [100, 100]}
    work.unclaim("binh", task_id)
    assert work.task("sup", task_id).status == "ESCALATED"  # unclaimed, still escalated
    work.claim("binh", task_id)
    work.complete("binh", task_id)


def test_escalate_to_another_queue_moves_it_there(org: Org) -> None:
    work = org.work
    task_id = org.start()
    task = work.escalate("sup", task_id, to_queue="legal")
    assert task.queue == "legal"
    assert work.claim_next("lan") is None  # gone from intake
    got = work.claim_next("chi")
    assert got is not None and got.id == task_id
    assert work.task_history(task_id)[1].data == {
        "level": 1, "priority": [50, 60], "queue": ["intake", "legal"],
    }


def test_the_system_escalates_without_grants_through_the_same_path(org: Org) -> None:
    work = org.work
    task_id = org.start()
    task = work.system_escalate(task_id, reason="SLA breached")
    assert (task.status, task.escalation_level) == ("ESCALATED", 1)
    with org.engine.store.transaction() as tx:
        work.escalate_in(tx, task_id, reason="still waiting", priority_step=5)
    task = work.task("sup", task_id)
    assert (task.escalation_level, task.priority) == (2, 65)
    assert [(h.action, h.action_by, h.comment) for h in work.task_history(task_id)][1:] == [
        ("ESCALATE", "SYSTEM", "SLA breached"), ("ESCALATE", "SYSTEM", "still waiting"),
    ]
    work.claim("lan", task_id)
    work.complete("lan", task_id)
    with pytest.raises(IllegalState):
        work.system_escalate(task_id, reason="too late")


def test_cancel_terminates_the_process_for_managers_only(org: Org) -> None:
    work = org.work
    task_id = org.start()
    instance_id = work.task("lan", task_id).instance_id
    with pytest.raises(Forbidden, match="may not cancel"):
        work.cancel("lan", task_id, reason="duplicate")
    assert org.engine.instance_record(instance_id).status == "ACTIVE"
    assert work.task("lan", task_id).status == "OPEN"
    work.cancel("sup", task_id, reason="duplicate application")
    assert org.engine.instance_record(instance_id).status == "TERMINATED"
    task = work.task("sup", task_id)
    assert task.status == "CANCELLED"
    last = work.task_history(task_id)[-1]
    assert (last.action, last.action_by, last.comment) == (
        "CANCEL", "sup", "duplicate application",
    )
    assert work.claim_next("lan") is None
    with pytest.raises(IllegalState):
        work.cancel("sup", task_id, reason="again")


def test_the_process_ending_a_task_is_recorded_too(org: Org) -> None:
    work = org.work
    task_id = org.start()
    work.claim("lan", task_id)
    org.engine.terminate(work.task("lan", task_id).instance_id, reason="withdrawn")
    last = work.task_history(task_id)[-1]
    assert (last.action, last.action_by, last.old_status, last.new_status) == (
        "CANCEL", "SYSTEM", "CLAIMED", "CANCELLED",
    )
    assert last.old_assignee == "lan"


def test_comments(org: Org) -> None:
    work = org.work
    task_id = org.start()
    entry = work.comment("lan", task_id, "waiting for the land registry")
    assert (entry.action, entry.action_by, entry.comment) == (
        "COMMENT", "lan", "waiting for the land registry",
    )
    work.comment("sup", task_id, "ok")
    with pytest.raises(Forbidden):
        work.comment("out", task_id, "hello")
    assert [h.action for h in work.history("lan", task_id)] == ["CREATE", "COMMENT", "COMMENT"]
    with pytest.raises(Forbidden):
        work.history("chi", task_id)


def test_priority_due_and_follow_up_dates(org: Org, clock: ManualClock) -> None:
    work = org.work
    task_id = org.start()
    due = clock.now() + dt.timedelta(days=2)
    with pytest.raises(Forbidden):
        work.set_priority("lan", task_id, 80)
    with pytest.raises(Forbidden):
        work.set_due_date("lan", task_id, due)
    assert work.set_priority("sup", task_id, 80).priority == 80
    assert work.set_due_date("sup", task_id, due).due_at == due
    with pytest.raises(Forbidden):
        work.set_follow_up("lan", task_id, due)  # not theirs yet
    work.claim("lan", task_id)
    assert work.set_follow_up("lan", task_id, due).follow_up_at == due
    assert work.set_task_data("lan", task_id, {"draft": "..."}).task_data == {"draft": "..."}
    updates = [h.data for h in work.task_history(task_id) if h.action == "UPDATE"]
    assert updates == [
        {"priority": [50, 80]},
        {"due_at": [None, due.isoformat()]},
        {"follow_up_at": [None, due.isoformat()]},
        {"task_data": ["draft"]},
    ]


def test_an_expired_grant_stops_working_at_valid_until(org: Org, clock: ManualClock) -> None:
    work = org.work
    start = clock.now()
    work.create_user("temp", "Temporary clerk")
    work.grant("temp", "clerks", by="admin", valid_from=start + dt.timedelta(hours=1),
               valid_until=start + dt.timedelta(hours=9))
    task_id = org.start()
    assert work.tasks("temp") == []  # not yet valid
    with pytest.raises(Forbidden):
        work.claim("temp", task_id)
    clock.set(start + dt.timedelta(hours=1))
    assert [t.id for t in work.tasks("temp")] == [task_id]
    work.claim("temp", task_id)
    clock.set(start + dt.timedelta(hours=9) - dt.timedelta(microseconds=1))
    assert [t.id for t in work.my_tasks("temp")] == [task_id]
    clock.set(start + dt.timedelta(hours=9))  # valid_until is exclusive
    assert work.my_tasks("temp") == []
    assert work.tasks("temp") == []
    with pytest.raises(Forbidden):
        work.complete("temp", task_id)
    with pytest.raises(Forbidden):
        work.task("temp", task_id)
    assert work.claim_next("temp") is None
    work.unclaim("sup", task_id)  # a manager takes it back
    assert work.claim_next("lan") is not None


def test_a_revoked_grant_stops_working_now(org: Org) -> None:
    work = org.work
    task_id = org.start()
    [grant] = work.grants("binh")
    work.revoke(grant.id, by="admin")
    assert work.grants("binh") == []
    assert len(work.grants("binh", valid_only=False)) == 1
    with pytest.raises(Forbidden):
        work.claim("binh", task_id)
    with pytest.raises(IllegalState):
        work.revoke(grant.id, by="admin")


def test_deactivating_a_user_returns_their_tasks(org: Org) -> None:
    work = org.work
    claimed = org.start()
    delegated = org.start()
    owned = org.start()
    work.claim("lan", claimed)
    work.claim("binh", delegated)
    work.delegate("binh", delegated, "lan")
    work.claim("lan", owned)
    work.delegate("lan", owned, "binh")
    returned = work.deactivate_user("lan", by="hr", reason="left the office")
    assert sorted(returned) == sorted([claimed, delegated, owned])
    assert not work.user("lan").active
    task = work.task("sup", claimed)
    assert (task.status, task.assignee) == ("OPEN", None)
    task = work.task("sup", delegated)
    assert (task.status, task.assignee, task.owner) == ("CLAIMED", "binh", None)
    task = work.task("sup", owned)
    assert (task.status, task.assignee, task.owner) == ("DELEGATED", "binh", None)
    why = "user 'lan' deactivated: left the office"
    assert [(h.action, h.action_by, h.comment) for h in work.task_history(claimed)][-1] == (
        "UNCLAIM", "hr", why,
    )
    assert work.task_history(delegated)[-1].action == "RESOLVE"
    assert work.task_history(owned)[-1].action == "UPDATE"
    assert work.tasks("lan") == []  # an inactive user sees nothing
    assert work.claim_next("lan") is None
    assert [t.id for t in work.available_tasks("binh")] == [claimed]
    work.resolve("binh", owned)  # no owner left: back to the queue
    assert work.task("sup", owned).status == "OPEN"
    with pytest.raises(IllegalState):
        work.deactivate_user("lan", by="hr")
    work.activate_user("lan")
    assert work.claim_next("lan") is not None


def test_history_has_one_row_per_action(org: Org) -> None:
    work = org.work
    task_id = org.start()
    work.comment("lan", task_id, "looking")
    work.claim("lan", task_id)
    work.set_priority("sup", task_id, 70)
    work.delegate("lan", task_id, "binh")
    work.resolve("binh", task_id)
    work.reassign("sup", task_id, "binh")
    work.escalate("binh", task_id)
    work.unclaim("binh", task_id)
    work.claim("lan", task_id)
    work.complete("lan", task_id, outcome="reject")
    history = work.task_history(task_id)
    assert [h.action for h in history] == [
        "CREATE", "COMMENT", "CLAIM", "UPDATE", "DELEGATE", "RESOLVE", "REASSIGN",
        "ESCALATE", "UNCLAIM", "CLAIM", "COMPLETE",
    ]
    assert all(h.task_id == task_id and h.action_at is not None for h in history)
    assert [(h.old_status, h.new_status) for h in history][2:] == [
        ("OPEN", "CLAIMED"), ("CLAIMED", "CLAIMED"), ("CLAIMED", "DELEGATED"),
        ("DELEGATED", "CLAIMED"), ("CLAIMED", "CLAIMED"), ("CLAIMED", "ESCALATED"),
        ("ESCALATED", "ESCALATED"), ("ESCALATED", "ESCALATED"), ("ESCALATED", "COMPLETED"),
    ]


def test_the_claimable_set_can_be_vacuumed_while_in_use(org: Org) -> None:
    work = org.work
    tasks = [org.start() for _ in range(3)]
    assert work.claim_next("lan") is not None
    work.vacuum_claimable()  # PostgreSQL: VACUUM; SQLite: nothing to do
    work.vacuum_claimable(analyze=True)
    assert [t.id for t in work.available_tasks("binh")] == tasks[1:]
