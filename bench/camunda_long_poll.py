"""How soon a waiting Camunda ``fetchAndLock`` answers once work arrives, same run, two ways.

    python -m bench.camunda_long_poll                    # SQLite in a temporary folder
    python -m bench.camunda_long_poll --rounds 50
    python -m bench.camunda_long_poll --database-url postgresql://postgres@127.0.0.1/test

A live ``caseflow serve`` app (uvicorn on 127.0.0.1) with one external service task
process. Each round a worker (HTTP Basic with an API key) sends a long poll
(``asyncResponseTimeout`` 30 s), another client starts an instance through
``/engine-rest``, and the time from the start's answer to the poll's answer is taken.

* **no wait** (the baseline): no long poll; a plain ``fetchAndLock`` sent right after the
  start answers, the least any worker could take to get the task.
* **woken**: as served: the command that creates the external task signals the waiting
  polls of this process (then they look again within milliseconds).
* **polling only**: the signal switched off, as for work made on another node: the poll
  sees it at its next read-only check (every ``POLL_INTERVAL``, 0.5 s).

Prints the median and worst of each and the ratios.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
import uuid
from typing import Any

import httpx
import psycopg
import uvicorn

from caseflow.api import create_app
from caseflow.api.apikeys import create_api_key
from caseflow.api.auth import issue_dev_token
from caseflow.api.camunda import external_task
from caseflow.api.services import Services, services_for
from caseflow.api.settings import Settings
from caseflow.store import open_store
from caseflow.store.sql import SqlStore

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
             xmlns:camunda="http://camunda.org/schema/1.0/bpmn" targetNamespace="bench">
  <process id="bench_poll" isExecutable="true">
    <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="work"/>
    <serviceTask id="work" camunda:type="external" camunda:topic="bench-poll"/>
    <sequenceFlow id="f2" sourceRef="work" targetRef="e"/><endEvent id="e"/>
  </process>
</definitions>
"""


def _serve(services: Services) -> tuple[uvicorn.Server, threading.Thread, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(services=services), log_config=None,
                                           access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return server, thread, port


def _rounds(base: str, key: str, token: str, rounds: int) -> list[float]:
    worker = httpx.Client(base_url=base, auth=("bench-worker", key), timeout=60)
    starter = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                           timeout=60)
    taken = []
    for _ in range(rounds):
        answered: dict[str, Any] = {}

        def poll(answered: dict[str, Any] = answered) -> None:
            response = worker.post("/engine-rest/external-task/fetchAndLock", json={
                "workerId": "bench", "maxTasks": 1, "asyncResponseTimeout": 30000,
                "topics": [{"topicName": "bench-poll", "lockDuration": 60000}]})
            answered["at"] = time.perf_counter()
            answered["tasks"] = response.json()

        waiting = threading.Thread(target=poll)
        waiting.start()
        time.sleep(0.2)  # the poll is waiting
        started = starter.post("/engine-rest/process-definition/key/bench_poll/start", json={})
        started.raise_for_status()
        at = time.perf_counter()
        waiting.join()
        if len(answered["tasks"]) != 1:
            raise RuntimeError(f"the poll answered {answered['tasks']}")
        taken.append((answered["at"] - at) * 1000)
    worker.close()
    starter.close()
    return taken


def _floor(base: str, key: str, token: str, rounds: int) -> list[float]:
    """The baseline: a fetchAndLock without waiting, sent right after the start answers."""
    worker = httpx.Client(base_url=base, auth=("bench-worker", key), timeout=60)
    starter = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                           timeout=60)
    taken = []
    for _ in range(rounds):
        starter.post("/engine-rest/process-definition/key/bench_poll/start",
                     json={}).raise_for_status()
        at = time.perf_counter()
        response = worker.post("/engine-rest/external-task/fetchAndLock", json={
            "workerId": "bench", "maxTasks": 1,
            "topics": [{"topicName": "bench-poll", "lockDuration": 60000}]})
        taken.append((time.perf_counter() - at) * 1000)
        if len(response.json()) != 1:
            raise RuntimeError("the immediate fetch found nothing")
    worker.close()
    starter.close()
    return taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    extra: dict[str, Any] = {}
    if args.database_url:
        url = args.database_url
        extra = {"auth_mode": "dev", "dev_auth_allow_postgres": True,
                 "database_schema": f"bench_{uuid.uuid4().hex[:8]}", "migrate": True}
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{extra["database_schema"]}"')
        store = open_store(url, migrate=True, schema=extra["database_schema"])
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
        store = open_store(url)
    assert isinstance(store, SqlStore)
    services = services_for(store, Settings(database_url=url, executor=False, **extra))
    services.engine.deploy(BPMN, resource_name="bench.bpmn")
    key = create_api_key(services, user_id="bench-worker", name="bench", created_by="bench")
    token = issue_dev_token(services, "bench-starter")
    server, thread, port = _serve(services)
    base = f"http://127.0.0.1:{port}"
    try:
        floor = _floor(base, key.secret, token, args.rounds)
        woken = _rounds(base, key.secret, token, args.rounds)
        notify = external_task.FetchSignal.notify
        external_task.FetchSignal.notify = lambda self, topics: None  # type: ignore[method-assign]
        try:
            polling = _rounds(base, key.secret, token, args.rounds)
        finally:
            external_task.FetchSignal.notify = notify  # type: ignore[method-assign]
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        store.close()
        if args.database_url:
            with psycopg.connect(args.database_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{extra["database_schema"]}" CASCADE')
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"fetchAndLock answer after work arrives ({backend}, {args.rounds} rounds, ms)")
    for name, values in (("no wait", floor), ("woken", woken), ("polling only", polling)):
        print(f"  {name:<13} median {statistics.median(values):7.1f}   worst {max(values):7.1f}")
    print(f"  woken / no wait (median): "
          f"{statistics.median(woken) / statistics.median(floor):.2f}x;"
          f" polling only / woken: {statistics.median(polling) / statistics.median(woken):.1f}x")


if __name__ == "__main__":
    main()
