"""``caseflow events dispatch`` delivers what the outbox holds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from caseflow.cli import app
from caseflow.events.dispatcher import Dispatcher
from caseflow.events.webhooks import Webhooks
from caseflow.runtime import ProcessEngine
from caseflow.store import open_store
from caseflow.store.sql import SqlStore
from tests.bpmn import chain, process
from tests.events.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver(secret="whsec_cli")  # noqa: S106 - a test receiver's secret
    made.start()
    yield made
    made.stop()


def test_dispatch_once_delivers_to_the_webhooks(tmp_path: Path, receiver: Receiver) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    store = open_store(url)
    assert isinstance(store, SqlStore)
    try:
        Webhooks(store).create(name="crm", url=receiver.url, secret=receiver.secret,
                               now=datetime.now(UTC))
        Dispatcher(store, node_id="setup").run_once()  # the fan-out starts here
        engine = ProcessEngine(store)
        engine.deploy(process('<startEvent id="s"/><endEvent id="e"/>' + chain("s", "e")))
        engine.start("p")
    finally:
        store.close()
    result = CliRunner().invoke(app, ["events", "dispatch", "--once", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert [r.envelope["type"] for r in receiver.received] == [
        "WorkflowStarted", "WorkflowCompleted"
    ]
    assert all(r.signed for r in receiver.received)
    refused = CliRunner().invoke(app, ["events", "dispatch", "--once", "--database-url", url,
                                       "--sink", "kafka://nowhere"])
    assert refused.exit_code != 0
