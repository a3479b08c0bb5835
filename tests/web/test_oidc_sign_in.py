"""Signing in to the web app through an OpenID provider: authorization code with PKCE.

caseflow runs in OIDC mode (no development login) against a real provider on loopback
(``identity_provider.py``); Chromium goes to the provider's sign-in form and back, and the
pages then call the API with the provider's access token.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.web.conftest import VIEWPORT, LiveServer, serving
from tests.web.helpers import axe_violations
from tests.web.identity_provider import (
    AUDIENCE,
    CLIENT_ID,
    IdentityProvider,
    running_identity_provider,
)

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture(scope="module")
def provider() -> Iterator[IdentityProvider]:
    with running_identity_provider() as running:
        # a case worker of the demo organisation, as the provider knows her
        running.put_user(
            "0d6f-an",
            {"preferred_username": "an.nguyen", "name": "Nguyễn Thị An", "groups": ["clerks"]},
        )
        yield running


@pytest.fixture(scope="module")
def oidc_server(
    tmp_path_factory: pytest.TempPathFactory, provider: IdentityProvider
) -> Iterator[LiveServer]:
    settings = {
        "CASEFLOW_AUTH_MODE": "oidc",
        "CASEFLOW_OIDC_ISSUER": provider.url,  # the JWKS comes from its discovery document
        "CASEFLOW_OIDC_AUDIENCE": AUDIENCE,
        "CASEFLOW_OIDC_CLIENT_ID": CLIENT_ID,
    }
    with serving(tmp_path_factory.mktemp("oidc-server"), settings) as server:
        yield server


@pytest.fixture
def oidc_page(browser: Any, oidc_server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT, base_url=oidc_server.url, locale="vi-VN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: errors.append(message.text)
        if message.type == "error" and "Content Security Policy" in message.text
        else None,
    )
    page.errors = errors
    yield page
    context.close()


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_sign_in_with_the_identity_provider_uses_pkce_and_its_access_token(
    oidc_page: Any, oidc_server: LiveServer, provider: IdentityProvider
) -> None:
    page = oidc_page
    authorize_urls: list[str] = []
    page.on(
        "request",
        lambda r: authorize_urls.append(r.url) if "/oauth2/authorize" in r.url else None,
    )
    page.goto("/app/tasks/")
    page.locator('button[data-action="oidc-sign-in"]').wait_for()
    assert page.locator(".dev-banner").count() == 0  # no development login in OIDC mode
    assert axe_violations(page) == []
    policy = page.evaluate(
        "async () => (await fetch('/app/login')).headers.get('Content-Security-Policy')"
    )
    assert f"connect-src 'self' {provider.url}" in policy

    page.locator('button[data-action="oidc-sign-in"]').click()
    page.wait_for_url(f"{provider.url}/oauth2/authorize*")
    query = parse_qs(urlsplit(authorize_urls[0]).query)
    assert query["response_type"] == ["code"]
    assert query["client_id"] == [CLIENT_ID]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43  # base64url of a SHA-256 digest
    assert query["audience"] == [AUDIENCE]
    assert query["redirect_uri"] == [f"{oidc_server.url}/app/auth/callback"]

    page.locator('input[name="sub"]').fill("0d6f-an")
    page.get_by_role("button", name="Authorize").click()

    page.locator('.who[data-user="an.nguyen"]').wait_for()
    assert urlsplit(page.url).path == "/app/tasks"
    # the code went back with its verifier (the provider checks it against the challenge)
    [exchange] = provider.token_requests[-1:]
    assert exchange["code_verifier"] and exchange["redirect_uri"].endswith("/app/auth/callback")
    token = page.evaluate("() => localStorage.getItem('caseflow.token')")
    claims = _claims(token)
    assert (claims["aud"], claims["iss"], claims["preferred_username"]) == (
        AUDIENCE, provider.url, "an.nguyen",
    )
    # the pages work with it: the task list answers and names the signed-in user
    me = oidc_server.api("GET", "/auth/me", token=token)
    assert me["userId"] == "an.nguyen" and me["via"] == "oidc"
    page.locator("main#main").wait_for()
    # back at the callback address with the session open (the back button): no new trade
    page.goto("/app/auth/callback?code=used&state=used")
    page.wait_for_url("**/app/tasks")
    page.locator('.who[data-user="an.nguyen"]').wait_for()
    assert page.errors == []

    # signing out ends the provider's session too, and comes back to the login page
    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_url(f"{provider.url}/oauth2/end_session*")
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{oidc_server.url}/app/login*")
    page.locator('button[data-action="oidc-sign-in"]').wait_for()
    assert page.evaluate("() => localStorage.getItem('caseflow.token')") is None


def test_a_refused_sign_in_comes_back_as_an_error_on_the_login_page(
    oidc_page: Any, provider: IdentityProvider
) -> None:
    page = oidc_page
    page.goto("/app/login")
    page.locator('button[data-action="oidc-sign-in"]').click()
    page.wait_for_url(f"{provider.url}/oauth2/authorize*")
    page.get_by_role("button", name="Deny").click()
    page.wait_for_url("**/app/login")
    page.locator('[role="alert"]').wait_for()
    assert "denied" in page.locator('[role="alert"]').inner_text()
    assert page.evaluate("() => localStorage.getItem('caseflow.token')") is None
    assert page.errors == []
