"""Notifications in the admin: every email and webhook sent about calls, with each delivery attempt, read-only;
and the "send test event" button that posts a ``test`` event to a business's webhook.

Who sees it: owners, for their own businesses (a webhook URL may carry a token, and delivery failures are
theirs to fix in the business settings), and superusers. The staff groups carry no permission on
notifications; a user given ``followup.view_notification`` by hand sees those of every business they belong
to. A URL to another business's notification is simply not found, and the test button only offers, and
only accepts, businesses the user owns.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from backoffice.admin_calls import ReadOnlyAdmin
from backoffice.labels import BusinessFilter, business_column
from crm import selectors
from crm.models import Business
from followup import notify
from followup.models import DeliveryAttempt, Notification

VIEW_PERMISSION = "followup.view_notification"


def notification_businesses_for(user: selectors.User) -> QuerySet[Business]:
    """Businesses whose notifications this user may see."""
    if not user.is_authenticated or not user.is_active:
        return Business.objects.none()
    if user.is_superuser or user.has_perm(VIEW_PERMISSION):
        return selectors.businesses_for(user)
    return selectors.owned_businesses_for(user)


def notifications_for(user: selectors.User) -> QuerySet[Notification]:
    return Notification.objects.filter(business__in=notification_businesses_for(user))


def testable_businesses_for(user: selectors.User) -> QuerySet[Business]:
    """Businesses whose webhook this user may test: their own (all for superusers), with a webhook URL."""
    return selectors.owned_businesses_for(user).exclude(webhook_url="").order_by("name")


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = ("at", "status_code", "error", "duration_ms")
    verbose_name_plural = _("delivery attempts")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True  # shown inside a notification the user may already see


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    scoped_queryset = staticmethod(notifications_for)
    change_list_template = "admin/followup/notification/change_list.html"
    list_display = [
        "created_at",
        "event",
        "channel",
        "recipient_text",
        "status",
        "attempts",
        "last_status_code",
        "error",
        "call_link",
        business_column,
    ]
    list_filter = ["status", "channel", "event", ("business", BusinessFilter)]
    search_fields = ["recipient", "event", "last_error", "call__call_sid", "lead__name", "lead__phone"]
    date_hierarchy = "created_at"
    list_select_related = ["call", "business"]
    ordering = ["-created_at"]
    list_per_page = 100
    inlines = [DeliveryAttemptInline]
    fields = readonly_fields = (
        "business",
        "event",
        "channel",
        "recipient",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "sent_at",
        "call",
        "lead",
        "follow_up",
        "provider_id",
        "provider_status",
        "payload",
        "key",
        "created_at",
        "updated_at",
    )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return notification_businesses_for(request.user).exists()

    def has_view_permission(self, request: HttpRequest, obj: Notification | None = None) -> bool:
        if obj is None:
            return self.has_module_permission(request)
        return notifications_for(request.user).filter(pk=obj.pk).exists()

    def has_delete_permission(self, request: HttpRequest, obj: Notification | None = None) -> bool:
        return False  # what was sent, and how it went, is evidence

    @admin.display(description=_("recipient"), ordering="recipient")
    def recipient_text(self, notification: Notification) -> str:
        return format_html('<bdi dir="ltr">{}</bdi>', Truncator(notification.recipient).chars(60))

    @admin.display(description=_("last error"), ordering="last_error")
    def error(self, notification: Notification) -> str:
        return Truncator(notification.last_error).chars(80) if notification.last_error else "—"

    @admin.display(description=_("call"), ordering="call")
    def call_link(self, notification: Notification) -> str:
        if notification.call_id is None:
            return "—"
        url = reverse("admin:crm_call_change", args=[notification.call_id])
        return format_html('<a href="{}">{}</a>', url, _("call"))

    # --- "send test event": a business chooser on the list, posted to a URL of this admin.
    def get_urls(self) -> list:
        send = path(
            "send-test-event/",
            self.admin_site.admin_view(self.send_test_event_view),
            name="followup_notification_send_test_event",
        )
        return [send, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {
            **(extra_context or {}),
            "test_event_businesses": testable_businesses_for(request.user),
            "send_test_event_url": reverse("admin:followup_notification_send_test_event"),
        }
        return super().changelist_view(request, context)

    def send_test_event_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_module_permission(request):
            raise PermissionDenied
        changelist = reverse("admin:followup_notification_changelist")
        raw = request.POST.get("business", "")
        business = selectors.owned_businesses_for(request.user).filter(pk=int(raw)).first() if raw.isdigit() else None
        if business is None:
            messages.error(request, _("Choose one of your businesses to send a test event to."))
            return HttpResponseRedirect(changelist)
        try:
            notification = notify.send_test_event(business)
        except notify.NoWebhook:
            messages.error(
                request,
                _("%(business)s has no webhook URL: set one in the business settings first.")
                % {"business": business.name},
            )
            return HttpResponseRedirect(changelist)
        messages.success(
            request,
            _("A test event is on its way to %(business)s's webhook; its status and every attempt are shown here.")
            % {"business": business.name},
        )
        return HttpResponseRedirect(reverse("admin:followup_notification_change", args=[notification.pk]))
