"""The agent mode turned into a handler; diagnostic handlers time what they report by the call's clock."""

from __future__ import annotations

from crm.models import Business
from tests.support.agent_doubles import FakeTwilio, MemoryReporter
from voice.agent.config import AgentConfig
from voice.audio.clock import MediaClock
from voice.handlers import CallInfo, build_handler


async def feed(handler, clock: MediaClock, payloads: int) -> None:
    """As the socket does: advance the clock, then hand the payload over."""
    for _ in range(payloads):
        payload = b"\xff" * 160
        clock.advance(payload)
        await handler.media(payload)


def call_info(mode: str) -> CallInfo:
    return CallInfo(call_id=1, call_sid="CA" + "0" * 32, mode=mode, config=AgentConfig())


async def test_echo_sends_the_audio_back_and_times_dtmf_by_the_media_clock():
    clock, twilio, crm = MediaClock(), FakeTwilio(), MemoryReporter()
    handler = build_handler(call_info(Business.AgentMode.ECHO), twilio, crm, clock)
    await handler.start()
    await feed(handler, clock, 25)
    await handler.dtmf("5")
    await handler.stop()
    assert twilio.frames == 25
    assert crm.events == [("dtmf", 500, {"digit": "5"})]


async def test_sink_sends_nothing():
    clock, twilio, crm = MediaClock(), FakeTwilio(), MemoryReporter()
    handler = build_handler(call_info(Business.AgentMode.SINK), twilio, crm, clock)
    await handler.start()
    await feed(handler, clock, 10)
    await handler.dtmf("1")
    await handler.stop()
    assert twilio.log == [] and crm.events == [("dtmf", 200, {"digit": "1"})]
