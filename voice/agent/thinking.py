"""The model's side of a call: the conversation as the LLM sees it, what we know about the caller, and
one reply at a time, streamed into sentences as it is generated, with the tool loop.

A reply is up to ``max_tool_rounds`` + 1 model calls: while the model calls tools, their results go back
to it and it is asked again; its words are spoken as they come. Tools come from the ``ToolBox`` the
session was given; what they do is reported on the timeline as ``tool_call`` events.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Protocol

from voice.agent.aio import aclose, shielded
from voice.agent.config import AgentConfig
from voice.agent.failures import Failure
from voice.agent.ports import CallReporter
from voice.agent.prompt import build_system_prompt
from voice.agent.sentences import SentenceSplitter
from voice.agent.tools import HAND_OVER, ToolBox
from voice.agent.utterance import Utterance
from voice.audio.clock import MediaClock
from voice.providers.base import LLMProvider, TextDelta, ToolCall

log = logging.getLogger(__name__)


class Voice(Protocol):
    """Where the reply's sentences go as they are completed (``speaker.ReplyVoice``)."""

    def say(self, sentence: str) -> None: ...

    @property
    def broken(self) -> bool: ...

    async def check(self) -> None: ...


class Thinker:
    def __init__(
        self,
        config: AgentConfig,
        llm: LLMProvider,
        tools: ToolBox,
        reporter: CallReporter,
        media_clock: MediaClock,
        *,
        timeout_s: float = 10.0,
        max_tool_rounds: int = 4,
    ) -> None:
        self.history: list[dict[str, Any]] = []  # the conversation as the LLM sees it (no system prompt)
        self.facts = dict(config.lead_facts)  # what we know about the caller, for the system prompt
        self.end_reason: str | None = None  # set when the model ends the call (the end_call tool)
        self.hand_over = False  # set when a tool hands the caller to a person (end_reason is then HAND_OVER)
        self._config = config
        self._llm = llm
        self._tools = tools
        self._reporter = reporter
        self._media_clock = media_clock
        self._timeout = timeout_s
        self._max_tool_rounds = max_tool_rounds

    def caller_said(self, text: str) -> None:
        self.history.append({"role": "user", "content": text})

    def commit(self, utt: Utterance, said: str) -> None:
        """Put this utterance in the LLM's history as the caller heard it."""
        if utt.committed:
            return
        utt.committed = True
        for message in utt.turn_messages:
            self.history.append({**message, "content": None} if message["role"] == "assistant" else message)
        if said:
            self.history.append({"role": "assistant", "content": said})

    def messages(self) -> list[dict[str, Any]]:
        config = self._config
        system = build_system_prompt(
            config.system_prompt, config.business, self.facts, facts_heading=config.known_facts_heading
        )
        return [{"role": "system", "content": system}, *self.history]

    async def reply(self, utt: Utterance, voice: Voice) -> None:
        """Generate the reply to the history into ``voice``, running the tools the model calls.
        Raises ``Failure`` (the LLM's, or TTS's when the voice broke)."""
        for _ in range(self._max_tool_rounds + 1):
            text, calls = await self._stream(utt, voice)
            if not calls:
                break
            utt.turn_messages.append(_assistant_tool_message(text, calls))
            for call in calls:
                result = await self._run_tool(call)
                content = json.dumps(result, ensure_ascii=False)
                utt.turn_messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
            if self.end_reason is not None:
                break

    async def _stream(self, utt: Utterance, voice: Voice) -> tuple[str, list[ToolCall]]:
        loop = asyncio.get_running_loop()
        splitter = SentenceSplitter()
        text, calls = "", []
        stream = self._llm.stream_reply(self.messages() + utt.turn_messages, self._tools.specs)
        try:
            async with asyncio.timeout(self._timeout) as deadline:
                async for event in stream:
                    deadline.reschedule(loop.time() + self._timeout)
                    utt.note_latency("llm_first_token")
                    if isinstance(event, TextDelta):
                        text += event.text
                        for sentence in splitter.feed(event.text):
                            voice.say(sentence)
                    else:
                        calls.append(event)
                    if voice.broken:
                        break  # TTS failed: stop generating, report it below
        except Exception as exc:
            raise Failure("llm", exc) from exc
        finally:
            await aclose(stream)
        for sentence in splitter.flush():
            voice.say(sentence)
        await voice.check()
        return text, calls

    async def use_tool(self, name: str, arguments: dict[str, Any], *, call_id: str) -> dict[str, Any]:
        """Run a tool on the caller's behalf, not the model's (DTMF "0" asks for a person): reported like
        the model's tool calls."""
        return await self._run_tool(ToolCall(id=call_id, name=name, arguments=arguments))

    async def _run_tool(self, call: ToolCall) -> dict[str, Any]:
        args = call.arguments or {}
        changed: dict[str, Any] = {}
        result: dict[str, Any] = {"ok": True}
        tool = self._tools.get(call.name)
        try:
            if tool is None:
                result = {"ok": False, "error": f"unknown tool {call.name}"}
            else:
                # A barge-in may cancel the turn; the CRM write the tool started still completes.
                outcome = await shielded(tool.handler(args, self._reporter))
                self.facts.update(outcome.facts)
                if outcome.changed is not None:
                    changed = result["changed"] = outcome.changed
                if outcome.end_reason is not None:
                    self.end_reason = outcome.end_reason
                if outcome.hand_over:
                    self.hand_over, self.end_reason = True, HAND_OVER
        except Exception as exc:  # the CRM refused: tell the model, keep talking
            log.exception("tool %s failed", call.name)
            result = {"ok": False, "error": str(exc)}
        payload = {"name": call.name, "arguments": args, "changed": changed, "ok": result["ok"]}
        await self._reporter.event("tool_call", self._media_clock.ms, payload)
        return result


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
