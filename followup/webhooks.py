"""Outgoing webhooks on the wire: how a POST is signed, sent, and what its answer means.

Each POST carries the body of followup/payloads.py and these headers:

- ``X-Agentlocator-Event``: the event (``call.completed``, ``lead.created``, ...).
- ``X-Agentlocator-Delivery``: the delivery id (the ``Notification`` row); a retry carries the same id, so a
  receiver that saw it already can answer 2xx and do nothing.
- ``X-Agentlocator-Timestamp``: unix seconds when this attempt was signed.
- ``X-Agentlocator-Signature``: ``sha256=`` + hex HMAC-SHA256, keyed with the business's webhook secret, of
  ``f"{timestamp}.{raw body}"``. The timestamp is in the signed material, so a captured request cannot be
  replayed later with a fresh timestamp: receivers recompute the HMAC over the raw bytes they received,
  compare in constant time, and reject timestamps older than a few minutes (``verify`` does all three).
  Without a secret no signature header is sent.

An answer in 2xx means delivered. Anything else is retried (followup/notify_tasks.py) except a 4xx other than
408 and 429: the receiver said the request itself is wrong, and sending it again will not change that.

Transport is httpx, not a notification library: apprise speaks to chat services in their own formats and
neither it nor django-anymail signs a generic JSON POST this way or reports each attempt's status code.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.conf import settings

SIGNATURE_HEADER = "X-Agentlocator-Signature"
TIMESTAMP_HEADER = "X-Agentlocator-Timestamp"
EVENT_HEADER = "X-Agentlocator-Event"
DELIVERY_HEADER = "X-Agentlocator-Delivery"
USER_AGENT = "Agentlocator-Webhooks/1"
DEFAULT_TOLERANCE_S = 300
RETRYABLE_4XX = frozenset({408, 429})
ERROR_LIMIT = 2000


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, ``f"{timestamp}.{body}"``)."""
    message = str(timestamp).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    received: str,
    *,
    now: float | None = None,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> bool:
    """What a receiver does: True when ``received`` is our signature of these bytes at this timestamp and
    the timestamp is within ``tolerance_s`` of now. Here for documentation and for Python receivers."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(signature(secret, timestamp, body), received)


def headers_for(
    *, event: str, delivery_id: int, body: bytes, secret: str, timestamp: int | None = None
) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event,
        DELIVERY_HEADER: str(delivery_id),
        TIMESTAMP_HEADER: str(timestamp),
    }
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    return headers


@dataclass(frozen=True)
class Answer:
    """What one POST came to: delivered, or why not, and whether trying again can help."""

    delivered: bool
    status_code: int | None = None
    error: str = ""
    final: bool = False  # not delivered, and a retry would not change that
    retry_after_s: float | None = None  # the receiver's Retry-After (429/503), when it gave one


def is_final(status_code: int) -> bool:
    return 400 <= status_code < 500 and status_code not in RETRYABLE_4XX


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


def private_address(url: str) -> str | None:
    """The loopback, private, link-local or reserved address ``url``'s host resolves to, if any (None: only
    public addresses, or nothing resolves). A business's webhook must not reach our own network: an owner
    could otherwise make the server POST to its internal services and read their answers in the admin.
    ``WEBHOOK_ALLOW_PRIVATE`` lifts it (tests and single-machine trials with a local receiver)."""
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return None
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return None  # nothing to reach; the POST fails on its own, and is retried
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global or address.is_multicast:
            return str(address)
    return None


def post(url: str, *, event: str, delivery_id: int, body: bytes, secret: str) -> Answer:
    """One signed POST, never raising for what the network or the receiver does."""
    if (address := private_address(url)) is not None:
        return Answer(False, error=f"refused: the webhook's host is a private address ({address})", final=True)
    headers = headers_for(event=event, delivery_id=delivery_id, body=body, secret=secret)
    try:
        # No redirects: a 3xx is an answer to retry, never a reason to send the body somewhere else.
        response = httpx.post(url, content=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    except httpx.TimeoutException as exc:
        return Answer(False, error=f"timed out after {settings.WEBHOOK_TIMEOUT_SECONDS:g} s: {exc}"[:ERROR_LIMIT])
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # refused, DNS, TLS, or a URL unusable
        unusable = isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError))
        return Answer(False, error=f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT], final=unusable)
    code = response.status_code
    if 200 <= code < 300:
        return Answer(True, status_code=code)
    error = f"HTTP {code}"  # not the body: what a receiver answers is none of the admin's business
    return Answer(
        False, status_code=code, error=error[:ERROR_LIMIT], final=is_final(code), retry_after_s=_retry_after(response)
    )
