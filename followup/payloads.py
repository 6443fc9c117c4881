"""The JSON our outgoing webhooks carry: one builder per event, one stable schema (schema version 1).

Every POST body is one object; fields are never removed or renamed within a version, new ones may appear,
so receivers should ignore what they do not know::

    {
      "id": 123,                          # the delivery id, also in the X-Agentlocator-Delivery header;
                                          # a retry carries the same id (deduplicate on it)
      "event": "call.completed",          # call.completed | lead.created | lead.updated |
                                          # voicemail.received | followup.due | test
      "schema_version": 1,
      "occurred_at": "2025-03-12T16:04:05+02:00",  # ISO 8601 with the business's UTC offset
      "business": {"id": 1, "name": "מרפאת שיניים אלון"},
      "call": {...} | null,               # every event but "test"; null for a follow-up added by hand
      "lead": {...} | null,
      "recording": {...} | null,          # voicemail.received: the voicemail
      "follow_up": {...} | null           # followup.due; on call events, the call-back task made from the call
    }

``call``: ``id``, ``sid`` (Twilio's CallSid), ``direction``, ``from`` and ``to`` (E.164, null when hidden),
``status``, ``outcome`` (conversation | voicemail | no_message | failed | ""), ``started_at``, ``answered_at``,
``ended_at`` (ISO 8601 or null), ``duration_seconds``, ``summary``, ``transcript`` (a list of
``{"speaker": "caller"|"agent", "text", "start_ms"}``), ``url`` (the call's page in the admin) and
``recording_url`` (the recording, null when none is stored; both need a staff login).

``lead``: ``id``, ``name``, ``phone`` (E.164), ``status`` (new | contacted | qualified | won | lost),
``interest`` (what the caller wants), ``callback_time`` (the callback request as said), ``callback_at`` (the
same as a time, or null), ``owner`` (``{"id", "name", "email"}`` or null), ``created_at``, ``updated_at``,
``url``.

``recording``: ``id``, ``kind`` (call | voicemail), ``duration_seconds``, ``transcript`` (text), ``summary``,
``url``.

``follow_up``: ``id``, ``due_at``, ``state`` (open | done | missed), ``source`` (callback | voicemail |
manual), ``note``, ``assignee`` (as ``owner``) and ``url`` (null when the admin has no page for it).

All URLs are absolute, under ``PUBLIC_BASE_URL``. The body is serialised once (``body_bytes``) and signed
as sent; see followup/webhooks.py for the headers.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from crm.business_hours import zone_of
from crm.models import Business, Call, Lead, Recording
from crm.phones import normalize_phone
from crm.recordings import playable_recording
from followup.models import FollowUp, Notification
from voice.public_url import absolute_url

SCHEMA_VERSION = 1

CALL_COMPLETED = "call.completed"
LEAD_CREATED = "lead.created"
LEAD_UPDATED = "lead.updated"
VOICEMAIL_RECEIVED = "voicemail.received"
FOLLOWUP_DUE = "followup.due"
TEST = "test"
EVENTS = (CALL_COMPLETED, LEAD_CREATED, LEAD_UPDATED, VOICEMAIL_RECEIVED, FOLLOWUP_DUE, TEST)

Json = dict[str, Any]


# -- small parts -------------------------------------------------------------------------------------------
def iso(value: dt.datetime | None, business: Business) -> str | None:
    """ISO 8601 on the business's clock, with its UTC offset ("2025-03-12T16:04:05+02:00")."""
    if value is None:
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    return value.astimezone(zone_of(business)).isoformat(timespec="seconds")


def admin_url(name: str, pk: int) -> str | None:
    """The absolute address of an admin page, None when that page does not exist (model not registered)."""
    try:
        return absolute_url(reverse(name, args=[pk]))
    except NoReverseMatch:
        return None


def recording_url(recording: Recording) -> str:
    """The access-checked audio of a recording (voice/recording_views.py), absolute."""
    try:
        path = reverse("voice:recording_audio", args=[recording.pk])
    except NoReverseMatch:
        path = f"/recordings/{recording.pk}/audio"
    return absolute_url(path)


def person(user: Any) -> Json | None:
    if user is None:
        return None
    return {"id": user.pk, "name": user.get_full_name() or user.get_username(), "email": user.email or None}


def call_follow_up(call: Call) -> FollowUp | None:
    """The call-back task made from this call (a callback request first, else a voicemail's), if any."""
    tasks = sorted(call.follow_ups.all(), key=lambda f: (f.source != FollowUp.Source.CALLBACK, f.pk))
    return tasks[0] if tasks else None


