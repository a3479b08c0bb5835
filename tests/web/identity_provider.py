"""An OpenID provider for the browser tests, on loopback: oidc-provider-mock (authlib's
authorization server, with its sign-in form, discovery document, JWKS and end-session page),
set up as a provider for a single-page app and an API is:

- access tokens are JWTs for the API's audience, signed with the key the JWKS publishes
  (the mock's own are opaque strings, which an API checking signatures cannot use);
- PKCE is enforced: a code is traded for tokens only with the verifier of the challenge it
  was issued for (RFC 7636, S256 only);
- the token endpoint and discovery document answer cross-origin requests (CORS), as a
  provider's "web origins" setting allows for a browser client;
- public clients (no secret: a page cannot keep one) may trade codes and refresh tokens.

A user's claims (``preferred_username``, ``groups``, ...) are set with ``put_user``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on loopback

import flask
import werkzeug.serving
from joserfc import jwt
from joserfc.jwk import RSAKey

AUDIENCE = "caseflow-api"
CLIENT_ID = "caseflow-web"
ACCESS_TOKEN_SECONDS = 600


@dataclass
class IdentityProvider:
    url: str
    challenges: dict[str, str] = field(default_factory=dict)  # code -> S256 challenge
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def put_user(self, sub: str, claims: dict[str, Any]) -> None:
        request = urllib.request.Request(  # noqa: S310 - our own provider on loopback
            f"{self.url}/users/{quote(sub)}",
            data=json.dumps(claims).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass


def _access_token(client: Any, grant_type: str, user: Any, scope: str) -> str:
    """A JWT for the API, signed with the provider's published key."""
    storage = flask.g.oidc_provider_mock_storage
    key = RSAKey.import_key(storage.jwk.as_dict(is_private=True))
    now = int(time.time())
    claims = {
        "iss": flask.request.host_url.rstrip("/"),
        "sub": user.sub,
        "aud": AUDIENCE,
        "azp": client.id,
        "scope": scope,
        "iat": now,
        "exp": now + ACCESS_TOKEN_SECONDS,
        **{k: v for k, v in user.claims.items() if k in ("preferred_username", "name", "groups")},
    }
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _app(provider: IdentityProvider) -> flask.Flask:
    with warnings.catch_warnings():  # it imports authlib modules authlib deprecates
        import authlib.deprecate  # noqa: F401 - which asks for "always" first: ignore after

        warnings.simplefilter("ignore", DeprecationWarning)
        from oidc_provider_mock import _app as mock_app
        from oidc_provider_mock import init_app
    for grant in (mock_app.AuthorizationCodeGrant, mock_app.RefreshTokenGrant):
        grant.TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    app = flask.Flask("oidc_provider_mock._app")  # its templates: the sign-in form
    app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = _access_token
    init_app(app, access_token_max_age=timedelta(seconds=ACCESS_TOKEN_SECONDS))
    app.secret_key = os.urandom(16)

    @app.before_request
    def enforce_pkce() -> Any:
        request = flask.request
        if request.method == "OPTIONS":
            return flask.Response(status=204)
        code_grant = request.form.get("grant_type") == "authorization_code"
        if request.path == "/oauth2/token" and code_grant:
            provider.token_requests.append(dict(request.form))
            challenge = provider.challenges.pop(request.form.get("code", ""), None)
            verifier = request.form.get("code_verifier")
            if challenge is None or verifier is None or _s256(verifier) != challenge:
                return flask.jsonify(
                    error="invalid_grant", error_description="PKCE verification failed"
                ), 400
        return None

    @app.after_request
    def remember_challenge_and_allow_cors(response: flask.Response) -> flask.Response:
        request = flask.request
        if request.path == "/oauth2/authorize" and response.status_code in (302, 303):
            location = urlsplit(response.headers.get("Location", ""))
            code = parse_qs(location.query).get("code", [None])[0]
            if code and request.args.get("code_challenge_method") == "S256":
                provider.challenges[code] = request.args.get("code_challenge", "")
        origin = request.headers.get("Origin")
        if origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response.headers["Vary"] = "Origin"
        return response

    return app


@contextmanager
def running_identity_provider() -> Iterator[IdentityProvider]:
    """The provider on ``http://localhost:<free port>`` for the duration of the block."""
    provider = IdentityProvider(url="")
    server = werkzeug.serving.make_server("localhost", 0, _app(provider), threaded=True)
    provider.url = f"http://localhost:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
