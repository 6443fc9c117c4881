"""The conversation core for one call: listen, think, speak, and let the caller interrupt.

Inbound frames drive everything (``media``): they advance the media clock, feed the VAD and the
recogniser, and trigger barge-in, idle prompts and the call-length limit. A turn runs as one task:
transcribe -> stream the LLM reply -> split into sentences -> TTS each sentence -> frames -> pacer, with
TTS running alongside the LLM so the caller hears sentence 1 while the rest is generated.
What happened is reported through the ``CallReporter`` as soon as it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from voice.agent.config import AgentConfig
from voice.agent.ports import CallReporter, MediaSink, UtteranceRecord
from voice.agent.sentences import SentenceSplitter, split_sentences
from voice.agent.turns import TurnEvent, Turns, TurnState
from voice.agent.vad import NoiseDropped, SpeechEnded, SpeechStarted, VoiceActivityDetector
from voice.audio.frames import FRAME_BYTES, FRAME_MS, Framer
from voice.audio.pacer import Clock, Pacer
from voice.providers.base import Providers, TextDelta, ToolCall, ToolSpec, TTSProvider

log = logging.getLogger(__name__)
T = TypeVar("T")

PREROLL_FRAMES = 10  # 200 ms kept before the VAD's decision so the recogniser hears the first syllable

TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="save_lead_details",
        description="Save what the caller told you about themselves: name, what they are interested in, "
        "and when to call them back. Pass only the fields you learned.",
        parameters={
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "The caller's name"},
                "interest": {"type": "string", "description": "What the caller wants or asks about"},
                "callback_time": {"type": "string", "description": "When the caller wants a call back"},
            },
        },
    ),
    ToolSpec(
        name="add_note",
        description="Add a short note for the sales team about this caller.",
        parameters={
            "type": "object",
            "properties": {"note": {"type": "string"}},
            "required": ["note"],
        },
    ),
    ToolSpec(
        name="end_call",
        description="End the call politely when the conversation is over. A goodbye is played for you.",
        parameters={
            "type": "object",
            "properties": {"reason": {"type": "string", "description": "Why the call ends"}},
        },
    ),
]


class _Failure(Exception):
    """A provider failed; ``role`` says which (asr, llm, tts, fallback_tts)."""

    def __init__(self, role: str, error: BaseException) -> None:
        super().__init__(f"{role}: {error}")
        self.role = role
        self.error = error

    @property
    def message(self) -> str:
        return str(self.error) or type(self.error).__name__


@dataclass
class _Sentence:
    text: str
    mark: str
    start_pos: int  # pacer positions (ms of outbound audio)
    end_pos: int


@dataclass
class _Utterance:
    """What the agent is saying now: its sentences, where their audio sits, and this turn's context."""

    number: int
    kind: str  # greeting | reply | idle | goodbye | apology
    t0: float | None = None  # loop time of the end-of-utterance decision (replies)
    latency: dict[str, int] = field(default_factory=dict)
    sentences: list[_Sentence] = field(default_factory=list)
    start_pos: int | None = None
    start_media_ms: int = 0
    turn_messages: list[dict[str, Any]] = field(default_factory=list)  # tool calls and results
    reported: bool = False
    committed: bool = False

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)

    @property
    def has_audio(self) -> bool:
        return self.start_pos is not None

    def heard_text(self, heard_pos: int) -> str:
        """Sentences fully heard count fully; the one cut off counts in proportion to its heard ms,
        trimmed back to a word boundary."""
        parts = []
        for s in self.sentences:
            if heard_pos >= s.end_pos:
                parts.append(s.text)
                continue
            if heard_pos > s.start_pos and s.end_pos > s.start_pos:
                cut = int(len(s.text) * (heard_pos - s.start_pos) / (s.end_pos - s.start_pos))
                partial = s.text[:cut]
                if cut < len(s.text) and not s.text[cut].isspace():
                    partial = partial.rsplit(" ", 1)[0] if " " in partial else ""
                if partial.strip():
                    parts.append(partial.strip())
            break
        return " ".join(parts)


@dataclass
class _CallerInput:
    audio: bytes | None = None
    speech: SpeechEnded | None = None
    dtmf: str | None = None
    decided_at: float = field(default_factory=lambda: asyncio.get_running_loop().time())  # latency origin


