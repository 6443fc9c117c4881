"""Twilio's callbacks lock their call's row (``calls.lock_call``) so that callbacks for one call run in turn;
that lock must not stop the call's own writes, which insert rows pointing at the call.

On PostgreSQL a foreign-key check takes a KEY SHARE lock on the row it points at. A plain FOR UPDATE blocks
it; FOR NO KEY UPDATE does not. Measured with the stream's end and a status callback arriving together: the
socket's after-stream transaction queued the after-call job and then wrote a row for the call, while the
callback held the call locked and waited for that same job: PostgreSQL found a deadlock and the stream's end
was not stored ("could not store the end of the stream"). Here the two transactions are run in that order on
two connections, with events, not timing, deciding who goes when.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from crm.models import Call, CallEvent
from crm.services import ensure_default_business
from voice import calls, tasks
from voice.models import Job

pytestmark = pytest.mark.django_db(transaction=True)

CALL_SID = "CA0123456789abcdef0123456789abcdef"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row lock modes are PostgreSQL's")
def test_a_callback_holding_the_call_does_not_deadlock_the_sockets_writes_for_it(settings):
    settings.VOICE_ASR, settings.VOICE_LLM, settings.VOICE_TTS = "fake", "fake", "fake"
    call = Call.objects.create(call_sid=CALL_SID, business=ensure_default_business(), from_number="+972501234567")
    job_queued, call_locked = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def stream_end() -> None:  # the socket's after-stream transaction
        try:
            with transaction.atomic():  # threads have connections of their own
                tasks.queue_after_call(call.pk)
                job_queued.set()
                call_locked.wait(10)
                CallEvent.objects.create(call_id=call.pk, kind=CallEvent.Kind.STREAM_STOPPED, offset_ms=0)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def status_callback() -> None:  # a Twilio callback for the same call
        try:
            job_queued.wait(10)
            with transaction.atomic():  # threads have connections of their own
                assert calls.lock_call(CALL_SID) is not None
                call_locked.set()
                tasks.queue_after_call(call.pk)  # waits for the socket's uncommitted job row
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=stream_end), threading.Thread(target=status_callback)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert CallEvent.objects.filter(call=call, kind=CallEvent.Kind.STREAM_STOPPED).count() == 1
    assert Job.objects.filter(task="voice.tasks.after_call").count() == 1
