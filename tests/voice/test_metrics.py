"""/metrics: off without METRICS_TOKEN, only for the bearer of the token, Prometheus text that parses; a call
through the real server shows up in that server's numbers; the jobs' states and the outbound underruns."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from crm.models import Call
from crm.services import ensure_default_business
from tests.support.agent_doubles import FakeTwilio, ManualClock, settle
from tests.support.caller_audio import caller_says, silence
from tests.support.factories import make_call
from tests.support.live import run_daphne
from tests.support.media_socket import stream_stopped
from voice import metrics
from voice.audio.pacer import Pacer
from voice.models import Job
from voice.simulator.client import CallOptions, pad_to_frames, simulate_call

TOKEN = "metrics-token-for-tests"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text exposition (the parser raises on anything malformed)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def scrape(client) -> Samples:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return parse(response.content.decode())


# -- who may read them --------------------------------------------------------------------------------
def test_metrics_are_off_when_no_token_is_set(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404


def test_metrics_ask_for_a_bearer_token(client, settings):
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_metrics_refuse_another_authorization_scheme(client, settings):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401


def test_metrics_refuse_a_wrong_token(client, settings):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics", headers={"Authorization": "Bearer not-the-token"}).status_code == 403


@pytest.mark.django_db
def test_metrics_with_the_token_are_prometheus_text_with_every_family(client, settings):
    settings.METRICS_TOKEN = TOKEN
    names = {name for name, _ in scrape(client)}
    assert {
        "agentlocator_calls_in_progress",
        "agentlocator_job_oldest_pending_age_seconds",
        "process_cpu_seconds_total",  # the process's own, from prometheus-client
    } <= names


# -- the Celery jobs -------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_jobs_are_counted_by_task_and_status_and_the_oldest_due_pending_job_gives_the_age(client, settings):
    settings.METRICS_TOKEN = TOKEN
    now = timezone.now()
    task = "voice.tasks.after_call"
    Job.objects.create(task=task, key="1", status=Job.Status.PENDING, due_at=now - dt.timedelta(seconds=90))
    Job.objects.create(task=task, key="2", status=Job.Status.PENDING, due_at=now - dt.timedelta(seconds=10))
    # A retry waiting out its back-off is pending but not yet due: it is not "waiting".
    Job.objects.create(task=task, key="3", status=Job.Status.PENDING, due_at=now + dt.timedelta(hours=1))
    Job.objects.create(task=task, key="4", status=Job.Status.DONE, due_at=now - dt.timedelta(days=3))
    Job.objects.create(task="voice.tasks.store_recording", key="5", status=Job.Status.RUNNING)

    samples = scrape(client)
    assert value(samples, "agentlocator_jobs", task=task, status="pending") == 3
    assert value(samples, "agentlocator_jobs", task=task, status="done") == 1
    assert value(samples, "agentlocator_jobs", task="voice.tasks.store_recording", status="running") == 1
    age = value(samples, "agentlocator_job_oldest_pending_age_seconds")
    assert age is not None and 90 <= age < 150  # 90 s, plus however long this test took


@pytest.mark.django_db
def test_the_oldest_pending_age_is_zero_when_no_job_is_waiting(client, settings):
    settings.METRICS_TOKEN = TOKEN
    Job.objects.create(task="voice.tasks.after_call", key="1", status=Job.Status.DONE)
    Job.objects.create(
        task="voice.tasks.after_call", key="2", due_at=timezone.now() + dt.timedelta(minutes=5)
    )  # pending, not due yet
    assert value(scrape(client), "agentlocator_job_oldest_pending_age_seconds") == 0


# -- every call, streamed or not ----------------------------------------------------------------------
@pytest.mark.django_db
def test_the_last_days_calls_are_counted_by_status_and_outcome_streamed_or_not(client, settings):
    settings.METRICS_TOKEN = TOKEN
    business = ensure_default_business()
    make_call(business, outcome=Call.Outcome.CONVERSATION)
    make_call(business, outcome=Call.Outcome.CONVERSATION)
    make_call(business, outcome=Call.Outcome.VOICEMAIL)  # after hours: straight to voicemail, never streamed
    make_call(business, outcome="", status=Call.Status.IN_PROGRESS)
    make_call(business, outcome=Call.Outcome.VOICEMAIL, started_at=timezone.now() - dt.timedelta(days=2))

    samples = scrape(client)
    assert value(samples, "agentlocator_calls_last_day", status="completed", outcome="conversation") == 2
    assert value(samples, "agentlocator_calls_last_day", status="completed", outcome="voicemail") == 1
    assert value(samples, "agentlocator_calls_last_day", status="in-progress", outcome="none") == 1  # not known yet


# -- outbound underruns (the pacer) ------------------------------------------------------------------
def underruns() -> float:
    return REGISTRY.get_sample_value("agentlocator_outbound_underruns_total") or 0.0


async def test_a_sentence_whose_audio_comes_late_is_an_outbound_underrun():
    clock, twilio = ManualClock(), FakeTwilio()
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    before = underruns()
    pacer.push(b"\x55" * 160 * 10)  # 200 ms of a sentence...
    await settle()
    await clock.advance(0.5)  # ...played out, and the rest of it is not there yet
    pacer.push(b"\x55" * 160 * 10)
    await settle()
    assert underruns() == before + 1
    await pacer.close()


async def test_silence_between_sentences_is_no_underrun():
    clock, twilio = ManualClock(), FakeTwilio()
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    before = underruns()
    pacer.push(b"\x55" * 160 * 10)
    pacer.push_mark("s1")  # the sentence is complete
    await settle()
    await clock.advance(0.5)
    pacer.push(b"\x55" * 160 * 10)
    await settle()
    assert underruns() == before
    await pacer.close()


# -- a call through the real server --------------------------------------------------------------------
SPEED = 2.0  # media time per wall-clock second on the caller's side


@sync_to_async
def short_greeting_business() -> None:
    business = ensure_default_business()
    business.greeting = "שלום."  # 300 ms of the fake voice: played out long before the caller speaks
    business.idle_prompt_seconds = 60
    business.save()
    assert business.agent_mode == "ai"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
async def test_a_call_through_the_real_server_shows_in_that_servers_metrics(settings, tmp_path):
    await short_greeting_business()
    with run_daphne(tmp_path, METRICS_TOKEN=TOKEN, FAKE_REPLY_TEXT="בסדר גמור.") as server:
        caller = silence(3000) + pad_to_frames(caller_says("שלום, אני מתעניין בדירה", tmp_path))
        options = CallOptions(
            base_url=server.url,
            auth_token=settings.TWILIO_AUTH_TOKEN,
            caller_audio=caller,
            speed=SPEED,
            silence_s=4.0 * SPEED,  # the end of the utterance, the reply and its play-out
        )
        summary = await simulate_call(options)
        await stream_stopped(summary.call_sid)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            refused = await http.get("/metrics")
            response = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert summary.reply_latency_ms is not None  # the agent answered the caller
    assert refused.status_code == 401
    samples = parse(response.text)
    assert value(samples, "agentlocator_calls_started_total", mode="ai") == 1
    assert value(samples, "agentlocator_calls_ended_total", ended_by="twilio") == 1  # the caller hung up
    assert value(samples, "agentlocator_calls_in_progress") == 0
    for stage in ("asr", "llm_first_token", "tts_first_audio", "first_frame"):
        assert value(samples, "agentlocator_turn_latency_seconds_count", stage=stage) == 1, stage
    assert (value(samples, "agentlocator_event_loop_lag_seconds_count") or 0) >= 1
    assert value(samples, "agentlocator_provider_errors_total", role="asr", provider="fake") is None
    # Silero heard the caller's sentence: its runs, the CPU they took and the windows they scored.
    runs = value(samples, "agentlocator_vad_run_seconds_count") or 0
    assert runs >= 1
    assert (value(samples, "agentlocator_vad_run_seconds_sum") or 0) > 0
    assert (value(samples, "agentlocator_vad_windows_total") or 0) >= runs


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_processes_sharing_a_multiprocess_directory_answer_for_all_of_them(tmp_path):
    # Several daphne processes behind one port (one registry directory): any of them serves the sum.
    directory = tmp_path / "prometheus"
    directory.mkdir()
    with run_daphne(tmp_path, METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=str(directory)) as server:
        response = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    samples = parse(response.text)
    # Calls in progress per process: one sample per process, labelled with its pid.
    in_progress = {
        dict(labels)["pid"]: v for (name, labels), v in samples.items() if name == "agentlocator_calls_in_progress"
    }
    assert in_progress == {str(server.process.pid): 0}
    assert ("agentlocator_job_oldest_pending_age_seconds", frozenset()) in samples
    assert ("agentlocator_vad_run_seconds_count", frozenset()) in samples  # summed over the processes' files
    assert any(directory.iterdir())  # the process wrote its numbers there


def test_a_pause_that_resumed_is_counted_apart_from_barge_ins():
    def count(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(f"agentlocator_{name}_total", labels) or 0.0

    def counts() -> tuple[float, ...]:
        causes = ("back_channel", "noise", "echo")
        return (*(count("pauses_resumed", cause=c) for c in causes), count("barge_ins", cause="speech"))

    before = counts()
    metrics.reported("resumed", {"paused_ms": 900, "text": "כן"})
    metrics.reported("resumed", {"paused_ms": 400, "noise": True})
    metrics.reported("resumed", {"paused_ms": 300, "echo": True})
    metrics.reported("resumed", {"paused_ms": 300, "echo": True})
    assert [a - b for a, b in zip(counts(), before, strict=True)] == [1, 1, 2, 0]


def test_a_caller_who_went_on_after_a_pause_is_counted():
    before = REGISTRY.get_sample_value("agentlocator_callers_went_on_total") or 0.0
    metrics.reported("went_on", {"pause_ms": 640})
    metrics.reported("resumed", {"paused_ms": 900, "text": "כן"})
    assert REGISTRY.get_sample_value("agentlocator_callers_went_on_total") == before + 1


def test_a_line_that_echoes_is_counted_once_per_event():
    before = REGISTRY.get_sample_value("agentlocator_lines_echoing_total") or 0.0
    metrics.reported("line_echoes", {"delay_ms": 120})
    metrics.reported("resumed", {"paused_ms": 900, "echo": True})
    assert REGISTRY.get_sample_value("agentlocator_lines_echoing_total") == before + 1
