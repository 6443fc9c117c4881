"""Small factories for CRM rows: plain functions with sensible defaults, keyword overrides for the rest.

Staff users get what production gives them: a Membership and the matching group from migration 0003.
"""

from __future__ import annotations

import itertools
from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from crm.models import Business, Call, CallEvent, Lead, Membership, PhoneNumber, Recording, Utterance
from crm.staff_groups import sync_staff_groups

PASSWORD = "correct horse battery staple"
_ids = itertools.count(1)


def make_user(username: str | None = None, *, superuser: bool = False, staff: bool = True, **fields):
    User = get_user_model()
    username = username or f"user{next(_ids)}"
    create = User.objects.create_superuser if superuser else User.objects.create_user
    return create(username=username, password=PASSWORD, is_staff=staff or superuser, **fields)


def make_business(name: str | None = None, **fields) -> Business:
    return Business.objects.create(name=name or f"עסק {next(_ids)}", **fields)


def add_member(user, business: Business, role: str = Membership.Role.STAFF) -> Membership:
    membership = Membership.objects.create(user=user, business=business, role=role)
    sync_staff_groups(user)
    return membership


def make_owner(business: Business, username: str | None = None):
    user = make_user(username)
    add_member(user, business, Membership.Role.OWNER)
    return user


def make_staff(business: Business, username: str | None = None):
    user = make_user(username)
    add_member(user, business, Membership.Role.STAFF)
    return user


def make_phone_number(business: Business, number: str = "+97233763805", label: str = "") -> PhoneNumber:
    return PhoneNumber.objects.create(business=business, number=number, label=label)


def make_lead(business: Business, phone: str | None = None, name: str = "", **fields) -> Lead:
    phone = phone or f"+9725012{next(_ids):05d}"
    created_at = fields.pop("created_at", None)
    lead = Lead.objects.create(business=business, phone=phone, name=name, **fields)
    if created_at is not None:  # auto_now_add ignores a value given to create()
        Lead.objects.filter(pk=lead.pk).update(created_at=created_at)
        lead.refresh_from_db()
    return lead


def make_call(
    business: Business,
    lead: Lead | None = None,
    *,
    started_at: datetime | None = None,
    outcome: str = Call.Outcome.CONVERSATION,
    duration_seconds: int | None = 42,
    **fields,
) -> Call:
    n = next(_ids)
    fields.setdefault("from_number", lead.phone if lead else f"+9725022{n:05d}")
    fields.setdefault("to_number", "+97233763805")
    fields.setdefault("status", Call.Status.COMPLETED)
    call = Call.objects.create(
        business=business,
        lead=lead,
        call_sid=fields.pop("call_sid", f"CA{n:032x}"),
        outcome=outcome,
        duration_seconds=duration_seconds,
        **fields,
    )
    if started_at is not None:  # auto_now_add ignores a value given to create()
        Call.objects.filter(pk=call.pk).update(started_at=started_at)
        call.refresh_from_db()
    return call


def make_utterance(call: Call, speaker: str, text: str, start_ms: int, end_ms: int | None = None, **fields):
    return Utterance.objects.create(
        call=call, speaker=speaker, text=text, start_ms=start_ms, end_ms=end_ms or start_ms + 1500, **fields
    )


def make_event(call: Call, kind: str, offset_ms: int = 0, **payload) -> CallEvent:
    return CallEvent.objects.create(call=call, kind=kind, offset_ms=offset_ms, payload=payload)


def make_recording(call: Call, *, kind: str = Recording.Kind.CALL, content: bytes = b"RIFF", **fields) -> Recording:
    fields.setdefault("status", Recording.Status.STORED)
    fields.setdefault("content_type", "audio/wav")
    recording = Recording(call=call, kind=kind, **fields)
    recording.file.save(f"call-{call.pk}-{kind}.wav", ContentFile(content), save=False)
    recording.save()
    return recording
