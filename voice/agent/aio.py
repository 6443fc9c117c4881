"""Small asyncio helpers the agent's parts share: cancelling, closing and shielding quietly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


async def cancel(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait for it to end, whatever it raises on the way out."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def aclose(stream: AsyncIterator[Any]) -> None:
    """Close a provider's stream (an async generator or an SDK stream) early; errors closing it don't matter."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


async def shielded(awaitable: Awaitable[T]) -> T:
    """A CRM write that must complete even if the turn that started it is cancelled (a barge-in)."""
    return await asyncio.shield(awaitable)
