"""Fixtures shared by the voice tests that run a real AI call end to end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.live import LiveServer, run_daphne
from tests.support.openai_standin import OpenAIStandin

API_KEY = "sk-test"


@pytest.fixture
def standin() -> Iterator[OpenAIStandin]:
    """OpenAI's API on loopback (test modules with another stand-in define their own ``standin``)."""
    with OpenAIStandin(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def ai_server(transactional_db, tmp_path, standin) -> Iterator[LiveServer]:
    """daphne with every voice provider on OpenAI's API, served by the stand-in."""
    with run_daphne(
        tmp_path,
        VOICE_ASR="openai",
        VOICE_LLM="openai",
        VOICE_TTS="openai",
        OPENAI_BASE_URL=standin.base_url,
        OPENAI_API_KEY=API_KEY,
    ) as server:
        yield server
