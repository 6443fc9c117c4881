import struct
import subprocess

import numpy as np
import pytest

from tests.support.caller_audio import HAVE_ESPEAK
from voice.audio import mulaw
from voice.audio.wav import (
    WavError,
    mulaw_to_wav,
    parse_wav,
    read_wav_8k_mono,
    stereo_wav_from_mulaw,
    wav_to_mulaw,
    write_wav,
)


def tone(rate: int, seconds: float = 0.5, freq: float = 500) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def riff(tag: int, channels: int, rate: int, bits: int, body: bytes) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def test_mono_8k_round_trip():
    x = tone(8000)
    assert np.array_equal(read_wav_8k_mono(write_wav(x)), x)


def test_stereo_16k_becomes_mono_8k():
    left = tone(16000)
    wav = write_wav(np.stack([left, left], axis=1), 16000)
    samples, rate = parse_wav(wav)
    assert (samples.shape, rate) == ((8000, 2), 16000)
    out = read_wav_8k_mono(wav)
    assert abs(out.size - 4000) <= 2
    assert 7000 < np.abs(out[100:-100]).max() < 9000


def test_reads_mulaw_wav():
    x = tone(8000)
    wav = riff(0x0007, 1, 8000, 8, mulaw.encode(x))
    assert np.array_equal(read_wav_8k_mono(wav), mulaw.decode(mulaw.encode(x)))


def test_reads_float_and_24_bit_wavs():
    x = tone(8000)
    floats = riff(0x0003, 1, 8000, 32, (x / 32768).astype("<f4").tobytes())
    assert np.abs(read_wav_8k_mono(floats).astype(np.int32) - x).max() <= 2
    as24 = b"".join(struct.pack("<i", int(v) << 8)[:3] for v in x)
    assert np.array_equal(read_wav_8k_mono(riff(0x0001, 1, 8000, 24, as24)), x)


def test_mulaw_to_wav_and_back():
    payload = mulaw.encode(tone(8000))
    wav = mulaw_to_wav(payload)
    assert wav[:4] == b"RIFF"
    assert wav_to_mulaw(wav) == payload


def test_mulaw_to_wav_can_upsample_for_recognisers():
    wav = mulaw_to_wav(mulaw.encode(tone(8000)), rate=16000)
    samples, rate = parse_wav(wav)
    assert rate == 16000 and abs(samples.shape[0] - 8000) <= 2


def test_stereo_from_two_tracks_pads_the_shorter():
    wav = stereo_wav_from_mulaw(b"\x00" * 800, b"\x80" * 400)
    samples, rate = parse_wav(wav)
    assert samples.shape == (800, 2) and rate == 8000
    assert samples[0].tolist() == [-32124, 32124]
    assert samples[799].tolist() == [-32124, 0]


def test_rejects_what_is_not_a_wav():
    with pytest.raises(WavError):
        read_wav_8k_mono(b"ID3\x04 not a wav at all")
    with pytest.raises(WavError):
        read_wav_8k_mono(riff(0x0055, 1, 8000, 16, b"\x00" * 10))  # MP3 in WAV


@pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng not installed")
def test_reads_espeak_output(tmp_path):
    path = tmp_path / "shalom.wav"
    subprocess.run(["espeak-ng", "-v", "he", "-w", str(path), "שלום"], check=True)
    samples, rate = parse_wav(path.read_bytes())
    out = read_wav_8k_mono(path.read_bytes())
    assert rate == 22050
    assert abs(out.size - round(samples.shape[0] * 8000 / 22050)) <= 2
    assert np.abs(out).max() > 1000
