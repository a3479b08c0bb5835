"""OIDC bearer tokens against a JWKS served by a local HTTP server, keys made here."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.api.conftest import LiveApi, _serve, _sqlite_settings
from tests.api.test_skeleton import assert_problem

ISSUER = "https://id.example.test/realms/caseflow"
AUDIENCE = "caseflow-api"


@dataclass
class IdentityProvider:
    """Signing keys, and a JWKS endpoint publishing the public halves."""

    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    fetches: int = 0
    url: str = ""

    def add_key(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        published = []
        for kid, key in self.keys.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            published.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": published}

    def token(self, kid: str = "k1", **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER, "aud": AUDIENCE, "sub": "0b7c", "preferred_username": "lan",
            "groups": ["/caseflow-operator", "clerks"], "iat": now, "exp": now + 300,
            **overrides,
        }
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    provider.add_key("k1")

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            provider.fetches += 1
            body = json.dumps(provider.jwks()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    provider.url = f"http://127.0.0.1:{server.server_address[1]}/certs"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield provider
    server.shutdown()
    server.server_close()


@pytest.fixture
def oidc_api(tmp_path: Path, idp: IdentityProvider) -> Iterator[LiveApi]:
    store, settings = _sqlite_settings(tmp_path, {
        "auth_mode": "oidc", "oidc_issuer": ISSUER, "oidc_audience": AUDIENCE,
        "oidc_jwks_url": idp.url, "oidc_client_id": "caseflow-web",
        "oidc_leeway_seconds": 0, "oidc_jwks_refetch_seconds": 0,
    })
    try:
        yield from _serve(store, settings)
    finally:
        store.close()


def me(api: LiveApi, token: str) -> Any:
    return api.anonymous().get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


def test_a_valid_token_maps_claims_to_user_and_groups(oidc_api: LiveApi, idp: IdentityProvider
                                                      ) -> None:
    answer = me(oidc_api, idp.token())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["userId"] == "lan"
    assert body["via"] == "oidc"
    assert set(body["groups"]) == {"caseflow-operator", "clerks"}
    assert body["isOperator"] is True and body["isAdmin"] is False
    assert "X-Caseflow-Auth" not in answer.headers
    # without the username claim the subject is the user
    assert me(oidc_api, idp.token(preferred_username=None)).json()["userId"] == "0b7c"
    config = oidc_api.anonymous().get("/api/v1/auth/config").json()
    assert config == {"mode": "oidc", "devUsers": None,
                      "oidc": {"issuer": ISSUER, "clientId": "caseflow-web",
                               "scope": "openid profile email", "audience": AUDIENCE}}


def test_caseflow_roles_join_the_token_groups(oidc_api: LiveApi, idp: IdentityProvider) -> None:
    oidc_api.user_with_role("lan", "ADMIN")
    assert me(oidc_api, idp.token()).json()["isAdmin"] is True


def test_bad_tokens_are_refused(oidc_api: LiveApi, idp: IdentityProvider) -> None:
    past = int(time.time()) - 600
    refused = {
        "expired": idp.token(iat=past - 60, exp=past),
        "wrong audience": idp.token(aud="another-api"),
        "wrong issuer": idp.token(iss="https://evil.example.test"),
        "no expiry": idp.token(exp=None),
    }
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused["unknown kid"] = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": int(time.time()) + 60},
        stranger, algorithm="RS256", headers={"kid": "k-unknown"})
    refused["signed by another key under a known kid"] = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": int(time.time()) + 60},
        stranger, algorithm="RS256", headers={"kid": "k1"})
    header, payload, signature = idp.token().split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["preferred_username"] = "admin"
    forged = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    refused["tampered"] = f"{header}.{forged}.{signature}"
    refused["unsigned"] = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "x",
                                      "exp": int(time.time()) + 60}, None, algorithm="none")
    refused["dev token"] = jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, "s" * 32,
                                      algorithm="HS256")
    for why, token in refused.items():
        answer = me(oidc_api, token)
        assert answer.status_code == 401, f"{why}: {answer.text}"
        assert_problem(answer, 401, "unauthenticated")


def test_rotated_keys_are_fetched_again(oidc_api: LiveApi, idp: IdentityProvider) -> None:
    assert me(oidc_api, idp.token()).status_code == 200
    fetched = idp.fetches
    assert me(oidc_api, idp.token()).status_code == 200
    assert idp.fetches == fetched  # cached
    idp.add_key("k2")
    assert me(oidc_api, idp.token(kid="k2")).status_code == 200
    assert idp.fetches == fetched + 1


def test_dev_login_is_off_in_oidc_mode(oidc_api: LiveApi) -> None:
    answer = oidc_api.anonymous().post("/api/v1/auth/dev-login", json={"userId": "admin"})
    assert_problem(answer, 404, "not_found")


def test_without_a_jwks_url_the_keys_are_found_through_discovery_or_a_503(
    tmp_path: Path, idp: IdentityProvider
) -> None:
    """No ``oidc_jwks_url``: the issuer's discovery document names the JWKS. When it cannot
    be read, tokens are neither accepted nor called invalid: the provider is unavailable."""
    store, settings = _sqlite_settings(tmp_path, {
        "auth_mode": "oidc", "oidc_issuer": "http://127.0.0.1:9/realms/caseflow",
        "oidc_audience": AUDIENCE,
    })
    try:
        for api in _serve(store, settings):
            answer = me(api, idp.token())
            assert_problem(answer, 503, "auth_unavailable")
            assert "discovery" in answer.json()["detail"]
    finally:
        store.close()
