"""A local HTTP receiver for our outgoing webhooks: what a business's own endpoint does.

It checks each request as the README tells receivers to (HMAC-SHA256 of ``f"{timestamp}.{raw body}"`` with
the shared secret, written here from the documentation, not with our signing code), records it, and answers
with the status codes a test scripts (then 200).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def verified_with(self, secret: str) -> bool:
        timestamp = self.headers.get("x-agentlocator-timestamp", "")
        expected = hmac.new(secret.encode(), timestamp.encode() + b"." + self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest("sha256=" + expected, self.headers.get("x-agentlocator-signature", ""))


class WebhookReceiver:
    def __init__(self, secret: str = "") -> None:
        self.secret = secret
        self.received: list[Received] = []
        self.script: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    status = receiver.script.pop(0) if receiver.script else 200
                    headers = {name.lower(): value for name, value in self.headers.items()}
                    receiver.received.append(Received(self.path, headers, body, status))
                answer = b"ok" if status < 300 else b"no thanks"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/agentlocator"

    def answer(self, *statuses: int) -> None:
        """The next requests get these status codes, in order (then 200)."""
        self.script.extend(statuses)

    def events(self) -> list[str]:
        return [r.headers["x-agentlocator-event"] for r in self.received]


@contextmanager
def webhook_receiver(secret: str = "") -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(secret)
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join(5)
