"""The caller's side of the audio, made once per run: Hebrew speech from espeak-ng (the server's Silero
VAD hears only real speech as speech), cut into 20 ms frames and base64-encoded up front so that sending
a frame costs one f-string."""

from __future__ import annotations

import asyncio
import binascii
import concurrent.futures
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.turn_taking import MemoryReporter
from voice.agent.config import AgentConfig
from voice.agent.echo_guard import EchoGuard
from voice.agent.listener import Listener
from voice.agent.silero_batch import SileroBatch
from voice.agent.voicing import SileroVoicing
from voice.audio import mulaw
from voice.audio.clock import MediaClock
from voice.audio.frames import FRAME_BYTES, FRAME_MS, MULAW_SILENCE, SAMPLE_RATE
from voice.audio.wav import read_wav_file_8k_mono
from voice.providers.fake import FakeASR

_TALK = "שלום, אני רוצה לשמוע על המחירים שלכם ועל השעות שבהן אתם פתוחים בשבוע הבא"


def hebrew_speech(text: str, voice: str = "he") -> np.ndarray:
    """``text`` spoken by espeak-ng's ``voice``, as int16 PCM at 8 kHz (the benchmarks' one way to make it)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, timeout=60)
        return read_wav_file_8k_mono(str(path))


def voiced(ms: int, voice: str = "he") -> bytes:
    """``ms`` of Hebrew speech (espeak-ng, leading and trailing silence cut, repeated as needed), mu-law."""
    pcm = hebrew_speech(_TALK, voice)
    loud = np.flatnonzero(np.abs(pcm) > 500)
    pcm = pcm[loud[0] : loud[-1] + 1]
    need = ms * SAMPLE_RATE // 1000
    return mulaw.encode(np.tile(pcm, need // len(pcm) + 1)[:need])


def b64_frames(audio: bytes) -> list[str]:
    """Whole 160-byte frames (the last padded with silence) as base64 text, ready for the JSON."""
    if len(audio) % FRAME_BYTES:
        audio += MULAW_SILENCE * (FRAME_BYTES - len(audio) % FRAME_BYTES)
    return [
        binascii.b2a_base64(audio[i : i + FRAME_BYTES], newline=False).decode("ascii")
        for i in range(0, len(audio), FRAME_BYTES)
    ]


def barge_in_frame(speech: bytes, barge_in_min_ms: int, eou_silence_ms: int) -> int:
    """Index (from the first speech frame) of the frame on which the server pauses the agent for a caller
    talking over it (``Listener.talks_over_us``: the business's barge-in setting of voice, timed from the
    caller's first syllable). Computed with the server's own listener, hearing ``speech`` after 2 s of a
    silent line while the agent speaks (the load's lines carry no echo)."""

    async def decide() -> int:
        clock = MediaClock()
        guard = EchoGuard(lambda: clock.ms)  # the agent is speaking all along
        lead = 100
        guard.sent(voiced(len(speech) // 8 + lead * FRAME_MS + 1000), 0)
        config = AgentConfig(eou_silence_ms=eou_silence_ms, barge_in_min_ms=barge_in_min_ms)
        voicing = SileroVoicing(SileroBatch())
        listener = Listener(
            config,
            FakeASR().new_transcriber("he"),
            clock,
            MemoryReporter(),
            asr_timeout_s=1,
            voicing=voicing,
            echo=guard,
        )
        audio = MULAW_SILENCE * FRAME_BYTES * lead + speech
        try:
            for i in range(len(audio) // FRAME_BYTES):
                frame = audio[i * FRAME_BYTES : (i + 1) * FRAME_BYTES]
                clock.advance(frame)
                await listener.hear(frame)
                if listener.talks_over_us():
                    return i - lead
        finally:
            await listener.close()
        raise ValueError("the barge-in speech is too short to interrupt the agent")

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # the caller may be inside an event loop
        return pool.submit(asyncio.run, decide()).result()


@dataclass(frozen=True)
class CallerAudio:
    speech: list[str]  # one turn's utterance, base64 per frame
    barge: list[str]  # what the caller says over the agent's reply
    silence: str  # one silent frame
    barge_decision_frame: int  # see barge_in_frame

    @classmethod
    def build(cls, *, speech_ms: int, barge_ms: int, barge_in_min_ms: int, eou_silence_ms: int) -> CallerAudio:
        barge = voiced(barge_ms, voice="he+f3")
        return cls(
            speech=b64_frames(voiced(speech_ms)),
            barge=b64_frames(barge),
            silence=b64_frames(MULAW_SILENCE * FRAME_BYTES)[0],
            barge_decision_frame=barge_in_frame(barge, barge_in_min_ms, eou_silence_ms),
        )


FRAME_S = FRAME_MS / 1000
