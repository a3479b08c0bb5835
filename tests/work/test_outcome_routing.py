"""An outcome given at completion is a process variable a gateway can route on."""

from __future__ import annotations

import pytest

from caseflow.runtime.ports import TaskQuery
from caseflow.work import WorkService
from tests.bpmn import flow, process
from tests.work.conftest import Org, user_task

DECISION = process(
    '<startEvent id="s"/>'
    + user_task("review", groups="clerks", name="Review application")
    + '<exclusiveGateway id="decide" default="f_other"/>'
    + user_task("issue", groups="clerks", name="Issue the licence")
    + user_task("rework", groups="clerks", name="Ask for corrections")
    + user_task("legal_check", groups="lawyers", name="Legal check")
    + '<endEvent id="e1"/><endEvent id="e2"/><endEvent id="e3"/>'
    + flow("s", "review") + flow("review", "decide")
    + flow("decide", "issue", "${outcome == 'approve'}")
    + flow("decide", "rework", "${outcome == 'reject' || outcome == 'return'}")
    + flow("decide", "legal_check", id="f_other")
    + flow("issue", "e1") + flow("rework", "e2") + flow("legal_check", "e3"),
    id="licence",
)


@pytest.mark.parametrize(
    ("outcome", "next_step"),
    [("approve", "issue"), ("reject", "rework"), ("return", "rework"), ("forward", "legal_check")],
)
def test_the_outcome_routes_the_process(org: Org, outcome: str, next_step: str) -> None:
    org.engine.deploy(DECISION)
    review = org.start("licence")
    org.work.claim("lan", review)
    org.work.complete("lan", review, outcome=outcome, outcome_reason="as seen")
    instance_id = org.work.task("lan", review).instance_id
    [following] = org.engine.tasks(TaskQuery(instance_id=instance_id))
    assert following.element_id == next_step
    assert org.work.task("lan", review).outcome == outcome
    assert org.engine.variables(instance_id)["outcome"] == outcome


def test_the_outcome_variable_name_is_configurable(org: Org) -> None:
    work = WorkService(org.engine, outcome_variable="decision")
    org.engine.deploy(DECISION)
    review = org.start("licence")
    work.claim("lan", review)
    work.complete("lan", review, {"outcome": "approve"}, outcome="reject")
    instance_id = work.task("lan", review).instance_id
    variables = org.engine.variables(instance_id)
    assert (variables["decision"], variables["outcome"]) == ("reject", "approve")
    [following] = org.engine.tasks(TaskQuery(instance_id=instance_id))
    assert following.element_id == "issue"  # the gateway reads ``outcome``, set by hand
