"""The request-body size limit, enforced before anything reads a body and answered as JSON.

A pure ASGI wrapper (not ``BaseHTTPMiddleware``, which wraps ``receive`` and hides client
disconnects from the endpoints that need them to cancel generation): a declared Content-Length
over the limit is refused at once, and a chunked body is counted as it arrives. Both answer the
documented 413 error body, whatever the method or path.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException

from ml.serve.errors import error_response


class _TooLarge(HTTPException):
    """Raised from ``receive``: an HTTP error, so body parsing passes it on to the JSON handlers."""

    def __init__(self, detail: str) -> None:
        super().__init__(413, detail)


class BodyLimit:
    def __init__(self, app: Any, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    def _message(self) -> str:
        return f"request body is over the {self.max_body_bytes / (1 << 20):g} MiB limit"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length", "").strip()
        if length.isdigit() and int(length) > self.max_body_bytes:
            await error_response(413, "too_large", self._message())(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise _TooLarge(self._message())
            return message

        async def watched_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _TooLarge as exc:
            if started:
                raise
            await error_response(413, "too_large", str(exc.detail))(scope, receive, send)
