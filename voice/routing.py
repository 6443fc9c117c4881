"""WebSocket routes of the voice app."""

# Twilio's Media Streams socket, outside the browser origin validator (filled by the Twilio edge).
twilio_websocket_urlpatterns: list = []

# Logged-in staff sockets, mounted under /ws/staff/ behind the session and origin checks.
staff_websocket_urlpatterns: list = []
