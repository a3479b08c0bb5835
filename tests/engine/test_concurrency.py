"""Real concurrency against PostgreSQL: two OS processes complete the two branches of a
parallel join at the same instant; exactly one token must pass the join."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from multiprocessing.synchronize import Barrier

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

ROUNDS = 15


def _node(
    url: str, schema: str, barrier: Barrier, tasks: mp.Queue[str | None], done: mp.Queue[str]
) -> None:
    """One caseflow node: for each task id it gets, wait for the other node, complete it."""
    from caseflow.store import open_store

    engine = ProcessEngine(open_store(url, schema=schema, migrate=False))
    while (task_id := tasks.get()) is not None:
        barrier.wait(timeout=30)
        try:
            engine.complete_task(task_id)
            done.put("ok")
        except Exception as exc:  # noqa: BLE001 - reported to the test
            done.put(f"{type(exc).__name__}: {exc}")
    engine.store.close()


@pytest.mark.postgres
def test_two_processes_completing_both_branches_pass_the_join_once(
    postgres_stores: Callable[[], Store], postgres_schema: str
) -> None:
    from tests.pg import POSTGRES_URL

    setup = ProcessEngine(postgres_stores())
    setup.deploy(JOIN)
    instances = [setup.start("p").id for _ in range(ROUNDS)]

    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    queues: list[mp.Queue[str | None]] = [ctx.Queue(), ctx.Queue()]
    done: mp.Queue[str] = ctx.Queue()
    nodes = [
        ctx.Process(target=_node, args=(POSTGRES_URL, postgres_schema, barrier, q, done))
        for q in queues
    ]
    for node in nodes:
        node.start()
    try:
        for instance_id in instances:
            left, right = sorted(
                setup.tasks(TaskQuery(instance_id=instance_id)), key=lambda t: t.element_id
            )
            queues[0].put(left.id)
            queues[1].put(right.id)
            results = [done.get(timeout=60), done.get(timeout=60)]
            assert results == ["ok", "ok"]
            after = [t.element_id for t in setup.tasks(TaskQuery(instance_id=instance_id))]
            assert after == ["after"], f"instance {instance_id}: {after}"
            assert setup.instance(instance_id).active_elements == ["after"]
            joins = [h for h in setup.history(instance_id) if h.element_id == "join"]
            assert len(joins) == 2  # both tokens arrived; one went on
    finally:
        for q in queues:
            q.put(None)
        for node in nodes:
            node.join(timeout=30)
            if node.is_alive():
                node.kill()


BOUNDARY_TIMER = process(
    """
    <startEvent id="s"/><userTask id="review"/><endEvent id="e"/>
    <boundaryEvent id="late" attachedToRef="review"><timerEventDefinition>
      <timeDuration>PT1H</timeDuration></timerEventDefinition></boundaryEvent>
    <userTask id="chase"/><endEvent id="e2"/>
    """
    + chain("s", "review", "e")
    + chain("late", "chase", "e2")
)


@pytest.mark.postgres
@pytest.mark.parametrize("other_commits", [True, False], ids=["job-removed", "rolled-back"])
def test_a_firing_timer_waits_for_a_command_holding_its_instance(
    postgres_stores: Callable[[], Store], postgres_schema: str, other_commits: bool
) -> None:
    """A timer job takes its instance's row first, as every command does: one that holds
    the instance (and removes the timer, as completing the task does) is waited for, with
    no deadlock; the job is then lost if it went, or fires on the state left behind."""
    import threading
    from datetime import timedelta

    import psycopg

    from caseflow.clock import ManualClock
    from caseflow.time.jobs import JobExecutor
    from tests.pg import POSTGRES_URL

    clock = ManualClock()
    engine = ProcessEngine(postgres_stores(), clock=clock)
    engine.deploy(BOUNDARY_TIMER)
    instance = engine.start("p")
    clock.advance(timedelta(hours=1))
    executor = JobExecutor(engine, node_id="n1", max_workers=1)
    [job] = executor.acquire(10)

    libpq = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(libpq, options=f"-c search_path={postgres_schema}") as other:
        other.execute(
            "SELECT 1 FROM process_instance WHERE id = %s FOR NO KEY UPDATE", (instance.id,)
        )
        outcome: list[str] = []
        firing = threading.Thread(target=lambda: outcome.append(executor.execute(job)))
        firing.start()
        firing.join(timeout=1.0)
        assert firing.is_alive(), "the timer did not wait for the instance's lock"
        if other_commits:
            other.execute("DELETE FROM job WHERE id = %s", (job.id,))
            other.commit()
        else:
            other.rollback()
        firing.join(timeout=30)

    assert not firing.is_alive()
    if other_commits:
        assert outcome == ["lost"]
        assert engine.instance(instance.id).active_elements == ["review"]
    else:
        assert outcome == ["executed"]
        assert engine.instance(instance.id).active_elements == ["chase"]
    assert (executor.stats.errors, executor.stats.failed) == (0, 0)


def _racer(
    url: str, schema: str, barrier: Barrier, work: mp.Queue[tuple[str, str] | None],
    done: mp.Queue[str],
) -> None:
    """A node that, for each (what, id), waits for the other node, then either completes
    the task ``id`` (opening a message receiver) or publishes the message for order ``id``
    with a time to live."""
    from datetime import timedelta

    from caseflow.store import open_store

    engine = ProcessEngine(open_store(url, schema=schema, migrate=False))
    while (item := work.get()) is not None:
        what, key = item
        barrier.wait(timeout=30)
        try:
            if what == "complete":
                engine.complete_task(key)
            else:
                engine.publish_message(
                    "PaymentReceived", correlation_key=key, time_to_live=timedelta(hours=1)
                )
            done.put("ok")
        except Exception as exc:  # noqa: BLE001 - reported to the test
            done.put(f"{type(exc).__name__}: {exc}")
    engine.store.close()


@pytest.mark.postgres
def test_a_buffered_message_and_a_receiver_opening_at_the_same_instant_meet_once(
    postgres_stores: Callable[[], Store], postgres_schema: str
) -> None:
    """However publishing with a time to live and opening the receiver interleave, the
    message reaches the receiver exactly once: never left in the buffer beside it."""
    from tests.engine.test_message_buffer import RECEIVER
    from tests.pg import POSTGRES_URL

    setup = ProcessEngine(postgres_stores())
    setup.deploy(RECEIVER)
    orders = [
        setup.start("order", variables={"orderId": f"o-{i}"}).id for i in range(ROUNDS)
    ]
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    queues: list[mp.Queue[tuple[str, str] | None]] = [ctx.Queue(), ctx.Queue()]
    done: mp.Queue[str] = ctx.Queue()
    nodes = [
        ctx.Process(target=_racer, args=(POSTGRES_URL, postgres_schema, barrier, q, done))
        for q in queues
    ]
    for node in nodes:
        node.start()
    try:
        for i, instance_id in enumerate(orders):
            [task] = setup.tasks(TaskQuery(instance_id=instance_id))
            queues[0].put(("complete", task.id))
            queues[1].put(("publish", f"o-{i}"))
            assert [done.get(timeout=60), done.get(timeout=60)] == ["ok", "ok"]
            assert setup.instance(instance_id).active_elements == ["ship"], f"round {i}"
            assert setup.buffered_messages() == [], f"round {i}"
    finally:
        for q in queues:
            q.put(None)
        for node in nodes:
            node.join(timeout=30)
            if node.is_alive():
                node.kill()
