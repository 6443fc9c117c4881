"""Spools a call's tape to storage as the call goes, so a crash loses only the last few seconds.

Every ``CALL_TAPE_CHUNK_SECONDS`` of media time the settled audio of both tracks is taken off the tape
(``CallTape.take``) and written as one chunk (``voice.call_tape.write_chunk``) by a small thread pool of its
own: the event loop never waits on storage, and the one shared database thread of Channels is not used.
Per frame the cost is one comparison. ``close()`` writes the rest and waits for every write, so the
recording is complete once the stream's end is handled.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from voice import call_tape
from voice.audio.tape import CallTape, TapeChunk

log = logging.getLogger(__name__)

# Shared by every call of the process: a write is a few tens of KB every few seconds per call.
_WRITERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tape-spool")


class TapeSpool:
    """Writes the settled part of ``tape`` for call ``call_id`` every ``chunk_ms`` of media time."""

    def __init__(self, call_id: int, tape: CallTape, chunk_ms: int) -> None:
        self.call_id = call_id
        self.tape = tape
        self.chunk_ms = max(20, chunk_ms)
        self.chunks_written = 0
        self.write_errors = 0
        self._pending: set[asyncio.Future[str]] = set()

    def tick(self) -> None:
        """After each inbound frame: spool once a chunk's worth of audio is settled."""
        if self.tape.held_ms >= self.chunk_ms:
            self._write(self.tape.take())

    async def close(self) -> None:
        """Spool what is left and wait until every chunk of this call is stored (or failed and was logged)."""
        if self.tape.held_ms:
            self._write(self.tape.take())
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def _write(self, chunk: TapeChunk) -> None:
        future = asyncio.get_running_loop().run_in_executor(
            _WRITERS, call_tape.write_chunk, self.call_id, chunk.start, chunk.caller, chunk.agent
        )
        self._pending.add(future)
        future.add_done_callback(self._written)

    def _written(self, future: asyncio.Future[str]) -> None:
        self._pending.discard(future)
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            self.chunks_written += 1
        else:
            # The recording keeps its timing (the builder fills the hole with silence); the call goes on.
            self.write_errors += 1
            log.error("could not spool a chunk of the call tape: %s: %s", type(exc).__name__, exc)
