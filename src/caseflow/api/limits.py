"""Request size limits: a body over the limit is refused with 413 before it is all read.

JSON bodies are held to ``max_body_bytes``, multipart uploads (deployments) to
``max_upload_bytes``. A declared ``Content-Length`` over the limit is refused at once;
a body sent in chunks is counted as it arrives and cut off when it passes the limit.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from caseflow.api.problems import problem_response
from caseflow.api.settings import Settings


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def _limit(self, scope: Scope) -> int:
        headers = dict(scope.get("headers") or [])
        kind = headers.get(b"content-type", b"").decode("latin-1").lower()
        if kind.startswith("multipart/"):
            return self.settings.max_upload_bytes
        return self.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        seen = 0
        exceeded = False
        replaced = False

        async def counting() -> Message:
            nonlocal seen, exceeded
            if exceeded:
                raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def watching(message: Message) -> None:
            # the framework may turn the interrupted read into its own error response:
            # answer 413 instead of whatever it says
            nonlocal replaced
            if exceeded:
                if message["type"] == "http.response.start" and not replaced:
                    replaced = True
                    await self._refuse(scope, receive, send, limit)
                return
            await send(message)

        try:
            await self.app(scope, counting, watching)
        except BodyTooLarge:
            if not replaced:
                replaced = True
                await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        from starlette.requests import Request

        response = problem_response(
            Request(scope),
            413,
            f"the request body is larger than the limit of {limit} bytes",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
