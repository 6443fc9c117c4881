"""ASGI entry point: HTTP through Django, WebSockets through Channels (served by daphne).

Twilio's media socket is not a browser: it lives on its own route outside the origin validator and
authenticates with a signature and a per-call token. Staff sockets (under /ws/staff/) use the login session
and the origin check.
"""

import asyncio
import gc
import os

from django.core.asgi import get_asgi_application
from threadpoolctl import threadpool_limits

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentlocator.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.signals import request_finished  # noqa: E402
from django.db import connections  # noqa: E402
from django.urls import re_path  # noqa: E402

from agentlocator.autobahn_logging import skip_debug_formatting  # noqa: E402
from agentlocator.limits import BodySizeLimit  # noqa: E402
from agentlocator.public_base import require_public_base_url  # noqa: E402
from agentlocator.routing import staff_websocket_urlpatterns, twilio_websocket_urlpatterns  # noqa: E402
from voice.handlers import warm_up  # noqa: E402

# Every URL we hand Twilio comes from PUBLIC_BASE_URL: a server without it (and without DEBUG) does not start.
require_public_base_url(settings.PUBLIC_BASE_URL, debug=settings.DEBUG)


def _close_request_connections(**_: object) -> None:
    """Django runs each HTTP request's code on a thread of its own (asgiref's ThreadSensitiveContext), so a
    connection kept past the request (``DB_CONN_MAX_AGE``) would never be used again, only left open until
    the collector found it. Requests close theirs; the thread that stores the calls keeps its own. Never one
    inside a transaction (a test's, which Django's test client keeps open across its requests), and not from
    the event loop's own thread (an async client finishing a streamed response), which holds none."""
    try:
        asyncio.get_running_loop()
        return
    except RuntimeError:  # a request's thread: no loop running here
        pass
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close()


request_finished.connect(_close_request_connections)
skip_debug_formatting()  # daphne's WebSocket layer formats debug lines it drops, on every frame

staff_sockets = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(staff_websocket_urlpatterns)))

application = ProtocolTypeRouter(
    {
        # Oversized bodies get 413 before Django reads them; the admin uploads voicemail audio.
        "http": BodySizeLimit(
            django_asgi_app,
            settings.REQUEST_BODY_MAX_BYTES,
            [("/admin/", settings.ADMIN_REQUEST_BODY_MAX_BYTES)],
        ),
        # A prefix (no "$"): the rest of the path is routed by staff_websocket_urlpatterns. The middleware
        # wrappers hide the inner router from URLRouter, so a path() here would only match "ws/staff/" itself.
        "websocket": URLRouter([*twilio_websocket_urlpatterns, re_path(r"^ws/staff/", staff_sockets)]),
    }
)

# The provider clients and the Silero model, before the first call rather than on the event loop during it.
warm_up()

# numpy's BLAS (OpenBLAS) on one thread, as Silero's ONNX runs are: a web process runs its calls on one event
# loop. Otherwise the echo canceller's least squares and long products wake OpenBLAS's worker thread, which then
# spins waiting for more work: with 40 callers on speakerphones it burned 13-16 s of CPU in a 40 s run (~0.5
# CPU-s a call-minute, a core the event loops needed); each product is small, one thread does it as fast.
threadpool_limits(limits=1, user_api="blas")

# Everything loaded so far (Django, the apps, the voice core: ~130k objects) lives as long as the process.
# Moving it out of the collector's reach keeps full (generation 2) collections, which hold the GIL
# and so stall every call's audio at once, from walking it: 50-120 ms each under load before, ~0 now.
gc.freeze()
