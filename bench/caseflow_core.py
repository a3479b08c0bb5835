"""caseflow's execution core alone, with no store: the analogue of SpiffWorkflow in memory.

SpiffWorkflow in memory keeps a workflow object and moves it on; nothing is copied,
written or read back. The same here: :class:`caseflow.engine.executor.Executor` runs
each command against an :class:`~caseflow.engine.state.InstanceState` that lives in a
dictionary (a small in-process :class:`~caseflow.engine.context.World`), exactly as
``ProcessEngine`` drives it, minus the storage transaction around each command:

* start: ``Executor.start(ref, instance_id=new_id(), variables=...)`` then ``run()``;
* each completion: a new Executor (a command's time and ids, as the runtime gives them),
  ``complete_task(state, task_id, {"approved": True})``, ``run()``;
* after each command, ``state.reset_journal()``, which is what a store does once it has
  written the journal.

The user tasks a command opened are the ones it inserted (what ``complete_task``
returns in the runtime), so no task query is needed. Every instance is checked as the
other drivers check theirs: COMPLETED, the expected tasks in order, the loop's
``i == 1000``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.measure import (
    LOOP,
    LOOP_ITERATIONS,
    PROCESS_KEYS,
    SEQUENTIAL,
    SEQUENTIAL_TASKS,
    SPLIT,
    SPLIT_TASKS,
    BenchFailure,
    process_source,
    split_amount,
    split_branch,
)
from caseflow.engine.compiled import ExecutableProcess, prepare
from caseflow.engine.context import DefinitionRef, World
from caseflow.engine.executor import Executor
from caseflow.engine.state import DEFAULT_TENANT, InstanceState, UserTaskRecord
from caseflow.errors import NotFound
from caseflow.model import parse_bpmn
from caseflow.runtime.process_engine import new_id

COMPLETION_VARIABLES = {"approved": True}
MAX_USER_TASKS = 100  # no process here has more: a guard against a run that never ends
CLOSED = ("COMPLETED", "CANCELLED")


class CoreWorld(World):
    """The prepared models of the benchmark processes, and instances in a dictionary."""

    def __init__(self) -> None:
        self.models: dict[str, ExecutableProcess] = {}
        for key in PROCESS_KEYS:
            definitions = parse_bpmn(process_source(key), resource_name=f"{key}.bpmn").definitions
            self.models[key] = prepare(definitions.process(key), definitions)
        self.states: dict[str, InstanceState] = {}

    def executable(self, definition_id: str) -> ExecutableProcess:
        return self.models[definition_id]

    def called_definition(
        self,
        key: str,
        *,
        binding: str,
        version: int | None,
        caller_definition_id: str,
        tenant_id: str,
    ) -> DefinitionRef:
        if key not in self.models:
            raise NotFound("process definition", key)
        return DefinitionRef(id=key, key=key, version=1, tenant_id=tenant_id)

    def instance(self, instance_id: str) -> InstanceState:
        state = self.states.get(instance_id)
        if state is None:
            raise NotFound("process instance", instance_id)
        return state

    def register(self, state: InstanceState) -> None:
        self.states[state.instance.id] = state


class CoreBench:
    def __init__(self) -> None:
        self.world = CoreWorld()
        self.refs = {
            key: DefinitionRef(id=key, key=key, version=1, tenant_id=DEFAULT_TENANT)
            for key in PROCESS_KEYS
        }

    def _executor(self) -> Executor:
        """One command's executor: its own time and the runtime's ids."""
        return Executor(self.world, now=datetime.now(UTC), new_id=new_id)

    @staticmethod
    def _run(executor: Executor, key: str) -> None:
        executor.run()
        if executor.thrown_signals:  # none of these processes throws one
            raise BenchFailure(f"caseflow core {key}: unexpected signals")

    @staticmethod
    def _opened(state: InstanceState) -> list[UserTaskRecord]:
        """The user tasks the last command opened (what complete_task returns)."""
        return [t for t in state.tasks.inserted() if t.status not in CLOSED]

    def _drive(self, key: str, variables: dict[str, Any]) -> tuple[InstanceState, list[str]]:
        """Start ``key`` and complete the user tasks it opens until there are none."""
        executor = self._executor()
        state = executor.start(self.refs[key], instance_id=new_id(), variables=variables)
        self.world.register(state)
        self._run(executor, key)
        pending = deque(self._opened(state))
        state.reset_journal()
        done: list[str] = []
        new_executor, run, opened = self._executor, self._run, self._opened  # hot loop
        while pending:
            if len(done) > MAX_USER_TASKS:
                raise BenchFailure(f"caseflow core {key}: still open tasks after {len(done)}"
                                   f" completions: {[t.element_id for t in pending]}")
            task = pending.popleft()
            executor = new_executor()
            executor.complete_task(state, task.id, COMPLETION_VARIABLES)
            run(executor, key)
            pending.extend(opened(state))
            state.reset_journal()
            done.append(task.element_id)
        del self.world.states[state.instance.id]  # finished: nothing keeps it
        if state.instance.status != "COMPLETED":
            raise BenchFailure(f"caseflow core {key}: instance {state.instance.id} is"
                               f" {state.instance.status} after {done}")
        return state, done

    def run_sequential(self, _n: int) -> int:
        _, done = self._drive(SEQUENTIAL, {})
        expected = [f"task_{i:02d}" for i in range(1, SEQUENTIAL_TASKS + 1)]
        if done != expected:
            raise BenchFailure(f"caseflow core {SEQUENTIAL}: completed {done}")
        return len(done)

    def run_split(self, n: int) -> int:
        amount = split_amount(n)
        _, done = self._drive(SPLIT, {"amount": amount})
        expected = {"check_documents", "check_payment", split_branch(amount)}
        if len(done) != SPLIT_TASKS or set(done) != expected:
            raise BenchFailure(f"caseflow core {SPLIT} amount={amount}: completed {done}")
        return len(done)

    def run_loop(self, _n: int = 0) -> int:
        state, done = self._drive(LOOP, {"i": 0})
        if done:
            raise BenchFailure(f"caseflow core {LOOP}: unexpected user tasks {done}")
        i = next((v.value for v in state.variables if v.name == "i" and v.scope_id is None),
                 None)
        if i != LOOP_ITERATIONS:
            raise BenchFailure(f"caseflow core {LOOP}: finished with i={i!r}")
        return LOOP_ITERATIONS

    def runner(self, key: str) -> Callable[[int], int]:
        return {SEQUENTIAL: self.run_sequential, SPLIT: self.run_split, LOOP: self.run_loop}[key]
