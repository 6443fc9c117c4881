"""The conversation core for one call: listen, think, speak, and let the caller interrupt.

The session orchestrates four parts and decides who holds the floor (``Turns``):
- the ``Listener`` hears every inbound frame (VAD, pre-roll, recogniser) and says when the caller spoke;
- the ``Thinker`` holds the conversation the model sees and streams a reply, running the tools it was
  handed (``ToolBox``);
- the ``Speaker`` speaks sentences as they come (TTS with a fallback voice, paced to Twilio) and knows
  what the caller heard;
- the ``Agenda`` runs one piece of work at a time and keeps what the caller said meanwhile for after.
Inbound frames drive everything (``media``): they feed the listener and trigger barge-in, idle prompts and
the call-length limit. A turn runs as one task: transcribe -> reply (LLM -> sentences -> TTS -> pacer),
with TTS running alongside the LLM so the caller hears sentence 1 while the rest is generated. While the
caller waits for that answer an ``AnswerWait`` keeps them company (fillers) and gives up after a total
deadline. Keys pressed are gathered by the ``Keypad`` into one input ("0" alone asks for a person, when the
session was handed a tool that hands over). Provider failures end in speech (an
apology, the fallback voice, ready audio) or in voicemail. What happened is reported through the
``CallReporter`` as soon as it happens, timed by the call's ``MediaClock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from voice import metrics
from voice.agent.agenda import Agenda
from voice.agent.aio import shielded
from voice.agent.config import AgentConfig
from voice.agent.echo_guard import EchoGuard
from voice.agent.failures import Failure, report_failure
from voice.agent.interruption import WORDS_WAIT_S, TalkOver, Verdict, callers_part
from voice.agent.keypad import Keypad, asks_for_a_person
from voice.agent.listener import CallerInput, Listener
from voice.agent.ports import CallReporter, MediaSink, UtteranceRecord
from voice.agent.ready_audio import ReadyAudio
from voice.agent.sentences import split_sentences
from voice.agent.speaker import ReplyVoice, Speaker
from voice.agent.thinking import Thinker
from voice.agent.tools import CORE_TOOLS, HAND_OVER, ToolBox
from voice.agent.turns import TurnEvent, Turns, TurnState
from voice.agent.utterance import Utterance
from voice.agent.vad import NoiseDropped, SpeechEnded, VadEvent
from voice.agent.voicing import Voicing
from voice.agent.waiting import DEFAULT_DEADLINES, AnswerWait, Fillers, ResponseDeadlines
from voice.audio.clock import MediaClock
from voice.audio.frames import FRAME_MS
from voice.audio.lateness import Lateness
from voice.audio.pacer import DEFAULT_LEAD_MS, Clock, LoopClock
from voice.audio.playing_at_capture import PlayingAtCapture
from voice.providers.base import Providers

log = logging.getLogger(__name__)


class AgentSession:
    """Implements ``StreamHandler`` for one call."""

    def __init__(
        self,
        config: AgentConfig,
        providers: Providers,
        sink: MediaSink,
        reporter: CallReporter,
        *,
        tools: ToolBox | None = None,  # the edge's tools (CRM writes); end_call is always there
        media_clock: MediaClock | None = None,
        clock: Clock | None = None,  # the pacer's (wall-time) clock
        lead_ms: int = DEFAULT_LEAD_MS,
        asr_timeout_s: float = 10.0,
        llm_timeout_s: float = 10.0,
        tts_timeout_s: float = 10.0,
        max_tool_rounds: int = 4,
        max_failures: int = 3,
        deadlines: ResponseDeadlines | None = DEFAULT_DEADLINES,  # None: no fillers, no total deadline
        ready: ReadyAudio | None = None,  # fillers and the apology, synthesised ahead (shared per process)
        voicing: Voicing | None = None,  # the caller's VAD votes (None: webrtcvad alone)
        echo_guard: bool = True,  # False: no guard (to measure it): our echo is the caller's, talk-over is not eager
        frames_in_real_time: bool = False,  # the edge's frames come as Twilio captured them (not a harness's)
    ) -> None:
        self.config = config
        self.reporter = reporter
        self.turns = Turns()
        # The edge that receives the audio owns the media clock and advances it; a session built without
        # one (unit tests, benchmarks) is its own edge.
        self._owns_clock = media_clock is None
        self.media_clock = media_clock = media_clock if media_clock is not None else MediaClock()
        self.clock: Clock = clock or LoopClock()  # wall time: the pacer's and the response deadlines'
        tools = ((tools or ToolBox()) + CORE_TOOLS).offered_to(config)
        self._hand_over_tool = tools.hand_over_tool  # None: nobody to hand the caller to
        self.thinker = Thinker(
            config,
            providers.llm,
            tools,
            reporter,
            media_clock,
            timeout_s=llm_timeout_s,
            max_tool_rounds=max_tool_rounds,
        )
        self.speaker = Speaker(
            config,
            providers,
            sink,
            reporter,
            media_clock,
            on_first_audio=self._holding_the_floor,
            on_heard=self.thinker.commit,
            clock=self.clock,
            lead_ms=lead_ms,
            tts_timeout_s=tts_timeout_s,
            ready=ready,
            on_queued=self._our_audio_queued if echo_guard else None,
            measure_late=frames_in_real_time,
        )
        self.pacer = self.speaker.pacer
        # Our own voice coming back on the line is not the caller: the guard hears what the speaker sends, and
        # asks, on every inbound frame, what played when that frame was captured (``PlayingAtCapture``: the
        # pacer's answer, carried forward by media time while it holds). The edge's frames
        # come 20 ms apart as Twilio captures them, so how late one is handled can be told (``Lateness``), and
        # Twilio's marks tell how much later than the pacer's estimate it plays our audio (``PlayedLate``); a
        # harness feeds frames at its own pace, with no such timing, and they are taken as captured when handled.
        self.lateness = Lateness(media_clock, self.clock) if frames_in_real_time else None
        self._guard_learned_late = 0.0  # the play-out delay the guard's frames were lined up by as it last started over
        playing = (
            PlayingAtCapture(self.pacer, self.lateness, media_clock, self.clock)
            if self.lateness is not None
            else self.pacer.playing_ms
        )
        self._echo = echo = EchoGuard(playing) if echo_guard else None
        transcriber = providers.asr.new_transcriber(config.language)
        self.listener = Listener(
            config, transcriber, media_clock, reporter, asr_timeout_s=asr_timeout_s, voicing=voicing, echo=echo
        )
        self.deadlines = deadlines
        self.fillers = Fillers(config.fillers)
        self.keypad = Keypad(pause_ms=config.dtmf_pause_ms, max_keys=config.dtmf_max_keys)
        self.talk_over = TalkOver()
        self._paused_at_ms = 0  # media time of the pause the caller's voice caused
        self._words_check: asyncio.Task[None] | None = None  # a paused agent waiting for the caller's words
        self._voice: ReplyVoice | None = None
        self._answering: CallerInput | None = None  # what the turn under way answers
        self.agenda: Agenda[CallerInput] = Agenda(answer=self._turn, may_answer=self._may_answer, crashed=self._crashed)
        self._max_failures = max_failures
        self._failures = 0
        self._idle_prompts = 0
        self._quiet_since_ms = 0
        self._ending = False  # a goodbye or voicemail is under way
        self.started = False
        self.stopped = False
        self.marks_in = 0

    def _our_audio_queued(self, frames: bytes, position_ms: int) -> None:
        """The pacer queued our audio: the guard keeps it to compare the caller's line with."""
        assert self._echo is not None  # only handed to the pacer with a guard
        self._echo.sent(frames, position_ms)

    @property
    def media_ms(self) -> int:
        return self.media_clock.ms

    @property
    def history(self) -> list[dict[str, Any]]:
        """The conversation as the LLM sees it (no system prompt)."""
        return self.thinker.history

    @property
    def ending(self) -> bool:
        return self._ending or self.thinker.end_reason is not None

    @property
    def busy(self) -> bool:
        """A turn, prompt or goodbye is in progress."""
        return not self.agenda.idle

    # -- StreamHandler -------------------------------------------------------------------------------
    async def start(self) -> None:
        if self.started or self.stopped:
            return  # the greeting is spoken once per call, whatever the edge does
        self.started = True
        await self.reporter.event("greeting", self.media_ms, {"text": self.config.greeting})
        self.agenda.start(self._say_prompt(self.config.greeting, "greeting"))

    async def media(self, payload: bytes) -> None:
        if self.stopped:
            return
        if self._owns_clock:
            self.media_clock.advance(payload)
        for event in await self.listener.hear(payload):
            await self._heard(event)

    async def mark(self, name: str) -> None:
        self.marks_in += 1
        # A mark follows on the socket the frames Twilio captured before it: it was sent as the latest was.
        self.pacer.on_mark(name, at=None if self.lateness is None else self.lateness.captured_at())
        late = self.pacer.played_late.seconds
        guard = self._echo if self.lateness is not None else None  # it reads the pacer as played late
        if guard is not None and guard.moved(round((late - self._guard_learned_late) * 1000)):
            self._guard_learned_late = late

    async def dtmf(self, digit: str) -> None:
        if self.stopped:
            return
        await self.reporter.event("dtmf", self.media_ms, {"digit": digit})
        if self.ending:
            return
        self._idle_prompts = 0
        self._quiet_since_ms = self.media_ms
        if self._interruptible() and not self.keypad.collecting:  # an input's first key interrupts us
            await self._barge_in("dtmf")
        if (keys := self.keypad.press(digit, self.media_ms)) is not None:
            await self._keys(keys)

    def stream_facts(self) -> dict[str, int]:
        """How late Twilio played our audio, by its marks (``played_late_ms``; left out when no mark came back
        to say): the operators' histogram has every call's, this is the call's own, next to its pauses."""
        if not self.pacer.played_late.measured:
            return {}
        return {"played_late_ms": round(self.pacer.played_late.seconds * 1000)}

    async def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self.pacer.played_late.measured:
            metrics.played_late(self.pacer.played_late.seconds)
        self.talk_over.reset()
        await self._cancel_words_check()
        await self.agenda.cancel()
        await self.speaker.close()
        with contextlib.suppress(Exception):
            await self.listener.close()

    # -- the caller ----------------------------------------------------------------------------------
    async def _heard(self, event: VadEvent | None) -> None:
        """After each inbound frame: an utterance ended, the caller talks over us, or time passed."""
        listener = self.listener
        if self._answering is not None and self._caller_may_go_on():
            await self._caller_goes_on()
        verdict = self.talk_over.heard(
            event,
            talks_over_us=listener.talks_over_us(),
            speech_ms=listener.speech_ms(),
            speaking=self._interruptible(),
        )
        if verdict is Verdict.PAUSE:
            await self._pause()
        elif verdict is Verdict.STOP:
            await self._stop_for_the_caller()
            if isinstance(event, SpeechEnded):
                await self._end_of_speech(event)
        elif verdict is Verdict.RESUME:
            await self._resume(text="", noise=isinstance(event, NoiseDropped))
        elif verdict is Verdict.WORDS and isinstance(event, SpeechEnded):
            self._check_words(event)
        elif isinstance(event, SpeechEnded) and self.talk_over.awaiting_words:
            # The caller went on while we wait for the words of what paused us: answer it after.
            self._take(self.listener.take_input(event))
        elif isinstance(event, SpeechEnded):
            await self._end_of_speech(event)

        now = self.media_ms
        if listener.in_speech:
            self._quiet_since_ms = now
        if self.keypad.collecting and (keys := self.keypad.due(now)) is not None and not self.ending:
            await self._keys(keys)
        if now >= self.config.max_call_ms and not self.ending:
            await self._end_with_goodbye("max_duration")
        elif (
            not self.ending
            and self.turns.state is TurnState.LISTENING
            and not listener.in_speech
            and self.agenda.idle
            and now - self._quiet_since_ms >= self.config.idle_prompt_ms
        ):
            await self._on_idle()

    async def _end_of_speech(self, speech: SpeechEnded) -> None:
        item = self.listener.take_input(speech)
        self._idle_prompts = 0
        self._quiet_since_ms = self.media_ms
        if self.ending:
            return
        state = self.turns.state
        if state is TurnState.LISTENING or (state is TurnState.THINKING and not self.speaker.playing):
            # While thinking, the caller went on talking: answer that too, right after.
            self._take(item)
        # Otherwise it was too short to interrupt us (a "mm-hm" while we speak): ignored.

    async def _keys(self, keys: str) -> None:
        """A whole keypad input: a person when the caller asks for one and there is one, else the model."""
        if asks_for_a_person(keys) and self._hand_over_tool is not None:
            await self._end_with_goodbye(HAND_OVER)
        else:
            self._take(CallerInput(dtmf=keys))

    def _take(self, item: CallerInput) -> None:
        if self.agenda.idle and self.turns.state is TurnState.LISTENING:
            self.agenda.start(self._turn(item))
        else:
            self.agenda.wait(item)  # taken up when the running work ends

    # -- turns ---------------------------------------------------------------------------------------
    async def _turn(self, item: CallerInput) -> None:
        self._answering = item
        try:
            await self._answer(item)
        finally:
            if self._answering is item:
                self._answering = None

    async def _answer(self, item: CallerInput) -> None:
        self.turns.on(TurnEvent.END_OF_UTTERANCE)
        latency: dict[str, int] = {}
        if item.speech is not None:
            latency["eos_ms"] = item.speech.end_ms
        wait = self._answer_wait()
        utt: Utterance | None = None
        try:
            async with wait or contextlib.nullcontext():
                said = await self.listener.words(item, latency)
                if said is None:
                    self._done_speaking()
                    return
                self.thinker.caller_said(said)
                utt = self.speaker.new_utterance("reply")
                utt.t0, utt.latency = item.decided_at, latency
                await self._generate(utt)
        except Failure as failure:
            self._answering = None  # the recovery (its event, the apology) is not to be cut short
            await self._recover(failure, utt, wait=wait)
            return
        self._failures = 0
        if utt.has_audio:
            await self._finish_speaking(utt)
        else:
            self.thinker.commit(utt, utt.text)
            await self.speaker.report_turn(utt, interrupted=False)
            self._done_speaking()
        if self.thinker.end_reason is not None:
            await shielded(self.reporter.end_call(self.thinker.end_reason))

    async def _generate(self, utt: Utterance) -> None:
        """The reply, spoken as it is generated, until all its audio is queued; raises ``Failure``."""
        voice = self._voice = self.speaker.reply_voice(utt)
        try:
            await self.thinker.reply(utt, voice)
            if self.thinker.end_reason is not None:
                closing = self.config.transfer_line if self.thinker.hand_over else self.config.goodbye
                for sentence in split_sentences(closing):
                    voice.say(sentence)
            await voice.finish()
        finally:
            self._voice = None
            await voice.cancel()

    def _answer_wait(self) -> AnswerWait | None:
        if self.deadlines is None:
            return None
        parts = (self.clock, self.speaker, self.fillers, self.reporter, self.media_clock)
        return AnswerWait(self.deadlines, *parts, waiting_for=self._waiting_for)

    def _waiting_for(self) -> str:
        """What the answer being made waits on now."""
        if self._voice is not None and self._voice.unspoken:
            return "tts"
        return "asr" if self.listener.transcribing else "llm"

    async def _say_prompt(self, text: str, kind: str) -> None:
        utt = self.speaker.new_utterance(kind)
        budget_s = self.deadlines.first_ms / 1000 if self.deadlines is not None else None
        try:
            await self.speaker.speak_prompt(utt, text, budget_s=budget_s)
        except Failure as failure:
            await self._recover(failure, utt, already_tried_voices=True)
            return
        finally:
            if kind == "greeting" and (ready := self.speaker.ready) is not None:  # made while it plays
                config = self.config
                ready.prepare([*config.fillers, config.apology], voice=config.voice, language=config.language)
        await self._finish_speaking(utt)

    async def _finish_speaking(self, utt: Utterance) -> None:
        await self.speaker.finish(utt)
        self._done_speaking()

    def _holding_the_floor(self) -> None:
        if self.turns.state is not TurnState.SPEAKING:
            self.turns.on(TurnEvent.AUDIO)

    def _done_speaking(self) -> None:
        if self.turns.state is not TurnState.LISTENING:
            self.turns.on(TurnEvent.DONE)
        self._quiet_since_ms = self.media_ms

    # -- the caller goes on ----------------------------------------------------------------------------
    def _caller_may_go_on(self) -> bool:
        """The caller speaks again after a pause we took for the end of an utterance, for longer than a
        noise lasts (a cough leaves the answer alone), and our answer is still only being made: its words
        are not in yet and nothing of ours plays."""
        item, config = self._answering, self.config
        return (
            item is not None
            and item.speech is not None
            and self.listener.past_a_noise
            and not item.transcribed
            and item.transcript is None  # not a talk-over's words, which a check of its own awaits
            and not item.speech.forced  # cut at the longest utterance: what follows is an utterance of its own
            and self.media_ms - item.speech.start_ms < config.max_utterance_ms
            and self.turns.state is TurnState.THINKING
            and not self.agenda.waiting  # nothing the caller said after it waits to be answered
            and not self.ending
            and not self.speaker.playing
            and self.speaker.ahead_ms() == 0  # no filler either
        )

    async def _caller_goes_on(self) -> None:
        """The pause was inside the caller's utterance (Silero's reading of a pause can run up to the
        silence setting on a quiet onset or in noise): answering its first half would talk over the rest
        and then answer twice. The answer under way is dropped (it had said nothing) and the utterance
        goes on: it ends, is transcribed and answered as one."""
        item = self._answering
        assert item is not None and item.speech is not None
        pause_ms = max(0, self.listener.vad.speech_start_ms - item.speech.end_ms)  # as the VAD heard it
        await self.agenda.cancel()
        self._answering = None
        self._done_speaking()
        self.listener.go_on(item)
        await self.reporter.event("went_on", self.media_ms, {"pause_ms": pause_ms})

    # -- interruptions and endings --------------------------------------------------------------------
    def _interruptible(self) -> bool:
        if self.ending or self.stopped:
            return False
        state = self.turns.state
        return state is TurnState.SPEAKING or (state is TurnState.THINKING and self.speaker.playing)

    async def _pause(self) -> None:
        """The caller talks over us: stop at once, keeping what they did not hear (``TalkOver``)."""
        self._paused_at_ms = self.media_ms
        await self.speaker.pause()

    async def _resume(self, *, text: str, noise: bool = False, echo: bool = False) -> None:
        """It was a "כן", a noise or our own echo: go on from where we paused (a ``resumed`` event)."""
        self.speaker.resume()
        payload: dict[str, Any] = {"paused_ms": self.media_ms - self._paused_at_ms, "text": text}
        if noise or echo:
            payload = {"paused_ms": payload["paused_ms"], "noise" if noise else "echo": True}
        await self.reporter.event("resumed", self.media_ms, payload)

    async def _stop_for_the_caller(self) -> None:
        """The caller takes the floor: a barge-in, when there is still something of ours to stop. When
        there is not (our words ended during the pause, or a closing is under way, which nothing cuts),
        whatever the pause held goes out again."""
        if self._interruptible() and not self.ending:
            await self._barge_in("speech")
        else:
            self.talk_over.reset()
            self.speaker.resume()

    def _check_words(self, speech: SpeechEnded) -> None:
        """We paused for an utterance that has now ended: its words say whether to go on. The recogniser
        runs as a task of its own (inbound audio keeps flowing); a turn that answers the utterance awaits
        the same task, so nothing is transcribed twice."""
        item = self.listener.take_input(speech)
        self._idle_prompts = 0
        self._quiet_since_ms = self.media_ms
        assert item.audio is not None
        item.transcript = transcript = asyncio.get_running_loop().create_task(self.listener.transcribe(item.audio))
        # Its failure is the answering turn's to report; when no turn awaits it, it must not be logged as lost.
        transcript.add_done_callback(lambda t: t.cancelled() or t.exception())
        self._words_check = asyncio.get_running_loop().create_task(self._decide_on_words(item))

    async def _decide_on_words(self, item: CallerInput) -> None:
        assert item.transcript is not None and item.speech is not None
        try:
            done, _ = await asyncio.wait({item.transcript}, timeout=WORDS_WAIT_S)
            text: str | None = None
            if done and not item.transcript.cancelled() and item.transcript.exception() is None:
                text = item.transcript.result().strip()
            if self.stopped:
                return
            if not self.talk_over.awaiting_words:  # we stopped meanwhile (keys): answer it as usual, if anything
                if text != "" and not self.ending:
                    self._take(item)
                return
            ours = self.speaker.utterance.text if self.speaker.utterance is not None else ""
            if self.talk_over.words(text, ours=ours) is Verdict.RESUME:
                await self._words_say_go_on(item, text or "", ours)
                return
            await self._stop_for_the_caller()
            if not self.ending:
                self._take(item)
        finally:
            if self._words_check is asyncio.current_task():
                self._words_check = None
            if self.speaker.pacer.paused and not self.talk_over.paused and not self.stopped:
                self.speaker.resume()  # whatever happened above, a settled talk-over never leaves us mute

    async def _words_say_go_on(self, item: CallerInput, text: str, ours: str) -> None:
        """A "כן", no words, or our own echo. Said after our words had ended (a question's answer), it is
        answered like any utterance; said while the caller is talking again, we stay paused for that."""
        assert item.speech is not None
        said = callers_part(text)
        if said and self._said_it_all():
            self.speaker.resume()
            if not self.ending:
                self._take(item)
            return
        if said:  # in the transcript, though it asks for no answer
            record = UtteranceRecord("caller", said, item.speech.start_ms, item.speech.end_ms)
            await shielded(self.reporter.utterance(record))
        if self.listener.in_speech:
            self.talk_over.hold()
            return
        await self._resume(text=said, echo=bool(text) and not said)

    def _said_it_all(self) -> bool:
        """Our words have all been heard: the utterance ended, or nothing of it is left to send and no more
        is coming (only Twilio's echo of its last mark is awaited)."""
        if not self._interruptible():
            return True
        return self._voice is None and self.speaker.pacer.held_ms() <= FRAME_MS

    async def _cancel_words_check(self) -> None:
        task, self._words_check = self._words_check, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _barge_in(self, cause: str) -> None:
        self.talk_over.reset()
        utt = self.speaker.utterance
        await self.agenda.cancel()
        heard_pos = await self.speaker.clear()
        payload: dict[str, Any] = {"cause": cause}
        if utt is not None and utt.unreported_audio:
            payload |= await self.speaker.cut_short(utt, heard_pos)
        await self.reporter.event("barge_in", self.media_ms, payload)
        if self.turns.state is not TurnState.LISTENING:
            self.turns.on(TurnEvent.BARGE_IN)
        self.agenda.forget_waiting()

    async def _on_idle(self) -> None:
        self._quiet_since_ms = self.media_ms
        if self._idle_prompts >= self.config.idle_hangup_prompts:
            await self.reporter.event("idle", self.media_ms, {"prompts": self._idle_prompts, "hangup": True})
            await self._end_with_goodbye("idle")
            return
        self._idle_prompts += 1
        await self.reporter.event("idle", self.media_ms, {"prompts": self._idle_prompts})
        self.agenda.start(self._say_prompt(self.config.idle_prompt, "idle"))

    async def _end_with_goodbye(self, reason: str) -> None:
        self._ending = True
        self.talk_over.reset()
        await self._cancel_words_check()
        self.keypad.clear()
        utt = self.speaker.utterance
        await self.agenda.cancel()
        if utt is not None and utt.unreported_audio:  # cut our own words short for the goodbye
            await self.speaker.cut_short(utt, await self.speaker.clear())
        elif self.speaker.pacer.paused:  # a pause held nothing of an utterance: let the goodbye through
            await self.speaker.clear()
        self.agenda.forget_waiting()
        if self.turns.state is not TurnState.LISTENING:
            self.turns.on(TurnEvent.BARGE_IN)
        self.agenda.start(self._goodbye(reason))

    async def _goodbye(self, reason: str) -> None:
        line = self.config.goodbye
        if reason == HAND_OVER and (tool := self._hand_over_tool) is not None:  # the caller pressed "0"
            await self.thinker.use_tool(tool.name, {"reason": "caller pressed 0"}, call_id="dtmf-0")
            line = self.config.transfer_line
        utt = self.speaker.new_utterance("goodbye")
        try:
            await self.speaker.speak(utt, line)
        except Failure as failure:
            await report_failure(self.reporter, self.media_ms, failure)
        if utt.has_audio:
            await self._finish_speaking(utt)
        await shielded(self.reporter.end_call(reason))

    # -- failures ------------------------------------------------------------------------------------
    async def _recover(
        self,
        failure: Failure,
        utt: Utterance | None,
        *,
        already_tried_voices: bool = False,
        wait: AnswerWait | None = None,
    ) -> None:
        """Report the failure, then apologise (the fallback voice if TTS broke, ready audio if no voice
        answers in time). After too many failures in a row, or with no voice left, hand the caller to
        voicemail."""
        log.warning("provider failure: %s", failure)
        await report_failure(self.reporter, self.media_ms, failure)
        self._failures += 1
        if self._failures >= self._max_failures or already_tried_voices:
            await self._voicemail(utt)
            return
        utt = utt or self.speaker.new_utterance("apology")
        tts_broke = failure.role in ("tts", "fallback_tts")
        budget = wait.silence_left() if wait is not None else None  # before the caller hears dead air
        try:
            await self.speaker.apologise(utt, self.config.apology, tts_broke=tts_broke, budget_s=budget)
        except Failure as second:
            await report_failure(self.reporter, self.media_ms, second)
            await self._voicemail(utt)
            return
        await self._finish_speaking(utt)

    async def _voicemail(self, utt: Utterance | None) -> None:
        self._ending = True
        if utt is not None and utt.unreported_audio:
            await self._finish_speaking(utt)  # let what was said play out first
        self._done_speaking()
        await shielded(self.reporter.end_call("provider_failure", voicemail=True))

    # -- the agenda's callbacks -----------------------------------------------------------------------
    def _may_answer(self) -> bool:
        return not (self.ending or self.stopped) and self.turns.state is TurnState.LISTENING

    async def _crashed(self, exc: Exception) -> None:
        """A bug or a broken reporter: say so on the timeline, keep listening."""
        with contextlib.suppress(Exception):
            await self.reporter.event("error", self.media_ms, {"role": "agent", "message": repr(exc)})
        if self.turns.state is not TurnState.LISTENING:
            self.turns.on(TurnEvent.DONE)
