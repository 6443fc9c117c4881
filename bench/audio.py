"""The caller's side of the audio, made once per run: a synthetic voiced signal that webrtcvad hears as
speech, cut into 20 ms frames and base64-encoded up front so that sending a frame costs one f-string."""

from __future__ import annotations

import binascii
import math
from dataclasses import dataclass

import numpy as np

from voice.agent.vad import VoiceActivityDetector
from voice.audio import mulaw
from voice.audio.frames import FRAME_BYTES, FRAME_MS, MULAW_SILENCE, SAMPLE_RATE


def voiced(ms: int, f0: float = 140.0) -> bytes:
    """Speech-like mu-law: a gliding pitch with rich harmonics and a syllable-rate envelope."""
    t = np.arange(ms * SAMPLE_RATE // 1000) / SAMPLE_RATE
    phase = 2 * math.pi * np.cumsum(f0 + 20 * np.sin(2 * math.pi * 3 * t)) / SAMPLE_RATE
    signal = sum(np.sin(k * phase) / k for k in range(1, 25))
    envelope = 0.6 + 0.4 * np.sin(2 * math.pi * 4 * t)
    return mulaw.encode((signal * envelope * 6000).astype(np.int16))


def b64_frames(audio: bytes) -> list[str]:
    """Whole 160-byte frames (the last padded with silence) as base64 text, ready for the JSON."""
    if len(audio) % FRAME_BYTES:
        audio += MULAW_SILENCE * (FRAME_BYTES - len(audio) % FRAME_BYTES)
    return [
        binascii.b2a_base64(audio[i : i + FRAME_BYTES], newline=False).decode("ascii")
        for i in range(0, len(audio), FRAME_BYTES)
    ]


def barge_in_frame(speech: bytes, barge_in_min_ms: int, eou_silence_ms: int) -> int:
    """Index (from the first speech frame) of the frame on which the server's VAD, configured like the
    business, decides that talking over the agent is a barge-in. Computed with the server's own VAD."""
    vad = VoiceActivityDetector(eou_silence_ms=eou_silence_ms)
    lead_in = MULAW_SILENCE * FRAME_BYTES * 25
    audio = lead_in + speech
    for i in range(len(audio) // FRAME_BYTES):
        vad.push(audio[i * FRAME_BYTES : (i + 1) * FRAME_BYTES])
        if vad.in_speech and vad.speech_ms() >= barge_in_min_ms:
            return i - 25
    raise ValueError("the barge-in speech is too short to interrupt the agent")


@dataclass(frozen=True)
class CallerAudio:
    speech: list[str]  # one turn's utterance, base64 per frame
    barge: list[str]  # what the caller says over the agent's reply
    silence: str  # one silent frame
    barge_decision_frame: int  # see barge_in_frame

    @classmethod
    def build(cls, *, speech_ms: int, barge_ms: int, barge_in_min_ms: int, eou_silence_ms: int) -> CallerAudio:
        barge = voiced(barge_ms, f0=180.0)
        return cls(
            speech=b64_frames(voiced(speech_ms)),
            barge=b64_frames(barge),
            silence=b64_frames(MULAW_SILENCE * FRAME_BYTES)[0],
            barge_decision_frame=barge_in_frame(barge, barge_in_min_ms, eou_silence_ms),
        )


FRAME_S = FRAME_MS / 1000
