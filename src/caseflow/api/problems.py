"""RFC 9457 problem details for every error the API returns.

One shape for clients to handle: ``{type, title, status, detail, code, instance, errors?}``
as ``application/problem+json``, with ``code`` a stable snake_case name. Caseflow's own
errors map to their status here, in one table; anything unexpected becomes a 500 whose body
says nothing about the code (the log has the trace, under the request id).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from caseflow.errors import (
    CaseflowError,
    ConcurrencyConflict,
    DefinitionError,
    ExpressionError,
    Forbidden,
    IllegalState,
    NotFound,
)

log = logging.getLogger("caseflow.api")

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}
_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ApiProblem(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or _CODES.get(status, "error")
        self.title = title or _TITLES.get(status, "Error")
        self.errors = errors
        self.headers = headers or {}


def problem_response(
    request: Request | None,
    status: int,
    detail: str,
    *,
    code: str | None = None,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response (``instance`` is the request path)."""
    code = code or _CODES.get(status, "error")
    body: dict[str, Any] = {
        "type": f"https://caseflow.dev/problems/{code.replace('_', '-')}",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path if request is not None else None,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def status_of(error: CaseflowError) -> int:
    """The HTTP status of a caseflow error."""
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Forbidden):
        return 403
    if isinstance(error, IllegalState | ConcurrencyConflict):
        return 409
    if isinstance(error, DefinitionError | ExpressionError):
        return 422
    return 422


def definition_errors(error: DefinitionError) -> list[dict[str, Any]]:
    return [
        {
            "code": p.code,
            "elementId": p.element_id,
            "line": p.line,
            "message": p.message,
            "severity": p.severity,
        }
        for p in error.problems
    ]


async def _caseflow_error(request: Request, error: Exception) -> JSONResponse:
    if not isinstance(error, CaseflowError):  # registered for CaseflowError only
        raise error
    status = status_of(error)
    errors = definition_errors(error) if isinstance(error, DefinitionError) else None
    text = str(error).splitlines()[0] if str(error) else error.code
    return problem_response(request, status, text, code=error.code, errors=errors)


async def _api_problem(request: Request, error: Exception) -> JSONResponse:
    if not isinstance(error, ApiProblem):  # registered for ApiProblem only
        raise error
    return problem_response(
        request,
        error.status,
        error.detail,
        code=error.code,
        title=error.title,
        errors=error.errors,
        headers=error.headers,
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    if not isinstance(error, StarletteHTTPException):  # registered for StarletteHTTPException only
        raise error
    detail = error.detail if isinstance(error.detail, str) else _TITLES.get(error.status_code, "")
    return problem_response(
        request, error.status_code, detail, headers=dict(error.headers or {})
    )


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    if not isinstance(error, RequestValidationError):  # registered for RequestValidationError only
        raise error
    errors = [
        {
            "code": str(e.get("type", "invalid")),
            "location": [str(part) for part in e.get("loc", ())],
            "message": str(e.get("msg", "")),
        }
        for e in error.errors()
    ]
    return problem_response(request, 422, "the request is not valid", errors=errors)


async def _unstorable(request: Request, error: Exception) -> JSONResponse:
    """The database refused a value of the request (a number out of its range, a NUL
    character in text): the caller's input, so 422, never a 500."""
    log.info("refused unstorable input on %s %s: %s", request.method, request.url.path,
             type(error).__name__)
    return problem_response(
        request,
        422,
        "a value in the request cannot be stored: a number out of range or a NUL character",
        code="value_out_of_range",
    )


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(request, 500, "an unexpected error occurred; see the server log")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CaseflowError, _caseflow_error)
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OverflowError, _unstorable)
    app.add_exception_handler(psycopg.DataError, _unstorable)
    app.add_exception_handler(sqlalchemy.exc.DataError, _unstorable)
    app.add_exception_handler(Exception, _unexpected)
