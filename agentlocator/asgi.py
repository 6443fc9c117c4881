"""ASGI entry point: HTTP through Django, WebSockets through Channels (served by daphne).

Twilio's media socket is not a browser: it lives on its own route outside the origin validator and
authenticates with a signature and a per-call token. Staff sockets (under /ws/staff/) use the login session
and the origin check.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentlocator.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from voice.routing import staff_websocket_urlpatterns, twilio_websocket_urlpatterns  # noqa: E402

staff_sockets = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(staff_websocket_urlpatterns)))

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([*twilio_websocket_urlpatterns, path("ws/staff/", staff_sockets)]),
    }
)
