"""Camunda's own external-task clients, unchanged, against caseflow's /engine-rest.

The Python client (camunda-external-task-client-python3) and the JavaScript client
(camunda-external-task-client-js, run with node) each fetch and lock the service tasks of
a deployed process over HTTP, complete them with typed variables, fail one once (it comes
back with fewer retries and is completed on the next fetch) and raise a BPMN error that
the boundary event catches; the processes move on to their next user task.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # the client still declares pydantic v1 validators
    warnings.simplefilter("ignore", DeprecationWarning)
    from camunda.external_task.external_task import ExternalTask, TaskResult
    from camunda.external_task.external_task_worker import (
        ExternalTaskWorker,
        NoExternalTaskFound,
    )

from caseflow.runtime.ports import TaskQuery
from tests.api.camunda.support import REST, TOPIC, VERIFY_BPMN, deploy, start, worker_key
from tests.api.conftest import LiveApi

JS_DIR = Path(__file__).parent / "js"


def _deploy_and_start(api: LiveApi) -> dict[str, str]:
    admin = api.admin()
    assert deploy(admin, VERIFY_BPMN).status_code == 200
    clerk = api.client_as("clerk")
    return {
        applicant: start(clerk, "verify", f"HS-{applicant}", applicant=applicant)["id"]
        for applicant in ("ok", "flaky", "missing")
    }


def _open_task(api: LiveApi, instance_id: str) -> str:
    tasks = api.services.engine.tasks(TaskQuery(instance_id=instance_id))
    assert len(tasks) == 1, tasks
    return tasks[0].element_id


def _assert_moved_on(api: LiveApi, instances: dict[str, str], source: str) -> None:
    engine = api.services.engine
    for applicant in ("ok", "flaky"):
        instance_id = instances[applicant]
        assert _open_task(api, instance_id) == "review"
        values = engine.variables(instance_id)
        assert values["verified"] is True
        assert values["score"] == 42
        assert values["details"]["source"] == source
    missing = instances["missing"]
    assert _open_task(api, missing) == "manual"  # the boundary event caught NOT_FOUND
    assert engine.variables(missing)["reason"] == "not in the registry"
    assert not engine.instance(missing).external_tasks


def test_the_python_client_works_service_tasks_end_to_end(live_api: LiveApi) -> None:
    instances = _deploy_and_start(live_api)
    key = worker_key(live_api)
    seen: list[dict[str, Any]] = []

    def handle(task: ExternalTask) -> TaskResult:
        applicant = task.get_variable("applicant")
        seen.append({"applicant": applicant, "retries": task._context.get("retries")})
        if applicant == "flaky" and len([s for s in seen if s["applicant"] == "flaky"]) == 1:
            return task.failure("registry timeout", "the registry did not answer", 3, 0)
        if applicant == "missing":
            return task.bpmn_error("NOT_FOUND", "no such person",
                                   {"reason": "not in the registry"})
        return task.complete({"verified": True, "score": 42,
                              "details": {"value": json.dumps({"source": "python"}),
                                          "type": "Json"}})

    worker = ExternalTaskWorker(
        worker_id="py-worker",
        base_url=live_api.url(REST),
        config={
            "auth_basic": {"username": "verifier", "password": key},
            "maxTasks": 1,
            "lockDuration": 10000,
            "asyncResponseTimeout": 1000,
            "retries": 3,
            "retryTimeout": 0,
        },
    )
    for _ in range(10):
        try:
            worker.fetch_and_execute(TOPIC, handle)
        except NoExternalTaskFound:
            break
    else:
        pytest.fail(f"the worker never ran out of work: {seen}")

    assert sorted(s["applicant"] for s in seen) == ["flaky", "flaky", "missing", "ok"]
    # the failed task came back carrying the retries the client reported
    assert [s["retries"] for s in seen if s["applicant"] == "flaky"] == [None, 3]
    _assert_moved_on(live_api, instances, "python")


def _node_modules() -> None:
    """``npm ci`` in js/ once: test workers running side by side take turns (a file lock)."""
    installed = JS_DIR / "node_modules" / "camunda-external-task-client-js"
    with open(Path(tempfile.gettempdir()) / "caseflow-camunda-js.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed.is_dir():
            return
        subprocess.run(  # noqa: S603 - a fixed command in the test's own folder
            [_npm(), "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True,
            capture_output=True, timeout=300,
        )


def _npm() -> str:
    found = shutil.which("npm")
    if found is None:
        pytest.fail("npm is needed for the JavaScript client test (node 20 and npm)")
    return found


def test_the_javascript_client_works_service_tasks_end_to_end(live_api: LiveApi) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed for the JavaScript client test")
    _node_modules()
    instances = _deploy_and_start(live_api)
    key = worker_key(live_api)
    env = {
        **os.environ,
        "BASE_URL": live_api.url(REST),
        "WORKER_USER": "verifier",
        "API_KEY": key,
        "TOPIC": TOPIC,
        "EXPECTED": "3",
    }
    done = subprocess.run(  # noqa: S603 - node running the worker of this folder
        [node, "worker.mjs"], cwd=JS_DIR, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    finished = json.loads(done.stdout.strip().splitlines()[-1])["finished"]
    assert {f["applicant"]: f["attempts"] for f in finished} == {
        "ok": 1, "flaky": 2, "missing": 1,
    }
    _assert_moved_on(live_api, instances, "js")
    # the JavaScript client's Date arrived as a date, its object as JSON
    checked = live_api.services.engine.variables(instances["ok"])["checkedAt"]
    assert checked == dt.datetime(2026, 1, 31, 9, 30, tzinfo=dt.UTC)
