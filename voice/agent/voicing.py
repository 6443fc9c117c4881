"""Is this 20 ms frame the caller's voice? Two answers, one contract.

- ``WebrtcVoicing``: webrtcvad's GMM, a few µs a frame. Good in quiet, but right after speech its noise
  model takes seconds to adapt to a noisy line, so it keeps hearing "speech" and an utterance never ends
  (the caller waits 6-7 s for a reply on car or street noise).
- ``SileroVoicing``: the Silero network (batched across calls, ``silero_batch``), which ends speech in
  noise as in quiet. webrtcvad is its gate: Silero runs only while webrtcvad hears something, a moment
  after, or while Silero itself still hears speech; silence costs nothing. If the model fails, the call
  goes on with webrtcvad alone and ``failure`` says why (the listener reports it once).

Silero decides per 32 ms window: speech from ``start_probability``, silence below ``end_probability``;
a frame is voiced while that state is "speech". Both are 0.5: Silero's own streaming iterator ends speech
only below 0.35, but its probability trails the last syllable by a window or two, and on the corpus that
hysteresis cost up to 225 ms of extra wait at the end of every utterance in noise, while the detector's
own silence counter (``eou_silence_ms``) already bridges the dips inside speech. Frames arrive as decoded
int16 PCM.

While the agent speaks (``eager``), a frame webrtcvad hears as voice counts when Silero's latest window
gives at least ``eager_probability``: Silero is slow to rise on some onsets ("רגע" scores 0.15-0.37), and
a caller who talks over us must be heard at once. Noise, coughs and our own echo stay far below it (the
echo guard still has the last word). Not used for the end of an utterance: in noise it would keep a
finished sentence open.

Silero's state trails the voice: after the last syllable its probability stays at 0.95-0.99 for two or three
windows and then decays, so it falls below ``end_probability`` 160-200 ms after the voice stopped (on the
corpus and through a whole call). ``fading_ms`` says how long the latest stretch of "speech" has been only
that decay: the time since the latest window Silero was ``confident_probability`` sure of. The detector
counts the caller's silence from there (``VoiceActivityDetector.decide``), so the business's silence
setting is the silence the caller kept.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import webrtcvad

from voice.agent.silero_batch import WINDOW_SAMPLES, SileroBatch
from voice.audio.frames import FRAME_BYTES, SAMPLE_RATE

_MAX_FRAME_SAMPLES = FRAME_BYTES  # the listener hands over one 20 ms frame at a time
_SCALE = np.float32(1 / 32768)  # int16 -> -1..1, as Silero takes it (a power of two: exact)


class Voicing(Protocol):
    """Frame by frame, in order: is the caller's voice in this frame?"""

    failure: str | None  # set once the detector fell back to a simpler one (for the timeline)
    heard: bool  # the cheap detector's vote on the latest frame (webrtcvad's: Silero's gate)

    @property
    def sure(self) -> bool | None:
        """The detector's own state after the latest frame, without the weaker evidence ``eager`` takes
        (Silero's speech state); None from a detector that has no state beyond its vote (webrtcvad)."""
        ...

    @property
    def fading_ms(self) -> int:
        """The latest frame's "speech" is the detector's memory of a voice that stopped this long ago (0: the
        voice is still there, or the detector cannot tell)."""
        ...

    async def voiced(self, pcm: np.ndarray, *, eager: bool = False) -> bool:
        """``eager``: the agent is speaking, and a caller who starts talking should be heard at once (a
        detector may then take weaker evidence for voice)."""
        ...

    async def close(self) -> None: ...


class WebrtcVoicing:
    def __init__(self, aggressiveness: int = 2, *, failure: str | None = None) -> None:
        self._vad = webrtcvad.Vad(aggressiveness)
        self.failure = failure  # set when this stands in for a Silero that could not be loaded
        self.heard = False
        self.sure: bool | None = None
        self.fading_ms = 0  # webrtcvad has no memory that trails the voice

    def hears(self, pcm: np.ndarray) -> bool:
        return bool(self._vad.is_speech(pcm.tobytes(), SAMPLE_RATE))  # webrtcvad is untyped

    async def voiced(self, pcm: np.ndarray, *, eager: bool = False) -> bool:
        self.heard = self.hears(pcm)
        return self.heard

    async def close(self) -> None:
        return None


