from tests.support.agent_doubles import FakeTwilio
from voice.agent.modes import EchoHandler, SinkHandler


async def test_sink_counts_and_sends_nothing():
    twilio = FakeTwilio()
    handler = SinkHandler(twilio)
    await handler.start()
    for _ in range(50):
        await handler.media(b"\x00" * 160)
    await handler.mark("m1")
    await handler.dtmf("5")
    await handler.stop()
    assert (handler.frames_in, handler.frames_out, handler.marks) == (50, 0, 1)
    assert handler.dtmf_digits == ["5"]
    assert twilio.log == []


async def test_echo_sends_back_every_payload_byte_for_byte():
    twilio = FakeTwilio()
    handler = EchoHandler(twilio)
    await handler.start()
    payloads = [bytes([i]) * 160 for i in range(10)]
    for payload in payloads:
        await handler.media(payload)
    await handler.stop()
    await handler.media(b"\x01" * 160)  # after stop: counted, not sent
    assert [p for kind, p in twilio.log] == payloads
    assert (handler.frames_in, handler.frames_out) == (11, 10)
