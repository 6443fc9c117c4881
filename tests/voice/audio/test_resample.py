import numpy as np
import pytest

from voice.audio.resample import StreamResampler, resample


def tone(freq: float, rate: int, seconds: float = 1.0, amplitude: int = 10000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def peak_hz(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal.astype(np.float64)))
    return float(np.fft.rfftfreq(signal.size, 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize(("src", "dst"), [(24000, 8000), (16000, 8000), (8000, 16000), (22050, 8000)])
def test_keeps_duration_and_pitch(src, dst):
    out = resample(tone(1000, src), src, dst)
    assert out.dtype == np.int16
    assert abs(out.size - dst) <= 2
    assert abs(peak_hz(out, dst) - 1000) < 5
    assert 8000 < np.abs(out[200:-200]).max() < 11000


def test_removes_what_the_lower_rate_cannot_carry():
    # 6 kHz is above 8 kHz's Nyquist limit: it must be filtered, not folded down to 2 kHz.
    out = resample(tone(6000, 24000), 24000, 8000)
    assert np.abs(out[200:-200]).max() < 300


def test_same_rate_is_a_copy():
    x = tone(440, 8000, 0.1)
    out = resample(x, 8000, 8000)
    assert np.array_equal(out, x) and out is not x


def test_streaming_in_chunks_matches_resampling_at_once():
    x = tone(700, 24000, 1.0)
    whole = resample(x, 24000, 8000)
    stream = StreamResampler(24000, 8000)
    # Uneven chunk sizes, like a TTS stream.
    pieces = [stream.push(x[i : i + n]) for i, n in zip(range(0, x.size, 4801), [4801] * 10, strict=False)]
    pieces.append(stream.flush())
    chunked = np.concatenate(pieces)
    assert abs(chunked.size - whole.size) <= 2
    n = min(chunked.size, whole.size)
    assert np.abs(chunked[:n].astype(np.int32) - whole[:n]).max() < 50


def test_streaming_at_equal_rates_passes_through():
    stream = StreamResampler(8000, 8000)
    x = tone(300, 8000, 0.05)
    assert np.array_equal(stream.push(x), x)
    assert stream.flush().size == 0
