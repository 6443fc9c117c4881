"""A whole AI-mode call end to end: ``simulate_call`` against a real daphne server whose providers are
the real OpenAI adapters, pointed at the local OpenAI stand-in (transcription, streamed chat with tools,
speech). The caller speaks Hebrew (espeak-ng); what they hear and what the CRM stores is checked.

Timing: the server paces its audio in wall-clock time, while the simulator may run media time faster.
So the caller waits (in media time) until the greeting has played in wall time before speaking, and
stays on the line long enough for the reply to play; both waits are derived from the speech lengths.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse

from crm.models import Call, CallEvent, Utterance
from crm.services import ensure_default_business
from tests.support.caller_audio import caller_says, silence
from tests.support.factories import make_user
from tests.support.live import ROOT, LiveServer, server_environment, simulate_call_argv
from tests.support.media_socket import stream_stopped
from tests.support.openai_standin import SPEECH_RATE, OpenAIStandin, Reply, hebrew_speech_pcm
from tests.voice.conftest import API_KEY
from voice.agent.config import AgentConfig
from voice.audio import mulaw, wav
from voice.business_config import fill_business
from voice.simulator.client import CallOptions, CallSummary, pad_to_frames, simulate_call

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

SPEED = 3.0  # media time per wall-clock second on the caller's side
TRANSCRIPT = "שמי דנה ואני מתעניינת בדירה"
REPLY = "נעים מאוד דנה. מתי נוח שנחזור אלייך?"
FRAME = 160  # 20 ms of 8 kHz mu-law


# -- servers ----------------------------------------------------------------------------------------
@sync_to_async
def ai_business():
    """The default business (AI mode), with the idle prompt pushed out of this short call's way."""
    business = ensure_default_business()
    business.idle_prompt_seconds = 60
    business.save()
    assert business.agent_mode == "ai"
    return business


# -- the caller -----------------------------------------------------------------------------------
def speech_seconds(text: str) -> float:
    """How long the stand-in's speech for ``text`` plays (sentence by sentence, as the agent asks)."""
    return len(hebrew_speech_pcm(text)) / 2 / SPEECH_RATE


@dataclass
class Script:
    """The caller's side in media time: wait out the greeting, speak, stay on for the reply."""

    audio: bytes  # leading silence + speech, mu-law
    speech_start: int  # byte offsets in 8 kHz media time
    speech_end: int
    tail_s: float  # silence after speaking, media seconds

    @property
    def speech_s(self) -> float:
        return (self.speech_end - self.speech_start) / 8000


def caller_script(tmp_path, greeting: str, answer: str, *, speed: float = SPEED) -> Script:
    # The greeting plays in wall time; the caller's audio runs ``speed`` times faster: waiting its length
    # plus 4 s leaves room for a loaded machine's late first audio (a caller who talks over the greeting
    # interrupts it, and these calls are about a clean turn).
    lead = silence(round((speech_seconds(greeting) + 4.0) * speed * 1000))
    speech = pad_to_frames(caller_says(TRANSCRIPT, tmp_path))
    tail_s = (speech_seconds(answer) + 3.0) * speed
    return Script(lead + speech, len(lead), len(lead) + len(speech), tail_s)


