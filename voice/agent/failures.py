"""Provider failures as the session handles them: one exception that says which role broke.

Every provider call the session makes goes through ``timed`` (or raises ``Failure`` itself), so a broken or
silent provider becomes the same thing: a ``Failure`` the session reports and recovers from with an apology,
the fallback voice or voicemail. The caller never waits on a provider without a deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from voice.agent.ports import CallReporter

T = TypeVar("T")


class Failure(Exception):
    """A provider failed; ``role`` says which (asr, llm, tts, fallback_tts)."""

    def __init__(self, role: str, error: BaseException) -> None:
        super().__init__(f"{role}: {error}")
        self.role = role
        self.error = error

    @property
    def message(self) -> str:
        return str(self.error) or type(self.error).__name__


async def timed(role: str, awaitable: Awaitable[T], seconds: float) -> T:
    """Await one provider call with a deadline; any error (the timeout included) becomes a ``Failure``."""
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except Exception as exc:
        raise Failure(role, exc) from exc


async def report_failure(reporter: CallReporter, offset_ms: int, failure: Failure) -> None:
    """The failure's ``error`` row on the timeline."""
    await reporter.event("error", offset_ms, {"role": failure.role, "message": failure.message})
