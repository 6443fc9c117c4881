from voice.audio.clock import MediaClock


def test_counts_inbound_audio_in_milliseconds():
    clock = MediaClock()
    assert clock.ms == 0
    for _ in range(50):
        clock.advance(b"\xff" * 160)  # Twilio's 20 ms frames
    assert clock.ms == 1000


def test_payloads_of_any_size_add_up_without_drift():
    clock = MediaClock()
    for _ in range(3):
        clock.advance(b"\xff" * 100)  # 12.5 ms each: the halves are not lost
    assert clock.ms == 37
    clock.advance(b"\xff" * 100)
    assert clock.ms == 50


def test_time_before_now():
    clock = MediaClock()
    clock.advance(b"\xff" * 480)
    assert clock.ms_before(160) == 40 and clock.ms_before(0) == clock.ms == 60
