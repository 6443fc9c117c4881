from django.contrib import admin
from django.urls import include, path

from agentlocator import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("version", health.version, name="version"),
    path("", include("voice.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
