"""The caller's side of a call: every inbound frame goes to the recogniser and the VAD, and the speech the
VAD finds is kept (with a little audio from before its decision) for the end-of-utterance transcription.

Each frame is voted on by the call's ``Voicing`` (Silero gated by webrtcvad, by default); while we speak,
a frame the ``EchoGuard`` takes for our own voice coming back is not the caller's. The listener says what
it heard, frame by frame, and whether the caller has talked long enough to take the floor from us
(``talks_over_us``); what to do about it (answer, barge in, ignore a "mm-hm") is the session's decision.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from voice.agent.aio import shielded
from voice.agent.config import AgentConfig
from voice.agent.echo_guard import EchoGuard
from voice.agent.failures import timed
from voice.agent.ports import CallReporter, UtteranceRecord
from voice.agent.utterance import ms_since
from voice.agent.vad import NoiseDropped, SpeechEnded, SpeechStarted, VadEvent, VoiceActivityDetector
from voice.agent.voicing import Voicing, WebrtcVoicing
from voice.audio import mulaw
from voice.audio.clock import MediaClock
from voice.audio.frames import FRAME_BYTES, SAMPLE_RATE, Framer
from voice.providers.base import Transcriber

BYTES_PER_MS = SAMPLE_RATE // 1000  # mu-law: a byte a sample
PREROLL_FRAMES = 10  # 200 ms kept before the VAD's decision so the recogniser hears the first syllable
GATE_GAP_FRAMES = 2
# The guard masks by loudness where the canceller cannot prove itself (an echo near the line's noise, or a
# room): the quiet end of a caller's word under our loud syllables looks like echo to it. Such a frame counts
# as the VAD votes when it comes within BRIDGE_FRAMES of the caller's voice heard unmasked, and the detector
# does not take our echo alone for a voice on this line: of the frames masked while the caller was quiet,
# the share in which Silero's own state was "speech" (followed at ECHO_VOICED_RATE a frame) is below
# ECHO_VOICED_MAX. A room's echo is a voice to Silero (~1.0), a faint echo mostly is not; webrtcvad alone
# never bridges. On the corpus, interruptions over a -35 dB echo stop the agent 612 -> 372 and 470 -> 290 ms
# after they begin; on 126 more drawn like them, 31 -> 24 over 400 ms; back-channels over echo as before.
# While the caller talks over us the gate's vote counts there too (as it does unmasked), and the caller's
# voice goes on, for the bridge, through the masked frames Silero's own state keeps calling speech.
BRIDGE_FRAMES = 8
ECHO_VOICED_RATE = 0.05
ECHO_VOICED_MAX = 0.2
# While we speak, a voice the gate has heard for ONSET_RUN_FRAMES (120 ms) starts an utterance when the
# listener voted it voice on at least ONSET_VOTES of the latest ONSET_RUN_FRAMES frames: "רגע, רגע" in one
# voice over a -30 or -35 dB echo scores 0.03-0.64, voted voice two frames at a time but never the three in a
# row that start an utterance, and was missed on 2 of a review's draws. A cough or a door rarely holds the
# gate and the votes that long (1 of 60 over our echo paused the agent; bench/README.md).
ONSET_RUN_FRAMES = 6
ONSET_VOTES = 3
VOTES_MASK = (1 << ONSET_RUN_FRAMES) - 1
# Two more onset rules while we speak, for words Silero is slow to be sure of ("תעצור" over a -35 dB echo: sure
# 360 ms after it begins, and the guard masks its quiet middle under our loud syllables):
# - the run that times the onset bridges a gap of up to BRIDGE_FRAMES in which the gate heard voice the
#   guard masked, on a line where Silero does not hear our echo alone as a voice (as the bridge above: on a
#   room's echo, or with webrtcvad alone, the gate hears our echo in every masked frame, and an utterance was
#   dated up to 300 ms before the caller spoke); the strict run still decides
#   ``_flickering_over_a_steady_voice`` (bridged there, our room echo started utterances: 26 -> 32 of 324);
# - Silero's own state "speech" on a frame the gate has heard unmasked for ONSET_RUN_FRAMES in a row starts
#   the utterance on that frame rather than two frames later.
# With the bridge's two changes above, bench.interrupt_echo: 18 -> 8 of 216 interruptions stopped the agent
# later than 400 ms (p95 465 -> 382 ms; short ones over a -35 dB echo 3 -> 0); bench.backchannel_echo and the
# webrtcvad fallback the same scenario for scenario; the corpus's one slow -35 dB case 488 -> 368 ms.


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
        self._transcriber = transcriber
        self._clock = clock
        self._reporter = reporter
        self._asr_timeout = asr_timeout_s
        self._framer = Framer()
        self._preroll: deque[bytes] = deque(maxlen=PREROLL_FRAMES)
        self._speech = bytearray()
        self._speech_until_ms = 0  # media time at the end of ``_speech``
        # The cheap detector's (the gate's) latest run of voice, our echo not counted, gaps of up to
        # ``GATE_GAP_FRAMES`` bridged: the guard takes a caller's quietest frames under our loudest for echo.
        self._gate_run = 0  # frames since the run started
        self._gate_gap = GATE_GAP_FRAMES + 1  # frames since the gate last heard voice
        # The run that times a caller's onset: as ``_gate_run``, but a gap in which the gate heard voice the
        # guard masked goes on the run for up to BRIDGE_FRAMES.
        self._onset_run = 0
        self._masked_in_gap = False  # the gate heard masked voice since it last heard voice unmasked
        self._heard_run = 0  # the gate's unmasked votes on the latest ONSET_RUN_FRAMES frames, newest in bit 0
        self._since_caller = BRIDGE_FRAMES  # frames since the caller's voice was heard unmasked
        self._echo_voiced = 1.0  # until the VAD is seen not to hear our echo, its word does not unmask
        self._votes = 0  # the listener's votes on the latest ONSET_RUN_FRAMES frames, newest in bit 0
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
        voiced = await self.voicing.voiced(pcm, eager=eager)
        if self.voicing.failure is not None and not self._voicing_failure_reported:
            self._voicing_failure_reported = True
            payload = {"role": "vad", "message": self.voicing.failure, "fallback": "webrtcvad"}
            await self._reporter.event("error", self._clock.ms, payload)
        heard = self.voicing.heard
        masked = False  # the gate heard voice the guard masked, where Silero does not hear our echo as a voice
        if echo:
            self._hear_how_our_echo_sounds()
            if not self._still_the_caller(voiced or (eager and heard)):
                masked = heard and self._echo_is_not_a_voice_here
                voiced = heard = False
        self._since_caller = 0 if voiced and (not echo or self.voicing.sure is True) else self._since_caller + 1
        self._follow_the_gate(heard, heard and not echo, masked)
        # While we speak, a caller's speech is timed from the first frame the gate heard (Silero is slow to
        # be sure of some onsets: "רגע" scores 0.1-0.4), and once Silero heard them start, the gate follows
        # them: the barge-in rule counts the caller's voice from its start to now. Some voices Silero never
        # becomes sure of over our echo: it flickers about the eager threshold while the gate hears them
        # steadily (see ``ONSET_RUN_FRAMES``).
        onset = self._onset_run if eager and heard else 0
        self._votes = ((self._votes << 1) | voiced) & VOTES_MASK
        if eager and heard and (self.vad.in_speech or self._flickering_over_a_steady_voice()):
            voiced = True
        # Silero's memory of a voice counts as silence only where its own state voted the frame.
        fading = self.voicing.fading_ms if voiced and self.voicing.sure else 0
        # Silero sure of a voice the gate has heard unmasked for ONSET_RUN_FRAMES: the caller, from this frame.
        sure_onset = eager and voiced and self.voicing.sure is True and self._heard_run == VOTES_MASK
        event = self.vad.decide(
            voiced, frame=frame, behind=behind, onset_frames=onset, fading_ms=fading, start_now=sure_onset
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

    def _follow_the_gate(self, heard: bool, unmasked: bool, masked: bool) -> None:
        """The gate's runs of voice after the frame it just voted on (``heard``: our echo not counted, a frame
        bridged to the caller's voice counted; ``unmasked``: heard in a frame the guard did not take for our
        echo; ``masked``: voice the guard took for our echo where Silero does not hear our echo as a voice)."""
        self._heard_run = ((self._heard_run << 1) | unmasked) & VOTES_MASK
        if heard:
            new_run = self._gate_gap > GATE_GAP_FRAMES
            bridged = self._masked_in_gap and self._gate_gap <= BRIDGE_FRAMES
            self._gate_run = 1 if new_run else self._gate_run + 1
            self._onset_run = 1 if new_run and not bridged else self._onset_run + 1
            self._gate_gap = 0
            self._masked_in_gap = False
        else:
            self._gate_gap += 1
            self._gate_run += 1
            self._onset_run += 1
            self._masked_in_gap |= masked

    def _hear_how_our_echo_sounds(self) -> None:
        """A frame the guard took for our echo: while the caller is quiet it is our echo alone, and whether the
        detector's own state calls it a voice says whether its word can be trusted over our echo on this line."""
        sure = self.voicing.sure
        if sure is None:  # no state of its own (webrtcvad hears our echo as a voice 30-40 % of the time)
            self._echo_voiced = 1.0
        elif not self.vad.in_speech:
            self._echo_voiced += ECHO_VOICED_RATE * (sure - self._echo_voiced)

    def _still_the_caller(self, voiced: bool) -> bool:
        """A frame the guard took for our echo, voted voice (by the detector, or while the caller talks over
        us by the gate), is the caller's all the same (see ``BRIDGE_FRAMES``)."""
        recent = self._since_caller < BRIDGE_FRAMES
        return voiced and recent and self.vad.in_speech and self._echo_is_not_a_voice_here

    @property
    def _echo_is_not_a_voice_here(self) -> bool:
        """On this line the detector does not take our echo alone for a voice (see ``ECHO_VOICED_MAX``): a voice
        it hears in a frame the guard masked may be the caller's."""
        return self._echo_voiced < ECHO_VOICED_MAX

    def _flickering_over_a_steady_voice(self) -> bool:
        """The gate has heard a voice for ``ONSET_RUN_FRAMES`` and the listener voted it voice on at least
        ``ONSET_VOTES`` of the latest ``ONSET_RUN_FRAMES`` frames (three in a row would have started an
        utterance already)."""
        return self._gate_run >= ONSET_RUN_FRAMES and self._votes.bit_count() >= ONSET_VOTES

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
