import numpy as np
import pytest

from voice.audio import mulaw

ALL_CODES = bytes(range(256))


@pytest.mark.parametrize(
    ("code", "sample"),
    [(0xFF, 0), (0x7F, 0), (0x00, -32124), (0x80, 32124), (0xFE, 8), (0x7E, -8), (0xEF, 132), (0x8F, 16764)],
)
def test_decodes_known_g711_values(code, sample):
    assert mulaw.decode(bytes([code]))[0] == sample


def test_decode_gives_int16_one_sample_per_byte():
    out = mulaw.decode(ALL_CODES)
    assert out.dtype == np.int16
    assert out.shape == (256,)


def test_encodes_known_values():
    pcm = np.array([0, 32124, -32124, 32767, -32768, 8, -8], dtype=np.int16)
    assert mulaw.encode(pcm) == bytes([0xFF, 0x80, 0x00, 0x80, 0x00, 0xFE, 0x7E])


def test_every_code_survives_decode_then_encode():
    again = mulaw.encode(mulaw.decode(ALL_CODES))
    # 0x7F is "negative zero" and comes back as positive zero; every other code is exact.
    expected = bytearray(ALL_CODES)
    expected[0x7F] = 0xFF
    assert again == bytes(expected)


def test_round_trip_of_a_tone_keeps_it_within_companding_error():
    t = np.arange(8000) / 8000
    tone = (12000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    back = mulaw.decode(mulaw.encode(tone)).astype(np.float64)
    noise = back - tone
    snr_db = 10 * np.log10(np.mean(tone.astype(np.float64) ** 2) / np.mean(noise**2))
    assert snr_db > 35  # G.711 gives ~38 dB on a loud tone


def test_quantisation_is_monotonic():
    x = np.arange(-32768, 32768, dtype=np.int16)
    decoded = mulaw.decode(mulaw.encode(x)).astype(np.int32)
    assert np.all(np.diff(decoded) >= 0)


def test_pcm_bytes_are_little_endian_int16():
    raw = mulaw.decode_to_pcm_bytes(b"\x00\x80\xff")
    assert np.frombuffer(raw, dtype="<i2").tolist() == [-32124, 32124, 0]


def test_encode_accepts_other_integer_arrays_and_empty_input():
    assert mulaw.encode(np.array([0, 0], dtype=np.int32)) == b"\xff\xff"
    assert mulaw.encode(np.zeros(0, dtype=np.int16)) == b""
    assert mulaw.decode(b"").size == 0


def test_frame_energies_are_the_decoded_frames_mean_squares_to_the_last_bit():
    rng = np.random.default_rng(7)
    codes = rng.integers(0, 256, size=(6, 160), dtype=np.uint8)
    decoded = mulaw.decode(codes.tobytes()).astype(np.float64).reshape(6, 160)
    assert mulaw.frame_energies(codes).tolist() == np.mean(decoded**2, axis=1).tolist()
    assert mulaw.frame_energies(np.full((1, 160), 0xFF, dtype=np.uint8)).tolist() == [0.0]  # mu-law's silence
