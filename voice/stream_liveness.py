"""Which calls have a live media stream somewhere: the socket stamps ``Call.stream_seen_at`` every few seconds
while frames arrive, so a stamp older than a grace period means no process is serving the call any more
(``voice.reconciler`` acts on that).

The stamp is one UPDATE every ``STREAM_HEARTBEAT_SECONDS`` per call, started from the frame path without
waiting for it (the frame path only compares two numbers), and skipped while the previous one is still
queued behind the call's other writes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

from channels.db import database_sync_to_async
from django.utils import timezone

from crm.models import Call

log = logging.getLogger(__name__)


def mark_stream_seen(call_id: int, at: dt.datetime | None = None) -> None:
    """The call's stream is alive in this process right now."""
    Call.objects.filter(pk=call_id).update(stream_seen_at=at or timezone.now())


class StreamHeartbeat:
    """Stamps the call as streamed at most every ``interval_s`` seconds; ``tick()`` on every inbound frame."""

    def __init__(self, call_id: int, interval_s: float) -> None:
        self.call_id = call_id
        self.interval_s = interval_s
        self._due = 0.0  # the first frame stamps at once
        self._task: asyncio.Task[None] | None = None

    def tick(self) -> None:
        now = time.monotonic()
        if now < self._due:
            return
        self._due = now + self.interval_s
        if self._task is not None and not self._task.done():
            return
        self._task = asyncio.get_running_loop().create_task(self._beat())

    async def _beat(self) -> None:
        try:
            await database_sync_to_async(mark_stream_seen)(self.call_id)
        except Exception:
            log.warning("could not stamp the stream as live", exc_info=True)
