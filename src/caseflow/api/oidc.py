"""OIDC bearer tokens: signature by the issuer's JWKS, then issuer, audience and expiry.

The JWKS (at ``oidc_jwks_url``, or where the issuer's discovery document says) is fetched
once and cached; a token signed with a key id the cache does not know
makes one refetch (the provider rotated its keys; at most every
``oidc_jwks_refetch_seconds``), and an id still unknown then is refused.
Only asymmetric algorithms are accepted, so a token "signed" with the public key as an
HMAC secret, or an unsigned one, never passes.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

import jwt

from caseflow.api.problems import ApiProblem
from caseflow.api.services import Services

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
_lock = threading.Lock()


def _jwks(services: Services) -> jwt.PyJWKClient:
    with _lock:
        client = services.extras.get("oidc_jwks")
        if not isinstance(client, jwt.PyJWKClient):
            url = services.settings.oidc_jwks_url or _discovered_jwks_url(
                services.settings.oidc_issuer
            )
            client = jwt.PyJWKClient(
                url,
                cache_keys=True,
                lifespan=services.settings.oidc_jwks_cache_seconds,
                timeout=10,
                cooldown_duration=services.settings.oidc_jwks_refetch_seconds,
            )
            services.extras["oidc_jwks"] = client
        return client


def _discovered_jwks_url(issuer: str | None) -> str:
    """``jwks_uri`` from the issuer's OpenID discovery document (OIDC Discovery 1.0 §4)."""
    if not issuer:
        raise ApiProblem(
            503, "OIDC is not configured (CASEFLOW_OIDC_ISSUER or CASEFLOW_OIDC_JWKS_URL)",
            code="auth_not_configured",
        )
    if not issuer.startswith(("https://", "http://")):
        raise ApiProblem(503, "the OIDC issuer is not an http(s) URL", code="auth_not_configured")
    where = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(where, timeout=10) as response:  # noqa: S310 - checked above
            document = json.loads(response.read(1_000_000))
    except (OSError, ValueError) as error:
        raise ApiProblem(
            503, "the identity provider's discovery document cannot be fetched",
            code="auth_unavailable",
        ) from error
    url = document.get("jwks_uri") if isinstance(document, dict) else None
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ApiProblem(
            503, "the identity provider's discovery document names no jwks_uri",
            code="auth_unavailable",
        )
    return url


def _refused(detail: str) -> ApiProblem:
    from caseflow.api.auth import unauthenticated

    return unauthenticated(detail)


def verify_bearer(services: Services, token: str) -> dict[str, Any]:
    """The claims of a valid OIDC access token; a 401 problem for any other token."""
    settings = services.settings
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise _refused("the bearer token is not a JWT") from error
    if header.get("alg") not in ALGORITHMS:
        raise _refused("the bearer token is not signed with an accepted algorithm")
    try:
        signing_key = _jwks(services).get_signing_key_from_jwt(token)
    except jwt.PyJWKClientConnectionError as error:
        raise ApiProblem(
            503, "the identity provider's keys cannot be fetched", code="auth_unavailable"
        ) from error
    except jwt.PyJWKClientError as error:
        raise _refused("the bearer token is signed with an unknown key") from error
    except jwt.PyJWTError as error:
        raise _refused("the bearer token is not valid") from error
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            signing_key.key,
            algorithms=ALGORITHMS,
            audience=settings.oidc_audience,
            issuer=settings.oidc_issuer,
            leeway=settings.oidc_leeway_seconds,
            options={
                "require": ["exp", "iss", "sub"],
                "verify_aud": settings.oidc_audience is not None,
            },
        )
    except jwt.ExpiredSignatureError as error:
        raise _refused("the bearer token has expired") from error
    except jwt.InvalidAudienceError as error:
        raise _refused("the bearer token is for another audience") from error
    except jwt.InvalidIssuerError as error:
        raise _refused("the bearer token is from another issuer") from error
    except jwt.PyJWTError as error:
        raise _refused("the bearer token is not valid") from error
    return claims


def claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by name or dotted path (``realm_access.roles``)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def user_and_groups(services: Services, claims: dict[str, Any]) -> tuple[str, frozenset[str]]:
    settings = services.settings
    user = claim(claims, settings.oidc_user_claim) or claims.get("sub")
    if not isinstance(user, str) or not user:
        raise _refused("the bearer token names no user")
    raw = claim(claims, settings.oidc_groups_claim)
    if isinstance(raw, str):
        raw = [raw]
    groups = frozenset(
        g.lstrip("/") for g in (raw if isinstance(raw, list) else []) if isinstance(g, str)
    )
    return user, groups
