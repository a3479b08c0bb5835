"""Sign-in support: development login, who am I, and what the login page should offer."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from caseflow.api.auth import CurrentPrincipal, Principal, issue_dev_token, principal_for
from caseflow.api.models import CamelModel
from caseflow.api.problems import ApiProblem
from caseflow.api.services import Services, get_services

router = APIRouter(prefix="/auth", tags=["auth"])

DEV_HEADER = "X-Caseflow-Auth"
USER_ID = re.compile(r"^[A-Za-z0-9._@-]{1,128}$")


class DevLogin(CamelModel):
    user_id: str = Field(min_length=1, max_length=128)


class Me(CamelModel):
    user_id: str
    display_name: str | None
    kind: str
    groups: list[str]
    roles: list[str]
    is_admin: bool
    is_operator: bool
    queues: list[str]
    via: str


class DevToken(CamelModel):
    token: str
    user: Me


class OidcConfig(CamelModel):
    """What the web app needs for an authorization-code sign-in with PKCE."""

    issuer: str | None
    client_id: str | None
    scope: str
    audience: str | None


class AuthConfig(CamelModel):
    mode: str
    dev_users: list[str] | None
    oidc: OidcConfig | None


def me_of(principal: Principal) -> Me:
    return Me(
        user_id=principal.user_id,
        display_name=principal.display_name,
        kind=principal.kind,
        groups=sorted(principal.groups),
        roles=sorted(principal.roles),
        is_admin=principal.is_admin,
        is_operator=principal.is_operator,
        queues=list(principal.queues),
        via=principal.via,
    )


@router.post("/dev-login", response_model=DevToken, response_model_by_alias=True)
def dev_login(
    body: DevLogin, response: Response, services: Annotated[Services, Depends(get_services)]
) -> Any:
    """Development mode only: a token for any user id (no password). 404 in OIDC mode."""
    if services.settings.effective_auth_mode != "dev":
        raise ApiProblem(404, "development login is off (auth mode is oidc)")
    if not USER_ID.match(body.user_id):
        raise ApiProblem(422, "userId may hold letters, digits and . _ @ - only")
    principal = principal_for(services, body.user_id, via="dev")
    response.headers[DEV_HEADER] = "development"
    return DevToken(token=issue_dev_token(services, body.user_id), user=me_of(principal))


@router.get("/me", response_model=Me, response_model_by_alias=True)
def me(principal: CurrentPrincipal) -> Any:
    """The caller as caseflow sees them: groups, roles, admin/operator, queues."""
    return me_of(principal)


@router.get("/config", response_model=AuthConfig, response_model_by_alias=True)
def auth_config(request: Request, services: Annotated[Services, Depends(get_services)]) -> Any:
    """Unauthenticated: what the login page should show."""
    settings = services.settings
    if settings.effective_auth_mode == "dev":
        return AuthConfig(mode="dev", dev_users=list(settings.dev_users), oidc=None)
    return AuthConfig(
        mode="oidc",
        dev_users=None,
        oidc=OidcConfig(
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id,
            scope=settings.oidc_scopes,
            audience=settings.oidc_audience,
        ),
    )
