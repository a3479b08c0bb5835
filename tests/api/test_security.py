"""API keys, the audit log and request size limits, over real HTTP."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from caseflow.store import schema
from tests.api.conftest import LiveApi
from tests.api.test_skeleton import assert_problem


def test_an_api_key_authenticates_as_its_user_until_revoked(live_api: LiveApi) -> None:
    live_api.user_with_role("robot", "OPERATOR")
    client = live_api.api_key_client("robot")
    me = client.get("/api/v1/auth/me")
    assert me.status_code == 200, me.text
    assert me.json()["userId"] == "robot"
    assert me.json()["kind"] == "service"
    assert me.json()["isOperator"] is True
    admin = live_api.admin()
    keys = admin.get("/api/v1/api-keys").json()
    assert [k["userId"] for k in keys] == ["robot"]
    assert keys[0]["lastUsedAt"] is not None
    assert "secret" not in str(keys).lower()
    revoked = admin.delete(f"/api/v1/api-keys/{keys[0]['id']}")
    assert revoked.status_code == 200
    assert revoked.json()["revokedAt"] is not None
    assert_problem(client.get("/api/v1/auth/me"), 401, "unauthenticated")


def test_api_keys_are_stored_hashed_and_checked_whole(live_api: LiveApi) -> None:
    made = live_api.admin().post("/api/v1/api-keys", json={"userId": "svc", "name": "batch"})
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    assert key.startswith("cf_")
    with live_api.services.store.transaction(read_only=True) as tx:
        stored = tx.conn.execute(sa.select(schema.api_key)).one()
    secret = key.rsplit("_", 1)[1]
    assert secret not in str(tuple(stored))
    client = live_api.anonymous()
    ok = client.get("/api/v1/auth/me", headers={"Authorization": f"ApiKey {key}"})
    assert ok.status_code == 200
    for wrong in (key[:-1] + ("A" if key[-1] != "A" else "B"), "cf_nope_" + secret, "junk"):
        refused = client.get("/api/v1/auth/me", headers={"X-API-Key": wrong})
        assert_problem(refused, 401, "unauthenticated")


def test_api_key_administration_is_for_admins(live_api: LiveApi) -> None:
    worker = live_api.client_as("worker")
    assert_problem(worker.get("/api/v1/api-keys"), 403, "forbidden")
    assert_problem(
        worker.post("/api/v1/api-keys", json={"userId": "w", "name": "n"}), 403, "forbidden"
    )
    assert_problem(live_api.anonymous().get("/api/v1/api-keys"), 401, "unauthenticated")
    admin = live_api.admin()
    assert_problem(admin.delete("/api/v1/api-keys/no-such-key"), 404, "not_found")
    assert_problem(admin.post("/api/v1/api-keys", json={"userId": ""}), 422, "validation_failed")


def test_the_cli_makes_lists_and_revokes_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEFLOW_")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "caseflow.cli", "api-key", *args, "--database-url", url],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )

    made = cli("create", "--user", "robot", "--name", "nightly")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("cf_")
    key_id = key.split("_")[1]
    listed = cli("list", "--json")
    assert key_id in listed.stdout
    assert key.rsplit("_", 1)[1] not in listed.stdout
    assert cli("revoke", key_id).returncode == 0
    assert cli("revoke", "missing").returncode == 1


def test_every_state_changing_call_is_audited(live_api: LiveApi) -> None:
    admin = live_api.admin()
    made = admin.post(
        "/api/v1/api-keys", json={"userId": "svc", "name": "n"}, headers={"X-Request-ID": "r-1"}
    )
    key_id = made.json()["apiKey"]["id"]
    admin.delete(f"/api/v1/api-keys/{key_id}")
    live_api.client_as("mallory").post("/api/v1/api-keys", json={"userId": "x", "name": "y"})
    live_api.anonymous().delete(f"/api/v1/api-keys/{key_id}")
    admin.get("/api/v1/api-keys")  # reads are not audited
    page = admin.get("/api/v1/audit").json()
    entries = page["items"]
    assert page["total"] == 4
    assert [(e["method"], e["actor"], e["status"]) for e in entries] == [
        ("DELETE", None, 401),
        ("POST", "mallory", 403),
        ("DELETE", "admin", 200),
        ("POST", "admin", 201),
    ]
    assert entries[2]["route"] == "/api/v1/api-keys/{key_id}"
    assert entries[2]["targetIds"] == {"key_id": key_id}
    assert entries[3]["clientIp"] == "127.0.0.1"
    assert entries[3]["requestId"] == "r-1"
    only = admin.get("/api/v1/audit", params={"actor": "mallory"}).json()
    assert [e["actor"] for e in only["items"]] == ["mallory"]
    later = admin.get("/api/v1/audit", params={"from": "2999-01-01T00:00:00Z"}).json()
    assert later["items"] == []
    assert_problem(live_api.client_as("mallory").get("/api/v1/audit"), 403, "forbidden")


def test_a_poll_that_locks_nothing_is_not_audited(live_api: LiveApi) -> None:
    """Idle workers poll all day: a fetch-and-lock that found no work changed nothing and
    writes no audit row (native and Camunda routes); one that locked work does."""
    from tests.api.test_engine_routes import CHARGE, deployed

    admin = live_api.admin()
    worker = live_api.api_key_client("payments")
    poll = {"workerId": "w1", "maxTasks": 5, "topics": [{"topicName": "charge",
                                                         "lockDuration": 60_000}]}

    def audited() -> list[tuple[str, str]]:
        items = admin.get("/api/v1/audit", params={"size": 100}).json()["items"]
        return [(e["route"], e["status"]) for e in items if "etch" in e["route"]]

    assert worker.post("/api/v1/external-tasks/fetch-and-lock", json=poll).json() == []
    assert worker.post("/engine-rest/external-task/fetchAndLock", json=poll).json() == []
    assert audited() == []
    deployed(live_api, ("charge.bpmn", CHARGE))
    admin.post("/api/v1/process-instances", json={"processKey": "charge_card"})
    [locked] = worker.post("/api/v1/external-tasks/fetch-and-lock", json=poll).json()
    assert locked["topicName"] == "charge"
    assert audited() == [("/api/v1/external-tasks/fetch-and-lock", 200)]
    # a refused poll is audited, empty or not
    live_api.anonymous().post("/api/v1/external-tasks/fetch-and-lock", json=poll)
    assert ("/api/v1/external-tasks/fetch-and-lock", 401) in audited()


@pytest.mark.postgres
def test_postgresql_refuses_to_change_the_audit_log(postgres_api: LiveApi) -> None:
    postgres_api.admin().post("/api/v1/api-keys", json={"userId": "svc", "name": "n"})
    store = postgres_api.services.store
    for statement in (
        sa.update(schema.audit_log).values(actor="someone-else"),
        sa.delete(schema.audit_log),
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.transaction() as tx:
            tx.conn.execute(statement)
    with store.transaction(read_only=True) as tx:
        assert tx.conn.scalar(sa.select(schema.audit_log.c.actor)) == "admin"


@pytest.mark.parametrize("api_settings", [{"max_body_bytes": 1000}], indirect=True)
def test_bodies_over_the_limit_are_413(live_api: LiveApi) -> None:
    client = live_api.admin()
    big = {"userId": "svc", "name": "x" * 2000}
    assert_problem(client.post("/api/v1/api-keys", json=big), 413, "payload_too_large")

    def chunks() -> object:
        for _ in range(10):
            yield b"x" * 500

    streamed = client.post(
        "/api/v1/api-keys", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(streamed, 413, "payload_too_large")
    small = client.post("/api/v1/api-keys", json={"userId": "svc", "name": "ok"})
    assert small.status_code == 201


def test_health_ready_and_metrics(live_api: LiveApi) -> None:
    client = live_api.anonymous()
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok"}
    client.get("/api/v1/auth/config")
    client.get("/api/v1/api-keys/some-id")
    live_api.services.metrics.tasks.labels(action="claimed", queue="intake").inc()
    live_api.services.metrics.gauge("caseflow_test_lag_seconds", "a test gauge", lambda: 4.5)
    text = client.get("/metrics").text
    assert 'route="/api/v1/auth/config"' in text
    assert "caseflow_http_request_duration_seconds_bucket" in text
    assert 'route="/api/v1/api-keys/{key_id}"' in text
    assert "some-id" not in text
    assert 'caseflow_tasks_total{action="claimed",queue="intake"} 1.0' in text
    assert "caseflow_test_lag_seconds 4.5" in text
    assert "caseflow_job_lag_seconds 0.0" in text


def test_job_lag_counts_from_the_oldest_due_job(live_api: LiveApi) -> None:
    from caseflow.api.services import job_lag_seconds
    from caseflow.clock import ManualClock
    from tests.api.test_engine_routes import deployed
    from tests.bpmn import chain, process

    timer = process(
        '<startEvent id="s"/><intermediateCatchEvent id="wait"><timerEventDefinition>'
        "<timeDuration>PT1M</timeDuration></timerEventDefinition></intermediateCatchEvent>"
        '<endEvent id="e"/>' + chain("s", "wait", "e"), id="waits")
    deployed(live_api, ("t.bpmn", timer))
    live_api.services.engine.start("waits")
    store = live_api.services.store
    clock = ManualClock(live_api.services.clock.now())
    assert job_lag_seconds(store, clock) == 0.0
    clock.advance(dt.timedelta(seconds=90))
    assert 29 <= job_lag_seconds(store, clock) <= 31


def test_ready_is_503_when_migrations_are_behind(sqlite_api: LiveApi) -> None:
    from caseflow.store.migrate import downgrade, head_revision

    head = head_revision()
    assert head is not None
    downgrade(sqlite_api.services.store.engine, f"{int(head) - 1:04d}")
    ready = sqlite_api.anonymous().get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["migrations"].startswith("at ")


def test_values_the_database_cannot_store_are_422_not_500(live_api: LiveApi) -> None:
    from tests.api.test_engine_routes import REVIEW, deployed

    deployed(live_api, ("r.bpmn", REVIEW))
    admin = live_api.admin()
    for path in ("/api/v1/process-instances/a%00b", "/api/v1/forms/a%00b",
                 "/api/v1/process-instances?businessKey=a%00b", "/api/v1/audit?actor=a%00b"):
        answer = admin.get(path)
        assert answer.status_code in (200, 404, 422), f"{path}: {answer.text}"
    nul = admin.post("/api/v1/process-instances",
                     json={"processKey": "review_case", "businessKey": "a\u0000b"})
    assert nul.status_code in (201, 422), nul.text
    if live_api.backend.startswith("postgr"):
        assert_problem(admin.get("/api/v1/forms/a%00b"), 422, "value_out_of_range")
        assert_problem(nul, 422, "value_out_of_range")
    # the refused calls are audited all the same
    entries = admin.get("/api/v1/audit").json()["items"]
    assert entries[0]["route"] == "/api/v1/process-instances"
    assert entries[0]["status"] == nul.status_code


@pytest.mark.parametrize("api_settings", [{"max_upload_bytes": 4000}], indirect=True)
def test_uploads_over_the_upload_limit_are_413(live_api: LiveApi) -> None:
    from tests.api.test_engine_routes import CHARGE, deploy

    assert len(CHARGE) < 3000
    assert deploy(live_api, ("charge.bpmn", CHARGE)).status_code == 201
    padded = CHARGE.replace("</definitions>", "<!--" + "x" * 5000 + "--></definitions>")
    assert_problem(deploy(live_api, ("big.bpmn", padded)), 413, "payload_too_large")


def test_json_log_lines_carry_request_and_instance_ids() -> None:
    import json
    import logging

    from caseflow.api.observability import JsonFormatter, instance_id_var, request_id_var

    record = logging.LogRecord("caseflow.api", logging.INFO, __file__, 1, "hello %s", ("x",),
                               None)
    request_token = request_id_var.set("req-9")
    instance_token = instance_id_var.set("inst-3")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(request_token)
        instance_id_var.reset(instance_token)
    assert line["message"] == "hello x"
    assert line["requestId"] == "req-9"
    assert line["instanceId"] == "inst-3"
    assert line["level"] == "INFO"


@pytest.mark.postgres
def test_an_unmigrated_postgresql_starts_but_is_not_ready(
    pg_admin: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from caseflow.api import app as app_module
    from caseflow.api import create_app
    from caseflow.api.services import services_for
    from caseflow.api.settings import Settings
    from caseflow.store import open_store
    from caseflow.store.sql import SqlStore
    from tests.api.conftest import LiveServer
    from tests.pg import POSTGRES_URL, drop_schema, new_schema

    # the core's own start only: the event hooks need their tables (a separate matter)
    monkeypatch.setattr(app_module, "LIFESPAN_HOOKS", [])
    name = new_schema(pg_admin)
    store = open_store(POSTGRES_URL, schema=name, migrate=False)
    try:
        assert isinstance(store, SqlStore)
        settings = Settings(database_url=POSTGRES_URL, database_schema=name, executor=False,
                            auth_mode="dev", dev_auth_allow_postgres=True)
        server = LiveServer(create_app(services=services_for(store, settings)))
        server.start()
        try:
            import httpx

            ready = httpx.get(f"http://127.0.0.1:{server.port}/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["migrations"].startswith("at None")
        finally:
            server.stop()
    finally:
        store.close()
        drop_schema(pg_admin, name)


def test_the_access_log_names_the_instance_a_request_was_about(
    live_api: LiveApi, caplog: pytest.LogCaptureFixture
) -> None:
    import json
    import logging

    from caseflow.api.observability import JsonFormatter
    from tests.api.test_engine_routes import REVIEW, deployed

    deployed(live_api, ("r.bpmn", REVIEW))
    operator = live_api.operator()
    def access_records() -> list[logging.LogRecord]:
        return [r for r in caplog.records
                if r.name == "caseflow.api.access" and r.__dict__.get("path", "").endswith(
                    "/process-instances")]

    with caplog.at_level(logging.INFO, logger="caseflow.api.access"):
        started = operator.post("/api/v1/process-instances", json={"processKey": "review_case"},
                                headers={"X-Request-ID": "req-start"})
        # the server thread logs the request as it finishes, which may be just after the
        # client has its answer
        deadline = time.monotonic() + 5
        while not access_records() and time.monotonic() < deadline:
            time.sleep(0.02)
    iid = started.json()["id"]
    formatter = JsonFormatter()
    lines = [json.loads(formatter.format(r)) for r in access_records()]
    assert [(line["status"], line["instanceId"]) for line in lines] == [(201, iid)]