class SileroVoicing:
    def __init__(
        self,
        batch: SileroBatch,
        *,
        gate_aggressiveness: int = 1,  # permissive: the gate must not miss an onset; Silero decides
        fallback_aggressiveness: int = 2,
        start_probability: float = 0.5,
        end_probability: float = 0.5,
        eager_probability: float = 0.15,  # while the agent speaks: webrtcvad's voice and this much of Silero
        confident_probability: float = 0.9,  # a window this sure is the voice itself, not Silero's memory of it
        gate_hangover_frames: int = 10,  # keep scoring 200 ms after the gate last heard voice
        reset_after_windows: int = 30,  # ~1 s unscored: the recurrent state starts afresh
    ) -> None:
        self._stream = batch.stream()
        self._gate = WebrtcVoicing(gate_aggressiveness)
        self._fallback = WebrtcVoicing(fallback_aggressiveness)
        self._start = start_probability
        self._end = end_probability
        self._eager = eager_probability
        self._confident = confident_probability
        self._probability = 0.0
        self._after_confident = 0  # samples since the end of the latest window scored ``confident``
        self._confident_in_run = False  # this stretch of "speech" had such a window
        self._hangover_frames = gate_hangover_frames
        self._reset_after = reset_after_windows
        # Samples not yet in a window, as they came (int16), at the head of a buffer that always has room for
        # one more frame: one copy per frame, and one scaling to -1..1 and a move per window.
        self._samples = np.zeros(WINDOW_SAMPLES + _MAX_FRAME_SAMPLES, dtype=np.int16)
        self._filled = 0
        # Idle (see ``_idle_frame``): the frames since, as they came, and how many samples of the buffer come
        # before them in the window under way.
        self._idle: list[np.ndarray] = []
        self._idle_after_first = 0  # samples in the idle frames after the oldest
        self._kept = 0
        self._hangover = 0
        self._skipped = 0
        self.speaking = False  # Silero's hysteresis state
        self.failure: str | None = None
        self.heard = False
        self.scored = 0  # windows scored (for the benchmark: how much the gate saves)

    @property
    def fading_ms(self) -> int:
        """While Silero says "speech": how long since the latest window it was confident of (0 otherwise)."""
        if not self.speaking or not self._confident_in_run or self.failure is not None:
            return 0  # a voice Silero was never sure of did not stop where its sureness did
        return self._after_confident * 1000 // SAMPLE_RATE

    async def voiced(self, pcm: np.ndarray, *, eager: bool = False) -> bool:
        if self.failure is not None:
            self.heard = self._fallback.hears(pcm)
            return self.heard
        if len(pcm) > _MAX_FRAME_SAMPLES:
            raise ValueError(f"one frame at a time: {len(pcm)} samples, at most {_MAX_FRAME_SAMPLES}")
        heard = self.heard = self._gate.hears(pcm)
        if heard:
            self._hangover = self._hangover_frames
        elif self._hangover:
            self._hangover -= 1
        elif not self.speaking and self._skipped >= self._reset_after:
            self._idle_frame(pcm)
            return False
        if self._idle:
            self._leave_idle()
        self._after_confident += len(pcm)
        end = self._filled + len(pcm)
        self._samples[self._filled : end] = pcm
        self._filled = end
        while self._filled >= WINDOW_SAMPLES:
            window = self._samples[:WINDOW_SAMPLES] * _SCALE
            self._filled -= WINDOW_SAMPLES
            self._samples[: self._filled] = self._samples[WINDOW_SAMPLES : WINDOW_SAMPLES + self._filled]
            if self._hangover or self.speaking:
                await self._score(window)
            else:
                self._stream.skip(window)
                self._skipped += 1
            if self.failure is not None:
                self.heard = self._fallback.hears(pcm)
                return self.heard
        return self.speaking or (eager and heard and self._probability >= self._eager)

    @property
    def sure(self) -> bool | None:
        return self.speaking if self.failure is None else None

    def _idle_frame(self, pcm: np.ndarray) -> None:
        """A frame of a quiet stretch: no window is scored until the gate hears voice, and the first one
        scored then starts afresh (``reset_after_windows``), so only where the windows fall and the samples
        of the one under way still matter. The frames are kept as they came, a window's worth of them, and
        the windows are only counted: most of a call's frames cost the gate alone."""
        idle = self._idle
        if idle:
            self._idle_after_first += len(pcm)
        else:
            self._kept = self._filled
        idle.append(pcm)
        # Once the frames after it hold a window's worth of samples, the oldest is of past windows only.
        while self._idle_after_first >= WINDOW_SAMPLES:
            del idle[0]
            self._idle_after_first -= len(idle[0])
            self._kept = 0
        self._filled += len(pcm)
        while self._filled >= WINDOW_SAMPLES:
            self._filled -= WINDOW_SAMPLES
            self._skipped += 1

    def _leave_idle(self) -> None:
        """The window under way, as the frames of the quiet stretch left it, back in the buffer."""
        before = self._kept + sum(len(frame) for frame in self._idle) - self._filled  # samples of past windows
        at = 0
        if self._kept > before:
            at = self._kept - before
            self._samples[:at] = self._samples[before : self._kept]
        before = max(0, before - self._kept)
        for frame in self._idle:
            if before >= len(frame):
                before -= len(frame)
                continue
            part = frame[before:]
            before = 0
            self._samples[at : at + len(part)] = part
            at += len(part)
        self._idle.clear()
        self._idle_after_first = 0

    async def _score(self, window: np.ndarray) -> None:
        if self._skipped >= self._reset_after:
            self._stream.reset()
        self._skipped = 0
        try:
            probability = await self._stream.score(window)
        except Exception as exc:  # the model broke: this call goes on with webrtcvad
            self.failure = f"{type(exc).__name__}: {exc}"
            self.speaking = False
            return
        self.scored += 1
        self._probability = probability
        if probability >= self._confident:
            self._after_confident = self._filled  # the samples after this window, up to the latest frame's end
        if probability >= self._start:
            if not self.speaking:
                self._confident_in_run = False
            self.speaking = True
            self._confident_in_run |= probability >= self._confident
        elif probability < self._end:
            self.speaking = False

    async def close(self) -> None:
        self._stream.close()