class AgentSession:
    """Implements ``StreamHandler`` for one call."""

    def __init__(
        self,
        config: AgentConfig,
        providers: Providers,
        sink: MediaSink,
        reporter: CallReporter,
        *,
        clock: Clock | None = None,
        lead_ms: int = 340,
        asr_timeout_s: float = 10.0,
        llm_timeout_s: float = 10.0,
        tts_timeout_s: float = 10.0,
        max_tool_rounds: int = 4,
        max_failures: int = 3,
    ) -> None:
        self.config = config
        self.providers = providers
        self.reporter = reporter
        self.turns = Turns()
        self.pacer = Pacer(sink, lead_ms=lead_ms, clock=clock)
        self.vad = VoiceActivityDetector.from_config(config)
        self._inbound = Framer()
        self._transcriber = providers.asr.new_transcriber(config.language)
        self._asr_timeout = asr_timeout_s
        self._llm_timeout = llm_timeout_s
        self._tts_timeout = tts_timeout_s
        self._max_tool_rounds = max_tool_rounds
        self._max_failures = max_failures
        self._facts = dict(config.lead_facts)
        self.history: list[dict[str, Any]] = []  # the conversation as the LLM sees it (no system prompt)
        self._preroll: deque[bytes] = deque(maxlen=PREROLL_FRAMES)
        self._speech = bytearray()
        self._pending: deque[_CallerInput] = deque()
        self._task: asyncio.Task[None] | None = None
        self._utt: _Utterance | None = None
        self._utterances = 0
        self._failures = 0
        self._idle_prompts = 0
        self._quiet_since_ms = 0
        self._push_failed = False
        self._end_reason: str | None = None
        self.ending = False
        self.started = False
        self.stopped = False
        self.marks_in = 0

    # -- StreamHandler -------------------------------------------------------------------------------
    @property
    def media_ms(self) -> int:
        return self.vad.now_ms

    @property
    def busy(self) -> bool:
        """A turn, prompt or goodbye is in progress."""
        return not self._idle()

    async def start(self) -> None:
        if self.started or self.stopped:
            return  # the greeting is spoken once per call, whatever the edge does
        self.started = True
        await self.reporter.event("greeting", self.media_ms, {"text": self.config.greeting})
        self._spawn(self._say_prompt(self.config.greeting, "greeting"))

    async def media(self, payload: bytes) -> None:
        if self.stopped:
            return
        frames = self._inbound.push(payload)
        for i in range(0, len(frames), FRAME_BYTES):
            await self._frame(frames[i : i + FRAME_BYTES])

    async def mark(self, name: str) -> None:
        self.marks_in += 1
        self.pacer.on_mark(name)

    async def dtmf(self, digit: str) -> None:
        if self.stopped:
            return
        await self.reporter.event("dtmf", self.media_ms, {"digit": digit})
        if self.ending:
            return
        self._idle_prompts = 0
        self._quiet_since_ms = self.media_ms
        if self._interruptible():
            await self._barge_in("dtmf")
        self._take(_CallerInput(dtmf=digit))

    async def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        await self._cancel_task()
        utt = self._utt
        if utt is not None and utt.has_audio and not utt.reported:
            # The socket is gone: no `clear`, just account for what was heard.
            await self._report_agent(utt, interrupted=True, heard_pos=self.pacer.heard_ms())
        await self.pacer.close()
        with contextlib.suppress(Exception):
            await self._transcriber.close()

    # -- inbound audio ------------------------------------------------------------------------------
    async def _frame(self, frame: bytes) -> None:
        try:
            await self._transcriber.push_audio(frame)
        except Exception as exc:  # a streaming recogniser broke; end_of_utterance will fail and recover
            if not self._push_failed:
                self._push_failed = True
                await self.reporter.event("error", self.media_ms, {"role": "asr", "message": str(exc)})
        event = self.vad.push(frame)
        if isinstance(event, SpeechStarted):
            self._speech = bytearray().join(self._preroll)
            self._speech += frame
        elif self.vad.in_speech or event is not None:
            self._speech += frame
        self._preroll.append(frame)

        if isinstance(event, SpeechEnded):
            await self._end_of_speech(event)
        elif isinstance(event, NoiseDropped):
            self._speech = bytearray()
        elif self.vad.in_speech and self.vad.speech_ms() >= self.config.barge_in_min_ms and self._interruptible():
            await self._barge_in("speech")

        now = self.media_ms
        if self.vad.in_speech:
            self._quiet_since_ms = now
        if now >= self.config.max_call_ms and not self.ending:
            await self._end_with_goodbye("max_duration")
        elif (
            not self.ending
            and self.turns.state is TurnState.LISTENING
            and not self.vad.in_speech
            and self._idle()
            and now - self._quiet_since_ms >= self.config.idle_prompt_ms
        ):
            await self._on_idle()

    async def _end_of_speech(self, speech: SpeechEnded) -> None:
        audio, self._speech = bytes(self._speech), bytearray()
        self._idle_prompts = 0
        self._quiet_since_ms = self.media_ms
        if self.ending:
            return
        state = self.turns.state
        if state is TurnState.LISTENING or (state is TurnState.THINKING and not self._audio_queued()):
            # While thinking, the caller went on talking: answer that too, right after.
            self._take(_CallerInput(audio=audio, speech=speech))
        # Otherwise it was too short to interrupt us (a "mm-hm" while we speak): ignored.

    def _take(self, item: _CallerInput) -> None:
        if self._idle() and self.turns.state is TurnState.LISTENING:
            self._spawn(self._turn(item))
        else:
            self._pending.append(item)  # taken up when the running task ends (see _guard)

    # -- turns ---------------------------------------------------------------------------------------
    async def _turn(self, item: _CallerInput) -> None:
        t0 = item.decided_at
        self.turns.on(TurnEvent.END_OF_UTTERANCE)
        latency: dict[str, int] = {}
        if item.speech is not None:
            latency["eos_ms"] = item.speech.end_ms
        if item.audio is not None and item.speech is not None:
            try:
                text = await self._timed("asr", self._transcriber.end_of_utterance(item.audio), self._asr_timeout)
            except _Failure as failure:
                await self._recover(failure, None)
                return
            latency["asr"] = _ms_since(t0)
            if not text.strip():
                self._done_speaking()
                return
            await self._report(
                self.reporter.utterance(
                    UtteranceRecord("caller", text.strip(), item.speech.start_ms, item.speech.end_ms)
                )
            )
            self.history.append({"role": "user", "content": text.strip()})
        else:
            self.history.append({"role": "user", "content": f"[DTMF: {item.dtmf}]"})
        await self._reply(t0, latency)

    async def _reply(self, t0: float, latency: dict[str, int]) -> None:
        utt = self._new_utterance("reply")
        utt.t0, utt.latency = t0, latency
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        worker = asyncio.get_running_loop().create_task(self._tts_worker(utt, queue))
        try:
            for _ in range(self._max_tool_rounds + 1):
                text, calls = await self._stream_llm(utt, queue, worker)
                if not calls:
                    break
                utt.turn_messages.append(_assistant_tool_message(text, calls))
                for call in calls:
                    result = await self._run_tool(call)
                    content = json.dumps(result, ensure_ascii=False)
                    utt.turn_messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
                if self._end_reason is not None:
                    break
            if self._end_reason is not None:
                for sentence in split_sentences(self.config.goodbye):
                    queue.put_nowait(sentence)
            queue.put_nowait(None)
            await self._join_worker(worker)
        except _Failure as failure:
            await _cancel(worker)
            await self._recover(failure, utt)
            return
        finally:
            if not worker.done():
                await _cancel(worker)
        self._failures = 0
        if utt.has_audio:
            await self._finish_speaking(utt)
        else:
            self._commit(utt, utt.text)
            await self._report_turn(utt, interrupted=False)
            self._done_speaking()
        if self._end_reason is not None:
            await self._report(self.reporter.end_call(self._end_reason))

    async def _stream_llm(
        self, utt: _Utterance, queue: asyncio.Queue[str | None], worker: asyncio.Task[None]
    ) -> tuple[str, list[ToolCall]]:
        loop = asyncio.get_running_loop()
        messages = self._llm_messages() + utt.turn_messages
        splitter = SentenceSplitter()
        text, calls = "", []
        stream = self.providers.llm.stream_reply(messages, TOOLS)
        try:
            async with asyncio.timeout(self._llm_timeout) as deadline:
                async for event in stream:
                    deadline.reschedule(loop.time() + self._llm_timeout)
                    if "llm_first_token" not in utt.latency and utt.t0 is not None:
                        utt.latency["llm_first_token"] = _ms_since(utt.t0)
                    if isinstance(event, TextDelta):
                        text += event.text
                        for sentence in splitter.feed(event.text):
                            queue.put_nowait(sentence)
                    else:
                        calls.append(event)
                    if worker.done():
                        break  # TTS failed: stop generating, report it below
        except Exception as exc:
            raise _Failure("llm", exc) from exc
        finally:
            await _aclose(stream)
        for sentence in splitter.flush():
            queue.put_nowait(sentence)
        if worker.done():
            await self._join_worker(worker)
        return text, calls

    async def _run_tool(self, call: ToolCall) -> dict[str, Any]:
        args = call.arguments or {}
        changed: dict[str, Any] = {}
        result: dict[str, Any] = {"ok": True}
        try:
            if call.name == "save_lead_details":
                facts = {k: str(args[k]) for k in ("name", "interest", "callback_time") if args.get(k)}
                changed = await self._report(self.reporter.update_lead(facts)) if facts else {}
                self._facts.update(facts)
                result["changed"] = changed
            elif call.name == "add_note":
                changed = await self._report(self.reporter.update_lead({"note": str(args.get("note", ""))}))
                result["changed"] = changed
            elif call.name == "end_call":
                self._end_reason = str(args.get("reason") or "completed")
                self.ending = True
            else:
                result = {"ok": False, "error": f"unknown tool {call.name}"}
        except Exception as exc:  # the CRM refused: tell the model, keep talking
            log.exception("tool %s failed", call.name)
            result = {"ok": False, "error": str(exc)}
        payload = {"name": call.name, "args": args, "changed": changed, "ok": result["ok"]}
        await self.reporter.event("tool_call", self.media_ms, payload)
        return result

    def _llm_messages(self) -> list[dict[str, Any]]:
        system = self.config.system_prompt
        if self._facts:
            known = "\n".join(f"- {key}: {value}" for key, value in self._facts.items())
            system += f"\n\nמה שכבר ידוע על המתקשר:\n{known}"
        return [{"role": "system", "content": system}, *self.history]

    # -- speaking ------------------------------------------------------------------------------------
    def _new_utterance(self, kind: str) -> _Utterance:
        self._utterances += 1
        self._utt = _Utterance(number=self._utterances, kind=kind)
        return self._utt

    async def _tts_worker(self, utt: _Utterance, queue: asyncio.Queue[str | None]) -> None:
        while (sentence := await queue.get()) is not None:
            await self._synthesize(utt, sentence, self.providers.tts, "tts")

    async def _synthesize(self, utt: _Utterance, text: str, tts: TTSProvider, role: str) -> None:
        loop = asyncio.get_running_loop()
        sentence = _Sentence(text, f"t{utt.number}-s{len(utt.sentences) + 1}", self.pacer.pushed_ms, 0)
        framer = Framer()
        stream = tts.synthesize(text, voice=self.config.voice, language=self.config.language)
        cancelled = False
        try:
            async with asyncio.timeout(self._tts_timeout) as deadline:
                async for chunk in stream:
                    deadline.reschedule(loop.time() + self._tts_timeout)
                    if utt.t0 is not None and "tts_first_audio" not in utt.latency:
                        utt.latency["tts_first_audio"] = _ms_since(utt.t0)
                    if frames := framer.push(chunk):
                        await self._queue_audio(utt, sentence, frames)
        except asyncio.CancelledError:
            cancelled = True
            raise
        except Exception as exc:
            raise _Failure(role, exc) from exc
        finally:
            await _aclose(stream)
            if not cancelled:  # a cancelled sentence is about to be cleared; queue nothing more
                if tail := framer.flush():
                    await self._queue_audio(utt, sentence, tail)
                if sentence.end_pos > sentence.start_pos:
                    self.pacer.push_mark(sentence.mark)

    async def _queue_audio(self, utt: _Utterance, sentence: _Sentence, frames: bytes) -> None:
        if not utt.sentences or utt.sentences[-1] is not sentence:
            utt.sentences.append(sentence)
        first = not utt.has_audio
        if first:
            utt.start_pos = self.pacer.pushed_ms
            utt.start_media_ms = self.media_ms
            if self.turns.state is not TurnState.SPEAKING:
                self.turns.on(TurnEvent.AUDIO)
        self.pacer.push(frames)
        sentence.end_pos = self.pacer.pushed_ms
        if first and utt.t0 is not None:
            await self.pacer.wait_sent(utt.start_pos + FRAME_MS)
            utt.latency["first_frame"] = _ms_since(utt.t0)

    async def _speak(self, utt: _Utterance, text: str, *, fallback_first: bool = False) -> None:
        """Speak fixed text (greeting, prompts, apology), falling back to the second voice if the first
        fails. Raises ``_Failure`` only if no voice worked."""
        voices: list[tuple[str, TTSProvider]] = [("tts", self.providers.tts)]
        if self.providers.fallback_tts is not None:
            voices.append(("fallback_tts", self.providers.fallback_tts))
            if fallback_first:
                voices.reverse()
        sentences = split_sentences(text)
        done = 0
        failure: _Failure | None = None
        for role, tts in voices:
            if failure is not None:
                await self._error(failure)
            if role == "fallback_tts":
                await self.reporter.event("fallback", self.media_ms, {"role": "tts", "text": text})
            try:
                while done < len(sentences):
                    await self._synthesize(utt, sentences[done], tts, role)
                    done += 1
                return
            except _Failure as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def _say_prompt(self, text: str, kind: str) -> None:
        utt = self._new_utterance(kind)
        try:
            await self._speak(utt, text)
        except _Failure as failure:
            await self._recover(failure, utt, already_tried_voices=True)
            return
        await self._finish_speaking(utt)

    async def _finish_speaking(self, utt: _Utterance) -> None:
        await self.pacer.wait_played()
        self._commit(utt, utt.text)
        await self._report_agent(utt, interrupted=False, heard_pos=self.pacer.pushed_ms)
        self._done_speaking()

    def _done_speaking(self) -> None:
        if self.turns.state is not TurnState.LISTENING:
            self.turns.on(TurnEvent.DONE)
        self._quiet_since_ms = self.media_ms

    def _commit(self, utt: _Utterance, said: str) -> None:
        """Put this utterance in the LLM's history as the caller heard it."""
        if utt.committed:
            return
        utt.committed = True
        for message in utt.turn_messages:
            self.history.append({**message, "content": None} if message["role"] == "assistant" else message)
        if said:
            self.history.append({"role": "assistant", "content": said})

    async def _report_agent(self, utt: _Utterance, *, interrupted: bool, heard_pos: int) -> None:
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
        await self._report(self.reporter.utterance(record))
        await self._report_turn(utt, interrupted=interrupted)

    async def _report_turn(self, utt: _Utterance, *, interrupted: bool) -> None:
        if utt.kind == "reply":
            payload = {"utterance": utt.number, "interrupted": interrupted, **utt.latency}
            await self._report(self.reporter.event("turn", self.media_ms, payload))

    # -- interruptions -------------------------------------------------------------------------------
    def _interruptible(self) -> bool:
        if self.ending or self.stopped:
            return False
        state = self.turns.state
        return state is TurnState.SPEAKING or (state is TurnState.THINKING and self._audio_queued())

    def _audio_queued(self) -> bool:
        return self._utt is not None and self._utt.has_audio and not self._utt.reported

    async def _barge_in(self, cause: str) -> None:
        utt = self._utt
        await self._cancel_task()
        heard_pos = await self.pacer.clear()
        payload: dict[str, Any] = {"cause": cause}
        if utt is not None and utt.has_audio and not utt.reported:
            assert utt.start_pos is not None
            heard_text = utt.heard_text(heard_pos)
            heard_ms = max(0, heard_pos - utt.start_pos)
            payload |= {"heard_ms": heard_ms, "heard_text": heard_text, "text": utt.text}
            self._commit(utt, heard_text)
            await self._report_agent(utt, interrupted=True, heard_pos=heard_pos)
        await self.reporter.event("barge_in", self.media_ms, payload)
        if self.turns.state is not TurnState.LISTENING:
            self.turns.on(TurnEvent.BARGE_IN)
        self._pending.clear()

    async def _on_idle(self) -> None:
        self._quiet_since_ms = self.media_ms
        if self._idle_prompts >= self.config.idle_hangup_prompts:
            await self.reporter.event("idle", self.media_ms, {"prompts": self._idle_prompts, "hangup": True})
            await self._end_with_goodbye("idle")
            return
        self._idle_prompts += 1
        await self.reporter.event("idle", self.media_ms, {"prompts": self._idle_prompts})
        self._spawn(self._say_prompt(self.config.idle_prompt, "idle"))

    async def _end_with_goodbye(self, reason: str) -> None:
        self.ending = True
        utt = self._utt
        if utt is not None and utt.has_audio and not utt.reported:
            await self._cancel_task()
            heard_pos = await self.pacer.clear()
            self._commit(utt, utt.heard_text(heard_pos))
            await self._report_agent(utt, interrupted=True, heard_pos=heard_pos)
        else:
            await self._cancel_task()
        self._pending.clear()
        if self.turns.state is not TurnState.LISTENING:
            self.turns.on(TurnEvent.BARGE_IN)
        self._spawn(self._goodbye(reason))

    async def _goodbye(self, reason: str, *, voicemail: bool = False) -> None:
        utt = self._new_utterance("goodbye")
        try:
            await self._speak(utt, self.config.goodbye)
        except _Failure as failure:
            await self._error(failure)
        if utt.has_audio:
            await self._finish_speaking(utt)
        await self._report(self.reporter.end_call(reason, voicemail=voicemail))

    # -- failures ------------------------------------------------------------------------------------
    async def _recover(self, failure: _Failure, utt: _Utterance | None, *, already_tried_voices: bool = False) -> None:
        """Report the failure, then apologise (the fallback voice if TTS broke). After too many
        failures in a row, or with no voice left, hand the caller to voicemail."""
        log.warning("provider failure: %s", failure)
        await self._error(failure)
        self._failures += 1
        if self._failures >= self._max_failures or already_tried_voices:
            await self._voicemail(utt)
            return
        utt = utt or self._new_utterance("apology")
        try:
            tts_broke = failure.role in ("tts", "fallback_tts")
            await self._speak(utt, self.config.apology, fallback_first=tts_broke)
        except _Failure as second:
            await self._error(second)
            await self._voicemail(utt)
            return
        await self._finish_speaking(utt)

    async def _voicemail(self, utt: _Utterance | None) -> None:
        self.ending = True
        if utt is not None and utt.has_audio and not utt.reported:
            await self._finish_speaking(utt)  # let what was said play out first
        self._done_speaking()
        await self._report(self.reporter.end_call("provider_failure", voicemail=True))

    @staticmethod
    async def _join_worker(worker: asyncio.Task[None]) -> None:
        await worker  # re-raises the worker's _Failure

    async def _error(self, failure: _Failure) -> None:
        await self.reporter.event("error", self.media_ms, {"role": failure.role, "message": failure.message})

    async def _timed(self, role: str, awaitable: Awaitable[T], seconds: float) -> T:
        try:
            async with asyncio.timeout(seconds):
                return await awaitable
        except Exception as exc:
            raise _Failure(role, exc) from exc

    # -- tasks ---------------------------------------------------------------------------------------
    def _idle(self) -> bool:
        return self._task is None or self._task.done()

    def _spawn(self, coro: Awaitable[None]) -> None:
        self._task = asyncio.get_running_loop().create_task(self._guard(coro))

    async def _guard(self, coro: Awaitable[None]) -> None:
        try:
            await coro
            # Whatever the caller said while we were busy is answered now, in order.
            while self._pending and self._can_take_pending():
                await self._turn(self._pending.popleft())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or a broken reporter: say so on the timeline, keep listening
            log.exception("agent task failed")
            with contextlib.suppress(Exception):
                await self.reporter.event("error", self.media_ms, {"role": "agent", "message": repr(exc)})
            if self.turns.state is not TurnState.LISTENING:
                self.turns.on(TurnEvent.DONE)

    def _can_take_pending(self) -> bool:
        return not (self.ending or self.stopped) and self.turns.state is TurnState.LISTENING

    async def _cancel_task(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            await _cancel(task)

    @staticmethod
    async def _report(awaitable: Awaitable[T]) -> T:
        # A barge-in may cancel the turn; the CRM write it started still completes.
        return await asyncio.shield(awaitable)


def _assistant_tool_message(text: str, calls: list[ToolCall]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments, ensure_ascii=False)},
            }
            for call in calls
        ],
    }


def _ms_since(t0: float) -> int:
    return round((asyncio.get_running_loop().time() - t0) * 1000)


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def _aclose(stream: AsyncIterator[Any]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()
