from django.contrib import admin
from django.urls import include, path

from agentlocator import health
from backoffice import call_back
from voice import metrics_view

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("version", health.version, name="version"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view.metrics, name="metrics"),
    path("", include("voice.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    # Before the admin's own URLs (its <path:object_id>/ would take it): a lead's "call back" button.
    path("admin/crm/lead/<int:lead_id>/call-back/", call_back.view, name="crm_lead_call_back"),
    path("admin/", admin.site.urls),
]

# 403, 404 and 500 use Django's handlers with templates/403.html, 404.html, 500.html; the 400 handler also says
# when a form was refused for its size.
handler400 = "agentlocator.error_pages.bad_request"
