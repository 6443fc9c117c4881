"""Live updates for the admin's live page: every stored utterance, event and status change of a call is
broadcast on the Channels layer to ``call-<CallSid>`` and ``calls-live``.

A broadcast is a courtesy, never part of the call: failures are logged and swallowed.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

ALL_CALLS_GROUP = "calls-live"
MESSAGE_TYPE = "call.update"  # consumers handle it in a ``call_update`` method


def call_group(call_sid: str) -> str:
    return f"call-{call_sid}"


def _message(call_sid: str, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": MESSAGE_TYPE, "call_sid": call_sid, "kind": kind, "data": data}


async def broadcast(call_sid: str, kind: str, data: dict[str, Any]) -> None:
    """``kind`` is "utterance", "event" or "status"; ``data`` must be JSON-serialisable."""
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        message = _message(call_sid, kind, data)
        await layer.group_send(call_group(call_sid), message)
        await layer.group_send(ALL_CALLS_GROUP, message)
    except Exception:
        log.warning("live broadcast of %s failed", kind, exc_info=True)


def broadcast_sync(call_sid: str, kind: str, data: dict[str, Any]) -> None:
    """For sync code (webhook views)."""
    try:
        async_to_sync(broadcast)(call_sid, kind, data)
    except Exception:
        log.warning("live broadcast of %s failed", kind, exc_info=True)
