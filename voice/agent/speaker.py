"""Our side of a call: sentences to speech, with the fallback voice, paced out to Twilio, and an account
of what the caller actually heard.

Each sentence is synthesised on its own and followed by a mark, so Twilio's echoes say which sentences
played. A reply is spoken while it is still being generated (``ReplyVoice``); fixed texts (greeting,
prompts, apology, goodbye) fall back to the second voice when the first fails (``speak``). Ready audio
(``ReadyAudio``: fillers, the apology, and prompts such as the greeting when they were made before the call)
is queued as it is, with no provider in the way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from voice.agent.aio import aclose, cancel, shielded
from voice.agent.config import AgentConfig
from voice.agent.failures import Failure, report_failure
from voice.agent.ports import CallReporter, MediaSink, UtteranceRecord
from voice.agent.ready_audio import ReadyAudio
from voice.agent.sentences import split_sentences
from voice.agent.utterance import Sentence, Utterance
from voice.agent.waiting import POLL_S
from voice.audio.clock import MediaClock
from voice.audio.frames import FRAME_MS, Framer
from voice.audio.pacer import DEFAULT_LEAD_MS, Clock, LoopClock, Pacer
from voice.providers.base import Providers, TTSProvider


class Speaker:
    def __init__(
        self,
        config: AgentConfig,
        providers: Providers,
        sink: MediaSink,
        reporter: CallReporter,
        media_clock: MediaClock,
        *,
        on_first_audio: Callable[[], None],  # an utterance's first audio is queued: we hold the floor
        on_heard: Callable[[Utterance, str], None],  # what the caller heard of it (for the model's history)
        clock: Clock | None = None,
        lead_ms: int = DEFAULT_LEAD_MS,
        tts_timeout_s: float = 10.0,
        ready: ReadyAudio | None = None,
        on_queued: Callable[[bytes, int], None] | None = None,  # our audio as it is queued (the echo guard)
        measure_late: bool = False,  # measure early how late Twilio plays our audio (``Pacer``)
    ) -> None:
        self._clock: Clock = clock or LoopClock()
        self.pacer = Pacer(sink, lead_ms=lead_ms, clock=self._clock, on_queued=on_queued, measure_late=measure_late)
        self.ready = ready
        self.utterance: Utterance | None = None  # the latest one
        self._config = config
        self._providers = providers
        self._reporter = reporter
        self._media_clock = media_clock
        self._on_first_audio = on_first_audio
        self._on_heard = on_heard
        self._tts_timeout = tts_timeout_s
        self._count = 0
        self._fillers = 0
        self._open_sentence: Sentence | None = None  # its audio has started and more is coming

    def new_utterance(self, kind: str) -> Utterance:
        self._count += 1
        self.utterance = Utterance(number=self._count, kind=kind)
        return self.utterance

    @property
    def playing(self) -> bool:
        """Audio of the latest utterance is queued or playing and not yet accounted for."""
        return self.utterance is not None and self.utterance.unreported_audio

    # -- what the caller hears meanwhile (``waiting.FillerPlayer``) ----------------------------------
    @property
    def mid_sentence(self) -> bool:
        return self._open_sentence is not None

    def playing_ms(self) -> int | None:
        """Where our audio playing now sits (None: none is playing)."""
        return self.pacer.playing_ms()

    def queued_ms(self) -> int:
        return self.pacer.pushed_ms

    def ahead_ms(self) -> int:
        return self.pacer.buffered_ms()

    def ready_clip(self, text: str) -> bytes | None:
        if self.ready is None:
            return None
        return self.ready.clip(text, voice=self._config.voice, language=self._config.language)

    def filler_ready(self, text: str) -> bool:
        return self.ready_clip(text) is not None

    def play_filler(self, text: str) -> bool:
        """Queue a filler's ready audio with a mark of its own. It belongs to no utterance: the reply's
        transcript and what the model sees stay the reply's; the timeline has a ``filler`` event."""
        clip = self.ready_clip(text)
        if clip is None:
            return False
        self._fillers += 1
        self.pacer.push(clip)
        self.pacer.push_mark(f"f{self._fillers}")
        return True

    async def speak_ready(self, utt: Utterance, text: str) -> bool:
        """Say ``text`` with its ready audio, as one sentence of ``utt``; False when it is not ready."""
        clip = self.ready_clip(text)
        if clip is None:
            return False
        sentence = Sentence(text, f"t{utt.number}-s{len(utt.sentences) + 1}", self.pacer.pushed_ms, 0)
        await self._queue_audio(utt, sentence, clip)
        self.pacer.push_mark(sentence.mark)
        return True

    # -- speaking ------------------------------------------------------------------------------------
    def reply_voice(self, utt: Utterance) -> ReplyVoice:
        """Start speaking a reply that is still being generated (in the first voice only: a failure
        there is an apology's job)."""
        return ReplyVoice(self, utt, self._providers.tts)

    async def speak(self, utt: Utterance, text: str, *, fallback_first: bool = False) -> None:
        """Speak fixed text (greeting, prompts, apology), falling back to the second voice if the first
        fails. Raises ``Failure`` only if no voice worked."""
        voices: list[tuple[str, TTSProvider]] = [("tts", self._providers.tts)]
        if self._providers.fallback_tts is not None:
            voices.append(("fallback_tts", self._providers.fallback_tts))
            if fallback_first:
                voices.reverse()
        sentences = split_sentences(text)
        done = 0
        failure: Failure | None = None
        for role, tts in voices:
            if failure is not None:
                await report_failure(self._reporter, self._media_clock.ms, failure)
            if role == "fallback_tts":
                await self._reporter.event("fallback", self._media_clock.ms, {"role": "tts", "text": text})
            try:
                while done < len(sentences):
                    await self.synthesize(utt, sentences[done], tts, role)
                    done += 1
                return
            except Failure as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def apologise(self, utt: Utterance, text: str, *, tts_broke: bool, budget_s: float | None) -> None:
        """The apology: in the live voices while they answer within ``budget_s`` (the caller's silence
        budget, clock seconds; None: no limit), else its ready audio, at once when TTS is what broke.
        Raises ``Failure`` only when nothing could be played."""
        if self.ready_clip(text) is None:
            await self.speak(utt, text, fallback_first=tts_broke)
            return
        if not tts_broke and (budget_s is None or budget_s > 0):
            try:
                if await self._speak_within(utt, text, budget_s):
                    return
            except Failure as live:
                await report_failure(self._reporter, self._media_clock.ms, live)
        await self._reporter.event("fallback", self._media_clock.ms, {"role": "tts", "text": text, "ready": True})
        await self.speak_ready(utt, text)

    async def speak_prompt(self, utt: Utterance, text: str, *, budget_s: float | None) -> None:
        """A prompt the caller waits for (greeting, idle prompt, goodbye): in the first voice while it
        starts within ``budget_s`` (None: no limit), else at once in the second voice, so a hung TTS never
        leaves the caller in silence at the start of a call. Raises ``Failure`` only if no voice worked.
        A prompt made ahead (``ReadyAudio``: the greeting from storage) plays at once, with no TTS at all."""
        if await self.speak_ready(utt, text):
            return
        if budget_s is None or self._providers.fallback_tts is None:
            await self.speak(utt, text)
        elif not await self._speak_within(utt, text, budget_s):
            await self.speak(utt, text, fallback_first=True)

    async def _speak_within(self, utt: Utterance, text: str, budget_s: float | None) -> bool:
        """Speak ``text`` live; False (the attempt cancelled, its stream closed) if no audio was queued
        within ``budget_s``."""
        if budget_s is None:
            await self.speak(utt, text)
            return True
        queued = self.pacer.pushed_ms
        live = asyncio.get_running_loop().create_task(self.speak(utt, text))
        try:
            deadline = self._clock.now() + budget_s
            while not live.done() and self.pacer.pushed_ms == queued:
                if self._clock.now() >= deadline:
                    await cancel(live)
                    payload = {"role": "tts", "message": f"no audio within {budget_s:.1f} s"}
                    await self._reporter.event("error", self._media_clock.ms, payload)
                    return False
                await self._clock.sleep(POLL_S)
            await live
            return True
        finally:
            await cancel(live)

    async def synthesize(self, utt: Utterance, text: str, tts: TTSProvider, role: str) -> None:
        """One sentence: TTS -> whole frames -> pacer, then its mark. Raises ``Failure(role, ...)``."""
        loop = asyncio.get_running_loop()
        sentence = Sentence(text, f"t{utt.number}-s{len(utt.sentences) + 1}", self.pacer.pushed_ms, 0)
        framer = Framer()
        stream = tts.synthesize(text, voice=self._config.voice, language=self._config.language)
        cancelled = False
        try:
            async with asyncio.timeout(self._tts_timeout) as deadline:
                async for chunk in stream:
                    deadline.reschedule(loop.time() + self._tts_timeout)
                    utt.note_latency("tts_first_audio")
                    if frames := framer.push(chunk):
                        self._open_sentence = sentence
                        await self._queue_audio(utt, sentence, frames)
        except asyncio.CancelledError:
            cancelled = True
            raise
        except Exception as exc:
            raise Failure(role, exc) from exc
        finally:
            self._open_sentence = None
            await aclose(stream)
            if not cancelled:  # a cancelled sentence is about to be cleared; queue nothing more
                if tail := framer.flush():
                    await self._queue_audio(utt, sentence, tail)
                if sentence.end_pos > sentence.start_pos:
                    self.pacer.push_mark(sentence.mark)

    async def _queue_audio(self, utt: Utterance, sentence: Sentence, frames: bytes) -> None:
        if not utt.sentences or utt.sentences[-1] is not sentence:
            utt.sentences.append(sentence)
        first = not utt.has_audio
        if first:
            utt.start_pos = self.pacer.pushed_ms
            utt.start_media_ms = self._media_clock.ms
            self._on_first_audio()
        self.pacer.push(frames)
        sentence.end_pos = self.pacer.pushed_ms
        if first and utt.start_pos is not None and utt.t0 is not None:
            await self.pacer.wait_sent(utt.start_pos + FRAME_MS)
            utt.note_latency("first_frame")

    async def clear(self) -> int:
        """Drop what has not played (Twilio's ``clear``); returns the position the caller heard up to."""
        return await self.pacer.clear()

    async def pause(self) -> int:
        """Stop at once, keeping what the caller did not hear for ``resume`` (``Pacer.pause``)."""
        return await self.pacer.pause()

    def resume(self) -> None:
        self.pacer.resume()

    # -- what was heard ------------------------------------------------------------------------------
    async def finish(self, utt: Utterance) -> None:
        """Let the utterance play out; then all of it was heard."""
        await self.pacer.wait_played()
        self._on_heard(utt, utt.text)
        await self.report(utt, interrupted=False, heard_pos=self.pacer.pushed_ms)

    async def cut_short(self, utt: Utterance, heard_pos: int) -> dict[str, Any]:
        """The utterance was cleared at ``heard_pos``: only what played before counts as said. Returns
        what was heard, for the timeline."""
        assert utt.start_pos is not None
        heard_text = utt.heard_text(heard_pos)
        heard = {"heard_ms": max(0, heard_pos - utt.start_pos), "heard_text": heard_text, "text": utt.text}
        self._on_heard(utt, heard_text)
        await self.report(utt, interrupted=True, heard_pos=heard_pos)
        return heard

    async def report(self, utt: Utterance, *, interrupted: bool, heard_pos: int) -> None:
        """The utterance's transcript row (once): all of it, or the part heard before it was cut."""
        if utt.reported or not utt.has_audio:
            return
        utt.reported = True
        assert utt.start_pos is not None
        end_pos = min(heard_pos, self.pacer.pushed_ms) if interrupted else utt.sentences[-1].end_pos
        record = UtteranceRecord(
            speaker="agent",
            text=utt.text,
            start_ms=utt.start_media_ms,
            end_ms=utt.start_media_ms + max(0, end_pos - utt.start_pos),
            interrupted=interrupted,
            heard_text=utt.heard_text(heard_pos) if interrupted else utt.text,
            latency=dict(utt.latency),
        )
        await shielded(self._reporter.utterance(record))
        await self.report_turn(utt, interrupted=interrupted)

    async def report_turn(self, utt: Utterance, *, interrupted: bool) -> None:
        """A reply's ``turn`` event with its latencies (other utterances have none)."""
        if utt.kind == "reply":
            payload = {"utterance": utt.number, "interrupted": interrupted, **utt.latency}
            await shielded(self._reporter.event("turn", self._media_clock.ms, payload))

    async def close(self) -> None:
        """The stream ended: account for what was heard of an unfinished utterance, send nothing more."""
        utt = self.utterance
        if utt is not None and utt.unreported_audio:
            # The socket is gone: no `clear`, just what the marks and the play-out estimate say was heard.
            await self.report(utt, interrupted=True, heard_pos=self.pacer.heard_ms())
        await self.pacer.close()


