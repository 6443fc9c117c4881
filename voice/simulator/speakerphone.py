"""A caller on a speakerphone: what they hear from the agent comes back on their line.

A phone on speaker (or a line with poor echo cancellation) carries the agent's voice, as Twilio played it to
the caller, back into the caller's microphone: ``level_db`` quieter (issue 12: -15 to -35 dB) and
``delay_ms`` late (60-200 ms), mixed with whatever the caller says. The agent must not take it for the
caller talking over it (``voice.agent.echo_guard``), and must still stop for a caller who does.

The echo is taken from what the caller heard at each media position (``TwilioSide.heard``: Twilio's playout,
silence where its buffer ran dry, nothing of what a ``clear`` dropped), so it follows the agent's pauses and
barge-ins as a real line would. One direct path; a room's reflections are not modelled. ``noise_dbfs`` adds
the room's and the line's hiss to every frame.
"""

from __future__ import annotations

import numpy as np

from voice.audio import mulaw

MAX_DELAY_MS = 1000  # a second late is no speakerphone: a satellite hop, not a room


class Speakerphone:
    def __init__(self, level_db: float, delay_ms: int = 120, *, noise_dbfs: float | None = None, seed: int = 0) -> None:
        if level_db > 0:
            raise ValueError(f"a speakerphone's echo is quieter than the agent's voice: level_db {level_db} > 0")
        if not 0 <= delay_ms <= MAX_DELAY_MS:
            raise ValueError(f"the echo's delay is 0 to {MAX_DELAY_MS} ms, not {delay_ms}")
        if noise_dbfs is not None and noise_dbfs >= 0:
            raise ValueError(f"the line's hiss is below full scale (0 dBFS), not {noise_dbfs:g} dBFS")
        self.level_db = level_db
        self.delay_ms = delay_ms
        self._gain = 10 ** (level_db / 20)
        self._delay = delay_ms * 8  # samples (one mu-law byte each)
        # The room's and the line's hiss, on every frame (None: a line silent between words, as some apps make
        # it; there what a canceller leaves of a loud echo stands above the silence).
        self.noise_dbfs = noise_dbfs
        self._noise_rms = None if noise_dbfs is None else 32768 * 10 ** (noise_dbfs / 20)
        self._rng = np.random.default_rng(seed)

    def mix(self, frame: bytes, heard: bytes | bytearray, position: int) -> bytes:
        """The caller's ``frame`` (mu-law, starting at media ``position``) with what they heard ``delay_ms``
        earlier coming back under it. ``heard``: what the caller heard, aligned to the stream's start (it may
        end before this frame's echo does: nothing more had played)."""
        start = position - self._delay
        offset = max(0, -start)  # samples of the frame whose echo would come from before the stream began
        back = heard[start + offset : start + len(frame)] if start + len(frame) > 0 else b""
        if not back and self._noise_rms is None:
            return frame
        mixed = mulaw.decode(frame).astype(np.float64)
        if back:
            mixed[offset : offset + len(back)] += mulaw.decode(back) * self._gain
        if self._noise_rms is not None:
            mixed += self._rng.normal(0.0, self._noise_rms, len(mixed))
        return mulaw.encode(np.clip(np.round(mixed), -32768, 32767).astype(np.int16))
