"""WebSocket routes of the project: Twilio's media socket (voice) and the staff sockets (back office)."""

from django.urls import path, re_path

from backoffice.live_consumer import LiveCallsConsumer
from voice.consumers import TwilioMediaConsumer

# Twilio's Media Streams socket, outside the browser origin validator (it authenticates itself).
twilio_websocket_urlpatterns: list = [
    re_path(r"^ws/twilio-media/?$", TwilioMediaConsumer.as_asgi()),
]

# Logged-in staff sockets, mounted under /ws/staff/ behind the session and origin checks (paths relative
# to that prefix): the admin's live page, for all of the user's calls or for one.
staff_websocket_urlpatterns: list = [
    path("calls/", LiveCallsConsumer.as_asgi(), name="live_calls"),
    path("calls/<str:call_sid>/", LiveCallsConsumer.as_asgi(), name="live_call"),
]
