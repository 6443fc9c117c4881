"""The ``call`` fixture: build calls of the conversation core; each is stopped when the test ends."""

from __future__ import annotations

import pytest

from tests.voice.agent.calls import Call


@pytest.fixture
async def call(tmp_path):
    created = []

    def make(**options) -> Call:
        c = Call(tmp_path, **options)
        created.append(c)
        return c

    yield make
    for c in created:
        await c.session.stop()
