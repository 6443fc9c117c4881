from django.contrib import admin
from django.urls import include, path

from agentlocator import health
from backoffice import call_back

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("version", health.version, name="version"),
    path("", include("voice.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    # Before the admin's own URLs (its <path:object_id>/ would take it): a lead's "call back" button.
    path("admin/crm/lead/<int:lead_id>/call-back/", call_back.view, name="crm_lead_call_back"),
    path("admin/", admin.site.urls),
]
