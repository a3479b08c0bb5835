"""Who calls ``/engine-rest``: the native API's credentials, plus HTTP Basic for API keys.

Camunda clients know HTTP Basic (``auth_basic`` in the Python client, the JS client's
``BasicAuthInterceptor``) and bearer tokens. Bearer tokens and API keys (``X-API-Key``,
``Authorization: ApiKey``) work exactly as on the native API. HTTP Basic is accepted with
an API key as the password and the user the key acts as as the user name; caseflow keeps
no passwords, so any other Basic credentials are refused.

Who may do what is the native API's rule: task operations go through the human-work
service's grant checks as the calling user; external-task workers are service principals
(an API key) or operators; deployments need an admin, instance variables an operator.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, Request

from caseflow.api.auth import Principal, authenticate, principal_for
from caseflow.api.camunda.errors import CHALLENGE, CamundaError
from caseflow.api.services import Services, get_services


def _unauthenticated(message: str) -> CamundaError:
    return CamundaError(401, message, "AuthenticationException", headers=CHALLENGE)


def _basic(request: Request, services: Services, encoded: str) -> Principal:
    from caseflow.api.apikeys import verify_api_key

    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise _unauthenticated("the Basic credentials are not valid base64") from error
    user, colon, password = decoded.partition(":")
    if not colon or not password:
        raise _unauthenticated("Basic credentials need a user name and an API key as password")
    key = verify_api_key(services, password)
    if key is None:
        raise _unauthenticated(
            "HTTP Basic is accepted with an API key as the password; this one is not valid"
        )
    if user != key.user_id:
        raise _unauthenticated(
            f"the API key acts as '{key.user_id}': give that as the Basic user name"
        )
    return principal_for(services, key.user_id, kind="service", via="api_key")


def camunda_principal(
    request: Request, services: Annotated[Services, Depends(get_services)]
) -> Principal:
    """FastAPI dependency: the authenticated caller of a Camunda route (401 otherwise)."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and not request.headers.get("x-api-key"):
        principal = _basic(request, services, value)
        request.state.principal = principal
        return principal
    return authenticate(request, services)


CamundaPrincipal = Annotated[Principal, Depends(camunda_principal)]


def forbidden(principal: Principal, message: str) -> CamundaError:
    return CamundaError(
        403,
        message,
        "AuthorizationException",
        extra={"userId": principal.user_id, "missingAuthorizations": []},
    )


def require_worker(principal: CamundaPrincipal) -> Principal:
    """External-task workers: a service principal (API key) or an operator."""
    if principal.kind != "service" and not principal.is_operator:
        raise forbidden(
            principal,
            f"'{principal.user_id}' is not an external-task worker: workers authenticate "
            "with an API key (X-API-Key, Authorization: ApiKey, or HTTP Basic with the key "
            "as password)",
        )
    return principal


def require_operator(principal: CamundaPrincipal) -> Principal:
    if not principal.is_operator:
        raise forbidden(principal, "this operation needs the operator role")
    return principal


def require_admin(principal: CamundaPrincipal) -> Principal:
    if not principal.is_admin:
        raise forbidden(principal, "this operation needs the admin role")
    return principal


WorkerPrincipal = Annotated[Principal, Depends(require_worker)]
OperatorPrincipal = Annotated[Principal, Depends(require_operator)]
AdminPrincipal = Annotated[Principal, Depends(require_admin)]
Engine = Annotated[Services, Depends(get_services)]
