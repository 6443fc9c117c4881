"""WAV files in and out of the 8 kHz mu-law world.

Python's ``wave`` module (3.11) reads integer PCM only; TTS services and Twilio also produce mu-law WAVs
and float WAVs, so a small RIFF reader handles the formats we meet.
"""

from __future__ import annotations

import io
import struct
import wave

import numpy as np

from voice.audio import mulaw
from voice.audio.frames import SAMPLE_RATE
from voice.audio.resample import resample

_PCM = 0x0001
_FLOAT = 0x0003
_MULAW = 0x0007
_EXTENSIBLE = 0xFFFE


class WavError(ValueError):
    """Not a WAV file we can read."""


def parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Read a WAV into int16 samples shaped (frames, channels) and its sample rate."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError("not a RIFF/WAVE file")
    fmt: tuple[int, int, int, int] | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = data[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt ":
            tag, channels, rate = struct.unpack_from("<HHI", body, 0)
            (bits,) = struct.unpack_from("<H", body, 14)
            if tag == _EXTENSIBLE and len(body) >= 26:
                (tag,) = struct.unpack_from("<H", body, 24)  # first two bytes of the sub-format GUID
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise WavError("data chunk before fmt chunk")
            return _decode_samples(body, *fmt), fmt[2]
        pos += 8 + size + (size & 1)  # chunks are word aligned
    raise WavError("no data chunk")


def _decode_samples(body: bytes, tag: int, channels: int, rate: int, bits: int) -> np.ndarray:
    if channels < 1:
        raise WavError("no channels")
    if tag == _MULAW and bits == 8:
        samples = mulaw.decode(body)
    elif tag == _PCM and bits == 16:
        samples = np.frombuffer(body[: len(body) // 2 * 2], dtype="<i2").astype(np.int16)
    elif tag == _PCM and bits == 8:
        samples = ((np.frombuffer(body, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    elif tag == _PCM and bits == 24:
        raw = np.frombuffer(body[: len(body) // 3 * 3], dtype=np.uint8).reshape(-1, 3)
        samples = ((raw[:, 2].astype(np.int8).astype(np.int32) << 8) | raw[:, 1]).astype(np.int16)
    elif tag == _PCM and bits == 32:
        samples = (np.frombuffer(body[: len(body) // 4 * 4], dtype="<i4") >> 16).astype(np.int16)
    elif tag == _FLOAT and bits == 32:
        floats = np.frombuffer(body[: len(body) // 4 * 4], dtype="<f4")
        samples = (np.clip(floats, -1.0, 1.0) * 32767).astype(np.int16)
    else:
        raise WavError(f"unsupported WAV encoding (format {tag:#x}, {bits} bits)")
    usable = len(samples) - len(samples) % channels
    return samples[:usable].reshape(-1, channels)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels of (frames, channels) int16 audio."""
    if samples.ndim == 1:
        return samples
    if samples.shape[1] == 1:
        return samples[:, 0].copy()
    mono: np.ndarray = samples.astype(np.int32).mean(axis=1).astype(np.int16)
    return mono


def read_wav_8k_mono(data: bytes) -> np.ndarray:
    """Any supported WAV (any rate, mono or stereo, PCM/float/mu-law) -> int16 mono 8 kHz."""
    samples, rate = parse_wav(data)
    return resample(to_mono(samples), rate, SAMPLE_RATE)


def read_wav_file_8k_mono(path: str) -> np.ndarray:
    with open(path, "rb") as f:
        return read_wav_8k_mono(f.read())


def write_wav(samples: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """16-bit PCM WAV bytes from int16 samples shaped (n,) for mono or (n, channels) e.g. stereo."""
    pcm = np.ascontiguousarray(samples, dtype=np.int16)
    channels = 1 if pcm.ndim == 1 else pcm.shape[1]
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2", copy=False).tobytes())
    return out.getvalue()


def mulaw_to_wav(payload: bytes, rate: int = SAMPLE_RATE) -> bytes:
    """8 kHz mu-law -> 16-bit PCM WAV (optionally upsampled, e.g. 16 kHz for speech recognisers)."""
    return write_wav(resample(mulaw.decode(payload), SAMPLE_RATE, rate), rate)


def wav_to_mulaw(data: bytes) -> bytes:
    """Any supported WAV -> raw 8 kHz mono mu-law (what Twilio plays)."""
    return mulaw.encode(read_wav_8k_mono(data))


def stereo_wav_from_mulaw(left: bytes, right: bytes) -> bytes:
    """Two 8 kHz mu-law tracks (e.g. caller and agent) as one stereo WAV; the shorter is padded."""
    a, b = mulaw.decode(left), mulaw.decode(right)
    n = max(len(a), len(b))
    stereo = np.zeros((n, 2), dtype=np.int16)
    stereo[: len(a), 0] = a
    stereo[: len(b), 1] = b
    return write_wav(stereo, SAMPLE_RATE)
