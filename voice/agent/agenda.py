"""One thing at a time: the agent's work (a reply, a prompt, a goodbye) runs as one task, and what the
caller says meanwhile waits its turn and is answered in order once that work ends.

Barge-in and endings cancel the running work and drop what waits; a crash in the work (a bug, a broken
reporter) is handed to ``crashed`` and the call goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from voice.agent.aio import cancel

log = logging.getLogger(__name__)
T = TypeVar("T")


class Agenda(Generic[T]):
    def __init__(
        self,
        *,
        answer: Callable[[T], Awaitable[None]],  # take up one waiting item
        may_answer: Callable[[], bool],  # whether waiting items may be taken up now
        crashed: Callable[[Exception], Awaitable[None]],
    ) -> None:
        self._answer = answer
        self._may_answer = may_answer
        self._crashed = crashed
        self._task: asyncio.Task[None] | None = None
        self._waiting: deque[T] = deque()

    @property
    def idle(self) -> bool:
        return self._task is None or self._task.done()

    @property
    def waiting(self) -> int:
        """Items waiting their turn."""
        return len(self._waiting)

    def start(self, work: Awaitable[None]) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(work))

    def wait(self, item: T) -> None:
        self._waiting.append(item)

    def forget_waiting(self) -> None:
        self._waiting.clear()

    async def cancel(self) -> None:
        """Cancel the running work (unless it is the caller of this)."""
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            await cancel(task)

    async def _run(self, work: Awaitable[None]) -> None:
        try:
            await work
            # Whatever the caller said while we were busy is answered now, in order.
            while self._waiting and self._may_answer():
                await self._answer(self._waiting.popleft())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("agent task failed")
            await self._crashed(exc)
