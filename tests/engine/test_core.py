"""The pure core without any storage: a model, a state and a command in; state and journal out."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from caseflow.engine.compiled import ExecutableProcess, prepare
from caseflow.engine.context import DefinitionRef, World
from caseflow.engine.executor import Executor
from caseflow.engine.state import ActivityRecord, InstanceState, UserTaskRecord
from caseflow.errors import NotFound, StepLimitExceeded
from caseflow.model import parse_bpmn
from tests.bpmn import chain, flow, process

NOW = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)


class DictWorld(World):
    """One process model, instances in a dict: all the core needs to run."""

    def __init__(self, xml: str) -> None:
        parsed = parse_bpmn(xml)
        self.models = {p.id: prepare(p, parsed.definitions) for p in parsed.definitions.processes}
        self.states: dict[str, InstanceState] = {}

    def executable(self, definition_id: str) -> ExecutableProcess:
        return self.models[definition_id]

    def called_definition(self, key: str, **_: object) -> DefinitionRef:
        if key not in self.models:
            raise NotFound("process definition", key)
        return DefinitionRef(id=key, key=key, version=1, tenant_id="default")

    def instance(self, instance_id: str) -> InstanceState:
        return self.states[instance_id]

    def register(self, state: InstanceState) -> None:
        self.states[state.instance.id] = state


def ids() -> itertools.count[int]:
    return itertools.count(1)


def executor(world: DictWorld, counter: itertools.count[int], max_steps: int = 100_000) -> Executor:
    return Executor(world, now=NOW, new_id=lambda: f"id{next(counter)}", max_steps=max_steps)


def test_start_journals_the_rows_to_insert() -> None:
    world = DictWorld(
        process(
            '<startEvent id="s"/><userTask id="t" camunda:assignee="an"/>'
            '<endEvent id="e"/>' + chain("s", "t", "e")
        )
    )
    counter = ids()
    ex = executor(world, counter)
    state = ex.start(DefinitionRef("p", "p", 1, "default"), instance_id="i1", variables={"x": 1})
    ex.run()
    inserted, updated, deleted = state.executions.changes()
    assert [(e.element_id, e.state) for e in inserted] == [("t", "waiting")]
    assert (updated, deleted) == ([], [])
    [task] = state.tasks.changes()[0]
    assert (task.element_id, task.assignee, task.status, task.created_at) == (
        "t",
        "an",
        "CLAIMED",
        NOW,
    )
    assert [(h.element_id, h.ended_at is not None) for h in state.history] == [
        ("s", True),
        ("t", False),
    ]
    assert [v.name for v in state.variables.changes()[0]] == ["x"]

    state.reset_journal()
    ex2 = executor(world, counter)
    ex2.complete_task(state, task.id, {"y": "done"})
    ex2.run()
    assert state.instance.status == "COMPLETED"
    assert state.executions.changes() == ([], [], [*state.executions.changes()[2]])
    assert [t.status for t in state.tasks.changes()[1]] == ["COMPLETED"]
    # the user task's history row was written by the first command: only its end is updated
    [(_, ended)] = state.history_updates.items()
    assert (ended.element_id, ended.ended_at, ended.outcome) == ("t", NOW, "completed")
    assert [h.element_id for h in state.history] == ["e"]


def test_task_and_history_records_carry_every_field() -> None:
    """The core builds these records positionally (a hot path): every field lands."""
    world = DictWorld(
        process(
            '<startEvent id="s"/><userTask id="t" name="Review" camunda:formKey="f:review"'
            ' caseflow:queue="desk" camunda:priority="70" camunda:candidateUsers="an, bo"'
            ' camunda:candidateGroups="clerks"/><endEvent id="e"/>' + chain("s", "t", "e")
        )
    )
    ex = executor(world, ids())
    state = ex.start(DefinitionRef("p", "p", 1, "default"), instance_id="i1")
    state.instance.business_key = "HS-1"
    state.instance.case_id = "C-1"
    ex.run()
    [task] = state.tasks.changes()[0]
    expected_task = UserTaskRecord(
        id=task.id, instance_id="i1", execution_id=task.execution_id, element_id="t",
        process_key="p", definition_id="p", name="Review", status="OPEN", created_at=NOW,
        priority=70, assignee=None, candidate_users=("an", "bo"), candidate_groups=("clerks",),
        form_key="f:review", queue="desk", due_at=None, follow_up_at=None, business_key="HS-1",
        case_id="C-1", completed_at=None, completed_by=None, outcome=None, tenant_id="default",
    )
    assert task == expected_task
    history = state.history[-1]
    assert history == ActivityRecord(
        id=history.id, instance_id="i1", execution_id=task.execution_id, element_id="t",
        element_type="userTask", started_at=NOW, element_name="Review", ended_at=None,
        outcome=None, called_instance_id=None, tenant_id="default",
    )


def test_loop_state_does_not_grow_with_iterations() -> None:
    world = DictWorld(
        process(
            '<startEvent id="s"/><scriptTask id="inc" scriptFormat="python"><script>i = i + 1'
            '</script></scriptTask><exclusiveGateway id="g" default="out"/><userTask id="t"/>'
            '<endEvent id="e"/>'
            + chain("s", "inc", "g")
            + flow("g", "inc", "${i < 1000}")
            + flow("g", "t", id="out")
            + chain("t", "e")
        )
    )
    ex = executor(world, ids())
    state = ex.start(DefinitionRef("p", "p", 1, "default"), instance_id="i1", variables={"i": 0})
    ex.run()
    assert len(state.executions) == 1  # one token, waiting at t
    assert len(state.variables) == 1
    assert sum(1 for h in state.history if h.element_id == "inc") == 1000


def test_step_budget_stops_a_runaway_command() -> None:
    world = DictWorld(
        process(
            '<startEvent id="s"/><exclusiveGateway id="g"/><task id="t"/>'
            '<exclusiveGateway id="b" default="back"/><endEvent id="e"/>'
            + chain("s", "g", "t", "b")
            + flow("b", "e", "${false}")
            + flow("b", "g", id="back")
        )
    )
    ex = executor(world, ids(), max_steps=1000)
    ex.start(DefinitionRef("p", "p", 1, "default"), instance_id="i1")
    with pytest.raises(StepLimitExceeded):
        ex.run()
