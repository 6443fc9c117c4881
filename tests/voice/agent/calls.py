"""One call of the conversation core for the tests: the session, its scripted providers, Twilio played by
``FakeTwilio`` and the CRM by ``MemoryReporter``."""

from __future__ import annotations

from pathlib import Path

from tests.support.agent_doubles import FakeTwilio, ManualClock, MemoryReporter, until
from tests.support.caller_audio import caller_says, frames, silence
from voice.agent.config import AgentConfig
from voice.agent.session import AgentSession
from voice.agent.turns import TurnState
from voice.audio.pacer import Clock, LoopClock
from voice.providers.base import Providers
from voice.providers.fake import FakeASR, FakeLLM, FakeTTS

CONFIG = AgentConfig(idle_prompt_ms=60_000, max_call_ms=600_000)


class Call:
    """One call: the session, its providers, Twilio and the CRM."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        config: AgentConfig = CONFIG,
        asr: FakeASR | None = None,
        llm: FakeLLM | None = None,
        tts: FakeTTS | None = None,
        fallback: FakeTTS | None = None,
        clock: Clock | None = None,
        echo_marks: bool = True,
        **session_options,
    ) -> None:
        self.tmp_path = tmp_path
        self.config = config
        self.asr = asr or FakeASR(default="")
        self.llm = llm or FakeLLM()
        self.tts = tts or FakeTTS()
        self.fallback = fallback
        self.clock = clock or LoopClock(speed=50)  # audio "plays" 50x faster than real time
        self.twilio = FakeTwilio(echo_marks=echo_marks)
        self.crm = MemoryReporter()
        providers = Providers(asr=self.asr, llm=self.llm, tts=self.tts, fallback_tts=fallback)
        # The response deadlines are wall time on the pacer's clock, which runs 50x fast here: only the
        # tests about waiting turn them on (with a clock they control).
        session_options.setdefault("deadlines", None)
        self.session = AgentSession(config, providers, self.twilio, self.crm, clock=self.clock, **session_options)
        self.twilio.handler = self.session

    async def feed(self, audio: bytes) -> None:
        for frame in frames(audio):
            await self.session.media(frame)

    async def say(self, text: str, *, then_silence_ms: int = 800) -> None:
        await self.feed(caller_says(text, self.tmp_path) + silence(then_silence_ms))

    async def quiet(self) -> None:
        """Wait until the agent has finished whatever it was doing and listens again."""
        manual = self.clock if isinstance(self.clock, ManualClock) else None
        await until(lambda: not self.session.busy and self.session.turns.state is TurnState.LISTENING, clock=manual)

    async def greeted(self) -> None:
        await self.session.start()
        await self.quiet()

    def agent(self):
        return [u for u in self.crm.utterances if u.speaker == "agent"]
