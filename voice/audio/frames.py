"""20 ms framing of 8 kHz mu-law: Twilio's natural unit and what webrtcvad accepts."""

from __future__ import annotations

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000  # one byte per mu-law sample: 160
MULAW_SILENCE = b"\xff"  # mu-law code for 0


def frames_to_ms(nbytes: int) -> int:
    """Duration in ms of ``nbytes`` of 8 kHz mu-law."""
    return nbytes * 1000 // SAMPLE_RATE


class Framer:
    """Accumulates mu-law bytes of any chunk size and hands out whole 160-byte frames."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back because they do not make a whole frame yet."""
        return len(self._buffer)

    def push(self, data: bytes) -> bytes:
        """Add ``data``; return the whole frames now available, concatenated (possibly empty)."""
        if not self._buffer and len(data) % FRAME_BYTES == 0:
            return bytes(data)  # the common case: already framed
        self._buffer += data
        whole = len(self._buffer) - len(self._buffer) % FRAME_BYTES
        if not whole:
            return b""
        out = bytes(self._buffer[:whole])
        del self._buffer[:whole]
        return out

    def frames(self, data: bytes) -> list[bytes]:
        """Like ``push`` but split into a list of 160-byte frames."""
        chunk = self.push(data)
        return [chunk[i : i + FRAME_BYTES] for i in range(0, len(chunk), FRAME_BYTES)]

    def flush(self) -> bytes:
        """The held-back tail padded with silence to a whole frame (empty if nothing is held)."""
        if not self._buffer:
            return b""
        out = bytes(self._buffer) + MULAW_SILENCE * (FRAME_BYTES - len(self._buffer))
        self._buffer.clear()
        return out

    def reset(self) -> None:
        self._buffer.clear()