class ReplyVoice:
    """A reply spoken while it is generated: sentences queue up as the model writes them and one worker
    speaks them in order, so the caller hears sentence 1 while the rest is still coming."""

    def __init__(self, speaker: Speaker, utt: Utterance, tts: TTSProvider) -> None:
        self._speaker = speaker
        self._utt = utt
        self._tts = tts
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.unspoken = 0  # sentences said whose audio is not all queued yet: the answer waits on TTS
        self._worker = asyncio.get_running_loop().create_task(self._speak_queued())

    async def _speak_queued(self) -> None:
        while (sentence := await self._queue.get()) is not None:
            await self._speaker.synthesize(self._utt, sentence, self._tts, "tts")
            self.unspoken -= 1

    def say(self, sentence: str) -> None:
        self.unspoken += 1
        self._queue.put_nowait(sentence)

    @property
    def broken(self) -> bool:
        """The worker stopped before being told the reply is over: TTS failed."""
        return self._worker.done()

    async def check(self) -> None:
        """Raise the worker's ``Failure`` if TTS broke."""
        if self._worker.done():
            await self._worker

    async def finish(self) -> None:
        """No more sentences: wait until all are queued for playing; raises TTS's ``Failure``."""
        self._queue.put_nowait(None)
        await self._worker

    async def cancel(self) -> None:
        """Stop speaking (a failure elsewhere, or the turn was cancelled); idempotent."""
        await cancel(self._worker)
