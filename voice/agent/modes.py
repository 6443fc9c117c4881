"""Diagnostic stream handlers: no AI, just audio plumbing (load tests, echo checks on a real line)."""

from __future__ import annotations

from voice.agent.ports import MediaSink


class SinkHandler:
    """Swallows the caller's audio: counts frames, sends nothing."""

    def __init__(self, sink: MediaSink | None = None) -> None:
        self.frames_in = 0
        self.frames_out = 0
        self.marks = 0
        self.dtmf_digits: list[str] = []
        self.started = False
        self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def media(self, payload: bytes) -> None:
        self.frames_in += 1

    async def mark(self, name: str) -> None:
        self.marks += 1

    async def dtmf(self, digit: str) -> None:
        self.dtmf_digits.append(digit)

    async def stop(self) -> None:
        self.stopped = True

    def stream_facts(self) -> dict[str, int]:
        return {}


class EchoHandler(SinkHandler):
    """Sends every inbound payload straight back, byte for byte."""

    def __init__(self, sink: MediaSink) -> None:
        super().__init__(sink)
        self._sink = sink

    async def media(self, payload: bytes) -> None:
        self.frames_in += 1
        if not self.stopped:
            await self._sink.send_media(payload)
            self.frames_out += 1
