"""The server-sent events hub: replay after Last-Event-ID, then live, no gap, no repeat."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from caseflow.events import log, sla_breached
from caseflow.events.hub import EventHub
from caseflow.runtime.ports import OutboxEvent, Store
from caseflow.store.sql import SqlStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_store(request: pytest.FixtureRequest) -> SqlStore:
    if request.param == "sqlite":
        found: SqlStore = request.getfixturevalue("sqlite_store")
        return found
    make: Callable[[], Store] = request.getfixturevalue("postgres_stores")
    store = make()
    assert isinstance(store, SqlStore)
    return store


@pytest.fixture
def hub(sql_store: SqlStore) -> Iterator[EventHub]:
    made = EventHub(sql_store, poll_interval=0.02)
    made.start()
    yield made
    made.stop()


def add(store: SqlStore, *instances: str) -> list[OutboxEvent]:
    now = datetime.now(UTC)
    made = [sla_breached(instance_id=i, due_at=now, now=now) for i in instances]
    with store.transaction() as tx:
        tx.add_events(made)
    return made


async def take(hub: EventHub, count: int, after: log.Position | None,
               then: Callable[[], object] | None = None,
               wants: Callable[[log.LoggedEvent], bool] | None = None) -> list[str]:
    got: list[str] = []

    async def read() -> None:
        async for event in hub.stream(after, wants):
            got.append(event.event.id)
            if len(got) == count:
                return

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.1)  # subscribed, replay done
    if then is not None:
        await asyncio.to_thread(then)
    await asyncio.wait_for(reader, 10)
    return got


def test_a_listener_resumes_after_its_last_event_then_goes_live(
    sql_store: SqlStore, hub: EventHub
) -> None:
    earlier = add(sql_store, "i1", "i2", "i3")
    hub.poll()
    with sql_store.transaction() as tx:
        seen = log.position_of(tx, earlier[0].id)
    later: list[OutboxEvent] = []
    got = asyncio.run(take(hub, 4, seen, lambda: later.extend(add(sql_store, "i4", "i5"))))
    assert got == [earlier[1].id, earlier[2].id, later[0].id, later[1].id]


def test_a_last_event_id_may_be_the_event_id_itself(sql_store: SqlStore, hub: EventHub) -> None:
    earlier = add(sql_store, "i1", "i2")
    assert hub.resolve(earlier[0].id) == hub.resolve(str(hub.resolve(earlier[0].id)))
    got = asyncio.run(take(hub, 1, hub.resolve(earlier[0].id)))
    assert got == [earlier[1].id]


def test_a_new_listener_gets_only_new_events_and_only_what_it_wants(
    sql_store: SqlStore, hub: EventHub
) -> None:
    add(sql_store, "old")
    hub.poll()
    made: list[OutboxEvent] = []
    got = asyncio.run(take(
        hub, 2, None, lambda: made.extend(add(sql_store, "a", "b", "a")),
        wants=lambda e: e.event.instance_id == "a",
    ))
    assert got == [made[0].id, made[2].id]
