"""A live caseflow API server per test, on SQLite and on PostgreSQL, and clients for it.

The server is the real thing: ``create_app`` served by uvicorn in a background thread on a
free port of 127.0.0.1, over a real database. Tests talk to it with httpx over HTTP.

Fixtures
--------
``live_api``     A :class:`LiveApi`, parametrised over ``sqlite`` and ``postgres`` (the
                 PostgreSQL case is marked ``postgres`` and runs in this session's own
                 schema, emptied before the test, see ``tests/conftest.py``). Use it in every
                 endpoint test so each runs on both databases.
``sqlite_api``   The same on SQLite only (for what does not depend on the database, like
                 the schemathesis run).
``postgres_api`` The same on PostgreSQL only (mark the test ``postgres``): for what only
                 PostgreSQL has (triggers, row-level security).

On a :class:`LiveApi`:

``api.services``          the server's :class:`~caseflow.api.services.Services`: set up data
                          directly (``api.services.work.create_user(...)``,
                          ``api.services.engine.deploy(...)``) instead of through HTTP.
``api.client_as("ana")``  an httpx client with a development bearer token for user ``ana``
                          (the user need not exist in the organisation tables; create it
                          and grant roles first when the test needs queues or roles).
``api.admin()``           a client as user ``admin`` holding a role coded ``ADMIN`` (made on
                          first use): passes ``require_admin`` and ``require_operator``.
``api.operator()``        a client as ``operator`` holding role ``OPERATOR``.
``api.anonymous()``       a client without credentials (for 401 cases).
``api.api_key_client("svc")``  a client sending a freshly made API key acting as ``svc``
                          (``X-API-Key``); its principal is of kind ``service``.
``api.url(path)``         the absolute URL of ``path``.

Clients are closed after the test. The job executor is off (tests run jobs themselves
with ``caseflow.time.jobs.JobExecutor(api.services.engine).run_until_idle()``); ask for it
with ``@pytest.mark.parametrize("api_settings", [{"executor": True}], indirect=True)``;
any Settings field can be set that way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from caseflow.api import create_app
from caseflow.api.auth import issue_dev_token
from caseflow.api.services import Services, services_for
from caseflow.api.settings import Settings
from caseflow.runtime.ports import Store
from caseflow.store import open_store
from caseflow.store.sql import SqlStore
from tests.pg import POSTGRES_URL


class LiveServer:
    """uvicorn serving ``app`` in a daemon thread on a free port until :meth:`stop`.

    uvicorn makes its own listening socket (port 0: the system picks one); handing it a
    socket made here costs about 40 ms per request (delayed ACKs).
    """

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.port = 0

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the API server thread died while starting")
            if time.monotonic() > deadline:
                raise RuntimeError("the API server did not start within 20 s")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@dataclass
class LiveApi:
    """A running server and what a test needs to talk to it."""

    base_url: str
    services: Services
    backend: str
    _clients: list[httpx.Client] = field(default_factory=list)
    _made: set[str] = field(default_factory=set)

    def url(self, path: str) -> str:
        return self.base_url + path

    def _client(self, headers: dict[str, str]) -> httpx.Client:
        client = httpx.Client(base_url=self.base_url, headers=headers, timeout=30)
        self._clients.append(client)
        return client

    def token_for(self, user_id: str) -> str:
        return issue_dev_token(self.services, user_id)

    def client_as(self, user_id: str) -> httpx.Client:
        return self._client({"Authorization": f"Bearer {self.token_for(user_id)}"})

    def anonymous(self) -> httpx.Client:
        return self._client({})

    def user_with_role(self, user_id: str, role_code: str) -> None:
        """Make ``user_id`` (if new) hold the role ``role_code`` (made if new)."""
        work = self.services.work
        if role_code not in {r.code for r in work.roles()}:
            work.create_role(role_code, role_code.title())
        if user_id not in self._made:
            try:
                work.user(user_id)
            except Exception:  # noqa: BLE001 - absent: create it
                work.create_user(user_id, user_id.title())
            self._made.add(user_id)
        work.grant(user_id, role_code, by="test")

    def admin(self) -> httpx.Client:
        if "admin" not in self._made:
            self.user_with_role("admin", "ADMIN")
        return self.client_as("admin")

    def operator(self) -> httpx.Client:
        if "operator" not in self._made:
            self.user_with_role("operator", "OPERATOR")
        return self.client_as("operator")

    def api_key_client(self, user_id: str, name: str = "test key") -> httpx.Client:
        from caseflow.api.apikeys import create_api_key

        created = create_api_key(self.services, user_id=user_id, name=name, created_by="test")
        return self._client({"X-API-Key": created.secret})

    def close(self) -> None:
        for client in self._clients:
            client.close()


@pytest.fixture
def api_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Extra Settings fields for the server (parametrise indirectly to change them)."""
    given: dict[str, Any] = getattr(request, "param", {})
    return dict(given)


def _serve(store: SqlStore, settings: Settings) -> Iterator[LiveApi]:
    services = services_for(store, settings)
    server = LiveServer(create_app(services=services))
    server.start()
    api = LiveApi(f"http://127.0.0.1:{server.port}", services, settings.database_url[:6])
    try:
        yield api
    finally:
        api.close()
        server.stop()


def _sqlite_settings(tmp_path: Path, extra: dict[str, Any]) -> tuple[SqlStore, Settings]:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    store = open_store(url)
    assert isinstance(store, SqlStore)
    settings = Settings(**{"database_url": url, "executor": False, **extra})
    return store, settings


@pytest.fixture
def sqlite_api(tmp_path: Path, api_settings: dict[str, Any]) -> Iterator[LiveApi]:
    store, settings = _sqlite_settings(tmp_path, api_settings)
    try:
        yield from _serve(store, settings)
    finally:
        store.close()


def _postgres_api(
    request: pytest.FixtureRequest, api_settings: dict[str, Any]
) -> Iterator[LiveApi]:
    make: Callable[[], Store] = request.getfixturevalue("postgres_stores")
    schema: str = request.getfixturevalue("postgres_schema")
    store = make()
    assert isinstance(store, SqlStore)
    settings = Settings(
        **{
            "database_url": POSTGRES_URL,
            "database_schema": schema,
            "executor": False,
            "auth_mode": "dev",
            "dev_auth_allow_postgres": True,
            **api_settings,
        }
    )
    yield from _serve(store, settings)


@pytest.fixture
def postgres_api(request: pytest.FixtureRequest, api_settings: dict[str, Any]) -> Iterator[LiveApi]:
    """The server on PostgreSQL only (mark the test ``postgres``)."""
    yield from _postgres_api(request, api_settings)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live_api(
    request: pytest.FixtureRequest, tmp_path: Path, api_settings: dict[str, Any]
) -> Iterator[LiveApi]:
    if request.param == "sqlite":
        store, settings = _sqlite_settings(tmp_path, api_settings)
        try:
            yield from _serve(store, settings)
        finally:
            store.close()
        return
    yield from _postgres_api(request, api_settings)
