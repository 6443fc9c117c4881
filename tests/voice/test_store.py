"""The ORM side of the CallReporter: stored in the call's order without holding up the conversation, this
call's lead only, broadcast to the live page."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.utils import timezone

from crm.models import Call, CallEvent, Lead, Utterance
from crm.services import ensure_default_business
from voice.agent.ports import UtteranceRecord
from voice.store import CallStore, load_call_info

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def make_call(from_number: str = "+972501234567", with_lead: bool = True) -> Call:
    business = ensure_default_business()
    lead = Lead.objects.create(business=business, phone=from_number, name="דנה") if with_lead else None
    Lead.objects.create(business=business, phone="+972507777777", name="someone else")
    return Call.objects.create(call_sid="CA" + "1" * 32, business=business, lead=lead, from_number=from_number)


async def store_for(call: Call, ended: list[bool] | None = None) -> CallStore:
    info = await sync_to_async(load_call_info)(call.call_sid)

    async def on_end() -> None:
        if ended is not None:
            ended.append(True)

    return CallStore(info, media_ms=lambda: 1234, on_end=on_end)


async def watch_live_page(call: Call) -> Callable[[], Awaitable[dict[str, Any]]]:
    """What the call's live page is sent, message by message (a channel in its group, as a staff socket's)."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(f"call-{call.call_sid}", channel)
    return lambda: layer.receive(channel)


async def test_call_info_carries_mode_and_the_agent_configuration():
    call = await make_call()
    info = await sync_to_async(load_call_info)(call.call_sid)
    assert info.mode == "ai" and info.config.language == "he-IL"
    assert info.config.lead_facts == {"name": "דנה"}
    assert await sync_to_async(load_call_info)("CA-unknown") is None


async def test_utterances_and_events_are_stored_and_broadcast():
    call = await make_call()
    live_page = await watch_live_page(call)
    store = await store_for(call)

    await store.utterance(UtteranceRecord("caller", "שלום", 0, 900, latency={"asr": 120}))
    await store.event("greeting", 0, {"text": "היי"})
    await store.flush()

    utterance = await sync_to_async(Utterance.objects.get)(call=call)
    assert (utterance.speaker, utterance.text, utterance.end_ms, utterance.latency) == (
        "caller",
        "שלום",
        900,
        {"asr": 120},
    )
    first, second = await live_page(), await live_page()
    assert first["type"] == "call.update" and first["kind"] == "utterance" and first["data"]["text"] == "שלום"
    assert second["kind"] == "event" and second["data"]["kind"] == "greeting"


async def test_update_lead_touches_this_calls_lead_only_and_says_what_changed():
    call = await make_call()
    store = await store_for(call)
    changed = await store.update_lead({"name": "דנה", "interest": "מנוי שנתי", "note": "ביקשה הצעת מחיר"})
    assert changed == {"interest": "מנוי שנתי", "note": "ביקשה הצעת מחיר"}  # the name was already known
    await store.update_lead({"note": "שנייה"})
    lead = await sync_to_async(Lead.objects.get)(phone="+972501234567")
    assert lead.interest == "מנוי שנתי"
    assert lead.notes.count("\n") == 1 and lead.notes.startswith("[") and lead.notes.endswith("שנייה")
    other = await sync_to_async(Lead.objects.get)(phone="+972507777777")
    assert (other.interest, other.notes) == ("", "")


async def test_update_lead_creates_the_lead_when_the_call_had_none():
    call = await make_call(from_number="+972502222222", with_lead=False)
    store = await store_for(call)
    assert await store.update_lead({"name": "יוסי"}) == {"name": "יוסי"}
    stored = await sync_to_async(Call.objects.select_related("lead").get)(pk=call.pk)
    assert stored.lead.phone == "+972502222222" and stored.lead.name == "יוסי"


async def test_end_call_records_how_it_ended_then_closes_the_socket_once():
    call = await make_call()
    ended: list[bool] = []
    store = await store_for(call, ended)
    await store.end_call("goodbye")
    await store.end_call("goodbye")
    stored = await sync_to_async(Call.objects.get)(pk=call.pk)
    assert stored.outcome == "conversation" and ended == [True]
    events = await sync_to_async(list)(
        CallEvent.objects.filter(call=call, kind="hangup").values("offset_ms", "payload")
    )
    assert events == [{"offset_ms": 1234, "payload": {"reason": "goodbye", "voicemail": False}}]


async def test_end_call_to_voicemail_leaves_the_outcome_open():
    call = await make_call()
    store = await store_for(call)
    await store.end_call("provider_failure", voicemail=True)
    stored = await sync_to_async(Call.objects.get)(pk=call.pk)
    assert stored.outcome == ""


async def test_utterances_and_events_do_not_wait_for_the_database_and_keep_their_order():
    call = await make_call()
    store = await store_for(call)
    live_page = await watch_live_page(call)
    # Hold the one sync thread every database write goes through, as a busy process would.
    gate = threading.Event()
    busy = asyncio.ensure_future(sync_to_async(gate.wait)())
    await asyncio.sleep(0.05)

    async def report() -> None:
        latency = {"asr": 40}
        await store.utterance(UtteranceRecord("caller", "אחת", 0, 500, latency=latency))
        latency["asr"] = 999  # the reporter keeps what it was given at the time
        await store.event("turn", 600, {"n": 1})
        await store.utterance(UtteranceRecord("agent", "שתיים", 700, 1500))
        await store.utterance(UtteranceRecord("caller", "שלוש", 1600, 2000))

    await asyncio.wait_for(report(), 1)  # returned while no row could be written yet
    assert not busy.done()
    gate.set()
    await busy
    await store.flush()
    texts = await sync_to_async(list)(Utterance.objects.filter(call=call).order_by("pk").values_list("text", "latency"))
    assert texts == [("אחת", {"asr": 40}), ("שתיים", {}), ("שלוש", {})]
    assert await sync_to_async(CallEvent.objects.filter(call=call, kind="turn").count)() == 1
    kinds = [(await live_page())["kind"] for _ in range(4)]
    assert kinds == ["utterance", "event", "utterance", "utterance"]  # broadcast as each row is stored


