"""The caller's side of a call: every inbound frame goes to the recogniser and the VAD, and the speech the
VAD finds is kept (with a little audio from before its decision) for the end-of-utterance transcription.

Each frame is voted on by the call's ``Voicing`` (Silero gated by webrtcvad, by default); while we speak,
a frame the ``EchoGuard`` takes for our own voice coming back is not the caller's, but for the rules of
``voice.agent.over_echo`` (a caller's quiet syllables under our loud ones). The listener says what
it heard, frame by frame, and whether the caller has talked long enough to take the floor from us
(``talks_over_us``); what to do about it (answer, barge in, ignore a "mm-hm") is the session's decision.
Once a call, it reports that our own voice comes back on the line (a ``line_echoes`` event).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from voice.agent.aio import shielded
from voice.agent.config import AgentConfig
from voice.agent.echo_guard import EchoGuard
from voice.agent.failures import timed
from voice.agent.over_echo import OverEcho
from voice.agent.ports import CallReporter, UtteranceRecord
from voice.agent.utterance import ms_since
from voice.agent.vad import NoiseDropped, SpeechEnded, SpeechStarted, VadEvent, VoiceActivityDetector
from voice.agent.voicing import Voicing, WebrtcVoicing
from voice.audio import mulaw
from voice.audio.clock import MediaClock
from voice.audio.frames import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, Framer
from voice.providers.base import Transcriber

BYTES_PER_MS = SAMPLE_RATE // 1000  # mu-law: a byte a sample
PREROLL_FRAMES = 10  # 200 ms kept before the VAD's decision so the recogniser hears the first syllable


@dataclass
class CallerInput:
    """Something to answer: an utterance (its audio and where the VAD put it) or a key pressed."""

    audio: bytes | None = None
    speech: SpeechEnded | None = None
    dtmf: str | None = None
    decided_at: float = field(default_factory=lambda: asyncio.get_running_loop().time())  # latency origin
    transcript: asyncio.Task[str] | None = None  # already being transcribed (a paused agent asked first)
    audio_until_ms: int = 0  # media time at the end of ``audio``
    transcribed: bool = False  # its words are in: the recogniser answered (its row is being written)


class Listener:
    def __init__(
        self,
        config: AgentConfig,
        transcriber: Transcriber,
        clock: MediaClock,
        reporter: CallReporter,
        *,
        asr_timeout_s: float,
        voicing: Voicing | None = None,  # None: webrtcvad alone, at the business's aggressiveness
        echo: EchoGuard | None = None,
    ) -> None:
        self.vad = VoiceActivityDetector.from_config(config, clock=clock)
        self.voicing: Voicing = voicing if voicing is not None else WebrtcVoicing(config.vad_aggressiveness)
        self._echo = echo
        self._barge_in_ms = config.barge_in_min_ms
        self._voicing_failure_reported = False
        self._echo_reported = False
        self._transcriber = transcriber
        self._clock = clock
        self._reporter = reporter
        self._asr_timeout = asr_timeout_s
        self._framer = Framer()
        self._preroll: deque[bytes] = deque(maxlen=PREROLL_FRAMES)
        self._speech = bytearray()
        self._speech_until_ms = 0  # media time at the end of ``_speech``
        self._over_echo = OverEcho()  # the votes while we speak
        self._push_failed = False
        self._transcriptions = 0  # under way (a paused agent's check may overlap a turn's)

    @property
    def in_speech(self) -> bool:
        return self.vad.in_speech

    def speech_ms(self) -> int:
        """How long the caller has been speaking (see ``VoiceActivityDetector.speech_ms``)."""
        return self.vad.speech_ms()

    @property
    def past_a_noise(self) -> bool:
        """The caller has spoken long enough for an utterance, not a cough (``min_utterance_ms``)."""
        return self.vad.past_a_noise

    @property
    def transcribing(self) -> bool:
        """The answer waits on the recogniser."""
        return self._transcriptions > 0

    def talks_over_us(self) -> bool:
        """The caller has spoken ``barge_in_min_ms`` (echo of our own voice not counted): were we speaking,
        we would stop. A cough, a click or a short "כן" stays below it."""
        return self.vad.in_speech and self.vad.speech_ms() >= self._barge_in_ms

    async def hear(self, payload: bytes) -> list[VadEvent | None]:
        """One inbound payload (already counted by the media clock): what the VAD made of each whole frame.

        A list, not an async generator: this runs for every 20 ms frame of every call, and an async
        generator per payload costs more than the VAD itself."""
        frames = self._framer.push(payload)
        # The clock stands at the payload's end; each frame is timed back from there.
        behind = self._framer.pending + len(frames)
        events: list[VadEvent | None] = []
        for i in range(0, len(frames), FRAME_BYTES):
            behind -= FRAME_BYTES
            events.append(await self._frame(frames[i : i + FRAME_BYTES], behind))
        return events

    async def _frame(self, frame: bytes, behind: int) -> VadEvent | None:
        try:
            await self._transcriber.push_audio(frame)
        except Exception as exc:  # a streaming recogniser broke; end_of_utterance will fail and recover
            if not self._push_failed:
                self._push_failed = True
                await self._reporter.event("error", self._clock.ms, {"role": "asr", "message": str(exc)})
        pcm = mulaw.decode(frame)
        echo = eager = False
        if self._echo is not None:  # it hears every frame: it learns the line's echo from them
            pcm, echo = self._echo.hear(pcm)  # the frame without our voice, once it can take it out
            eager = self._echo.speaking
            if echo and not self._echo_reported and self._echo.line_echoes:  # a clean line: one test a frame
                await self._report_echo(self._echo)
        voiced = await self.voicing.voiced(pcm, eager=eager)
        if self.voicing.failure is not None and not self._voicing_failure_reported:
            self._voicing_failure_reported = True
            payload = {"role": "vad", "message": self.voicing.failure, "fallback": "webrtcvad"}
            await self._reporter.event("error", self._clock.ms, payload)
        voiced, onset, start_now = self._over_echo.vote(
            voiced,
            self.voicing.heard,
            echo=echo,
            eager=eager,
            sure=self.voicing.sure,
            in_speech=self.vad.in_speech,
        )
        # Silero's memory of a voice counts as silence only where its own state voted the frame.
        fading = self.voicing.fading_ms if voiced and self.voicing.sure else 0
        event = self.vad.decide(
            voiced, frame=frame, behind=behind, onset_frames=onset, fading_ms=fading, start_now=start_now
        )
        if isinstance(event, SpeechStarted):
            self._transcriber.speech_started()
            self._speech = bytearray().join(self._preroll)
            self._speech += frame
            self._speech_until_ms = self._clock.ms_before(behind)
        elif self.vad.in_speech or event is not None:
            self._speech += frame
            self._speech_until_ms = self._clock.ms_before(behind)
        self._preroll.append(frame)
        if isinstance(event, NoiseDropped):
            self._speech = bytearray()
        return event

    async def _report_echo(self, guard: EchoGuard) -> None:
        """Once a call: our voice comes back on this line. Staff see why the agent may have paused on its own
        words; operators count such lines. ``delay_ms``: how late, as the guard lines it up with what played."""
        self._echo_reported = True
        payload = {} if guard.echo_lag_frames is None else {"delay_ms": guard.echo_lag_frames * FRAME_MS}
        await self._reporter.event("line_echoes", self._clock.ms, payload)

    def take_speech(self) -> bytes:
        """The utterance the VAD just ended, pre-roll included; the buffer starts empty again."""
        audio, self._speech = bytes(self._speech), bytearray()
        return audio

    def take_input(self, speech: SpeechEnded) -> CallerInput:
        """The utterance the VAD just ended (``speech``), to answer."""
        return CallerInput(audio=self.take_speech(), speech=speech, audio_until_ms=self._speech_until_ms)

    def go_on(self, item: CallerInput) -> None:
        """The speech under way continues ``item``, an utterance not yet answered (the caller paused, and
        went on before its words were in): they end as one utterance, transcribed as one. Its audio is
        ``item``'s and then the new speech's from its pre-roll on: a pause longer than the pre-roll is
        shortened to it, and what ``item``'s audio already holds of that pre-roll is not repeated."""
        if item.audio is None or item.speech is None:
            raise ValueError("only an utterance can go on")
        self.vad.continue_from(item.speech.start_ms)
        from_ms = self._speech_until_ms - len(self._speech) // BYTES_PER_MS
        repeated = max(0, item.audio_until_ms - from_ms) * BYTES_PER_MS
        self._speech = bytearray(item.audio) + self._speech[repeated:]

    async def transcribe(self, audio: bytes) -> str:
        """The recogniser's final text for one utterance; raises ``Failure("asr", ...)``."""
        self._transcriptions += 1
        try:
            return await timed("asr", self._transcriber.end_of_utterance(audio), self._asr_timeout)
        finally:
            self._transcriptions -= 1

    async def words(self, item: CallerInput, latency: dict[str, int]) -> str | None:
        """What the model is told the caller said: their utterance transcribed (its transcript row reported)
        or the keys they pressed; None when there is nothing to answer. Raises ASR's ``Failure``."""
        if item.audio is None or item.speech is None:
            return f"[DTMF: {item.dtmf}]"
        if item.transcript is not None:
            text = (await item.transcript).strip()
        else:
            text = (await self.transcribe(item.audio)).strip()
        item.transcribed = True
        latency["asr"] = ms_since(item.decided_at)
        if not text:
            return None
        record = UtteranceRecord("caller", text, item.speech.start_ms, item.speech.end_ms)
        await shielded(self._reporter.utterance(record))
        return text

    async def close(self) -> None:
        await self.voicing.close()
        await self._transcriber.close()
