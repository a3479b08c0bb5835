"""The browser tests' world: ``caseflow serve --demo`` on a fresh SQLite file, and Debian's
Chromium driven by Playwright at 1366x768.

The server is the real command in a subprocess (API, job executor, web app, demo data); the
browser is the system's ``chromium`` (Playwright downloads none). Without Chromium the tests
skip, unless CI is set or ``CASEFLOW_REQUIRE_BROWSER=1``: there they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
DATA = Path(__file__).parent / "data"
CHROMIUM = os.environ.get("CASEFLOW_CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1366, "height": 768}



def _browser_required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("CASEFLOW_REQUIRE_BROWSER") == "1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    database_url: str

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """One call to the API over HTTP (test set-up and checks beside the browser)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - our own server on loopback
            f"{self.url}/api/v1{path}", data=data, method=method
        )
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                text = response.read().decode()
        except urllib.error.HTTPError as error:
            raise AssertionError(
                f"{method} {path}: {error.code} {error.read().decode()}"
            ) from error
        return json.loads(text) if text else None

    def token(self, user_id: str) -> str:
        return str(self.api("POST", "/auth/dev-login", {"userId": user_id})["token"])


@contextmanager
def serving(home: Path, env_extra: dict[str, str] | None = None) -> Iterator[LiveServer]:
    """``caseflow serve --demo`` on a fresh SQLite file in ``home``, until the block ends."""
    if not (ROOT / "src" / "caseflow" / "web" / "static" / "index.html").exists():
        pytest.fail("the web app is not built: run `make install` (npm ci && npm run build)")
    port = _free_port()
    log = home / "server.log"
    env = {**os.environ, "CASEFLOW_LOG_LEVEL": "WARNING", **(env_extra or {})}
    env.pop("CASEFLOW_CONFIG", None)
    database_url = f"sqlite:///{home / 'web.db'}"
    command = [
        str(Path(sys.executable).with_name("caseflow")),
        "serve",
        "--demo",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--database-url",
        database_url,
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=home)  # noqa: S603
    server = LiveServer(f"http://127.0.0.1:{port}", process, log, database_url)
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            pytest.fail(
                f"caseflow serve exited with {process.returncode}:\n{log.read_text()[-4000:]}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/api/v1/auth/config", timeout=2):  # noqa: S310
                break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"caseflow serve did not answer in time:\n{log.read_text()[-4000:]}")
            time.sleep(0.3)
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(tmp_path_factory.mktemp("web-server")) as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if _browser_required():
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    created = browser.new_context(viewport=VIEWPORT, base_url=live_server.url, locale="vi-VN")
    created.set_default_timeout(15_000)
    yield created
    created.close()


@pytest.fixture
def page(context: Any) -> Any:
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    opened.errors = errors
    return opened
