"""Live updates for the back office's live page: every stored utterance, event and status change of a call is
broadcast on the Channels layer to ``call-<CallSid>`` (one call's page) and ``calls-live`` (the list page).

The message shapes are defined here too (``utterance_data``, ``event_data``, ``status_data``), so the live
page gets a row in the same form whoever stored it. A broadcast is a courtesy, never part of the call:
failures are logged and swallowed (the page reloads the truth from the database).
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from crm.models import Call, CallEvent, Utterance

log = logging.getLogger(__name__)

ALL_CALLS_GROUP = "calls-live"
MESSAGE_TYPE = "call.update"  # consumers handle it in a ``call_update`` method


def call_group(call_sid: str) -> str:
    return f"call-{call_sid}"


def utterance_data(utterance: Utterance) -> dict[str, Any]:
    """What the live page gets for an utterance."""
    return {
        "id": utterance.pk,
        "speaker": utterance.speaker,
        "text": utterance.text,
        "start_ms": utterance.start_ms,
        "end_ms": utterance.end_ms,
        "interrupted": utterance.interrupted,
        "heard_text": utterance.heard_text,
        "latency": utterance.latency,
    }


def event_data(event: CallEvent) -> dict[str, Any]:
    """What the live page gets for an event."""
    return {
        "id": event.pk,
        "kind": event.kind,
        "offset_ms": event.offset_ms,
        "payload": event.payload,
        "created_at": event.created_at.isoformat(),
    }


def status_data(call: Call) -> dict[str, Any]:
    """What the live page gets when the call's status, answer or end changes."""
    return {
        "status": call.status,
        "outcome": call.outcome,
        "stream_sid": call.stream_sid,
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "duration_seconds": call.duration_seconds,
    }


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
    """For sync code (webhook views, Celery tasks, staff actions)."""
    try:
        async_to_sync(broadcast)(call_sid, kind, data)
    except Exception:
        log.warning("live broadcast of %s failed", kind, exc_info=True)


def broadcast_status(call: Call) -> None:
    """Sync: the call's status as it is now."""
    broadcast_sync(call.call_sid, "status", status_data(call))
