"""CallTape: both sides of a call in media time, the agent's audio where Twilio actually played it."""

import itertools
import time

from voice.audio.tape import SILENCE, CallTape

FRAME = 160  # 20 ms of 8 kHz mu-law
CALLER = 0x11
A, B = 0x22, 0x33


def caller(ms: int) -> bytes:
    return bytes([CALLER]) * (ms * 8)


def agent(byte: int, ms: int) -> bytes:
    return bytes([byte]) * (ms * 8)


def silence(ms: int) -> bytes:
    return bytes([SILENCE]) * (ms * 8)


def test_inbound_audio_advances_the_media_clock():
    tape = CallTape()
    for _ in range(50):
        tape.inbound(caller(20))
    assert tape.now_ms == 1000
    caller_track, agent_track = tape.tracks()
    assert caller_track == caller(1000)
    assert agent_track == silence(1000)


def test_agent_audio_starts_at_the_media_time_it_was_sent():
    tape = CallTape()
    tape.inbound(caller(300))
    tape.outbound(agent(A, 200))
    tape.inbound(caller(700))

    _, agent_track = tape.tracks()
    assert agent_track == silence(300) + agent(A, 200) + silence(500)


def test_agent_chunks_sent_together_play_one_after_the_other():
    tape = CallTape()
    tape.inbound(caller(100))
    tape.outbound(agent(A, 200))
    tape.outbound(agent(B, 200))  # Twilio buffers it behind A
    tape.inbound(caller(600))

    _, agent_track = tape.tracks()
    assert agent_track == silence(100) + agent(A, 200) + agent(B, 200) + silence(200)


def test_audio_sent_after_the_buffer_drained_starts_at_now_not_at_the_end_of_earlier_audio():
    tape = CallTape()
    tape.outbound(agent(A, 100))
    tape.inbound(caller(400))
    tape.outbound(agent(B, 100))
    tape.inbound(caller(200))

    _, agent_track = tape.tracks()
    assert agent_track == agent(A, 100) + silence(300) + agent(B, 100) + silence(100)


def test_clear_cuts_the_agent_where_the_caller_barged_in():
    tape = CallTape()
    tape.outbound(agent(A, 2000))  # a long answer queued at once
    tape.inbound(caller(700))  # the caller talks over it
    tape.clear()  # Twilio drops the 1300 ms that had not played
    tape.inbound(caller(500))
    tape.outbound(agent(B, 100))  # the next answer starts at the new now
    tape.inbound(caller(300))

    caller_track, agent_track = tape.tracks()
    assert agent_track == agent(A, 700) + silence(500) + agent(B, 100) + silence(200)
    assert len(caller_track) == len(agent_track) == 1500 * 8


def test_clear_with_nothing_queued_changes_nothing():
    tape = CallTape()
    tape.inbound(caller(100))
    tape.outbound(agent(A, 50))
    tape.inbound(caller(100))
    tape.clear()
    tape.inbound(caller(100))
    assert tape.tracks()[1] == silence(100) + agent(A, 50) + silence(150)


def test_agent_audio_still_queued_when_the_stream_stops_was_never_heard():
    tape = CallTape()
    tape.inbound(caller(100))
    tape.outbound(agent(A, 500))
    tape.inbound(caller(100))

    caller_track, agent_track = tape.tracks()
    assert caller_track == caller(200)
    assert agent_track == silence(100) + agent(A, 100)


def test_an_empty_tape_has_two_empty_tracks():
    assert CallTape().tracks() == (b"", b"")


def test_a_minute_of_frames_costs_next_to_nothing():
    tape = CallTape()
    frame_in, frame_out = caller(20), agent(A, 20)
    started = time.process_time()
    for i in range(3000):  # one minute: a frame each way every 20 ms, a barge-in every 5 s
        tape.inbound(frame_in)
        tape.outbound(frame_out)
        if i % 250 == 0:
            tape.clear()
    tape.tracks()
    assert time.process_time() - started < 0.25


# -- taking the settled audio (what the spool writes as the call goes) -----------------------------------------
def test_takes_put_together_are_the_whole_tape():
    whole, taken = CallTape(), CallTape()
    steps = [
        ("in", caller(300)),
        ("out", agent(A, 500)),
        ("take", None),
        ("in", caller(100)),
        ("take", None),
        ("in", caller(400)),
        ("clear", None),
        ("out", agent(B, 100)),
        ("take", None),
        ("in", caller(250)),
    ]
    chunks = []
    for step, data in steps:
        for tape in (whole, taken):
            if step == "in":
                tape.inbound(data)
            elif step == "out":
                tape.outbound(data)
            elif step == "clear":
                tape.clear()
        if step == "take":
            chunks.append(taken.take())
    chunks.append(taken.take())

    assert [c.start for c in chunks] == [0, 300 * 8, 400 * 8, 800 * 8]
    assert all(c.end == n.start for c, n in itertools.pairwise(chunks))
    caller_track, agent_track = whole.tracks()
    assert b"".join(c.caller for c in chunks) == caller_track
    assert b"".join(c.agent for c in chunks) == agent_track
    assert taken.now == whole.now == 1050 * 8


def test_agent_audio_queued_past_now_survives_a_take_and_plays_on():
    tape = CallTape()
    tape.inbound(caller(100))
    tape.outbound(agent(A, 300))  # plays from 100 to 400 ms
    first = tape.take()
    tape.inbound(caller(400))

    assert first.agent == silence(100)
    assert tape.tracks()[1] == agent(A, 300) + silence(100)


def test_a_take_frees_the_settled_audio():
    tape = CallTape()
    for _ in range(50):
        tape.inbound(caller(20))
    assert tape.held_ms == 1000
    chunk = tape.take()
    assert (chunk.start, len(chunk.caller), tape.held_ms, tape.now_ms) == (0, 8000, 0, 1000)
    assert tape.take() == type(chunk)(start=8000, caller=b"", agent=b"")
