"""Celery tasks, run eagerly: recordings of calls, voicemail ingestion from Twilio, the after-call summary.

Twilio is a local stand-in answering the real download and REST requests; the voice providers are the fake
ones, or the OpenAI stand-in where the LLM's JSON answer matters.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from crm.models import Call, CallEvent, Lead, Recording, Utterance
from crm.services import ensure_default_business
from tests.support.celery_eager import eager_tasks
from tests.support.openai_standin import OpenAIStandin, Reply
from tests.support.twilio_standin import hebrew_voicemail_wav, pcm_wav
from voice import call_tape, tasks
from voice.audio import mulaw, wav
from voice.audio.tape import CallTape
from voice.providers.registry import FAKE_TRANSCRIPT

pytestmark = pytest.mark.django_db

CALL_SID = "CA0123456789abcdef0123456789abcdef"
RECORDING_SID = "RE0123456789abcdef0123456789abcdef"
FAKE_SUMMARY = "סיכום שיחה."  # what the fake LLM answers


@pytest.fixture(autouse=True)
def fake_providers(settings):
    settings.VOICE_ASR, settings.VOICE_LLM, settings.VOICE_TTS = "fake", "fake", "fake"


@contextmanager
def openai_llm(settings) -> Iterator[OpenAIStandin]:
    """The LLM is the OpenAI stand-in (its scripted answers exercise the JSON digest parsing)."""
    with OpenAIStandin() as openai:
        settings.VOICE_LLM, settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = "openai", "sk-test", openai.base_url
        yield openai


@pytest.fixture
def call() -> Call:
    return Call.objects.create(
        call_sid=CALL_SID,
        business=ensure_default_business(),
        from_number="+972501234567",
        to_number="+97233763805",
    )


def ingest(url: str, *, sid: str = RECORDING_SID, kind: str = "voicemail", duration: float = 4.0):
    return tasks.ingest_twilio_recording.apply(args=(sid, CALL_SID, url, duration, kind))


def events(call: Call, kind: str) -> list[CallEvent]:
    return list(call.events.filter(kind=kind))


# -- voicemail ------------------------------------------------------------------------------------------
def test_voicemail_is_downloaded_with_basic_auth_stored_transcribed_and_summarised_on_the_lead(twilio, call):
    audio = hebrew_voicemail_wav()
    url = twilio.add_recording(RECORDING_SID, audio)

    result = ingest(url)

    assert result.get() == Recording.Status.TRANSCRIBED
    (download,) = twilio.downloads(RECORDING_SID)
    assert download.authorized and download.path.endswith(f"/Recordings/{RECORDING_SID}.wav")
    recording = Recording.objects.get(recording_sid=RECORDING_SID)
    assert recording.kind == Recording.Kind.VOICEMAIL and recording.source == "twilio"
    assert recording.content_type == "audio/wav" and recording.channels == 1
    assert recording.duration_seconds == pytest.approx(len(wav.parse_wav(audio)[0]) / 8000, abs=0.01)
    with recording.file.open("rb") as f:
        assert f.read() == audio
    assert recording.transcript == FAKE_TRANSCRIPT
    assert recording.summary == FAKE_SUMMARY
    call.refresh_from_db()
    assert call.outcome == Call.Outcome.VOICEMAIL
    assert call.lead is not None and call.lead.phone == "+972501234567"
    assert FAKE_SUMMARY in call.lead.notes
    assert call.lead.next_follow_up == timezone.localdate()
    for kind in ("recording_stored", "transcribed", "summary", "lead_updated"):
        assert len(events(call, kind)) == 1, kind
    assert events(call, "transcribed")[0].payload["text"] == FAKE_TRANSCRIPT


def test_a_duplicate_callback_creates_nothing_twice(twilio, call):
    url = twilio.add_recording(RECORDING_SID, hebrew_voicemail_wav())

    ingest(url)
    again = ingest(url)

    assert again.get() == Recording.Status.TRANSCRIBED
    assert len(twilio.downloads(RECORDING_SID)) == 1
    assert Recording.objects.filter(recording_sid=RECORDING_SID).count() == 1
    assert Lead.objects.count() == 1
    # stored, transcribed, summary, lead updated, the follow-up task the voicemail made: once each
    assert sorted(call.events.values_list("kind", flat=True)) == [
        "follow_up",
        "lead_updated",
        "recording_stored",
        "summary",
        "transcribed",
    ]
    assert Lead.objects.get().notes.count(FAKE_SUMMARY) == 1


def test_download_failures_are_retried_until_the_recording_arrives(twilio, call):
    url = twilio.add_recording(RECORDING_SID, hebrew_voicemail_wav(), fail_times=3, fail_status=503)

    assert ingest(url).get() == Recording.Status.TRANSCRIBED

    assert len(twilio.downloads(RECORDING_SID)) == 4
    recording = Recording.objects.get(recording_sid=RECORDING_SID)
    assert recording.attempts == 4 and recording.failure_reason == ""
    assert events(call, "recording_failed") == []


def test_a_recording_that_never_arrives_ends_failed_with_the_reason_after_the_last_retry(twilio, call):
    url = twilio.add_recording(RECORDING_SID, hebrew_voicemail_wav(), fail_times=1000)

    assert ingest(url).get() == Recording.Status.FAILED

    assert len(twilio.downloads(RECORDING_SID)) == tasks.DOWNLOAD_MAX_RETRIES + 1
    recording = Recording.objects.get(recording_sid=RECORDING_SID)
    assert "HTTP 500" in recording.failure_reason
    (failed,) = events(call, "recording_failed")
    assert failed.payload["recording_sid"] == RECORDING_SID


def test_retries_back_off_exponentially_up_to_a_cap():
    assert [tasks.backoff(n) for n in range(5)] == [1, 2, 4, 8, 16]
    assert tasks.backoff(30) == tasks.BACKOFF_CAP_SECONDS


def test_a_permanent_failure_is_not_retried_and_is_visible(twilio, call):
    url = twilio.add_recording(RECORDING_SID, b"", missing=True)

    assert ingest(url).get() == Recording.Status.FAILED

    assert len(twilio.downloads(RECORDING_SID)) == 1
    recording = Recording.objects.get(recording_sid=RECORDING_SID)
    assert recording.status == Recording.Status.FAILED and "HTTP 404" in recording.failure_reason
    assert not recording.file
    assert len(events(call, "recording_failed")) == 1
    assert ingest(url).get() == Recording.Status.FAILED  # a late duplicate callback changes nothing
    assert len(twilio.downloads(RECORDING_SID)) == 1 and len(events(call, "recording_failed")) == 1


def test_wrong_credentials_are_a_permanent_failure(twilio, call, settings):
    url = twilio.add_recording(RECORDING_SID, hebrew_voicemail_wav())
    settings.TWILIO_AUTH_TOKEN = "not-the-token"

    assert ingest(url).get() == Recording.Status.FAILED
    assert "HTTP 401" in Recording.objects.get().failure_reason


@pytest.mark.parametrize(
    ("audio", "reason"),
    [(b"", "0 bytes"), (pcm_wav(np.zeros(0, dtype=np.int16)), "zero length")],
    ids=["empty body", "wav without samples"],
)
def test_a_zero_length_recording_is_kept_as_failed_with_the_reason(twilio, call, audio, reason):
    url = twilio.add_recording(RECORDING_SID, audio)

    assert ingest(url, duration=0).get() == Recording.Status.FAILED

    recording = Recording.objects.get(recording_sid=RECORDING_SID)
    assert reason in recording.failure_reason and recording.transcript == ""
    assert len(events(call, "recording_failed")) == 1
    assert events(call, "transcribed") == []


def test_a_call_without_a_lead_gets_one_from_the_caller_number(twilio, call):
    assert call.lead is None
    ingest(twilio.add_recording(RECORDING_SID, hebrew_voicemail_wav()))

    call.refresh_from_db()
    lead = Lead.objects.get(phone="+972501234567")
    assert call.lead == lead and lead.source == "voicemail"


def test_a_hidden_number_gets_no_lead_but_the_voicemail_is_kept(twilio, call):
    call.from_number = "anonymous"
    call.save()

    assert ingest(twilio.add_recording(RECORDING_SID, hebrew_voicemail_wav())).get() == "transcribed"

    assert Lead.objects.count() == 0
    assert Recording.objects.get().transcript == FAKE_TRANSCRIPT


def test_a_recording_for_an_unknown_call_is_kept_under_the_default_business(twilio):
    assert ingest(twilio.add_recording(RECORDING_SID, hebrew_voicemail_wav())).get() == "transcribed"
    assert Recording.objects.get().call.business == ensure_default_business()


def test_a_twilio_recording_of_the_whole_call_is_stored_not_transcribed(twilio, call):
    url = twilio.add_recording(RECORDING_SID, hebrew_voicemail_wav())

    assert ingest(url, kind="call").get() == Recording.Status.STORED

    recording = Recording.objects.get()
    assert recording.kind == Recording.Kind.CALL and recording.file and recording.transcript == ""


def test_the_voicemail_summary_fills_the_lead_from_the_llm_json(twilio, call, settings):
    with openai_llm(settings) as openai:
        openai.chat.append(Reply(text=json.dumps(_digest_json(), ensure_ascii=False)))

        ingest(twilio.add_recording(RECORDING_SID, hebrew_voicemail_wav()))

        (request,) = openai.requests_to("/v1/chat/completions")
        assert FAKE_TRANSCRIPT in request.json["messages"][-1]["content"]
    lead = Lead.objects.get()
    assert (lead.name, lead.interest, lead.callback_time) == ("דנה", "ביטוח דירה", "מחר בבוקר")
    assert lead.status == Lead.Status.NEW  # nobody has talked to her yet
    assert Recording.objects.get().summary == "דנה מבקשת הצעה לביטוח דירה."


def _digest_json() -> dict[str, str]:
    return {
        "summary": "דנה מבקשת הצעה לביטוח דירה.",
        "name": "דנה",
        "interest": "ביטוח דירה",
        "callback_time": "מחר בבוקר",
    }


# -- after the call -------------------------------------------------------------------------------------
def _conversation(call: Call) -> None:
    Utterance.objects.create(call=call, speaker="agent", text="שלום, איך אפשר לעזור?", start_ms=0, end_ms=1500)
    Utterance.objects.create(
        call=call, speaker="caller", text="קוראים לי דנה, מעניין אותי ביטוח דירה", start_ms=2000, end_ms=4500
    )
    Utterance.objects.create(
        call=call,
        speaker="agent",
        text="מצוין דנה, מתי נוח לחזור אלייך עם הצעה מפורטת?",
        heard_text="מצוין דנה, מתי",
        interrupted=True,
        start_ms=5000,
        end_ms=6000,
    )
    Utterance.objects.create(call=call, speaker="caller", text="מחר בבוקר", start_ms=6000, end_ms=7000)


def test_after_call_summarises_in_hebrew_and_fills_the_lead_once(call, settings):
    _conversation(call)
    with openai_llm(settings) as openai:
        openai.chat.append(Reply(text="```json\n" + json.dumps(_digest_json(), ensure_ascii=False) + "\n```"))

        assert tasks.after_call.apply(args=(call.pk,)).get() is True
        assert tasks.after_call.apply(args=(call.pk,)).get() is False  # safe to run twice

        (request,) = openai.requests_to("/v1/chat/completions")
    prompt = request.json["messages"][-1]["content"]
    assert "לקוח: מחר בבוקר" in prompt and "נציג: מצוין דנה, מתי" in prompt  # what the caller heard
    call.refresh_from_db()
    assert call.summary == "דנה מבקשת הצעה לביטוח דירה."
    lead = call.lead
    assert (lead.name, lead.interest, lead.callback_time) == ("דנה", "ביטוח דירה", "מחר בבוקר")
    assert lead.status == Lead.Status.CONTACTED
    assert lead.next_follow_up == timezone.localdate() + dt.timedelta(days=1)
    assert len(events(call, "summary")) == 1 and len(events(call, "lead_updated")) == 1


def test_after_call_keeps_a_name_staff_already_entered_when_the_call_named_nobody(call):
    # Was "fill the name only if empty", a rule of the after-call digest alone. There is one merge policy now
    # (crm.lead_facts.apply_lead_facts): a name said in the call replaces the old one, and what was not said
    # (the fake LLM's plain-text answer names nobody) never erases it.
    lead = Lead.objects.create(business=call.business, phone=call.from_number, name="דנה כהן")
    call.lead = lead
    call.save()
    _conversation(call)

    assert tasks.after_call.apply(args=(call.pk,)).get() is True

    lead.refresh_from_db()
    assert lead.name == "דנה כהן"
    call.refresh_from_db()
    assert call.summary == FAKE_SUMMARY  # a model that ignores the JSON format still gives a summary


def test_after_call_replaces_an_old_name_with_the_one_said_in_the_call(call, settings):
    # The one merge policy (crm.lead_facts.apply_lead_facts), as for the agent's tool: what the caller says now
    # is the freshest word. Until it, the digest filled the name only when it was empty.
    lead = Lead.objects.create(business=call.business, phone=call.from_number, name="דנה כהן", interest="רכב")
    call.lead = lead
    call.save()
    _conversation(call)
    with openai_llm(settings) as openai:
        openai.chat.append(Reply(text=json.dumps({**_digest_json(), "callback_time": ""}, ensure_ascii=False)))
        assert tasks.after_call.apply(args=(call.pk,)).get() is True

    lead.refresh_from_db()
    assert (lead.name, lead.interest, lead.callback_time) == ("דנה", "ביטוח דירה", "")
    (updated,) = events(call, "lead_updated")
    assert updated.payload["fields"][:2] == ["name", "interest"]


def test_after_call_with_nothing_said_writes_nothing(call):
    assert tasks.after_call.apply(args=(call.pk,)).get() is False
    call.refresh_from_db()
    assert call.summary == "" and call.events.count() == 0 and call.lead is None


def test_after_call_gives_up_visibly_when_the_llm_keeps_failing(call, settings):
    _conversation(call)
    with openai_llm(settings) as openai:
        settings.OPENAI_CHAT_MODEL = "gpt-4o-mini"
        for _ in range(tasks.PROVIDER_MAX_RETRIES + 1):
            openai.chat.append(Reply(status=400))
        assert tasks.after_call.apply(args=(call.pk,)).get() is False
    (error,) = events(call, "error")
    assert error.payload["stage"] == "after-call summary"


# -- our own two-channel recording ----------------------------------------------------------------------
def _tone(freq: float, ms: int) -> bytes:
    t = np.arange(ms * 8) / 8000
    return mulaw.encode((np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16))


def test_the_stream_recording_has_the_caller_left_and_the_agent_right_where_it_was_heard(
    call, django_capture_on_commit_callbacks
):
    tape = CallTape()
    caller_speech, answer = _tone(300, 1000), _tone(1000, 3000)
    tape.inbound(caller_speech)
    tape.outbound(answer)  # queued at 1.0 s
    tape.inbound(_tone(300, 1500))  # caller barges in at 2.5 s
    tape.clear()
    tape.inbound(_tone(300, 500))

    caller_track, agent_track = tape.tracks()
    with eager_tasks(), django_capture_on_commit_callbacks(execute=True) as queued:
        tasks.queue_call_recording(call.pk, caller_track, agent_track)
    assert len(queued) == 1  # the build task, queued after commit (run inline here)

    recording = Recording.objects.get(call=call)
    assert (recording.kind, recording.source, recording.status) == ("call", "stream", "stored")
    assert recording.channels == 2 and recording.content_type == "audio/wav"
    assert recording.duration_seconds == pytest.approx(3.0)
    with recording.file.open("rb") as f:
        samples, rate = wav.parse_wav(f.read())
    assert rate == 8000 and samples.shape == (24000, 2)
    left, right = samples[:, 0], samples[:, 1]
    assert np.array_equal(left, mulaw.decode(caller_track))
    assert not right[:8000].any()  # silence while the caller spoke first
    assert np.array_equal(right[8000:20000], mulaw.decode(answer[:12000]))  # played from 1.0 s to 2.5 s
    assert not right[20000:].any()  # cut at the barge-in
    assert len(events(call, "recording_stored")) == 1
    assert not default_storage.exists(call_tape.tape_names(call.pk)[0])  # raw tracks cleaned up


def test_building_the_stream_recording_twice_changes_nothing(call):
    tape = CallTape()
    tape.inbound(_tone(300, 200))
    call_tape.store_stream_tape(call.pk, *tape.tracks())
    first = tasks.build_call_recording.apply(args=(call.pk,)).get()
    second = tasks.build_call_recording.apply(args=(call.pk,)).get()

    assert first == second
    assert Recording.objects.filter(call=call).count() == 1
    assert len(events(call, "recording_stored")) == 1


def test_no_stream_recording_when_the_business_turned_recording_off(call):
    call.business.record_calls = False
    call.business.save()
    call_tape.store_stream_tape(call.pk, _tone(300, 200), _tone(500, 200))
    assert Recording.objects.count() == 0


def test_a_lost_raw_tape_leaves_a_failed_recording(call):
    call_tape.store_stream_tape(call.pk, _tone(300, 200), _tone(500, 200))
    for name in call_tape.tape_names(call.pk):
        default_storage.delete(name)

    tasks.build_call_recording.apply(args=(call.pk,))

    recording = Recording.objects.get(call=call)
    assert recording.status == "failed" and "missing" in recording.failure_reason
    assert len(events(call, "recording_failed")) == 1


# -- "also record with Twilio" ---------------------------------------------------------------------------
STATUS_URL = "https://voice.example.com/webhook/recording_status"


def test_twilio_is_asked_to_record_the_call_when_the_business_wants_it(
    twilio, call, django_capture_on_commit_callbacks
):
    call.business.twilio_recording = True
    call.business.save()

    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        assert tasks.queue_twilio_call_recording(call, STATUS_URL) is True

    (request,) = [r for r in twilio.requests if r.path.endswith(f"/Calls/{CALL_SID}/Recordings.json")]
    assert request.form["RecordingStatusCallback"] == [STATUS_URL]


def test_no_twilio_recording_unless_the_business_turned_it_on(twilio, call, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert tasks.queue_twilio_call_recording(call, STATUS_URL) is False
    assert queued == [] and twilio.requests == []


def test_a_refused_twilio_recording_request_is_an_error_on_the_timeline(twilio, call, settings):
    settings.TWILIO_AUTH_TOKEN = "wrong"
    assert tasks.start_twilio_call_recording.apply(args=(CALL_SID, STATUS_URL)).get() == ""
    (error,) = events(call, "error")
    assert error.payload["stage"] == "twilio recording" and "401" in error.payload["reason"]
