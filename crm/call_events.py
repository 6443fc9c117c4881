"""The one writer of a call's timeline: every ``CallEvent`` is added here, and broadcast to the live page.

One time base for every event: **``offset_ms`` is milliseconds from the call's answer** (``Call.answered_at``);
anything before the answer (the incoming-call webhook, a call that was never answered) sits at 0. Utterances
use the same base, so the call page sorts events and utterances on one axis.

Two kinds of writers, one conversion each:

- The media stream (the conversation core, the socket) times what it reports in media time: ms of audio since
  the stream's ``start``. Its Django edge (``voice.store.CallStore``) converts once, adding how far the stream
  start was from the answer, and passes the result as ``offset_ms`` to ``write_event`` (then broadcasts with
  ``publish_event`` from its own event loop, so no extra thread hop per event).
- Everything else (Twilio's webhooks, Celery tasks, staff actions) happens "now": ``add_event`` places it at
  wall-clock now − answered_at and broadcasts it at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.utils import timezone

from crm.live_updates import broadcast, broadcast_sync, event_data
from crm.models import Call, CallEvent


def offset_from_answer(call: Call, at: dt.datetime | None = None) -> int:
    """Milliseconds from the call's answer to ``at`` (default now); 0 before the answer or when it never came."""
    if call.answered_at is None:
        return 0
    at = at or timezone.now()
    return max(0, int((at - call.answered_at).total_seconds() * 1000))


def write_event(
    call: Call | int, kind: str, payload: Mapping[str, Any] | None = None, *, offset_ms: int | None = None
) -> CallEvent:
    """Store one event, without broadcasting it (the caller does, see ``publish_event``).

    ``call`` is the Call or its id. ``offset_ms`` is already in the call's time base (ms from the answer);
    None means "now" (``offset_from_answer``), which needs the call's answer time and so loads the call if
    only its id was given.
    """
    if offset_ms is None:
        if not isinstance(call, Call):
            call = Call.objects.only("answered_at").get(pk=call)
        offset_ms = offset_from_answer(call)
    call_id = call.pk if isinstance(call, Call) else call
    return CallEvent.objects.create(call_id=call_id, kind=kind, offset_ms=offset_ms, payload=dict(payload or {}))


def write_events(call_id: int, events: Sequence[tuple[str, Mapping[str, Any] | None, int]]) -> list[CallEvent]:
    """Store several events of one call at once, in order (``kind``, ``payload``, ``offset_ms`` each, the
    offset already in the call's time base), without broadcasting them: one statement where the media
    stream's writer has a backlog (``voice.store``), instead of one per event."""
    rows = [
        CallEvent(call_id=call_id, kind=kind, offset_ms=offset_ms, payload=dict(payload or {}))
        for kind, payload, offset_ms in events
    ]
    return CallEvent.objects.bulk_create(rows)


async def publish_event(call_sid: str, event: CallEvent) -> None:
    """Broadcast a stored event to the live page (from async code: the socket's store)."""
    await broadcast(call_sid, "event", event_data(event))


def add_event(call: Call, kind: str, payload: Mapping[str, Any] | None = None) -> CallEvent:
    """Store an event that happens now (webhooks, Celery tasks, staff actions) and broadcast it.

    ``payload`` must be JSON-serialisable. The broadcast follows the write at once, also inside a
    transaction: it is a courtesy to whoever is watching, and the page reloads from the database.
    """
    event = write_event(call, kind, payload)
    broadcast_sync(call.call_sid, "event", event_data(event))
    return event
