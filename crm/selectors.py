"""Reads scoped to what a staff user may see: the businesses they belong to (superusers see all)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.db.models import QuerySet

from crm.models import Business, Call, CallEvent, Lead, Membership, Recording, Utterance

User = AbstractUser | AnonymousUser


def businesses_for(user: User) -> QuerySet[Business]:
    if not user.is_authenticated or not user.is_active:
        return Business.objects.none()
    if user.is_superuser:
        return Business.objects.all()
    return Business.objects.filter(memberships__user_id=user.pk).distinct()


def owned_businesses_for(user: User) -> QuerySet[Business]:
    """Businesses whose settings this user may edit."""
    if not user.is_authenticated or not user.is_active:
        return Business.objects.none()
    if user.is_superuser:
        return Business.objects.all()
    return Business.objects.filter(memberships__user_id=user.pk, memberships__role=Membership.Role.OWNER).distinct()


def leads_for(user: User) -> QuerySet[Lead]:
    return Lead.objects.filter(business__in=businesses_for(user))


def calls_for(user: User) -> QuerySet[Call]:
    return Call.objects.filter(business__in=businesses_for(user))


def utterances_for(user: User) -> QuerySet[Utterance]:
    return Utterance.objects.filter(call__business__in=businesses_for(user))


def events_for(user: User) -> QuerySet[CallEvent]:
    return CallEvent.objects.filter(call__business__in=businesses_for(user))


def recordings_for(user: User) -> QuerySet[Recording]:
    return Recording.objects.filter(call__business__in=businesses_for(user))
