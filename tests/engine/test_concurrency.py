"""Real concurrency against PostgreSQL: conflicting commands on one instance."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import Store, TaskQuery
from tests.bpmn import chain, process

JOIN = process(
    """
    <startEvent id="s"/><parallelGateway id="fork"/>
    <userTask id="left"/><userTask id="right"/>
    <parallelGateway id="join"/><userTask id="after"/><endEvent id="e"/>
    """
    + chain("s", "fork")
    + chain("fork", "left", "join")
    + chain("fork", "right", "join")
    + chain("join", "after", "e")
)


@pytest.mark.postgres
def test_two_branches_completed_at_once_pass_the_join_exactly_once(
    postgres_stores: Callable[[], Store],
) -> None:
    setup = ProcessEngine(postgres_stores())
    setup.deploy(JOIN)
    instances = [setup.start("p").id for _ in range(20)]
    # two engines with their own connection pools, as two nodes would have
    nodes = [ProcessEngine(postgres_stores()) for _ in range(2)]
    for instance_id in instances:
        left, right = sorted(
            setup.tasks(TaskQuery(instance_id=instance_id)), key=lambda t: t.element_id
        )
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def finish(
            engine: ProcessEngine,
            task_id: str,
            barrier: threading.Barrier = barrier,
            errors: list[BaseException] = errors,
        ) -> None:
            try:
                barrier.wait()
                engine.complete_task(task_id)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [
            threading.Thread(target=finish, args=(nodes[0], left.id)),
            threading.Thread(target=finish, args=(nodes[1], right.id)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        after = [t.element_id for t in setup.tasks(TaskQuery(instance_id=instance_id))]
        assert after == ["after"], f"instance {instance_id}: {after}"
        view = setup.instance(instance_id)
        assert view.active_elements == ["after"]