# -- the objects -------------------------------------------------------------------------------------------
def call_data(call: Call) -> Json:
    business = call.business
    recording = playable_recording(call)
    return {
        "id": call.pk,
        "sid": call.call_sid,
        "direction": call.direction,
        "from": normalize_phone(call.from_number),
        "to": normalize_phone(call.to_number),
        "status": call.status,
        "outcome": call.outcome,
        "started_at": iso(call.started_at, business),
        "answered_at": iso(call.answered_at, business),
        "ended_at": iso(call.ended_at, business),
        "duration_seconds": call.duration_seconds,
        "summary": call.summary,
        "transcript": [
            {"speaker": u.speaker, "text": u.text, "start_ms": u.start_ms}
            for u in call.utterances.order_by("start_ms", "pk")
        ],
        "url": admin_url("admin:crm_call_change", call.pk),
        "recording_url": recording_url(recording) if recording else None,
    }


def lead_data(lead: Lead) -> Json:
    business = lead.business
    return {
        "id": lead.pk,
        "name": lead.name,
        "phone": normalize_phone(lead.phone) or lead.phone,
        "status": lead.status,
        "interest": lead.interest,
        "callback_time": lead.callback_time,
        "callback_at": iso(lead.callback_at, business),
        "owner": person(lead.owner),
        "created_at": iso(lead.created_at, business),
        "updated_at": iso(lead.updated_at, business),
        "url": admin_url("admin:crm_lead_change", lead.pk),
    }


def recording_data(recording: Recording) -> Json:
    return {
        "id": recording.pk,
        "kind": recording.kind,
        "duration_seconds": recording.duration_seconds,
        "transcript": recording.transcript,
        "summary": recording.summary,
        "url": recording_url(recording) if recording.file else None,
    }


def follow_up_data(follow_up: FollowUp) -> Json:
    return {
        "id": follow_up.pk,
        "due_at": iso(follow_up.due_at, follow_up.business),
        "state": follow_up.state,
        "source": follow_up.source,
        "note": follow_up.note,
        "assignee": person(follow_up.assignee),
        "url": admin_url("admin:followup_followup_change", follow_up.pk),
    }


def envelope(
    event: str,
    business: Business,
    *,
    call: Call | None = None,
    lead: Lead | None = None,
    recording: Recording | None = None,
    follow_up: FollowUp | None = None,
    occurred_at: dt.datetime | None = None,
) -> Json:
    """The body of one event, without its delivery ``id`` (added when sent, see ``body_bytes``)."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}; known: {', '.join(EVENTS)}")
    return {
        "event": event,
        "schema_version": SCHEMA_VERSION,
        "occurred_at": iso(occurred_at or timezone.now(), business),
        "business": {"id": business.pk, "name": business.name},
        "call": call_data(call) if call else None,
        "lead": lead_data(lead) if lead else None,
        "recording": recording_data(recording) if recording else None,
        "follow_up": follow_up_data(follow_up) if follow_up else None,
    }


# -- one builder per event ---------------------------------------------------------------------------------
def call_completed(call: Call) -> Json:
    return envelope(
        CALL_COMPLETED,
        call.business,
        call=call,
        lead=call.lead,
        follow_up=call_follow_up(call),
        occurred_at=call.ended_at,
    )


def lead_changed(call: Call, *, created: bool) -> Json:
    """lead.created (the call made the lead) or lead.updated (the call added to a known lead)."""
    if call.lead is None:
        raise ValueError(f"call {call.pk} has no lead")
    return envelope(LEAD_CREATED if created else LEAD_UPDATED, call.business, call=call, lead=call.lead)


def voicemail_received(recording: Recording) -> Json:
    call = recording.call
    return envelope(
        VOICEMAIL_RECEIVED,
        call.business,
        call=call,
        lead=call.lead,
        recording=recording,
        follow_up=call_follow_up(call),
        occurred_at=recording.created_at,
    )


def followup_due(follow_up: FollowUp) -> Json:
    return envelope(
        FOLLOWUP_DUE,
        follow_up.business,
        call=follow_up.call,
        lead=follow_up.lead,
        follow_up=follow_up,
        occurred_at=follow_up.due_at,
    )


def ping(business: Business) -> Json:
    """What "send test event" posts: the envelope with every object null."""
    return envelope(TEST, business)


def body_bytes(notification: Notification) -> bytes:
    """The exact bytes POSTed (and signed): the stored payload with the delivery id first, compact UTF-8
    JSON. The same on every retry."""
    body = {"id": notification.pk, **(notification.payload or {})}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
