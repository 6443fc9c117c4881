"""An ASGI middleware that refuses oversized request bodies with 413 before the app reads them.

Twilio's webhooks are a few KB; nothing public needs more than ``REQUEST_BODY_MAX_BYTES``. The admin (voicemail
audio uploads) gets its own larger limit. A declared ``Content-Length`` over the limit is refused before the
app starts; a body without one (chunked) is counted as it streams in and cut off at the limit, so Django never
spools it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]  # Django's handler types its arguments more narrowly

TOO_LARGE = b"Request body too large"


class BodySizeLimit:
    """Wraps an ASGI app; ``limits`` are (path prefix, max bytes) pairs tried in order before ``default``."""

    def __init__(self, app: ASGIApp, default: int, limits: Sequence[tuple[str, int]] = ()) -> None:
        self.app = app
        self.default = default
        self.limits = list(limits)

    def limit_for(self, path: str) -> int:
        return next((size for prefix, size in self.limits if path.startswith(prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            log.warning("refused %s: declared body of %d bytes over the %d limit", scope.get("path"), declared, limit)
            await _send_413(send)
            return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        refused = False
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not refused:
                    refused = True
                    log.warning("refused %s: body over the %d-byte limit", scope.get("path"), limit)
                    if not response_started:
                        await _send_413(send)
                    # The app sees a client that went away: Django drops the request without a response.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if refused:
                return  # our 413 is the answer
            response_started = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(TOO_LARGE)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": TOO_LARGE})
