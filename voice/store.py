"""The ORM side of ``CallReporter`` for one call: what the core reports is stored as it happens and
broadcast to the live page. Every write runs in a worker thread (``database_sync_to_async``); the event
loop never waits on the database synchronously.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from crm.models import Call, CallEvent, Lead, Utterance
from crm.services import find_or_create_lead
from voice import calls
from voice.agent.config import AgentConfig
from voice.agent.ports import UtteranceRecord
from voice.handlers import CallInfo
from voice.live import broadcast

log = logging.getLogger(__name__)

LEAD_FACT_FIELDS = ("name", "interest", "callback_time")


def load_call_info(call_sid: str) -> CallInfo | None:
    """The call's mode (snapshot taken when it rang, else the business's) and agent configuration."""
    call = Call.objects.select_related("business", "lead").filter(call_sid=call_sid).first()
    if call is None:
        return None
    business = call.business
    facts: dict[str, str] = {}
    if call.lead is not None:
        facts = {f: getattr(call.lead, f) for f in LEAD_FACT_FIELDS if getattr(call.lead, f)}
    config = AgentConfig(
        greeting=business.greeting,
        system_prompt=business.system_prompt,
        language=business.language,
        voice=business.voice_name,
        eou_silence_ms=business.eou_silence_ms,
        barge_in_min_ms=business.barge_in_min_ms,
        idle_prompt_ms=business.idle_prompt_seconds * 1000,
        max_call_ms=business.max_call_minutes * 60_000,
        lead_facts=facts,
    )
    return CallInfo(
        call_id=call.pk,
        call_sid=call.call_sid,
        mode=call.agent_mode or business.agent_mode,
        config=config,
        record=business.record_calls,
    )


def utterance_data(utterance: Utterance) -> dict[str, Any]:
    return {
        "id": utterance.pk,
        "speaker": utterance.speaker,
        "text": utterance.text,
        "start_ms": utterance.start_ms,
        "end_ms": utterance.end_ms,
        "interrupted": utterance.interrupted,
        "heard_text": utterance.heard_text,
        "latency": utterance.latency,
    }


def _json_safe(payload: dict[str, Any] | None) -> dict[str, Any]:
    """JSONField and the channel layer take plain JSON; the core may hand us other scalars."""
    return json.loads(json.dumps(payload or {}, default=str))


class CallStore:
    """Implements ``voice.agent.ports.CallReporter`` for one call, plus the socket's own timeline rows.

    ``media_ms`` gives the stream's media time (for offsets of rows the core does not time itself);
    ``on_end`` closes the socket once the core says the call is over (its goodbye has played).
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

    # -- CallReporter -------------------------------------------------------------------------------
    async def utterance(self, record: UtteranceRecord) -> None:
        utterance = await database_sync_to_async(self._create_utterance)(record)
        await broadcast(self.info.call_sid, "utterance", utterance_data(utterance))

    async def event(self, kind: str, offset_ms: int, payload: dict[str, Any] | None = None) -> None:
        event = await database_sync_to_async(self._create_event)(kind, offset_ms, _json_safe(payload))
        await broadcast(self.info.call_sid, "event", calls.event_data(event))

    async def update_lead(self, facts: dict[str, str]) -> dict[str, Any]:
        changed = await database_sync_to_async(self._update_lead)(facts)
        if changed:
            await broadcast(self.info.call_sid, "status", {"lead": changed})
        return changed

    async def end_call(self, reason: str, *, voicemail: bool = False) -> None:
        """Record how the conversation ended (the <Connect action> reads it), then close the socket."""
        if self.ended is not None:
            return
        self.ended = (reason, voicemail)
        call = await database_sync_to_async(self._record_end)(reason, voicemail)
        await broadcast(self.info.call_sid, "status", calls.status_data(call))
        await self._on_end()

    # -- the socket's own rows ----------------------------------------------------------------------
    async def stream_started(self, stream_sid: str, payload: dict[str, Any]) -> None:
        call = await database_sync_to_async(self._stream_started)(stream_sid)
        await broadcast(self.info.call_sid, "status", calls.status_data(call))
        await self.event(CallEvent.Kind.STREAM_STARTED, 0, payload)

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
        return CallEvent.objects.create(call_id=self.info.call_id, kind=kind, offset_ms=offset_ms, payload=payload)

    def _stream_started(self, stream_sid: str) -> Call:
        return calls.stream_started(self._call(), stream_sid)

    def _record_end(self, reason: str, voicemail: bool) -> Call:
        call = self._call()
        if not voicemail:
            call.outcome = Call.Outcome.CONVERSATION
            call.save(update_fields=["outcome"])
        self._create_event(CallEvent.Kind.HANGUP, self._media_ms(), {"reason": reason, "voicemail": voicemail})
        return call

    def _update_lead(self, facts: dict[str, str]) -> dict[str, Any]:
        with transaction.atomic():
            call = self._call()
            lead = call.lead
            if lead is None:
                lead = find_or_create_lead(call.business, call.from_number)
                if lead is None:  # hidden number: nobody to attach facts to
                    return {}
                call.lead = lead
                call.save(update_fields=["lead"])
            lead = Lead.objects.select_for_update().get(pk=lead.pk)
            changed: dict[str, Any] = {}
            for field in LEAD_FACT_FIELDS:
                value = str(facts.get(field) or "").strip()[: Lead._meta.get_field(field).max_length]
                if value and value != getattr(lead, field):
                    setattr(lead, field, value)
                    changed[field] = value
            note = str(facts.get("note") or "").strip()
            if note:
                stamp = timezone.localtime().strftime("%Y-%m-%d %H:%M")
                lead.notes = f"{lead.notes}\n[{stamp}] {note}" if lead.notes else f"[{stamp}] {note}"
                changed["note"] = note
            if changed:
                lead.save()
            return changed
