"""The SpiffWorkflow 3.x baseline: the same BPMN files, driven the same way.

Only imported when SpiffWorkflow is installed (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskIterator, TaskState

from bench.measure import (
    LOOP,
    LOOP_ITERATIONS,
    PROCESS_KEYS,
    PROCESSES,
    SEQUENTIAL,
    SEQUENTIAL_TASKS,
    SPLIT,
    SPLIT_TASKS,
    BenchFailure,
    split_amount,
    split_branch,
)

try:
    from importlib.metadata import version as _version

    VERSION = _version("SpiffWorkflow")
except Exception:  # noqa: BLE001 - only for the label
    VERSION = "?"

# SpiffWorkflow walks its task tree with TaskIterator, whose default ``max_depth=1000``
# (SpiffWorkflow/util/task.py and bpmn/util/task.py) silently stops the walk 1,000 levels
# down. Every loop iteration adds tree levels (script task, gateway), so an unpatched
# ``do_engine_steps()`` stops the 1,000-iteration loop near i == 500 and ``is_completed()``
# then reports True. For a like-for-like comparison this benchmark process (and only it)
# raises that default; ``check_loop_without_patch`` shows what happens without it.
_DEFAULT_MAX_DEPTH = 1000
_BENCH_MAX_DEPTH = 10**9


def _set_max_depth(depth: int) -> None:
    # TaskIterator.__init__(task, end_at_spec=None, max_depth=1000, depth_first=True,
    #                       task_filter=None, **kwargs)
    TaskIterator.__init__.__defaults__ = (None, depth, True, None)
    # BpmnTaskIterator.__init__(task, end_at_spec=None, max_depth=1000, depth_first=True,
    #                           skip_subprocesses=False, task_filter=None, **kwargs)
    BpmnTaskIterator.__init__.__defaults__ = (None, depth, True, False, None)


_set_max_depth(_BENCH_MAX_DEPTH)

COMPLETION_DATA = {"approved": True}
MAX_USER_TASKS = 100  # no process here has more: a guard against a run that never ends


class SpiffBench:
    def __init__(self) -> None:
        parser = BpmnParser()
        for key in PROCESS_KEYS:
            parser.add_bpmn_file(str(PROCESSES / f"{key}.bpmn"))
        self.specs = {key: parser.get_spec(key) for key in PROCESS_KEYS}
        self.serializer = BpmnWorkflowSerializer()

    # ------------------------------------------------------------------ one instance

    def _new(self, key: str, variables: dict[str, Any]) -> BpmnWorkflow:
        workflow = BpmnWorkflow(self.specs[key])
        start = workflow.get_next_task(state=TaskState.READY)
        if start is None:
            raise BenchFailure(f"{key}: no ready start task")
        start.data.update(variables)
        workflow.do_engine_steps()
        return workflow

    @staticmethod
    def _complete_one(workflow: BpmnWorkflow) -> str | None:
        """Complete the first ready user task and run the engine; None when there is none."""
        task = workflow.get_next_task(state=TaskState.READY, manual=True)
        if task is None:
            return None
        task.data.update(COMPLETION_DATA)
        task.run()
        workflow.do_engine_steps()
        return str(task.task_spec.name)

    def _drive(self, key: str, variables: dict[str, Any], *, json_round_trip: bool) -> tuple[
        BpmnWorkflow, list[str]
    ]:
        workflow = self._new(key, variables)
        done: list[str] = []
        if json_round_trip:
            # as a service would: the stored state is the JSON; each command loads it,
            # completes one task, runs the engine and stores it again
            state = self.serializer.serialize_json(workflow)
            while True:
                workflow = self.serializer.deserialize_json(state)
                name = self._complete_one(workflow)
                if name is None:
                    break
                done.append(name)
                if len(done) > MAX_USER_TASKS:
                    raise BenchFailure(f"SpiffWorkflow {key}: no end after {len(done)} tasks")
                state = self.serializer.serialize_json(workflow)
        else:
            while (name := self._complete_one(workflow)) is not None:
                done.append(name)
                if len(done) > MAX_USER_TASKS:
                    raise BenchFailure(f"SpiffWorkflow {key}: no end after {len(done)} tasks")
        if not workflow.is_completed():
            raise BenchFailure(f"SpiffWorkflow {key}: instance not completed after {done}")
        return workflow, done

    def runner(self, key: str, *, json_round_trip: bool = False) -> Callable[[int], int]:
        if key == SEQUENTIAL:

            def run_sequential(_n: int) -> int:
                _, done = self._drive(SEQUENTIAL, {}, json_round_trip=json_round_trip)
                expected = [f"task_{i:02d}" for i in range(1, SEQUENTIAL_TASKS + 1)]
                if done != expected:
                    raise BenchFailure(f"SpiffWorkflow {SEQUENTIAL}: completed {done}")
                return len(done)

            return run_sequential
        if key == SPLIT:

            def run_split(n: int) -> int:
                amount = split_amount(n)
                _, done = self._drive(SPLIT, {"amount": amount}, json_round_trip=json_round_trip)
                expected = {"check_documents", "check_payment", split_branch(amount)}
                if len(done) != SPLIT_TASKS or set(done) != expected:
                    raise BenchFailure(f"SpiffWorkflow {SPLIT} amount={amount}: completed {done}")
                return len(done)

            return run_split
        if key == LOOP:

            def run_loop(_n: int) -> int:
                workflow, _ = self._drive(LOOP, {"i": 0}, json_round_trip=json_round_trip)
                self.check_loop(workflow)
                return LOOP_ITERATIONS

            return run_loop
        raise KeyError(key)

    @staticmethod
    def check_loop(workflow: BpmnWorkflow) -> None:
        i = workflow.data.get("i")
        ended = [t for t in workflow.get_tasks(state=TaskState.COMPLETED)
                 if t.task_spec.name == "end"]
        if i != LOOP_ITERATIONS or not ended:
            raise BenchFailure(
                f"SpiffWorkflow {LOOP}: finished with i={i!r}, end event reached: {bool(ended)}"
            )

    def run_loop_once(self, start: int = 0) -> BpmnWorkflow:
        workflow = self._new(LOOP, {"i": start})
        self.check_loop(workflow)
        return workflow

    def check_loop_without_patch(self) -> str:
        """What the loop does with SpiffWorkflow's own max_depth (for the report)."""
        _set_max_depth(_DEFAULT_MAX_DEPTH)
        try:
            workflow = self._new(LOOP, {"i": 0})
            reached = max(int(t.data.get("i", 0)) for t in workflow.get_tasks())
            return (
                f"with SpiffWorkflow's default max_depth={_DEFAULT_MAX_DEPTH} the loop stops at"
                f" i={reached} and is_completed() says {workflow.is_completed()}"
            )
        finally:
            _set_max_depth(_BENCH_MAX_DEPTH)
