"""Camunda 7's error body for everything under ``/engine-rest``.

Camunda clients read ``{"type": "...Exception", "message": "..."}`` and branch on the
status, so the Camunda routes answer in that shape rather than caseflow's problem+json.
:class:`CamundaRoute` catches whatever a route or its dependencies raise and turns it into
that body with Camunda's status: 400 for bad input and refused state changes (Camunda's
``InvalidRequestException`` / ``BadUserRequestException``), 401, 403
(``AuthorizationException``), 404, and 500 only for what nobody asked for (the body then
says nothing about the code; the log has the trace under the request id).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from caseflow.api.limits import BodyTooLarge
from caseflow.api.problems import ApiProblem
from caseflow.errors import (
    CaseflowError,
    ConcurrencyConflict,
    DefinitionError,
    Forbidden,
    IllegalState,
    NotFound,
)
from caseflow.runtime.process_engine import MessageNotCorrelated

log = logging.getLogger("caseflow.api.camunda")

CHALLENGE = {"WWW-Authenticate": 'Basic realm="caseflow", Bearer realm="caseflow"'}


class CamundaError(Exception):
    """Raise from a Camunda route: answered as ``{"type", "message"}`` with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        exception_type: str = "InvalidRequestException",
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.exception_type = exception_type
        self.extra = extra or {}
        self.headers = headers or {}


def invalid(message: str) -> CamundaError:
    """400 InvalidRequestException: the request itself is wrong."""
    return CamundaError(400, message, "InvalidRequestException")


def body(status: int, exception_type: str, message: str, **extra: Any) -> JSONResponse:
    content: dict[str, Any] = {"type": exception_type, "message": message, "code": None, **extra}
    return JSONResponse(content, status_code=status)


def _first_line(error: Exception) -> str:
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__


def _validation_message(error: RequestValidationError) -> str:
    parts = []
    for problem in error.errors()[:5]:
        where = ".".join(str(p) for p in problem.get("loc", ()) if p not in ("body", "query"))
        parts.append(f"{where or 'body'}: {problem.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(parts)


def to_response(error: Exception, request: Request) -> Response:
    """The Camunda-shaped answer to ``error``."""
    if isinstance(error, CamundaError):
        response = body(error.status, error.exception_type, error.message, **error.extra)
        response.headers.update(error.headers)
        return response
    if isinstance(error, ApiProblem):  # raised by the shared authentication
        if error.status == 401:
            response = body(401, "AuthenticationException", error.detail)
            response.headers.update(CHALLENGE)
            return response
        kind = "AuthorizationException" if error.status == 403 else "InvalidRequestException"
        return body(error.status if error.status < 500 else 400, kind, error.detail)
    if isinstance(error, RequestValidationError):
        return body(400, "InvalidRequestException", _validation_message(error))
    if isinstance(error, MessageNotCorrelated):
        return body(400, "MismatchingMessageCorrelationException", _first_line(error))
    if isinstance(error, NotFound):
        return body(404, "InvalidRequestException", _first_line(error))
    if isinstance(error, Forbidden):
        return body(403, "AuthorizationException", _first_line(error),
                    userId=getattr(error, "user", None), missingAuthorizations=[])
    if isinstance(error, ConcurrencyConflict):
        return body(409, "OptimisticLockingException", _first_line(error))
    if isinstance(error, IllegalState):
        return body(400, "BadUserRequestException", _first_line(error))
    if isinstance(error, DefinitionError):
        return body(400, "ParseException", _first_line(error))
    if isinstance(error, CaseflowError):  # expressions, execution: the input led there
        return body(400, "ProcessEngineException", _first_line(error))
    if isinstance(error, StarletteHTTPException):
        status = error.status_code if error.status_code < 500 else 400
        return body(status, "InvalidRequestException", str(error.detail))
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return body(500, "ProcessEngineException", "an unexpected error occurred; see the server log")


class CamundaRoute(APIRoute):
    """An APIRoute whose errors (its own and its dependencies') come out in Camunda's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except BodyTooLarge:
                raise  # the size limit answers 413 itself
            except Exception as error:  # noqa: BLE001 - every error gets Camunda's body
                return to_response(error, request)

        return answer