async def test_update_lead_waits_its_turn_behind_earlier_rows_and_returns_what_changed():
    call = await make_call()
    store = await store_for(call)
    await store.utterance(UtteranceRecord("caller", "אני מתעניינת במנוי", 0, 900))
    assert await store.update_lead({"interest": "מנוי"}) == {"interest": "מנוי"}
    assert await sync_to_async(Utterance.objects.filter(call=call).count)() == 1  # stored before it


async def test_a_failed_write_is_logged_and_the_next_ones_are_stored(caplog):
    call = await make_call()
    store = await store_for(call)
    with caplog.at_level(logging.ERROR, logger="voice.store"):
        await store.utterance(UtteranceRecord("caller", None, 0, 900))  # type: ignore[arg-type]  # NOT NULL
        await store.utterance(UtteranceRecord("caller", "בסדר", 1000, 1900))
        await store.flush()
    assert [r.exc_info is not None for r in caplog.records] == [True]
    assert await sync_to_async(list)(Utterance.objects.filter(call=call).values_list("text", flat=True)) == ["בסדר"]


async def test_after_close_every_write_is_stored_before_it_returns():
    call = await make_call()
    store = await store_for(call)
    await store.utterance(UtteranceRecord("caller", "ביי", 0, 900))
    await store.close()
    assert await sync_to_async(Utterance.objects.filter(call=call).count)() == 1
    await store.event("stream_stopped", 1234, {})
    assert await sync_to_async(CallEvent.objects.filter(call=call, kind="stream_stopped").count)() == 1


async def test_media_time_is_stored_from_the_calls_answer():
    # The core times rows from the stream's start; the timeline counts from the answer (crm.call_events).
    # Twilio's status callback said "answered" 2 s before the stream started: every offset moves by 2 s.
    call = await make_call()
    await sync_to_async(Call.objects.filter(pk=call.pk).update)(answered_at=timezone.now() - dt.timedelta(seconds=2))
    store = await store_for(call)
    await store.stream_started("MZ" + "0" * 32, {})
    await store.utterance(UtteranceRecord("caller", "שלום", 500, 1500))
    await store.event("turn", 1600, {})
    await store.end_call("goodbye")  # at media 1234 (store_for's clock)

    offsets = dict(await sync_to_async(list)(CallEvent.objects.filter(call=call).values_list("kind", "offset_ms")))
    assert 2000 <= offsets["stream_started"] < 2500
    assert offsets["turn"] - offsets["stream_started"] == 1600
    assert offsets["hangup"] - offsets["stream_started"] == 1234
    utterance = await sync_to_async(Utterance.objects.get)(call=call)
    assert (utterance.start_ms, utterance.end_ms) == (500 + offsets["stream_started"], 1500 + offsets["stream_started"])


@contextlib.asynccontextmanager
async def event_inserts() -> AsyncIterator[list[str]]:
    """The INSERT statements into the timeline's table, as the database is asked them (on the connection of
    the one sync thread every write goes through)."""
    inserts: list[str] = []

    def count(execute, sql, params, many, context):
        if sql.startswith('INSERT INTO "crm_callevent"'):
            inserts.append(sql)
        return execute(sql, params, many, context)

    await sync_to_async(lambda: connection.execute_wrappers.append(count))()
    try:
        yield inserts
    finally:
        await sync_to_async(lambda: connection.execute_wrappers.remove(count))()


async def test_events_queued_back_to_back_are_stored_in_one_statement_in_order():
    # Under load the writer finds several events queued when its turn comes: one statement, not one each.
    call = await make_call()
    store = await store_for(call)
    live_page = await watch_live_page(call)
    async with event_inserts() as inserts:
        for n in range(5):
            await store.event("turn", 100 * n, {"n": n})
        await store.flush()
    stored = CallEvent.objects.filter(call=call).order_by("pk").values_list("payload", "offset_ms")
    assert await sync_to_async(list)(stored) == [({"n": n}, 100 * n) for n in range(5)]
    assert len(inserts) == 1
    broadcast = [(await live_page())["data"]["payload"]["n"] for _ in range(5)]
    assert broadcast == [0, 1, 2, 3, 4]  # each once stored, in order


async def test_an_event_the_database_refuses_is_logged_and_the_rest_of_its_batch_is_stored(caplog):
    call = await make_call()
    store = await store_for(call)
    with caplog.at_level(logging.ERROR, logger="voice.store"):
        async with event_inserts() as inserts:
            await store.event("turn", 100, {"n": 1})
            await store.event("turn", 2**70, {"n": 2})  # no database stores an integer that large
            await store.event("turn", 300, {"n": 3})
            await store.flush()
    assert len(inserts) == 4  # the batch, refused; then each event on its own
    assert len([r for r in caplog.records if r.exc_info is not None]) == 1
    stored = CallEvent.objects.filter(call=call).order_by("pk").values_list("payload", flat=True)
    assert await sync_to_async(list)(stored) == [{"n": 1}, {"n": 3}]
