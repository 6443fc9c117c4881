"""The tape spooled as the call goes (chunks in storage, off the event loop) and the socket's liveness stamp."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

from crm.models import Call
from crm.services import ensure_default_business
from voice import call_tape
from voice.audio.tape import CallTape
from voice.stream_liveness import StreamHeartbeat
from voice.tape_spool import TapeSpool

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def close_thread_connections():
    yield
    await sync_to_async(connections.close_all)()  # the database thread's connection must not outlive the test


FRAME = 160  # 20 ms


@pytest.fixture(autouse=True)
def no_raw_tape_left_behind():
    """Call ids come round again in later tests (rolled-back rows): a raw tape left here would join theirs."""
    yield
    shutil.rmtree(Path(settings.MEDIA_ROOT) / call_tape.RAW_TAPE_DIR, ignore_errors=True)


def frame(i: int) -> bytes:
    return bytes([i % 200]) * FRAME


@sync_to_async
def new_call() -> Call:
    return Call.objects.create(call_sid="CA0000000000000000000000000spool", business=ensure_default_business())


async def test_chunks_are_written_every_chunk_interval_and_the_rest_on_close():
    call = await new_call()
    tape = CallTape()
    spool = TapeSpool(call.pk, tape, chunk_ms=1000)
    for i in range(60):  # 1.2 s of caller audio; the agent answers after 300 ms
        tape.inbound(frame(i))
        if i == 15:
            tape.outbound(b"\x01" * 8 * 500)
        spool.tick()
    assert tape.held_ms == 200  # one second taken off the tape already
    await asyncio.sleep(0.5)  # written by the spool's thread meanwhile, not by us
    assert await sync_to_async(call_tape.spooled_chunks)(call.pk) == [(0, call_tape.chunk_name(call.pk, 0))]

    await spool.close()

    assert spool.chunks_written == 2 and spool.write_errors == 0 and tape.held_ms == 0
    caller, agent = await sync_to_async(call_tape.read_tape)(call.pk)
    assert caller == b"".join(frame(i) for i in range(60))
    assert agent == b"\xff" * 8 * 320 + b"\x01" * 8 * 500 + b"\xff" * 8 * 380


async def test_a_failed_write_is_counted_and_the_call_goes_on(settings, tmp_path):
    call = await new_call()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the media folder should be")
    settings.MEDIA_ROOT = str(blocker)
    tape = CallTape()
    spool = TapeSpool(call.pk, tape, chunk_ms=100)
    for i in range(10):
        tape.inbound(frame(i))
        spool.tick()
    await spool.close()
    assert (spool.chunks_written, spool.write_errors) == (0, 2)


async def test_the_heartbeat_stamps_the_call_at_once_then_once_per_interval():
    call = await new_call()
    heartbeat = StreamHeartbeat(call.pk, interval_s=0.5)
    seen = sync_to_async(lambda: Call.objects.get(pk=call.pk).stream_seen_at)

    heartbeat.tick()  # the first frame
    await asyncio.sleep(0.2)
    first = await seen()
    assert first is not None
    for _ in range(5):  # more frames within the interval: no more writes
        heartbeat.tick()
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    assert await seen() == first

    await asyncio.sleep(0.3)  # the interval has passed
    heartbeat.tick()
    await asyncio.sleep(0.2)
    assert await seen() > first
