"""Recording audio for the admin's player: access-checked, streamed from default storage, seekable.

Files are never public (no storage URL is ever handed out): every byte goes through this view, which
answers 404 for a recording the user may not see, exactly as for one that does not exist.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import AsyncIterator, Iterator
from typing import IO

from asgiref.sync import sync_to_async
from django.contrib.auth.views import redirect_to_login
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_http_methods

from crm.selectors import recordings_for

CHUNK = 64 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """(first, last) inclusive for a single ``bytes=`` range; None to ignore the header (malformed or
    several ranges: the whole file is a valid answer); False when it cannot be satisfied (416)."""
    match = _RANGE.match(header.strip())
    if not match:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            return False
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None
    if start >= size:
        return False
    return start, end


def _chunks(f: IO[bytes], length: int) -> Iterator[bytes]:
    try:
        while length > 0:
            data = f.read(min(CHUNK, length))
            if not data:
                break
            length -= len(data)
            yield data
    finally:
        f.close()


async def _achunks(f: IO[bytes], length: int) -> AsyncIterator[bytes]:
    # Under ASGI an async iterator streams without blocking the loop (reads run in a worker thread).
    read, close = (
        sync_to_async(f.read, thread_sensitive=False),
        sync_to_async(f.close, thread_sensitive=False),
    )
    try:
        while length > 0:
            data = await read(min(CHUNK, length))
            if not data:
                break
            length -= len(data)
            yield data
    finally:
        await close()


@require_http_methods(["GET", "HEAD"])
def recording_audio(request: HttpRequest, recording_id: int) -> HttpResponseBase:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    recording = recordings_for(request.user).filter(pk=recording_id).first()
    if recording is None or not recording.file:
        raise Http404("no such recording")
    storage, name = recording.file.storage, recording.file.name or ""  # a stored file always has a name
    try:
        size = storage.size(name)
    except (FileNotFoundError, OSError) as exc:
        raise Http404("recording file missing") from exc
    content_type = recording.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, no-store",
        "Content-Disposition": f'inline; filename="recording-{recording.pk}{_extension(name)}"',
    }

    wanted = parse_range(request.headers.get("Range", ""), size) if "Range" in request.headers else None
    if wanted is False:
        return HttpResponse(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    span = wanted if isinstance(wanted, tuple) else None  # None: the whole file
    first, last = span or (0, size - 1)
    length = max(0, last - first + 1)
    status = 206 if span else 200
    if span:
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return HttpResponse(status=status, content_type=content_type, headers=headers)
    f = storage.open(name, "rb")
    if first:
        f.seek(first)
    body = _achunks(f, length) if isinstance(request, ASGIRequest) else _chunks(f, length)
    return StreamingHttpResponse(body, status=status, content_type=content_type, headers=headers)


def _extension(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:] if dot > name.rfind("/") else ""
