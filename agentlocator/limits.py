"""An ASGI middleware that refuses oversized request bodies with 413 (a short Hebrew page) before the app reads
them.

Twilio's webhooks are a few KB; nothing public needs more than ``REQUEST_BODY_MAX_BYTES``. The admin (voicemail
audio uploads) gets its own larger limit. A declared ``Content-Length`` over the limit is refused before the
app starts; a body without one (chunked) is counted as it streams in and cut off at the limit, so Django never
spools it.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]  # Django's handler types its arguments more narrowly

# A refused body is already in the server's queue (see _discard_body); this only bounds a server that streams.
DISCARD_TIMEOUT_SECONDS = 5
# A body this large, once dropped, is handed back to the system (see release_freed_memory); smaller ones are
# left to the allocator, which reuses them.
RETURN_TO_SYSTEM_BYTES = 8 * 1024 * 1024

# Sent before Django runs (no templates, no translation): a self-contained page in the staff's language, since
# the admin is where a person meets it (an upload over the admin's limit); Twilio only reads the status.
TOO_LARGE = """<!DOCTYPE html>
<html lang="he" dir="rtl"><head><meta charset="utf-8"><title>הבקשה גדולה מדי | Agent Locator</title>
<meta name="viewport" content="width=device-width, initial-scale=1.0"></head>
<body style="margin:0;font-family:system-ui,Arial,sans-serif;font-size:14px;color:#333">
<header style="background:#417690;padding:10px 40px"><a href="/admin/" style="color:#f5dd5d;text-decoration:none;\
font-size:1.5rem;font-weight:300">Agent Locator</a></header>
<main style="padding:20px 40px;max-width:42rem;line-height:1.6">
<h1 style="font-size:1.25rem;font-weight:300;color:#666">הבקשה גדולה מדי ולא נשמרה</h1>
<p>מה ששלחתם (קובץ או טופס) גדול מהמותר, ולכן לא נשמר דבר. הקלטה לתא הקולי יכולה להיות עד <bdi dir="ltr">5 MB</bdi>.</p>
<p><a href="/admin/">לדף הראשי</a></p>
<p style="color:#666;font-size:.85rem">קוד שגיאה: <bdi dir="ltr">413</bdi></p>
</main></body></html>
""".encode()


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
            await _discard_body(receive)
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
                    if message.get("more_body"):
                        await _discard_body(receive)
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


async def _discard_body(receive: Receive) -> None:
    """Take the rest of the body off the server's queue and drop it.

    daphne hands the app a body only once Twisted has received all of it, and then queues all of it at once
    (8 KiB messages: 100 MiB is 12,800 of them). The queue lives as long as the request object, which sits in a
    reference cycle and so may wait for a full garbage collection; in the meantime the process keeps the whole
    body. Emptying the queue here frees it now. Nothing waits on the network: the body is already queued."""
    dropped = 0
    try:
        async with asyncio.timeout(DISCARD_TIMEOUT_SECONDS):
            while True:
                message = await receive()
                dropped += len(message.get("body", b""))
                if message["type"] != "http.request" or not message.get("more_body"):
                    break
    except TimeoutError:
        log.warning("gave up discarding a refused body after %s s", DISCARD_TIMEOUT_SECONDS)
    if dropped >= RETURN_TO_SYSTEM_BYTES and not _releasing.locked():
        async with _releasing:  # one at a time, off the event loop: a stream of refusals queues nothing
            await asyncio.to_thread(release_freed_memory)


_malloc_trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # glibc only (the image is Debian); else a no-op
_releasing = asyncio.Lock()


def release_freed_memory() -> None:
    """Give the pages of freed memory back to the system.

    glibc returns freed memory on its own only from the top of the heap; a refused body's 8 KiB pieces sit
    below objects allocated while it was queued, so without this the process would keep ~100 MB per
    100 MiB body until those objects happen to go. ``malloc_trim`` walks the whole heap (~7 ms with 100 MB
    freed), so it runs on a thread, never on the event loop that paces every call's audio."""
    if _malloc_trim is not None:
        _malloc_trim(0)


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
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(TOO_LARGE)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": TOO_LARGE})
