"""The ORM side of ``CallReporter`` for one call: what the core reports is stored as it happens and
broadcast to the live page. Every write runs in a worker thread (``database_sync_to_async``); the event
loop never waits on the database synchronously.

The conversation does not wait on the database either: utterances and events go into a per-call queue
that one writer task stores in order (each row broadcast once stored), so ``utterance()`` and ``event()``
return at once. Under load a write waits seconds for the one shared sync thread, and the reply path
(caller utterance, then the LLM) must not wait with it. Writes whose result the caller needs
(``update_lead``, ``end_call``) go through the same queue, keeping the call's order, and await their turn.
``close()`` at the end of the stream stores everything still queued.

Time: the core reports media time (ms of audio since the stream's ``start``); the call's timeline counts
from the answer (``crm.call_events``). This store is where one becomes the other, once: it learns at the
stream's start how far that was from the answer and adds it to every offset the core (or the socket) gives.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from crm.call_events import offset_from_answer, publish_event, write_event, write_events
from crm.lead_facts import LEAD_FACT_FIELDS, apply_lead_facts
from crm.live_updates import broadcast, status_data, utterance_data
from crm.models import Call, CallEvent, Lead, Utterance
from crm.services import find_or_create_lead
from voice import calls, metrics
from voice.agent.ports import UtteranceRecord
from voice.business_config import agent_config_for
from voice.handlers import CallInfo

log = logging.getLogger(__name__)


class _Event(NamedTuple):
    """An event queued for the writer (stored with the events queued right behind it)."""

    kind: str
    payload: dict[str, Any]
    offset_ms: int


_Write = Callable[[], Awaitable[Any]] | _Event


def load_call_info(call_sid: str) -> CallInfo | None:
    """The call's mode (snapshot taken when it rang, else the business's) and agent configuration (the
    business's settings and hours as they stand now, ``voice.business_config``)."""
    call = Call.objects.select_related("business", "lead").filter(call_sid=call_sid).first()
    if call is None:
        return None
    business = call.business
    facts: dict[str, str] = {}
    if call.lead is not None:
        facts = {f: getattr(call.lead, f) for f in LEAD_FACT_FIELDS if getattr(call.lead, f)}
    config = agent_config_for(business, facts, timezone.now())
    return CallInfo(
        call_id=call.pk,
        call_sid=call.call_sid,
        mode=call.agent_mode or business.agent_mode,
        config=config,
        record=business.record_calls,
    )


def _json_safe(payload: dict[str, Any] | None) -> dict[str, Any]:
    """JSONField and the channel layer take plain JSON; the core may hand us other scalars."""
    return json.loads(json.dumps(payload or {}, default=str))


class CallStore:
    """Implements ``voice.agent.ports.CallReporter`` for one call, plus the socket's own timeline rows.

    ``media_ms`` gives the stream's media time (for offsets of rows the core does not time itself);
    ``on_end`` closes the socket once the core says the call is over (its goodbye has played). Offsets
    passed in (``event``, utterance start and end) are media time; they are stored from the answer.
    """

    def __init__(
        self,
        info: CallInfo,
        *,
        media_ms: Callable[[], int],
        on_end: Callable[[], Awaitable[None]],
    ) -> None:
        self.info = info
        self._media_ms = media_ms
        self._on_end = on_end
        self.ended: tuple[str, bool] | None = None  # (reason, voicemail) once end_call was asked
        # Writes not yet stored, in the order the call made them; (write, future for its result or None).
        self._writes: deque[tuple[_Write, asyncio.Future[Any] | None]] = deque()
        self._writer: asyncio.Task[None] | None = None  # alive while there is something to write
        self._closed = False
        # ms from the call's answer to the stream's start: media time + this = the call's timeline.
        # Learnt in ``stream_started``; 0 until then (and when the stream itself answered the call).
        self._answer_to_stream_ms = 0

    # -- CallReporter -------------------------------------------------------------------------------
    async def utterance(self, record: UtteranceRecord) -> None:
        """Queued: returns at once (the reply must not wait on the database)."""
        metrics.reported("utterance", latency=record.latency)
        record = dataclasses.replace(
            record,
            start_ms=self.call_ms(record.start_ms),
            end_ms=self.call_ms(record.end_ms),
            latency=_json_safe(record.latency),  # as it is now
        )

        async def write() -> None:
            utterance = await database_sync_to_async(self._create_utterance)(record)
            await broadcast(self.info.call_sid, "utterance", utterance_data(utterance))

        await self._submit(write, wait=False)

    async def event(self, kind: str, offset_ms: int, payload: dict[str, Any] | None = None) -> None:
        """Queued: returns at once."""
        metrics.reported(kind, payload)
        payload = _json_safe(payload)
        offset_ms = self.call_ms(offset_ms)

        await self._submit(_Event(kind, payload, offset_ms), wait=False)

    async def update_lead(self, facts: dict[str, str]) -> dict[str, Any]:
        facts = dict(facts)

        async def write() -> dict[str, Any]:
            changed = await database_sync_to_async(self._update_lead)(facts)
            if changed:
                await broadcast(self.info.call_sid, "status", {"lead": changed})
            return changed

        return await self._submit(write, wait=True)

    async def end_call(self, reason: str, *, voicemail: bool = False) -> None:
        """Record how the conversation ended (the <Connect action> reads it), then close the socket."""
        if self.ended is not None:
            return
        self.ended = (reason, voicemail)
        offset_ms = self.call_ms(self._media_ms())  # now, not when its turn to be written comes

        async def write() -> None:
            call = await database_sync_to_async(self._record_end)(reason, voicemail, offset_ms)
            await broadcast(self.info.call_sid, "status", status_data(call))

        await self._submit(write, wait=True)  # behind the call's earlier rows: the hangup comes last
        await self._on_end()

    # -- the socket's own rows ----------------------------------------------------------------------
    async def stream_started(self, stream_sid: str, payload: dict[str, Any]) -> None:
        """The stream's ``start``: the call is answered (if nothing said so before) and media time begins."""
        started = timezone.now()  # when ``start`` arrived, not when the busy database thread gets to it
        call = await database_sync_to_async(self._stream_started)(stream_sid, started)
        self._answer_to_stream_ms = offset_from_answer(call, started)
        await broadcast(self.info.call_sid, "status", status_data(call))
        await self.event(CallEvent.Kind.STREAM_STARTED, 0, payload)

    def call_ms(self, media_ms: int) -> int:
        """A media-time offset (ms since the stream's start) on the call's timeline (ms since the answer)."""
        return media_ms + self._answer_to_stream_ms

    # -- the writer ---------------------------------------------------------------------------------
    async def flush(self) -> None:
        """Return once everything queued so far is stored (or failed and was logged)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)  # a cancelled flush must not stop the writer

    async def close(self) -> None:
        """The stream ended: store what is queued; later writes are stored before they return."""
        self._closed = True
        await self.flush()

    async def _submit(self, write: _Write, *, wait: bool) -> Any:
        if self._closed:
            await self.flush()
            if isinstance(write, _Event):
                return await self._store_events([write])
            return await write()
        future = asyncio.get_running_loop().create_future() if wait else None
        self._writes.append((write, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._drain())
        if future is not None:
            return await future
        return None

    async def _drain(self) -> None:
        # One task per call at a time, and only while there is work: the call's rows are stored in order.
        while self._writes:
            write, future = self._writes.popleft()
            try:
                if isinstance(write, _Event):
                    # Events queued behind it (a backlog while the database thread was busy) go with it.
                    events = [write]
                    while self._writes and isinstance(self._writes[0][0], _Event):
                        events.append(self._writes.popleft()[0])  # type: ignore[arg-type]
                    await self._store_events(events)
                    result = None
                else:
                    result = await write()
            except Exception as exc:
                if future is None:
                    log.error("could not store a call row; continuing with the next", exc_info=True)
                elif not future.done():
                    future.set_exception(exc)  # the caller handles it, as it would a direct write
            else:
                if future is not None and not future.done():
                    future.set_result(result)

    async def _store_events(self, events: list[_Event]) -> None:
        """Events, in order, in one statement, each broadcast once stored. A batch the database refuses is
        stored event by event, so one bad row loses only itself (logged by the writer)."""
        try:
            stored = await database_sync_to_async(write_events)(self.info.call_id, events)
        except Exception:
            if len(events) == 1:
                raise
            for event in events:
                try:
                    await self._store_events([event])
                except Exception:
                    log.error("could not store a call event; continuing with the next", exc_info=True)
            return
        for event in stored:
            await publish_event(self.info.call_sid, event)

    # -- sync halves (worker thread) ------------------------------------------------------------------
    def _call(self) -> Call:
        return Call.objects.select_related("business", "lead").get(pk=self.info.call_id)

    def _create_utterance(self, record: UtteranceRecord) -> Utterance:
        return Utterance.objects.create(
            call_id=self.info.call_id,
            speaker=record.speaker,
            text=record.text,
            start_ms=max(0, record.start_ms),
            end_ms=max(0, record.end_ms),
            interrupted=record.interrupted,
            heard_text=record.heard_text,
            latency=_json_safe(record.latency),
        )

    def _create_event(self, kind: str, offset_ms: int, payload: dict[str, Any]) -> CallEvent:
        return write_event(self.info.call_id, kind, payload, offset_ms=offset_ms)

    def _stream_started(self, stream_sid: str, started: dt.datetime) -> Call:
        return calls.stream_started(self._call(), stream_sid, started)

    def _record_end(self, reason: str, voicemail: bool, offset_ms: int) -> Call:
        call = self._call()
        if not voicemail:
            call.outcome = Call.Outcome.CONVERSATION
            call.save(update_fields=["outcome"])
        self._create_event(CallEvent.Kind.HANGUP, offset_ms, {"reason": reason, "voicemail": voicemail})
        return call

    def _update_lead(self, facts: dict[str, str]) -> dict[str, str]:
        with transaction.atomic():
            call = self._call()
            lead = call.lead
            if lead is None:
                lead = find_or_create_lead(call.business, call.from_number)
                if lead is None:  # hidden number: nobody to attach facts to
                    return {}
                call.lead = lead
                call.save(update_fields=["lead"])
            lead = Lead.objects.select_for_update(no_key=True).get(pk=lead.pk)  # calls may point at it meanwhile
            changed = apply_lead_facts(lead, facts)
            if changed:
                lead.save()
            return changed
