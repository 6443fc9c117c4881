"""Closes what a dead process left open: calls that are not over in our database, although no process has
served their media stream for longer than ``CALL_RECONCILE_GRACE_SECONDS`` (``voice.stream_liveness``).

For each such call Twilio's REST API says what really happened (``voice.twilio_rest.fetch_call``):

- over (completed, busy, failed, no-answer, canceled): the call is closed with that status, its end and its
  duration, as the status callback we missed would have done;
- still in progress, with our stream dead: the caller is moved to voicemail (the rescue of a dropped socket);
  the call is closed on a later round, once Twilio says it is over;
- still ringing or queued: left alone for now;
- unknown to Twilio (404): closed as completed if it was answered, else canceled;
- Twilio unreachable: asked again next round; past Twilio's own maximum call length the call is closed anyway.

A stream that ended without its socket saying so (the process died) gets the ``stream_stopped`` event it
missed, its recording built from the spooled tape (``voice.call_tape``) and the after-call work. Every step
is checked under the call's row lock first, so a second run, or two reconcilers at once, change nothing.
Run by ``voice.reconciler_tasks`` (Celery beat, and once when a worker starts).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.call_events import offset_from_answer, write_event
from crm.live_updates import broadcast_status, broadcast_sync, event_data
from crm.models import Call, CallEvent
from voice import call_tape, tasks
from voice.calls import TERMINAL_STATUSES, needs_rescue
from voice.log_context import call_sid_var
from voice.public_url import public_base_url
from voice.twilio_rest import CallState, TwilioRestException, TwilioUnreachable, fetch_call

log = logging.getLogger(__name__)

# Calls that may still have a stream to serve; everything else is over.
OPEN_STATUSES = (Call.Status.QUEUED, Call.Status.RINGING, Call.Status.IN_PROGRESS)
# Twilio ends every call after four hours (its maximum time limit): no call can still be live after that,
# whatever Twilio's API says or fails to say.
TWILIO_MAX_CALL = dt.timedelta(hours=4)


@dataclass(frozen=True)
class Reconciled:
    """What the reconciler did with one call: closed, rescued, waiting (ringing, or Twilio unreachable)."""

    call_sid: str
    action: str
    status: str  # the call's status afterwards


def stale_calls(grace_seconds: float | None = None, now: dt.datetime | None = None) -> QuerySet[Call]:
    """Calls not over whose stream (or, before any stream, whose answer or start) was last seen more than
    ``grace_seconds`` ago."""
    grace = settings.CALL_RECONCILE_GRACE_SECONDS if grace_seconds is None else grace_seconds
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=grace)
    return (
        Call.objects.filter(status__in=OPEN_STATUSES)
        .annotate(last_seen=Coalesce("stream_seen_at", "answered_at", "started_at"))
        .filter(last_seen__lt=cutoff)
        .order_by("last_seen")
    )


def reconcile_calls(grace_seconds: float | None = None, now: dt.datetime | None = None) -> list[Reconciled]:
    """Reconcile every stale call; one call's failure never stops the others."""
    done: list[Reconciled] = []
    for call_id, call_sid in stale_calls(grace_seconds, now).values_list("pk", "call_sid"):
        token = call_sid_var.set(call_sid)
        try:
            done.append(reconcile_call(call_id, now=now))
        except Exception:
            log.exception("could not reconcile the call")
        finally:
            call_sid_var.reset(token)
    if done:
        log.info("reconciled %s call(s): %s", len(done), ", ".join(f"{r.call_sid} {r.action}" for r in done))
    return done


def reconcile_call(call_id: int, now: dt.datetime | None = None) -> Reconciled:
    """Bring one call whose stream is gone in line with Twilio (see the module's docstring)."""
    now = now or timezone.now()
    call = Call.objects.select_related("business").get(pk=call_id)
    try:
        state = fetch_call(call.call_sid)
    except (TwilioRestException, TwilioUnreachable) as exc:
        if now - call.started_at < TWILIO_MAX_CALL:
            log.warning("Twilio could not say how the call is (%s): asking again next round", exc)
            return Reconciled(call.call_sid, "waiting", call.status)
        state = CallState(status=Call.Status.COMPLETED)
        log.warning("Twilio unreachable for a call older than Twilio allows: closing it as completed")
    if state is None:  # Twilio does not know the call
        state = CallState(status=Call.Status.COMPLETED if call.answered_at else Call.Status.CANCELED)

    if state.status in TERMINAL_STATUSES:
        finish_lost_stream(call.pk, now=now)
        closed = close_call(call.pk, state, now=now)
        return Reconciled(call.call_sid, "closed" if closed else "already closed", state.status)
    if state.status == Call.Status.IN_PROGRESS and call.stream_sid:
        # Twilio still connects the caller, but no process serves the stream: voicemail, as for a dropped socket.
        finish_lost_stream(call.pk, now=now)
        if needs_rescue(call):
            tasks.queue_rescue(call.pk, public_base_url())
            return Reconciled(call.call_sid, "rescued", call.status)
    return Reconciled(call.call_sid, "waiting", call.status)


def finish_lost_stream(call_id: int, now: dt.datetime | None = None) -> bool:
    """A stream that ended without its socket recording the end (the process died): write the missing
    ``stream_stopped`` event, queue the recording from the spooled tape and the after-call work. True when
    done now; False when the call had no stream or its end is already recorded."""
    with transaction.atomic():
        call = Call.objects.select_for_update(no_key=True).get(pk=call_id)
        if not call.stream_sid or call.events.filter(kind=CallEvent.Kind.STREAM_STOPPED).exists():
            return False
        last_seen = call.stream_seen_at or now or timezone.now()
        spooled_ms = call_tape.spooled_ms(call.pk)
        event = write_event(
            call,
            CallEvent.Kind.STREAM_STOPPED,
            {
                "ended_by": "reconciler",
                "reason": "no_live_stream",
                "stream_last_seen": last_seen.isoformat(),
                "spooled_audio_ms": spooled_ms,
            },
            offset_ms=offset_from_answer(call, last_seen),  # the stream was last alive then, not now
        )
        tasks.queue_call_recording(call.pk, b"", b"")  # the spooled chunks are the whole tape
        tasks.queue_after_call(call.pk)
    broadcast_sync(call.call_sid, "event", event_data(event))
    log.info("lost stream closed (%s ms of audio spooled)", spooled_ms)
    return True


def close_call(call_id: int, state: CallState, now: dt.datetime | None = None) -> bool:
    """Give a call that is not over the final status Twilio reports, as the missed status callback would.
    True when closed now; False when it was already over (a status never moves backwards)."""
    with transaction.atomic():
        call = Call.objects.select_for_update(no_key=True).get(pk=call_id)
        if call.status in TERMINAL_STATUSES:
            return False
        call.status = state.status
        call.ended_at = call.ended_at or state.end_time or now or timezone.now()
        fields = ["status", "ended_at"]
        if state.duration_seconds is not None:
            call.duration_seconds = state.duration_seconds
            fields.append("duration_seconds")
        call.save(update_fields=fields)
        event = write_event(call, CallEvent.Kind.CALL_STATUS, {"status": call.status, "source": "reconciler"})
        tasks.queue_after_call(call.pk)  # as the status callback does: idempotent
    broadcast_sync(call.call_sid, "event", event_data(event))
    broadcast_status(call)
    log.info("call closed as %s (no live stream; Twilio's state)", call.status)
    return True
