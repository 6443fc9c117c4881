"""Writes that other apps call: the default business, routing by called number, lead matching."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from crm.models import Business, Lead, PhoneNumber
from crm.phones import normalize_phone


def ensure_default_business() -> Business:
    """The business that answers numbers nobody claims; created with Hebrew defaults on a fresh install."""
    business = Business.objects.filter(is_default=True).first()
    if business is not None:
        return business
    try:
        with transaction.atomic():
            return Business.objects.create(is_default=True)
    except IntegrityError:  # created concurrently by another process
        return Business.objects.get(is_default=True)


def business_for_number(called: str | None) -> Business:
    """The business that owns the called number (Twilio's `To`), else the default business."""
    number = normalize_phone(called)
    if number:
        match = PhoneNumber.objects.select_related("business").filter(number=number).first()
        if match is not None:
            return match.business
    return ensure_default_business()


def find_or_create_lead(business: Business, caller: str | None, *, source: str = "phone") -> Lead | None:
    """The lead for a caller's number in this business, created on first contact.
    Hidden or unparseable numbers get no lead (there is nobody to call back)."""
    phone = normalize_phone(caller)
    if phone is None:
        return None
    try:
        with transaction.atomic():
            lead, _ = Lead.objects.get_or_create(business=business, phone=phone, defaults={"source": source})
    except IntegrityError:  # two calls from one number at once
        lead = Lead.objects.get(business=business, phone=phone)
    return lead
