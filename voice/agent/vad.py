"""Voice activity detection in media time.

webrtcvad classifies each 20 ms frame; hysteresis turns those votes into utterances. All times are
media time (frames counted x 20 ms), so feeding frames faster than real time gives the same result.
"""

from __future__ import annotations

from dataclasses import dataclass

import webrtcvad

from voice.agent.config import AgentConfig
from voice.audio.frames import FRAME_BYTES, FRAME_MS, SAMPLE_RATE
from voice.audio.mulaw import decode_to_pcm_bytes


@dataclass(frozen=True)
class SpeechStarted:
    at_ms: int  # start of the first voiced frame of the run that started speech


@dataclass(frozen=True)
class SpeechEnded:
    start_ms: int
    end_ms: int  # end of the last voiced frame
    forced: bool = False  # cut at max_utterance_ms


@dataclass(frozen=True)
class NoiseDropped:
    """Speech started but was shorter than ``min_utterance_ms``: a cough, a click, a door."""

    start_ms: int
    end_ms: int


VadEvent = SpeechStarted | SpeechEnded | NoiseDropped


class VoiceActivityDetector:
    def __init__(
        self,
        *,
        aggressiveness: int = 2,
        start_ms: int = 60,
        eou_silence_ms: int = 600,
        min_utterance_ms: int = 200,
        max_utterance_ms: int = 15_000,
    ) -> None:
        self._vad = webrtcvad.Vad(aggressiveness)
        self._start_frames = max(1, start_ms // FRAME_MS)
        self._end_frames = max(1, eou_silence_ms // FRAME_MS)
        self._min_ms = min_utterance_ms
        self._max_ms = max_utterance_ms
        self.frames = 0  # the media clock
        self.in_speech = False
        self.speech_start_ms = 0
        self._voiced_run = 0
        self._unvoiced_run = 0
        self._last_voiced_end_ms = 0

    @classmethod
    def from_config(cls, config: AgentConfig) -> VoiceActivityDetector:
        return cls(
            aggressiveness=config.vad_aggressiveness,
            eou_silence_ms=config.eou_silence_ms,
            min_utterance_ms=config.min_utterance_ms,
            max_utterance_ms=config.max_utterance_ms,
        )

    @property
    def now_ms(self) -> int:
        return self.frames * FRAME_MS

    def is_voiced(self, frame: bytes) -> bool:
        return self._vad.is_speech(decode_to_pcm_bytes(frame), SAMPLE_RATE)

    def push(self, frame: bytes) -> VadEvent | None:
        """One 160-byte mu-law frame; returns the event it caused, if any."""
        if len(frame) != FRAME_BYTES:
            raise ValueError("VAD frames are 160 bytes (20 ms of 8 kHz mu-law)")
        voiced = self.is_voiced(frame)
        self.frames += 1
        now = self.frames * FRAME_MS
        if voiced:
            self._voiced_run += 1
            self._unvoiced_run = 0
            self._last_voiced_end_ms = now
        else:
            self._unvoiced_run += 1
            self._voiced_run = 0

        if not self.in_speech:
            if self._voiced_run >= self._start_frames:
                self.in_speech = True
                self.speech_start_ms = now - self._voiced_run * FRAME_MS
                return SpeechStarted(self.speech_start_ms)
            return None

        if now - self.speech_start_ms >= self._max_ms:
            return self._finish(now, forced=True)
        if self._unvoiced_run >= self._end_frames:
            return self._finish(self._last_voiced_end_ms, forced=False)
        return None

    def _finish(self, end_ms: int, *, forced: bool) -> VadEvent:
        self.in_speech = False
        self._voiced_run = 0
        start = self.speech_start_ms
        if not forced and end_ms - start < self._min_ms:
            return NoiseDropped(start, end_ms)
        return SpeechEnded(start, end_ms, forced=forced)

    def speech_ms(self) -> int:
        """How long the current speech has lasted up to its latest voiced frame (0 when not in speech).
        The silence that may yet end the utterance does not count: a short "mm-hm" stays short."""
        return self._last_voiced_end_ms - self.speech_start_ms if self.in_speech else 0
