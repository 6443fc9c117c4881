"""The server's public address, as Twilio sees it: for absolute callback URLs, the stream URL, and the URL
a signature was computed over.

``PUBLIC_BASE_URL`` wins when set (the deployment knows its name); else ``X-Forwarded-Proto`` /
``X-Forwarded-Host`` from the proxy in front (ngrok, cloudflared, a load balancer); else the request itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest

STREAM_PATH = "/ws/twilio-media"


def _first(value: str) -> str:
    # Proxies chained in front of each other append: "https, http" -> the client-facing one is first.
    return value.split(",")[0].strip()


def base_url(request: HttpRequest) -> str:
    """``scheme://host[:port]`` with no trailing slash."""
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL.rstrip("/")
    proto = _first(request.headers.get("X-Forwarded-Proto", ""))
    host = _first(request.headers.get("X-Forwarded-Host", ""))
    scheme = proto if proto in ("http", "https") else request.scheme
    return f"{scheme}://{host or request.get_host()}"


def join(base: str, path: str) -> str:
    """``base`` + ``path`` with exactly one slash between them (Twilio rejects ``//`` in paths)."""
    return base.rstrip("/") + "/" + path.lstrip("/")


def absolute_url(request: HttpRequest, path: str) -> str:
    return join(base_url(request), path)


def request_url(request: HttpRequest) -> str:
    """The public URL Twilio requested (path and query), which is what it signed."""
    return join(base_url(request), request.get_full_path())


def stream_url(request: HttpRequest) -> str:
    """``wss://host/ws/twilio-media``: Twilio opens media streams over TLS only."""
    return "wss://" + urlsplit(base_url(request)).netloc + STREAM_PATH


def socket_host(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The public host of a socket upgrade (ASGI scope headers), for the signed ``wss://`` URL."""
    if settings.PUBLIC_BASE_URL:
        return urlsplit(settings.PUBLIC_BASE_URL).netloc
    found = {name: value.decode("latin1") for name, value in headers if name in (b"host", b"x-forwarded-host")}
    return _first(found.get(b"x-forwarded-host", "")) or found.get(b"host", "")