def voiced_ms(audio: bytes) -> int:
    """Milliseconds of audible sound (20 ms frames above a low loudness floor)."""
    samples = mulaw.decode(audio[: len(audio) // FRAME * FRAME]).astype(np.float64)
    if samples.size == 0:
        return 0
    rms = np.sqrt((samples.reshape(-1, FRAME) ** 2).mean(axis=1))
    return int((rms > 300).sum()) * 20


# -- what was stored ------------------------------------------------------------------------------
@dataclass
class Stored:
    call: Call
    utterances: list[Utterance]
    events: list[tuple[str, dict]]

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


@sync_to_async
def stored(call_sid: str) -> Stored:
    call = Call.objects.select_related("lead").get(call_sid=call_sid)
    utterances = list(Utterance.objects.filter(call=call).order_by("id"))
    events = [(e.kind, e.payload) for e in CallEvent.objects.filter(call=call).order_by("id")]
    return Stored(call, utterances, events)


def assert_heard(agent_audio: bytes, script: Script) -> None:
    """A greeting before the caller spoke, and a reply after they stopped."""
    assert voiced_ms(agent_audio[: script.speech_start]) >= 1000
    assert voiced_ms(agent_audio[script.speech_end :]) >= 500


def assert_conversation_stored(data: Stored, business, script: Script, reply: str) -> None:
    """agent (greeting) -> caller (transcript) -> agent (reply), in media-time order, with latencies."""
    rows = data.utterances
    assert [(u.speaker, u.text) for u in rows] == [
        ("agent", fill_business(business.greeting, business)),
        ("caller", TRANSCRIPT),
        ("agent", reply),
    ]
    assert rows[0].start_ms < rows[0].end_ms < rows[1].start_ms < rows[1].end_ms < rows[2].start_ms
    # The caller's row is where they spoke, in media time (VAD onset and espeak's trailing silence aside).
    assert script.speech_start / 8 - 300 <= rows[1].start_ms <= script.speech_start / 8 + 300
    assert script.speech_end / 8 - 1000 <= rows[1].end_ms <= script.speech_end / 8 + 300
    assert not any(u.interrupted for u in rows)
    latency = rows[2].latency
    assert {"eos_ms", "asr", "llm_first_token", "tts_first_audio", "first_frame"} <= set(latency)
    assert latency["asr"] <= latency["llm_first_token"] <= latency["tts_first_audio"] <= latency["first_frame"]
    assert abs(latency["eos_ms"] - rows[1].end_ms) <= 100


def assert_asked_like_openai(standin: OpenAIStandin, business, script: Script, spoken: str) -> None:
    """One transcription of the caller's utterance (a WAV, in Hebrew), then a chat with the business's
    prompt, the greeting as heard and the transcript; speech for every sentence said, as PCM."""
    (upload,) = standin.requests_to("/v1/audio/transcriptions")
    assert upload.fields["language"] == "he"
    assert upload.fields["model"] == "whisper-1"
    rate, channels, width = upload.wav_info()
    assert (channels, width) == (1, 2) and rate >= 8000
    samples, rate = wav.parse_wav(upload.files["file"][2])
    assert 0.5 * script.speech_s <= len(samples) / rate <= script.speech_s + 1.5

    chat = standin.requests_to("/v1/chat/completions")[0].json
    assert chat["stream"] is True and chat["model"] == "gpt-4o-mini"
    messages = chat["messages"]
    assert messages[0]["role"] == "system" and messages[0]["content"].startswith(
        fill_business(business.system_prompt, business)
    )
    assert messages[1:] == [
        {"role": "assistant", "content": fill_business(business.greeting, business)},
        {"role": "user", "content": TRANSCRIPT},
    ]
    assert "save_lead_details" in [tool["function"]["name"] for tool in chat["tools"]]

    speech = [r.json for r in standin.requests_to("/v1/audio/speech")]
    assert all(s["response_format"] == "pcm" for s in speech)
    assert " ".join(s["input"] for s in speech) == f"{fill_business(business.greeting, business)} {spoken}"
    for request in standin.requests:
        assert request.headers["authorization"] == f"Bearer {API_KEY}"


def call_options(server: LiveServer, settings, script: Script) -> CallOptions:
    return CallOptions(
        base_url=server.url,
        auth_token=settings.TWILIO_AUTH_TOKEN,
        caller_audio=script.audio,
        speed=SPEED,
        silence_s=script.tail_s,
    )


def assert_clean_call(summary: CallSummary) -> None:
    assert summary.protocol_errors == []
    assert summary.clears == 0  # nobody interrupted anybody
    assert summary.hung_up_by == "caller"
    assert summary.marks_echoed == summary.marks_received > 0


# -- the specifications -----------------------------------------------------------------------------
async def test_a_turn_with_a_tool_call_end_to_end(ai_server, standin, settings, tmp_path):
    business = await ai_business()
    standin.transcriptions.append(Reply(text=TRANSCRIPT))
    standin.chat.append(Reply(tool_calls=[("save_lead_details", {"name": "דנה", "interest": "דירה"})]))
    standin.chat.append(Reply(text=REPLY))
    script = caller_script(tmp_path, fill_business(business.greeting, business), REPLY)

    summary = await simulate_call(call_options(ai_server, settings, script))

    assert_clean_call(summary)
    assert_heard(summary.agent_audio, script)
    assert summary.first_agent_audio_ms is not None and summary.first_agent_audio_ms < 2000
    assert summary.reply_latency_ms is not None  # audio came after the caller stopped speaking
    assert_asked_like_openai(standin, business, script, REPLY)

    # The tool's result went back to the model, which then answered in words.
    first, second = (r.json for r in standin.requests_to("/v1/chat/completions"))
    assert second["messages"][1 : len(first["messages"])] == first["messages"][1:]
    assert "- name: דנה\n- interest: דירה" in second["messages"][0]["content"]  # what is now known
    assistant, tool = second["messages"][len(first["messages"]) :]
    (call,) = assistant["tool_calls"]
    assert call["function"]["name"] == "save_lead_details"
    assert tool["role"] == "tool" and tool["tool_call_id"] == call["id"]
    assert '"ok": true' in tool["content"]
    assert [s.json["input"] for s in standin.requests_to("/v1/audio/speech")][-2:] == [
        "נעים מאוד דנה.",
        "מתי נוח שנחזור אלייך?",
    ]  # sentence by sentence

    await stream_stopped(summary.call_sid)
    data = await stored(summary.call_sid)
    assert_conversation_stored(data, business, script, REPLY)
    assert (data.call.lead.name, data.call.lead.interest) == ("דנה", "דירה")
    kinds = data.kinds()
    for kind in ("stream_started", "greeting", "turn", "tool_call", "stream_stopped"):
        assert kind in kinds, kind
    assert kinds.index("stream_started") < kinds.index("greeting") < kinds.index("tool_call")
    assert kinds.index("tool_call") < kinds.index("turn") < kinds.index("stream_stopped")
    tool_event = next(p for k, p in data.events if k == "tool_call")
    assert tool_event["name"] == "save_lead_details" and tool_event["ok"] is True
    assert tool_event["changed"] == {"name": "דנה", "interest": "דירה"}
    assert "error" not in kinds and "fallback" not in kinds and "barge_in" not in kinds
    assert data.call.status == "completed"


@sync_to_async
def admin_call_page(call: Call) -> str:
    """The call's admin change page (its timeline) as a superuser sees it."""
    client = Client()
    client.force_login(make_user("root", superuser=True))
    response = client.get(reverse("admin:crm_call_change", args=[call.pk]))
    assert response.status_code == 200
    return response.content.decode()


def facts_shown(page: str) -> list[dict[str, str]]:
    """Each timeline entry's list of facts (``<dl class="facts">``), as {term: value}."""
    pair = re.compile(r"<dt><bdi>(.*?)</bdi></dt><dd><bdi[^>]*>(.*?)</bdi></dd>", re.S)
    return [dict(pair.findall(dl)) for dl in re.findall(r'<dl class="facts">(.*?)</dl>', page, re.S)]


async def test_a_tool_calls_arguments_are_stored_and_shown_on_the_call_page(ai_server, standin, settings, tmp_path):
    business = await ai_business()
    arguments = {"name": "דנה", "interest": "דירה"}
    standin.transcriptions.append(Reply(text=TRANSCRIPT))
    standin.chat.append(Reply(tool_calls=[("save_lead_details", arguments)]))
    standin.chat.append(Reply(text=REPLY))
    script = caller_script(tmp_path, fill_business(business.greeting, business), REPLY)

    summary = await simulate_call(call_options(ai_server, settings, script))

    assert_clean_call(summary)
    await stream_stopped(summary.call_sid)
    data = await stored(summary.call_sid)
    [tool_event] = [p for k, p in data.events if k == "tool_call"]
    assert tool_event["arguments"] == arguments  # the key the timeline reads
    # The timeline shows what the model passed, labelled as the lead form labels its fields (the lead
    # changes are listed apart, under their own title).
    assert {"שם": "דנה", "תחום עניין": "דירה"} in facts_shown(await admin_call_page(data.call))


async def test_the_management_command_holds_an_ai_conversation(ai_server, standin, settings, tmp_path):
    business = await ai_business()
    standin.transcriptions.append(Reply(text=TRANSCRIPT))
    standin.chat.append(Reply(text=REPLY))
    script = caller_script(tmp_path, fill_business(business.greeting, business), REPLY)
    caller_wav = tmp_path / "caller.wav"
    caller_wav.write_bytes(wav.mulaw_to_wav(script.audio))
    out = tmp_path / "agent.wav"

    result = await sync_to_async(subprocess.run)(
        simulate_call_argv(
            ai_server.url, caller_wav, "--speed", str(SPEED), "--silence", str(script.tail_s), "--out", str(out)
        ),
        cwd=ROOT,
        env=server_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "protocol errors    none" in result.stdout
    assert "clears             0" in result.stdout
    samples, rate = wav.parse_wav(out.read_bytes())
    assert rate == 8000
    assert_heard(mulaw.encode(samples), script)
    assert_asked_like_openai(standin, business, script, REPLY)

    call_sid = re.search(r"CallSid\s+(CA[0-9a-f]{32})", result.stdout).group(1)
    await stream_stopped(call_sid)
    data = await stored(call_sid)
    assert_conversation_stored(data, business, script, REPLY)
    assert "tool_call" not in data.kinds() and "error" not in data.kinds()


async def test_a_failing_llm_still_answers_the_caller(ai_server, standin, settings, tmp_path):
    business = await ai_business()
    apology = AgentConfig().apology
    standin.transcriptions.append(Reply(text=TRANSCRIPT))
    standin.chat.extend([Reply(status=500), Reply(status=500)])  # the SDK retries once
    script = caller_script(tmp_path, fill_business(business.greeting, business), apology)

    summary = await simulate_call(call_options(ai_server, settings, script))

    assert_clean_call(summary)
    assert_heard(summary.agent_audio, script)  # not silence: the apology
    assert summary.reply_latency_ms is not None
    assert len(standin.requests_to("/v1/chat/completions")) == 2
    assert_asked_like_openai(standin, business, script, apology)

    await stream_stopped(summary.call_sid)
    data = await stored(summary.call_sid)
    assert [(u.speaker, u.text) for u in data.utterances] == [
        ("agent", fill_business(business.greeting, business)),
        ("caller", TRANSCRIPT),
        ("agent", apology),
    ]
    errors = [p for k, p in data.events if k == "error"]
    assert errors == [{"role": "llm", "message": "openai chat stream failed: HTTP 500"}]
    assert "hangup" not in data.kinds()  # one failure: apologise and keep listening
    assert data.call.status == "completed"
