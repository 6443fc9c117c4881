from voice.audio.frames import FRAME_BYTES, FRAME_MS, MULAW_SILENCE, SAMPLE_RATE, Framer, frames_to_ms


def test_constants_describe_twilio_audio():
    assert (FRAME_BYTES, FRAME_MS, SAMPLE_RATE, MULAW_SILENCE) == (160, 20, 8000, b"\xff")


def test_whole_frames_come_out_in_order_whatever_the_chunking():
    data = bytes(i % 256 for i in range(1000))
    framer = Framer()
    out = b""
    for size in (1, 99, 200, 7, 333, 360):
        chunk, data_rest = data[:size], data[size:]
        data = data_rest
        got = framer.push(chunk)
        assert len(got) % FRAME_BYTES == 0
        out += got
    assert out == bytes(i % 256 for i in range(960))
    assert framer.pending == 40


def test_flush_pads_the_tail_with_mulaw_silence():
    framer = Framer()
    assert framer.push(b"\x01" * 170) == b"\x01" * 160
    tail = framer.flush()
    assert tail == b"\x01" * 10 + b"\xff" * 150
    assert framer.flush() == b""


def test_frames_splits_into_160_byte_pieces():
    framer = Framer()
    frames = framer.frames(b"\x02" * 500)
    assert [len(f) for f in frames] == [160, 160, 160]
    assert framer.pending == 20


def test_duration_of_mulaw_bytes():
    assert frames_to_ms(160) == 20
    assert frames_to_ms(8000) == 1000
