"""How long the caller heard nothing: silence measured on what Twilio's side played, in media time.

``TwilioSide.heard_audio`` is the outbound audio placed at the position it played (silence where the
buffer ran dry). A frame counts as silence when it is quiet, whatever its cause: nothing queued, or quiet
audio we sent (a TTS's leading pause is dead air too). Positions are milliseconds of media time from the
start of the stream.
"""

from __future__ import annotations

import numpy as np

from voice.audio import mulaw
from voice.twilio.messages import FRAME_BYTES

FRAME_MS = 20
QUIET_RMS = 300.0  # linear 16-bit loudness below which a 20 ms frame is silence


def voiced_frames(heard: bytes) -> np.ndarray:
    """One boolean per whole 20 ms frame of ``heard`` mu-law: whether it is audible."""
    usable = len(heard) - len(heard) % FRAME_BYTES
    if not usable:
        return np.zeros(0, dtype=bool)
    samples = mulaw.decode(heard[:usable]).astype(np.float64).reshape(-1, FRAME_BYTES)
    return np.asarray(np.sqrt((samples**2).mean(axis=1)) > QUIET_RMS)


def longest_silence_ms(heard: bytes, start_ms: int, end_ms: int | None = None) -> int:
    """The longest run of silent frames between ``start_ms`` and ``end_ms`` (default: the last audible
    frame; silence after it, when nothing more was said, is the caller's turn, not a wait)."""
    voiced = voiced_frames(heard)
    if end_ms is None:
        audible = np.flatnonzero(voiced)
        end_ms = (int(audible[-1]) + 1) * FRAME_MS if audible.size else start_ms
    first, last = max(0, start_ms // FRAME_MS), min(len(voiced), end_ms // FRAME_MS)
    longest = run = 0
    for frame in voiced[first:last]:
        run = 0 if frame else run + 1
        longest = max(longest, run)
    if last < end_ms // FRAME_MS:  # the window runs past what was heard: silence to its end
        longest = max(longest, run + end_ms // FRAME_MS - last)
    return longest * FRAME_MS


def last_voiced_ms(audio: bytes) -> int:
    """Where the audible part of ``audio`` ends (ms), e.g. the end of the caller's words in their track."""
    audible = np.flatnonzero(voiced_frames(audio))
    return (int(audible[-1]) + 1) * FRAME_MS if audible.size else 0
