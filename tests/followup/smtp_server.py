"""A small local SMTP server (the protocol's real boundary, for when aiosmtpd is not installed): it accepts
mail, refuses the recipients a test names with 550, and keeps what it received."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage


@dataclass
class SmtpServer:
    host: str = "127.0.0.1"
    port: int = 0
    refuse: set[str] = field(default_factory=set)
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)


def _handler(state: SmtpServer) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")

        def handle(self) -> None:
            sender, recipients = "", []
            self.reply("220 localhost test SMTP")
            while line := self.rfile.readline():
                command = line.decode("utf-8", "replace").strip()
                verb = command.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    self.reply("250-localhost\r\n250 8BITMIME" if verb == "EHLO" else "250 localhost")
                elif verb == "MAIL":
                    sender, recipients = command.split(":", 1)[1].strip().strip("<>").split(">")[0], []
                    self.reply("250 OK")
                elif verb == "RCPT":
                    address = command.split(":", 1)[1].strip().strip("<>").split(">")[0]
                    if address.lower() in state.refuse:
                        self.reply("550 5.1.1 No such user here")
                    else:
                        recipients.append(address)
                        self.reply("250 OK")
                elif verb == "DATA":
                    if not recipients:
                        self.reply("554 No valid recipients")
                        continue
                    self.reply("354 End data with <CR><LF>.<CR><LF>")
                    data = []
                    while (chunk := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                        data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                    state.messages.append(message_from_bytes(b"".join(data), policy=policy.default))  # type: ignore[arg-type]
                    state.envelopes.append((sender, recipients))
                    self.reply("250 OK queued")
                elif verb == "RSET":
                    sender, recipients = "", []
                    self.reply("250 OK")
                elif verb == "QUIT":
                    self.reply("221 Bye")
                    return
                else:
                    self.reply("250 OK")

    return Handler


@contextmanager
def smtp_server(refuse: set[str] | None = None) -> Iterator[SmtpServer]:
    state = SmtpServer(refuse={a.lower() for a in refuse or set()})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
