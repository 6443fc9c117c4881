"""Google Speech and Text-to-Speech adapters, through Google's real clients and a local gRPC stand-in."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from google.cloud.speech_v1.types import cloud_speech
from google.cloud.texttospeech_v1.types import cloud_tts

from tests.support.agent_doubles import until
from tests.support.google_standin import GoogleStandin, mulaw_wav_header, tone_mulaw
from voice.providers.base import ProviderError
from voice.providers.google_cloud import (
    GoogleASR,
    GoogleTTS,
    google_language,
    load_credentials,
    strip_wav_header,
)

FRAME = 160  # 20 ms, as Twilio sends it
SILENCE = b"\xff"


@pytest.fixture
async def standin():
    async with GoogleStandin() as server:
        yield server


def asr_for(standin: GoogleStandin, **kwargs) -> GoogleASR:
    return GoogleASR(endpoint=standin.address, plaintext=True, **kwargs)


def utterance(speech_s: float = 0.5, silence_s: float = 0.6) -> bytes:
    return tone_mulaw(speech_s) + SILENCE * int(silence_s * 8000)


async def say(transcriber, audio: bytes) -> str:
    for start in range(0, len(audio), FRAME):
        await transcriber.push_audio(audio[start : start + FRAME])
    return await transcriber.end_of_utterance(audio)


async def test_each_utterance_gets_its_final_transcript(standin):
    standin.transcripts.extend(["שלום, אני מתעניין בדירה", "מה המחיר?"])
    transcriber = asr_for(standin).new_transcriber("he-IL")
    try:
        assert await say(transcriber, utterance()) == "שלום, אני מתעניין בדירה"
        assert await say(transcriber, utterance()) == "מה המחיר?"
    finally:
        await transcriber.close()


async def test_stream_asks_for_hebrew_as_iw_il_in_mulaw_8k(standin):
    transcriber = asr_for(standin).new_transcriber("he-IL")
    try:
        await say(transcriber, utterance())
    finally:
        await transcriber.close()
    config = standin.streams[0].config
    assert config.config.language_code == "iw-IL"
    assert config.config.encoding == cloud_speech.RecognitionConfig.AudioEncoding.MULAW
    assert config.config.sample_rate_hertz == 8000
    assert config.interim_results


async def test_audio_reaches_google_unchanged(standin):
    audio = utterance()
    transcriber = asr_for(standin).new_transcriber("he-IL")
    try:
        await say(transcriber, audio)
    finally:
        await transcriber.close()
    received = bytes(standin.streams[0].audio)
    # Everything up to the final got there, byte for byte (the rest may be cut by close()).
    assert len(received) >= 0.8 * 8000
    assert audio.startswith(received)


async def test_stream_is_replaced_before_googles_limit_without_losing_an_utterance():
    # Google would cut the stream at 2.5 s here; the adapter is told to move on after 1 s of audio.
    async with GoogleStandin(max_stream_s=2.5) as standin:
        expected = [f"משפט מספר {n}" for n in range(1, 7)]
        standin.transcripts.extend(expected)
        transcriber = asr_for(standin, stream_limit_s=1.0, stream_hard_limit_s=2.0).new_transcriber("he-IL")
        spoken = [utterance(0.6, 0.6) for _ in expected]
        try:
            heard = [await say(transcriber, audio) for audio in spoken]
        finally:
            await transcriber.close()
    assert heard == expected
    assert len(standin.streams) >= 3
    assert not any(stream.aborted for stream in standin.streams)
    everything = b"".join(spoken)
    for stream in standin.streams[1:]:
        # Each new stream starts with the audio after the last final: a replay, not a gap.
        assert stream.config is not None
        assert bytes(stream.audio) in everything


async def test_without_a_final_the_stream_is_replaced_at_the_hard_limit():
    async with GoogleStandin(max_stream_s=2.5) as standin:
        standin.transcripts.append("עדיין פה")
        transcriber = asr_for(standin, stream_limit_s=1.0, stream_hard_limit_s=2.0).new_transcriber("he-IL")
        try:
            for _ in range(4 * 8000 // FRAME):  # 4 s of nothing: the agent talking, say
                await transcriber.push_audio(SILENCE * FRAME)
            assert await say(transcriber, utterance()) == "עדיין פה"
        finally:
            await transcriber.close()
    assert len(standin.streams) >= 3
    assert not any(stream.aborted for stream in standin.streams)


async def test_an_interim_is_used_when_the_final_is_late_and_is_not_repeated(standin):
    standin.final_silence_ms = 500
    standin.transcripts.extend(["שלום לכם", "רציתי לשאול"])
    transcriber = asr_for(standin, final_wait_s=0.3).new_transcriber("he-IL")
    try:
        # Too little silence for the final: the interim ("שלום") is what there is.
        assert await say(transcriber, utterance(0.5, 0.1)) == "שלום"
        assert await say(transcriber, SILENCE * 4800 + utterance(0.5, 0.6)) == "רציתי לשאול"
    finally:
        await transcriber.close()


async def test_a_failed_stream_raises_provider_error_and_the_next_utterance_recovers(standin):
    standin.stream_errors.append(grpc.StatusCode.UNAVAILABLE)
    standin.transcripts.append("אני פה")
    transcriber = asr_for(standin).new_transcriber("he-IL")
    try:
        with pytest.raises(ProviderError):
            await say(transcriber, utterance())
        assert await say(transcriber, utterance()) == "אני פה"
    finally:
        await transcriber.close()


async def test_voicemail_file_is_recognized_in_one_request(standin):
    standin.batch_transcripts.append("תחזרו אליי בבקשה")
    wav = mulaw_wav_header(8000) + tone_mulaw(1.0)
    text = await asr_for(standin).transcribe(wav, content_type="audio/wav", language="he-IL")
    assert text == "תחזרו אליי בבקשה"
    request = standin.recognize_requests[0]
    assert request.config.language_code == "iw-IL"
    assert request.audio.content == wav


async def test_tts_asks_for_mulaw_8k_and_strips_the_wav_header(standin):
    audio = tone_mulaw(0.5)
    standin.tts_replies.append(audio)
    tts = GoogleTTS(endpoint=standin.address, plaintext=True)
    chunks = [c async for c in tts.synthesize("שלום", voice="he-IL-Wavenet-B", language="he-IL")]
    assert b"".join(chunks) == audio
    request = standin.tts_requests[0]
    assert request.audio_config.audio_encoding == cloud_tts.AudioEncoding.MULAW
    assert request.audio_config.sample_rate_hertz == 8000
    assert request.voice.name == "he-IL-Wavenet-B"
    assert request.voice.language_code == "he-IL"
    assert request.input.text == "שלום"


async def test_tts_uses_its_default_voice_for_a_foreign_voice_name(standin):
    tts = GoogleTTS(endpoint=standin.address, plaintext=True)
    chunks = [c async for c in tts.synthesize("שלום", voice="alloy", language="he-IL")]
    assert chunks and not b"".join(chunks).startswith(b"RIFF")
    assert standin.tts_requests[0].voice.name == "he-IL-Wavenet-B"


async def test_tts_failure_is_a_provider_error(standin):
    standin.tts_replies.append(grpc.StatusCode.PERMISSION_DENIED)
    tts = GoogleTTS(endpoint=standin.address, plaintext=True)
    with pytest.raises(ProviderError):
        async for _ in tts.synthesize("שלום", voice="he-IL-Wavenet-A", language="he-IL"):
            pass


def test_hebrew_maps_to_googles_legacy_code():
    assert google_language("he-IL") == "iw-IL"
    assert google_language("he") == "iw-IL"
    assert google_language("en-US") == "en-US"


def test_headerless_audio_is_left_alone():
    raw = tone_mulaw(0.1)
    assert strip_wav_header(raw) == raw
    assert strip_wav_header(mulaw_wav_header(len(raw)) + raw) == raw


def service_account_json() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "demo",
            "private_key_id": "k1",
            "private_key": pem,
            "client_email": "voice@demo.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    )


def test_credentials_come_from_a_json_string_or_a_file(tmp_path):
    text = service_account_json()
    path = tmp_path / "sa.json"
    path.write_text(text)
    assert load_credentials(credentials_json=text).service_account_email == "voice@demo.iam.gserviceaccount.com"
    assert load_credentials(credentials_path=str(path)).service_account_email == "voice@demo.iam.gserviceaccount.com"
    assert load_credentials() is None  # Google's default lookup (GOOGLE_APPLICATION_CREDENTIALS, metadata)


async def test_what_was_finalised_before_the_caller_started_is_not_their_utterance(standin):
    """Our own echo (or a "כן" the agent let pass) recognised while we spoke, then the caller's sentence:
    the caller's transcript is their sentence only."""
    standin.transcripts.extend(["איך אפשר לעזור", "אני רוצה לקבוע תור"])
    transcriber = asr_for(standin).new_transcriber("he-IL")
    try:
        echo = utterance()  # finalised by Google; no end of utterance is asked for it
        for start in range(0, len(echo), FRAME):
            await transcriber.push_audio(echo[start : start + FRAME])
        await until(lambda: bool(standin.streams) and bool(standin.streams[-1].finals))
        await asyncio.sleep(0.05)  # the final reaches the transcriber
        transcriber.speech_started()  # the VAD hears the caller begin
        assert await say(transcriber, utterance()) == "אני רוצה לקבוע תור"
    finally:
        await transcriber.close()
