"""Liveness and readiness for load balancers and people: /healthz checks the database (cheap, for liveness),
/readyz also the channel layer and the Celery broker (for taking traffic), /version says what runs."""

from __future__ import annotations

import asyncio
import logging
import secrets
import subprocess
from collections.abc import Awaitable, Callable
from functools import lru_cache

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from kombu import Connection

import agentlocator

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> HttpResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any database failure means "not healthy"
        logger.warning("health check failed: %s", type(exc).__name__)
        return HttpResponse("database unavailable", status=503, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _channel_layer() -> None:
    """A message to a private channel of this process and back: the layer (Redis across processes) works."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel, nonce = await layer.new_channel("readyz."), secrets.token_hex(8)
    await layer.send(channel, {"type": "readyz.ping", "nonce": nonce})
    if (await layer.receive(channel)).get("nonce") != nonce:
        raise RuntimeError("the channel layer returned another message")


def _broker() -> None:
    """One connection to the Celery broker, no retries (Celery's own would wait for minutes)."""
    timeout = settings.READINESS_TIMEOUT_SECONDS
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=timeout, transport_options=options) as broker:
        broker.ensure_connection(max_retries=0, timeout=timeout)


READINESS_CHECKS: dict[str, Callable[[], Awaitable[None]]] = {
    "database": sync_to_async(_database),  # the shared sync thread, where every ORM call of the app runs
    "channel_layer": _channel_layer,
    "broker": sync_to_async(_broker, thread_sensitive=False),
}


async def _outcome(name: str, check: Callable[[], Awaitable[None]]) -> str:
    try:
        async with asyncio.timeout(settings.READINESS_TIMEOUT_SECONDS):
            await check()
    except Exception as exc:  # every failure means "not ready"; only its type is shown (messages may hold URLs)
        logger.warning("readiness check %s failed: %s", name, type(exc).__name__)
        return f"failed: {type(exc).__name__}"
    return "ok"


async def readyz(request: HttpRequest) -> HttpResponse:
    """200 when the database, the channel layer and the broker all answer within READINESS_TIMEOUT_SECONDS,
    else 503; the body names each check's result (never a URL or a credential)."""
    results = await asyncio.gather(*(_outcome(name, check) for name, check in READINESS_CHECKS.items()))
    checks = dict(zip(READINESS_CHECKS, results, strict=True))
    ok = all(result == "ok" for result in checks.values())
    return JsonResponse({"ok": ok, "checks": checks}, status=200 if ok else 503)


@lru_cache(maxsize=1)
def git_commit() -> str:
    if settings.GIT_COMMIT:
        return settings.GIT_COMMIT
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def version(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"version": agentlocator.__version__, "commit": git_commit()})
