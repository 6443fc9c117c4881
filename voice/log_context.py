"""The call a log line is about: set by the voice edges (webhook, socket, task) when they start work on a
call, read by ``agentlocator.logging.CallContextFilter`` so every line carries its CallSid."""

from __future__ import annotations

from contextvars import ContextVar

call_sid_var: ContextVar[str] = ContextVar("call_sid", default="-")
