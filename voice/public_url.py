"""The server's public address, as Twilio sees it.

Everything we hand Twilio (TwiML callbacks, the stream URL, the voicemail pushed to a live call, the rescue)
is built from ``PUBLIC_BASE_URL`` only, never from a request's ``Host`` or ``X-Forwarded-Host``: a forged
header must not receive Twilio's callbacks. Without DEBUG the server does not start unless it is set
(agentlocator/public_base.py); with DEBUG and nothing set it is ``http://localhost:8000`` (agentlocator/settings.py).

Checking a signature is different: it must use the URL Twilio requested, as the request arrived (the
fragment of a connection override is never sent). Any host is safe there, because only Twilio can sign.
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


def public_base_url() -> str:
    """``scheme://host[:port]`` with no trailing slash: where Twilio reaches us."""
    base: str = settings.PUBLIC_BASE_URL  # validated, and required by the server, in agentlocator
    return base


def join(base: str, path: str) -> str:
    """``base`` + ``path`` with exactly one slash between them (Twilio rejects ``//`` in paths)."""
    return base.rstrip("/") + "/" + path.lstrip("/")


def absolute_url(path: str) -> str:
    return join(public_base_url(), path)


def with_overrides(url: str) -> str:
    """``url`` with Twilio's connection overrides (``#rc=3&rp=all``): Twilio retries the callback through
    a short outage. Only for callbacks Twilio makes on its own (status, stream, recording)."""
    overrides = settings.TWILIO_CALLBACK_OVERRIDES
    return f"{url}#{overrides}" if overrides else url


def callback_url(path: str) -> str:
    return with_overrides(absolute_url(path))


def stream_url() -> str:
    """``wss://host/ws/twilio-media``: Twilio opens media streams over TLS only."""
    return "wss://" + urlsplit(public_base_url()).netloc + STREAM_PATH


def _received_base(request: HttpRequest) -> str:
    proto = _first(request.headers.get("X-Forwarded-Proto", ""))
    host = _first(request.headers.get("X-Forwarded-Host", "")) or request.get_host()
    scheme = proto if proto in ("http", "https") else request.scheme
    return f"{scheme}://{host}"


def request_url(request: HttpRequest) -> str:
    """The URL as received (the proxy's ``X-Forwarded-Proto``/``Host``, else the request itself)."""
    return join(_received_base(request), request.get_full_path())


def signed_urls(request: HttpRequest) -> list[str]:
    """The URLs Twilio may have signed for this request: under ``PUBLIC_BASE_URL`` and as received; each
    also with the connection overrides we append, in case Twilio signs the URL with its fragment."""
    path = request.get_full_path()
    urls = [join(base, path) for base in dict.fromkeys([public_base_url(), _received_base(request)])]
    return [*urls, *(with_overrides(url) for url in urls if settings.TWILIO_CALLBACK_OVERRIDES)]


def socket_hosts(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """The hosts a socket upgrade's ``wss://`` signature may cover: the public one, then as received."""
    found = {name: value.decode("latin1") for name, value in headers if name in (b"host", b"x-forwarded-host")}
    received = _first(found.get(b"x-forwarded-host", "")) or found.get(b"host", "")
    return list(dict.fromkeys(h for h in (urlsplit(public_base_url()).netloc, received) if h))
