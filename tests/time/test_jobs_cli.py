"""``caseflow executor``: one batch with ``--once``, and a loop that SIGTERM stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from caseflow.cli import app
from caseflow.runtime import ProcessEngine
from caseflow.store import open_store
from tests.bpmn import chain, process

PAST_TIMER = process(
    '<startEvent id="s"/><intermediateCatchEvent id="wait"><timerEventDefinition>'
    "<timeDate>2020-01-01T00:00:00Z</timeDate></timerEventDefinition></intermediateCatchEvent>"
    '<userTask id="t"/><endEvent id="e"/>' + chain("s", "wait", "t", "e")
)


def started_instance(url: str) -> str:
    store = open_store(url)
    try:
        engine = ProcessEngine(store)
        engine.deploy(PAST_TIMER)
        instance_id = engine.start("p").id
        assert len(engine.jobs(instance_id)) == 1
        return instance_id
    finally:
        store.close()


def active_elements(url: str, instance_id: str) -> list[str]:
    store = open_store(url)
    try:
        return ProcessEngine(store).instance(instance_id).active_elements
    finally:
        store.close()


def test_once_runs_what_is_due(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    instance_id = started_instance(url)
    result = CliRunner().invoke(app, ["executor", "--once", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "1 job(s) acquired" in result.output
    assert "'executed': 1" in result.output
    assert active_elements(url, instance_id) == ["t"]
    again = CliRunner().invoke(app, ["executor", "--once", "--database-url", url])
    assert "0 job(s) acquired" in again.output


def test_the_loop_runs_jobs_until_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    instance_id = started_instance(url)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "caseflow.cli", "executor", "--database-url", url,
         "--poll-interval", "0.05", "--node-id", "cli-node"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while active_elements(url, instance_id) != ["t"]:
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the timer did not fire"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
    assert "job executor cli-node running" in output
    assert "job executor stopped" in output and "'executed': 1" in output
