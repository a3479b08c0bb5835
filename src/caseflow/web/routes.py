"""Serves the single-page app at ``/`` and ``/app/...`` with an ``index.html`` fallback,
and the one thing only the pages need: the development users to offer at sign-in."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

STATIC_DIR = Path(__file__).parent / "static"
"""Where ``npm run build`` writes the app (not in git; shipped in the wheel)."""

# The pages load only their own scripts and talk only to this server (and, signing in with
# OIDC, to the identity provider). bpmn-js and form-js set inline styles on the elements they
# draw, hence 'unsafe-inline' for styles (not for scripts).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src {connect}; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


@lru_cache(maxsize=8)
def content_security_policy(issuer: str | None, web_origins: tuple[str, ...] = ()) -> str:
    """The pages' policy: ``connect-src`` adds the identity provider's origin (its discovery
    document and token endpoint are fetched by the sign-in) and any ``oidc_web_origins``."""
    connect = ["'self'"]
    for url in (issuer, *web_origins):
        parts = urlsplit(url or "")
        if parts.scheme in ("http", "https") and parts.netloc:
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in connect:
                connect.append(origin)
    return CONTENT_SECURITY_POLICY.format(connect=" ".join(connect))


def _page_headers(request: Request) -> dict[str, str]:
    settings = getattr(getattr(request.app.state, "services", None), "settings", None)
    if settings is not None and settings.effective_auth_mode == "oidc":
        policy = content_security_policy(
            settings.oidc_issuer, tuple(settings.oidc_web_origins)
        )
    else:
        policy = content_security_policy(None)
    return {
        "Cache-Control": "no-cache",
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
_ASSET_HEADERS = {
    # Vite names every asset after its content: a new build means new names.
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}

NOT_BUILT = """<!doctype html><html lang="en"><meta charset="utf-8"><title>caseflow</title>
<body style="font-family: system-ui; max-width: 40rem; margin: 3rem auto">
<h1>caseflow: the web app is not built</h1>
<p>This checkout has no built pages. Run <code>make install</code> (it runs
<code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>), then reload.
The HTTP API works without them: <a href="/api/v1/docs">/api/v1/docs</a>.</p></body></html>
"""

router = APIRouter(include_in_schema=False)


def _static_file(relative: str) -> Path | None:
    """The built file at ``relative``, or None; never anything outside ``STATIC_DIR``."""
    root = STATIC_DIR.resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def _index(request: Request) -> Response:
    index = _static_file("index.html")
    if index is None:
        return HTMLResponse(NOT_BUILT, status_code=503, headers={"Cache-Control": "no-cache"})
    return FileResponse(
        index, media_type="text/html; charset=utf-8", headers=_page_headers(request)
    )


@router.get("/api/v1/web/dev-users")
def dev_users(request: Request) -> list[dict[str, Any]]:
    """Development mode only: the users the login page offers, with their names and roles,
    so a visitor can tell the case worker from the supervisor. 404 in OIDC mode."""
    from caseflow.api.auth import principal_for
    from caseflow.api.problems import ApiProblem
    from caseflow.api.services import get_services

    services = get_services(request)
    if services.settings.effective_auth_mode != "dev":
        raise ApiProblem(404, "development login is off (auth mode is oidc)")
    users: list[dict[str, Any]] = []
    for user_id in services.settings.dev_users:
        try:
            principal = principal_for(services, user_id, via="dev")
        except ApiProblem:  # deactivated meanwhile: not offered
            continue
        users.append({
            "userId": principal.user_id,
            "displayName": principal.display_name,
            "roles": sorted(principal.roles),
            "isAdmin": principal.is_admin,
            "isOperator": principal.is_operator,
        })
    return users


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/app/tasks", status_code=307)


@router.get("/app")
def app_root(request: Request) -> Response:
    return _index(request)


@router.get("/app/{path:path}")
def app_page(path: str, request: Request) -> Response:
    if path.startswith("assets/"):
        asset = _static_file(path)
        if asset is None:
            return Response(status_code=404)
        return FileResponse(asset, headers=_ASSET_HEADERS)
    return _index(request)
