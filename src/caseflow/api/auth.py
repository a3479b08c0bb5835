"""Who is calling: the :class:`Principal` of a request, and the role checks routes declare.

Three ways in, one result. A bearer token is either a development token (HS256, signed
with this database's secret, ``auth_mode = "dev"`` only) or an OIDC access token (RS/ES
signed, checked against the configured issuer, audience and JWKS). Machine clients send an
API key (``X-API-Key`` or ``Authorization: ApiKey ...``). Whatever the way, the principal's
groups are the token's groups plus the codes of the caseflow roles the user validly holds
now, so one grant in the organisation tables is enough to make someone an operator.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import jwt
from fastapi import Depends, Request
from sqlalchemy import select

from caseflow.api.problems import ApiProblem
from caseflow.api.services import Services, get_services
from caseflow.work import sql as w

DEV_ISSUER = "caseflow-dev"
DEV_AUDIENCE = "caseflow"
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="caseflow"'}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request."""

    user_id: str
    groups: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()  # caseflow role codes held through valid grants
    kind: Literal["user", "service"] = "user"
    is_admin: bool = False
    is_operator: bool = False
    display_name: str | None = None
    queues: tuple[str, ...] = ()
    via: str = "dev"  # dev | oidc | api_key
    claims: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def unauthenticated(detail: str) -> ApiProblem:
    return ApiProblem(401, detail, code="unauthenticated", headers=BEARER_CHALLENGE)


@dataclass(frozen=True, slots=True)
class _Identity:
    exists: bool
    active: bool
    name: str | None
    roles: frozenset[str]
    queues: tuple[str, ...]


def _identity(services: Services, user_id: str) -> _Identity:
    """What the organisation tables say about ``user_id`` right now (one read)."""
    tenant = services.settings.tenant_id
    now = services.clock.now()
    with services.store.transaction(read_only=True) as tx:
        row = tx.conn.execute(
            select(w.U.c.name, w.U.c.active).where(w.U.c.id == user_id, w.U.c.tenant_id == tenant)
        ).first()
        roles = frozenset(tx.conn.scalars(w.role_codes(user_id, now, tenant)).all())
        queues = tuple(sorted(set(tx.conn.scalars(w.covered_queues(user_id, now, tenant)))))
    return _Identity(
        exists=row is not None,
        active=bool(row.active) if row is not None else True,
        name=row.name if row is not None else None,
        roles=roles,
        queues=queues,
    )


def principal_for(
    services: Services,
    user_id: str,
    token_groups: frozenset[str] = frozenset(),
    *,
    kind: Literal["user", "service"] = "user",
    via: str = "dev",
    claims: dict[str, Any] | None = None,
) -> Principal:
    """The principal of ``user_id``: token groups joined with the user's caseflow roles."""
    identity = _identity(services, user_id)
    if identity.exists and not identity.active:
        raise ApiProblem(403, f"user '{user_id}' is deactivated", code="user_inactive")
    settings = services.settings
    groups = token_groups | identity.roles
    is_admin = bool(groups & set(settings.admin_groups))
    is_operator = is_admin or bool(groups & set(settings.operator_groups))
    return Principal(
        user_id=user_id,
        groups=groups,
        roles=identity.roles,
        kind=kind,
        is_admin=is_admin,
        is_operator=is_operator,
        display_name=identity.name,
        queues=identity.queues,
        via=via,
        claims=claims or {},
    )


# ------------------------------------------------------------------ development tokens


def issue_dev_token(services: Services, user_id: str) -> str:
    now = services.clock.now()
    hours = services.settings.dev_token_hours
    claims = {
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "sub": user_id,
        "iat": int(now.timestamp()),
        "exp": int((now + dt.timedelta(hours=hours)).timestamp()),
    }
    return jwt.encode(claims, services.dev_secret, algorithm="HS256")


def _dev_user(services: Services, token: str) -> str | None:
    """The user of a development token, None when ``token`` is not one."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None
    if header.get("alg") != "HS256":
        return None
    try:
        claims = jwt.decode(
            token,
            services.dev_secret,
            algorithms=["HS256"],
            audience=DEV_AUDIENCE,
            issuer=DEV_ISSUER,
            options={"require": ["exp", "sub", "iss", "aud"], "verify_iat": False},
        )
    except jwt.ExpiredSignatureError as error:
        raise unauthenticated("the development token has expired") from error
    except jwt.PyJWTError as error:
        raise unauthenticated("the development token is not valid") from error
    subject = claims.get("sub")
    return subject if isinstance(subject, str) and subject else None


def principal_from_claims(services: Services, claims: dict[str, Any]) -> Principal:
    """The principal of a verified OIDC token (user and group claims as configured)."""
    from caseflow.api.oidc import user_and_groups

    user, groups = user_and_groups(services, claims)
    return principal_for(services, user, groups, via="oidc", claims=claims)


# ------------------------------------------------------------------ the dependency


def _credentials(request: Request) -> tuple[str, str] | None:
    """``("bearer", token)`` or ``("apikey", key)`` from the headers, or None."""
    key = request.headers.get("x-api-key")
    if key:
        return "apikey", key.strip()
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if not value:
        raise unauthenticated("the Authorization header has no credentials")
    if scheme.lower() == "bearer":
        return "bearer", value
    if scheme.lower() == "apikey":
        return "apikey", value
    raise unauthenticated(f"unsupported authorization scheme '{scheme}'")


def authenticate(request: Request, services: Services) -> Principal:
    """The principal of ``request``; raises a 401 problem when there is none."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    found = _credentials(request)
    if found is None:
        raise unauthenticated("authentication required")
    kind, value = found
    principal: Principal | None = None
    if kind == "apikey":
        from caseflow.api.apikeys import verify_api_key

        key = verify_api_key(services, value)
        if key is None:
            raise unauthenticated("the API key is not valid")
        principal = principal_for(services, key.user_id, kind="service", via="api_key")
    elif services.settings.effective_auth_mode == "dev":
        user = _dev_user(services, value)
        if user is None:
            raise unauthenticated("the bearer token is not a development token of this server")
        principal = principal_for(services, user, via="dev")
    else:
        from caseflow.api.oidc import verify_bearer

        claims = verify_bearer(services, value)
        principal = principal_from_claims(services, claims)
    request.state.principal = principal
    return principal


def current_principal(
    request: Request, services: Annotated[Services, Depends(get_services)]
) -> Principal:
    """FastAPI dependency: the authenticated caller (401 without valid credentials)."""
    return authenticate(request, services)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_admin(principal: CurrentPrincipal) -> Principal:
    """FastAPI dependency: an admin (403 for anyone else)."""
    if not principal.is_admin:
        raise ApiProblem(403, "this operation needs the admin role", code="forbidden")
    return principal


def require_operator(principal: CurrentPrincipal) -> Principal:
    """FastAPI dependency: an operator or admin (403 for anyone else)."""
    if not principal.is_operator:
        raise ApiProblem(403, "this operation needs the operator role", code="forbidden")
    return principal


AdminPrincipal = Annotated[Principal, Depends(require_admin)]
OperatorPrincipal = Annotated[Principal, Depends(require_operator)]


def require_worker(principal: CurrentPrincipal) -> Principal:
    """FastAPI dependency: a machine client (API key) or an operator: who may work external
    tasks and send messages and signals."""
    if principal.kind != "service" and not principal.is_operator:
        raise ApiProblem(
            403, "this operation needs an API key or the operator role", code="forbidden"
        )
    return principal


WorkerPrincipal = Annotated[Principal, Depends(require_worker)]
