"""Voice activity detection in media time: per-frame votes turned into utterances.

A ``Voicing`` (``voice.agent.voicing``: Silero gated by webrtcvad, or webrtcvad alone) says whether each
20 ms frame is voice; the detector's hysteresis turns those votes into the start and end of utterances. All
times are media time, read from the call's ``MediaClock``, so feeding frames faster than real time gives
the same result.
"""

from __future__ import annotations

from dataclasses import dataclass

from voice.agent.config import AgentConfig
from voice.agent.voicing import WebrtcVoicing
from voice.audio import mulaw
from voice.audio.clock import MediaClock
from voice.audio.frames import FRAME_BYTES, FRAME_MS


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
MAX_ONSET_FRAMES = 15  # 300 ms: an onset the detector was slow to be sure of
# Silero's "speech" trails a voice that stopped by 160-200 ms, of which ~100 ms is its decay from sure to unsure
# (``Voicing.fading_ms``), counted as silence. A detector unsure for longer than this was not hearing a voice
# fade but a quiet voice (speech in noise scores 0.5-0.9): no silence is counted before its state ends.
MAX_FADING_MS = 200


class VoiceActivityDetector:
    def __init__(
        self,
        *,
        aggressiveness: int = 2,
        start_ms: int = 60,
        eou_silence_ms: int = 600,
        min_utterance_ms: int = 200,
        max_utterance_ms: int = 15_000,
        clock: MediaClock | None = None,
    ) -> None:
        self._aggressiveness = aggressiveness
        self._webrtc: WebrtcVoicing | None = None  # for ``push`` only (made on first use)
        self._start_frames = max(1, start_ms // FRAME_MS)
        self._end_frames = max(1, eou_silence_ms // FRAME_MS)
        self._min_ms = min_utterance_ms
        self._max_ms = max_utterance_ms
        # In a call the detector reads the call's clock, which the socket advances. Used on its own
        # (tests, the benchmark's audio checks) it keeps a clock of its own and advances it per frame.
        self._own_clock = clock is None
        self.clock = clock if clock is not None else MediaClock()
        self.in_speech = False
        self.speech_start_ms = 0
        self._voiced_run = 0
        self._unvoiced_run = 0
        self._last_voiced_end_ms = 0
        self._fading_ms = 0  # of the latest voiced frame: it was the detector's memory of a voice this long

    @classmethod
    def from_config(cls, config: AgentConfig, *, clock: MediaClock | None = None) -> VoiceActivityDetector:
        return cls(
            aggressiveness=config.vad_aggressiveness,
            eou_silence_ms=config.eou_silence_ms,
            min_utterance_ms=config.min_utterance_ms,
            max_utterance_ms=config.max_utterance_ms,
            clock=clock,
        )

    @property
    def now_ms(self) -> int:
        return self.clock.ms

    def push(self, frame: bytes, *, behind: int = 0) -> VadEvent | None:
        """One 160-byte mu-law frame, voted on by webrtcvad alone (the benchmark's and the tests' quick
        detector; a call's listener votes with its own ``Voicing`` and calls ``decide``)."""
        if len(frame) != FRAME_BYTES:
            raise ValueError("VAD frames are 160 bytes (20 ms of 8 kHz mu-law)")
        if self._webrtc is None:
            self._webrtc = WebrtcVoicing(self._aggressiveness)
        return self.decide(self._webrtc.hears(mulaw.decode(frame)), frame=frame, behind=behind)

    def decide(
        self,
        voiced: bool,
        *,
        frame: bytes,
        behind: int = 0,
        onset_frames: int = 0,
        fading_ms: int = 0,
        start_now: bool = False,
    ) -> VadEvent | None:
        """The vote on one frame; returns the event it caused, if any. ``behind``: bytes of audio the clock
        has already counted that come after this frame (the rest of a payload of several frames).
        ``onset_frames``: frames up to this one that weaker evidence already took for voice (the gate's
        run, while the agent speaks): speech that starts here started that far back (at most
        ``MAX_ONSET_FRAMES``), so a caller talking over us is timed from their first syllable, not from
        the moment the detector became sure. ``fading_ms``: a voiced frame's vote is the detector's
        memory of a voice that stopped this long ago (``Voicing.fading_ms``): the caller's silence, which
        ends the utterance after ``eou_silence_ms``, is counted from there. ``start_now``: a voiced frame
        starts speech by itself, without the run of ``start_ms`` (stronger evidence has it: the listener's)."""
        if self._own_clock:
            self.clock.advance(frame)
        now = self.clock.ms_before(behind)  # where this frame ends
        if voiced:
            self._voiced_run += 1
            self._unvoiced_run = 0
            self._last_voiced_end_ms = now
            self._fading_ms = fading_ms if fading_ms <= MAX_FADING_MS else 0
        else:
            self._unvoiced_run += 1
            self._voiced_run = 0

        if not self.in_speech:
            if self._voiced_run >= self._start_frames or (voiced and start_now):
                self.in_speech = True
                run = max(self._voiced_run, min(onset_frames, MAX_ONSET_FRAMES))
                self.speech_start_ms = now - run * FRAME_MS
                return SpeechStarted(self.speech_start_ms)
            return None

        if now - self.speech_start_ms >= self._max_ms:
            return self._finish(now, forced=True)
        if self._unvoiced_run >= max(1, self._end_frames - self._fading_ms // FRAME_MS):
            voice_end = max(self.speech_start_ms, self._last_voiced_end_ms - self._fading_ms)
            return self._finish(voice_end, forced=False)
        return None

    @property
    def past_a_noise(self) -> bool:
        """The speech under way has lasted ``min_utterance_ms``: however it ends, it is an utterance, not a
        noise. Told by the run the detector heard, its fading memory included: a short "לא" stays a word."""
        return self.in_speech and self._last_voiced_end_ms - self.speech_start_ms >= self._min_ms

    def _finish(self, end_ms: int, *, forced: bool) -> VadEvent:
        noise = not forced and not self.past_a_noise
        self.in_speech = False
        self._voiced_run = 0
        start = self.speech_start_ms
        if noise:
            return NoiseDropped(start, end_ms)
        return SpeechEnded(start, end_ms, forced=forced)

    def continue_from(self, start_ms: int) -> None:
        """The speech under way goes on an utterance that ended at or before its start (the caller went on
        before we answered it): it is timed from ``start_ms``, and ends as one utterance with it."""
        if not self.in_speech:
            raise RuntimeError("no speech under way to continue an utterance with")
        self.speech_start_ms = min(self.speech_start_ms, start_ms)

    def speech_ms(self) -> int:
        """How long the current speech has lasted up to its latest voiced frame (0 when not in speech).
        The silence that may yet end the utterance does not count: a short "mm-hm" stays short."""
        return self._last_voiced_end_ms - self.speech_start_ms if self.in_speech else 0
