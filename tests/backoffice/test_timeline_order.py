"""The call page's timeline puts what Twilio's webhooks report where it happened, among the utterances.

The bug "Timeline events from webhooks sit at 00:00": webhook events were stored at offset 0, so the end of a
call (``stream_ended``, ``call_status`` completed) was listed before the conversation it ended. Every event
now counts from the call's answer, as the utterances do (crm.call_events).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from backoffice.admin_timeline import build_timeline
from crm.models import Call, Utterance
from tests.support.twilio_fixtures import fixture, post_signed

pytestmark = pytest.mark.django_db


def test_the_end_of_the_call_comes_after_the_last_utterance(client, settings):
    token = settings.TWILIO_AUTH_TOKEN
    incoming = fixture("callbacks", "incoming_call")
    post_signed(client, token, "/webhook/incoming_call", incoming)
    call = Call.objects.get()
    # The stream answered the call 12 s ago and the conversation was stored as it happened.
    Call.objects.filter(pk=call.pk).update(
        answered_at=timezone.now() - dt.timedelta(seconds=12),
        status=Call.Status.IN_PROGRESS,
        stream_sid="MZ0123456789abcdef0123456789abcdef",
        outcome=Call.Outcome.CONVERSATION,
    )
    Utterance.objects.create(call=call, speaker="agent", text="שלום, במה אפשר לעזור?", start_ms=300, end_ms=2500)
    Utterance.objects.create(call=call, speaker="caller", text="רציתי לקבוע תור", start_ms=3000, end_ms=5000)
    Utterance.objects.create(call=call, speaker="agent", text="נקבע, להתראות", start_ms=5500, end_ms=9000)

    post_signed(client, token, "/webhook/stream_ended", incoming)
    post_signed(client, token, "/webhook/call_status", fixture("callbacks", "call_status_completed"))

    timeline = build_timeline(Call.objects.get(pk=call.pk))
    rows = [
        entry.utterance.text if entry.utterance else (entry.event.kind, entry.event.payload.get("webhook"))
        for entry in timeline
    ]
    assert rows[0] == ("webhook", "incoming_call")  # before the answer: at 00:00
    last_utterance = rows.index("נקבע, להתראות")
    assert rows.index(("webhook", "stream_ended")) > last_utterance
    assert rows.index(("call_status", None)) > last_utterance
