"""Is an uploaded file really the audio its name says? Twilio plays the voicemail recording to callers, so a
file that only *ends* in ".wav" would be silence (or an error) at the worst moment: after the agent failed.

WAVs are decoded with our own reader (voice/audio/wav.py), the one the call path uses. There is no MP3 decoder
among our dependencies, so an MP3 is checked the way a decoder starts: an optional ID3v2 tag, then a chain of
MPEG audio Layer III frames whose headers are valid and whose lengths lead from one frame to the next.
"""

from __future__ import annotations

from voice.audio.wav import WavError, parse_wav

# A whole file that is only a few frames long is fine; otherwise this many linked frames make it an MP3.
MP3_FRAMES_TO_CHECK = 4

_ID3_HEADER = 10
# Layer III bitrates in kbit/s by index (0 = "free format", 15 = invalid), MPEG-1 and MPEG-2/2.5.
_BITRATES_V1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_BITRATES_V2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
# Sample rates by version bits (0 = MPEG-2.5, 2 = MPEG-2, 3 = MPEG-1; 1 is reserved) and index (3 is reserved).
_SAMPLE_RATES = {0: (11025, 12000, 8000), 2: (22050, 24000, 16000), 3: (44100, 48000, 32000)}
_LAYER_III = 1


def is_playable_wav(data: bytes) -> bool:
    """A RIFF/WAVE file our reader decodes, with at least one sample of audio."""
    try:
        samples, rate = parse_wav(data)
    except (WavError, ValueError, IndexError):  # struct.error is a ValueError; a cut chunk can overrun
        return False
    return rate > 0 and samples.size > 0


def is_playable_mp3(data: bytes) -> bool:
    """An MPEG Layer III stream: frames that follow one another from the first byte after any ID3v2 tag."""
    position = _after_id3_tag(data)
    complete = 0
    for _ in range(MP3_FRAMES_TO_CHECK):
        if position >= len(data):
            break
        length = _mp3_frame_length(data[position : position + 4])
        if length is None:
            return False
        if position + length > len(data):
            break  # the file ends inside this frame: a cut last frame still plays
        complete += 1
        position += length
    return complete > 0


def _after_id3_tag(data: bytes) -> int:
    """Where the audio starts: after an ID3v2 tag (10-byte header, synchsafe size, optional footer)."""
    if len(data) < _ID3_HEADER or data[:3] != b"ID3":
        return 0
    size = 0
    for byte in data[6:10]:
        size = (size << 7) | (byte & 0x7F)
    footer = _ID3_HEADER if data[5] & 0x10 else 0
    return _ID3_HEADER + size + footer


def _mp3_frame_length(header: bytes) -> int | None:
    """The length in bytes of the Layer III frame this 4-byte header starts, or None if it is not one."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version = (header[1] >> 3) & 0x03
    layer = (header[1] >> 1) & 0x03
    bitrate_index = header[2] >> 4
    rate_index = (header[2] >> 2) & 0x03
    padding = (header[2] >> 1) & 0x01
    if version not in _SAMPLE_RATES or layer != _LAYER_III or bitrate_index in (0, 15) or rate_index == 3:
        return None
    bitrate = (_BITRATES_V1 if version == 3 else _BITRATES_V2)[bitrate_index] * 1000
    sample_rate = _SAMPLE_RATES[version][rate_index]
    per_frame = 144 if version == 3 else 72  # 1152 samples a frame in MPEG-1, 576 in MPEG-2/2.5
    return per_frame * bitrate // sample_rate + padding
