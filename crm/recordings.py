"""Writes about a call's recordings shared by every source (our stream tape, Twilio's recordings)."""

from __future__ import annotations

import logging

from django.db import transaction

from crm.call_events import add_event
from crm.models import Call, CallEvent, Recording

log = logging.getLogger(__name__)


def mark_recording_failed(recording: Recording, reason: str) -> Recording:
    """The visible end of a recording that will not come: status failed, the reason, a timeline event.
    Once: a recording already failed is returned as it is (Twilio and Celery both repeat themselves)."""
    with transaction.atomic():
        recording = Recording.objects.select_for_update(of=("self",)).select_related("call").get(pk=recording.pk)
        if recording.status == Recording.Status.FAILED:
            return recording
        recording.status = Recording.Status.FAILED
        recording.failure_reason = reason[:2000]
        recording.save(update_fields=["status", "failure_reason", "updated_at"])
        add_event(
            recording.call,
            CallEvent.Kind.RECORDING_FAILED,
            {
                "recording_id": recording.pk,
                "recording_sid": recording.recording_sid or "",
                "reason": recording.failure_reason,
            },
        )
    log.warning("recording %s failed: %s", recording.recording_sid or recording.pk, reason)
    return recording


def playable_recording(call: Call) -> Recording | None:
    """The recording worth listening to for a call: the whole call first, else a voicemail; stored ones only.
    (The call page puts it above the timeline; notifications link to it.)"""
    stored = [
        r
        for r in call.recordings.all()
        if r.status in (Recording.Status.STORED, Recording.Status.TRANSCRIBED) and r.file
    ]
    stored.sort(key=lambda r: (r.kind != Recording.Kind.CALL, r.source != "stream", r.pk))
    return stored[0] if stored else None
