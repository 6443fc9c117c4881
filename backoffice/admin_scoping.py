"""What every admin page of ours shares: querysets and choices limited to the user's businesses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest

from crm import selectors
from crm.models import Business

User = get_user_model()


def colleagues_for(user: selectors.User, business: Business | None = None) -> QuerySet:
    """Users who may own leads the given user sees: members of the same businesses (of one business if
    given). Nobody else's account is ever offered as a choice."""
    businesses = selectors.businesses_for(user)
    if business is not None:
        businesses = businesses.filter(pk=business.pk)
    return User.objects.filter(is_active=True, memberships__business__in=businesses).distinct().order_by("username")


class ScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose rows come from a selector in crm.selectors, so a URL to another business's object
    is simply not found, and whose foreign-key choices never list another business or its users."""

    # Each subclass names the selector of its model, hence any model here.
    scoped_queryset: Callable[[selectors.User], QuerySet[Any]] = staticmethod(selectors.businesses_for)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = self.scoped_queryset(request.user)
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.related_model is Business:
            kwargs["queryset"] = selectors.businesses_for(request.user)
        elif db_field.related_model is User:
            kwargs["queryset"] = colleagues_for(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
