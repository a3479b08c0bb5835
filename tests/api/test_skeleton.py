"""The API skeleton over real HTTP: problems, development auth, roles, configuration."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter

from caseflow.api import create_app
from caseflow.api.app import UnsafeConfiguration, check_configuration
from caseflow.api.auth import AdminPrincipal, OperatorPrincipal
from caseflow.api.services import services_for
from caseflow.api.settings import Settings, load_settings
from caseflow.store import open_store
from caseflow.store.sql import SqlStore
from tests.api.conftest import LiveApi, LiveServer

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["title"]
    assert body["type"].startswith("https://")
    assert "Traceback" not in response.text
    return body


def test_auth_config_is_public_and_labels_development_mode(live_api: LiveApi) -> None:
    response = live_api.anonymous().get("/api/v1/auth/config")
    assert response.status_code == 200
    assert response.json() == {"mode": "dev", "devUsers": [], "oidc": None}
    assert response.headers["X-Caseflow-Auth"] == "development"
    assert response.headers["X-Request-ID"]


def test_dev_login_gives_a_token_the_api_accepts(live_api: LiveApi) -> None:
    live_api.services.work.create_user("ana", "Ana Nguyen")
    client = live_api.anonymous()
    login = client.post("/api/v1/auth/dev-login", json={"userId": "ana"})
    assert login.status_code == 200, login.text
    body = login.json()
    assert body["user"]["userId"] == "ana"
    assert body["user"]["displayName"] == "Ana Nguyen"
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["userId"] == "ana"
    assert me.json()["isAdmin"] is False
    assert me.json()["isOperator"] is False


def test_roles_held_through_grants_make_admin_and_operator(live_api: LiveApi) -> None:
    admin = live_api.admin().get("/api/v1/auth/me").json()
    assert admin["isAdmin"] is True
    assert admin["isOperator"] is True
    assert "ADMIN" in admin["groups"]
    operator = live_api.operator().get("/api/v1/auth/me").json()
    assert operator["isAdmin"] is False
    assert operator["isOperator"] is True


def test_missing_or_bad_credentials_are_401_problems(live_api: LiveApi) -> None:
    client = live_api.anonymous()
    missing = client.get("/api/v1/auth/me")
    assert_problem(missing, 401, "unauthenticated")
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    forged = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert_problem(forged, 401, "unauthenticated")
    # a development token signed with another server's secret
    other = live_api.token_for("ana")[:-4] + "AAAA"
    tampered = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {other}"})
    assert_problem(tampered, 401, "unauthenticated")
    scheme = client.get("/api/v1/auth/me", headers={"Authorization": "Basic YTpi"})
    assert_problem(scheme, 401, "unauthenticated")


def test_a_deactivated_user_is_refused(live_api: LiveApi) -> None:
    live_api.services.work.create_user("bob", "Bob")
    client = live_api.client_as("bob")
    assert client.get("/api/v1/auth/me").status_code == 200
    live_api.services.work.deactivate_user("bob", by="test")
    assert_problem(client.get("/api/v1/auth/me"), 403, "user_inactive")


def test_unknown_routes_and_bad_bodies_are_problems(live_api: LiveApi) -> None:
    client = live_api.anonymous()
    assert_problem(client.get("/api/v1/no-such-thing"), 404, "not_found")
    bad = client.post("/api/v1/auth/dev-login", json={"user": "x"})
    body = assert_problem(bad, 422, "validation_failed")
    assert body["errors"][0]["location"][-1] == "userId"
    odd = client.post("/api/v1/auth/dev-login", json={"userId": "a b/c"})
    assert_problem(odd, 422, "validation_failed")
    assert_problem(client.delete("/api/v1/auth/me"), 405, "method_not_allowed")


def test_openapi_document_and_docs_are_served(live_api: LiveApi) -> None:
    client = live_api.anonymous()
    document = client.get("/api/v1/openapi.json")
    assert document.status_code == 200
    assert "/api/v1/auth/dev-login" in document.json()["paths"]
    assert client.get("/api/v1/docs").status_code == 200


def test_require_admin_and_operator_refuse_others(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'roles.db'}"
    store = open_store(url)
    assert isinstance(store, SqlStore)
    services = services_for(store, Settings(database_url=url, executor=False))
    app = create_app(services=services)
    probe = APIRouter()

    @probe.get("/probe/admin")
    def admin_only(principal: AdminPrincipal) -> dict[str, str]:
        return {"user": principal.user_id}

    @probe.get("/probe/operator")
    def operator_only(principal: OperatorPrincipal) -> dict[str, str]:
        return {"user": principal.user_id}

    app.include_router(probe)
    server = LiveServer(app)
    server.start()
    api = LiveApi(f"http://127.0.0.1:{server.port}", services, "sqlite")
    try:
        worker = api.client_as("worker")
        assert_problem(worker.get("/probe/admin"), 403, "forbidden")
        assert_problem(worker.get("/probe/operator"), 403, "forbidden")
        assert_problem(api.anonymous().get("/probe/admin"), 401, "unauthenticated")
        assert api.operator().get("/probe/operator").json() == {"user": "operator"}
        assert_problem(api.operator().get("/probe/admin"), 403, "forbidden")
        assert api.admin().get("/probe/admin").json() == {"user": "admin"}
        assert api.admin().get("/probe/operator").status_code == 200
    finally:
        api.close()
        server.stop()
        store.close()


def test_development_auth_refuses_postgresql_unless_allowed() -> None:
    pg = "postgresql://u@db/caseflow"
    assert Settings(database_url=pg).effective_auth_mode == "oidc"
    assert Settings().effective_auth_mode == "dev"
    with pytest.raises(UnsafeConfiguration, match="CASEFLOW_DEV_AUTH_ALLOW_POSTGRES"):
        check_configuration(Settings(database_url=pg, auth_mode="dev"))
    with pytest.raises(UnsafeConfiguration):
        create_app(Settings(database_url=pg, auth_mode="dev"))
    check_configuration(Settings(database_url=pg, auth_mode="dev", dev_auth_allow_postgres=True))


def test_settings_come_from_toml_then_environment_then_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "caseflow.toml"
    config.write_text('port = 9000\nhost = "0.0.0.0"\nadmin_groups = ["ops"]\n')
    monkeypatch.setenv("CASEFLOW_HOST", "10.0.0.1")
    settings = load_settings(config, port=None)
    assert settings.port == 9000
    assert settings.host == "10.0.0.1"
    assert settings.admin_groups == ["ops"]
    assert load_settings(config, port=9100).port == 9100
    with pytest.raises(FileNotFoundError):
        load_settings(tmp_path / "missing.toml")
    config.write_text("no_such_setting = 1\n")
    with pytest.raises(ValueError, match="no_such_setting"):
        load_settings(config)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_caseflow_serve_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEFLOW_")}
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "caseflow.cli", "serve", "--port", str(port),
         "--database-url", f"sqlite:///{tmp_path / 'serve.db'}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/auth/config", timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.communicate()[1]) from None
                time.sleep(0.1)
        assert answer.json()["mode"] == "dev"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        # uvicorn re-raises the signal once it has shut down cleanly
        assert process.returncode in (0, -signal.SIGTERM), stderr
        assert "Application shutdown complete" in stderr
        assert "job executor" in stderr
        assert "stopped" in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_caseflow_serve_refuses_dev_auth_on_postgresql() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEFLOW_")}
    env["CASEFLOW_AUTH_MODE"] = "dev"
    result = subprocess.run(
        [sys.executable, "-m", "caseflow.cli", "serve",
         "--database-url", "postgresql://nobody@127.0.0.1:1/none"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "CASEFLOW_DEV_AUTH_ALLOW_POSTGRES" in result.stderr


def test_shutdown_lets_in_flight_requests_end_and_stops_the_executor(tmp_path: Path) -> None:
    import threading

    url = f"sqlite:///{tmp_path / 'shutdown.db'}"
    store = open_store(url)
    assert isinstance(store, SqlStore)
    services = services_for(store, Settings(database_url=url, executor=True))
    server = LiveServer(create_app(services=services))
    server.start()
    api = LiveApi(f"http://127.0.0.1:{server.port}", services, "sqlite")
    answers: list[httpx.Response] = []
    try:
        worker = api.operator()
        executor = services.extras["executor"]
        poll = {"workerId": "w", "asyncResponseTimeout": 1500,
                "topics": [{"topicName": "nothing", "lockDuration": 1000}]}
        waiting = threading.Thread(target=lambda: answers.append(
            worker.post("/api/v1/external-tasks/fetch-and-lock", json=poll)))
        waiting.start()
        time.sleep(0.5)  # the long poll is in flight
        server.stop()
        waiting.join(timeout=10)
        assert [a.status_code for a in answers] == [200]
        assert answers[0].json() == []
        assert not any(t.name == "caseflow-executor" for t in threading.enumerate())
        assert executor.stats.as_dict()["errors"] == 0
    finally:
        api.close()
        store.close()
