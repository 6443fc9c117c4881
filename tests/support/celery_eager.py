"""Run Celery tasks inline in the test process: what ``.delay()`` queues runs at once, errors propagate."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from agentlocator.celery import app


@contextmanager
def eager_tasks() -> Iterator[None]:
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    try:
        yield
    finally:
        app.conf.task_always_eager, app.conf.task_eager_propagates = saved
