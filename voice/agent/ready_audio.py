"""Audio synthesised ahead: the fillers and the apology, ready before they are needed.

What the caller hears while a provider is slow or broken must not depend on that provider answering in
time. So the short fixed phrases are synthesised once per process and voice, in the background, when the
first call with that voice starts, and kept as whole frames. The voices are tried in the order given
(``ready_voices``): by default the offline voice (espeak-ng: local, nothing in common with a network TTS
that hangs), the main TTS when it is missing or failed. A phrase that could not be made is tried again
by the next call; until then the session does without it (no filler, the live apology).

Lines made further ahead (the greeting and the business's fixed lines, synthesised once and kept in storage
by the Django edge) come in per call through ``with_stored``: they are played before anything made here.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from voice.agent.aio import aclose
from voice.audio import mulaw
from voice.audio.frames import FRAME_BYTES, Framer
from voice.providers.base import Providers, TTSProvider

log = logging.getLogger(__name__)

READY_VOICE_CHOICES = ("offline", "main")
QUIET_RMS = 300.0  # linear 16-bit; below it a frame is silence (espeak pads its speech with some)

Key = tuple[str, str, str]  # (voice, language, text)


def ready_voices(providers: Providers, prefer: str = "offline") -> list[tuple[str, TTSProvider]]:
    """The voices to make ready audio with, in order: ``offline`` puts the fallback (espeak) voice first,
    ``main`` the main TTS."""
    if prefer not in READY_VOICE_CHOICES:
        raise ValueError(f"unknown ready-audio voice {prefer!r}; choose one of {', '.join(READY_VOICE_CHOICES)}")
    voices: list[tuple[str, TTSProvider]] = [("tts", providers.tts)]
    if providers.fallback_tts is not None:
        voices.append(("fallback_tts", providers.fallback_tts))
        if prefer == "offline":
            voices.reverse()
    return voices


def trim_quiet(audio: bytes) -> bytes:
    """Whole frames of mu-law without the quiet frames at either end (a filler should start at once)."""
    usable = len(audio) - len(audio) % FRAME_BYTES
    if not usable:
        return b""
    samples = mulaw.decode(audio[:usable]).astype(np.float64).reshape(-1, FRAME_BYTES)
    loud = np.flatnonzero(np.sqrt((samples**2).mean(axis=1)) > QUIET_RMS)
    if loud.size == 0:
        return b""
    return audio[loud[0] * FRAME_BYTES : (loud[-1] + 1) * FRAME_BYTES]


class ReadyAudio:
    """Clips by (voice, language, text); one instance per process is shared by every call."""

    def __init__(self, voices: Sequence[tuple[str, TTSProvider]], *, timeout_s: float = 15.0) -> None:
        self._voices = list(voices)
        self._timeout = timeout_s
        self._clips: dict[Key, bytes] = {}
        self._making: dict[Key, asyncio.Task[None]] = {}
        self._stored: dict[Key, bytes] = {}  # one call's lines made ahead of the call (``with_stored``)

    def with_stored(self, clips: Mapping[Key, bytes]) -> ReadyAudio:
        """A view for one call: ``clips`` (whole frames, made before the call) first, then what this
        process makes. It shares this instance's clips, so what it makes serves every later call too."""
        view = copy.copy(self)
        view._stored = {key: audio for key, audio in clips.items() if audio and len(audio) % FRAME_BYTES == 0}
        return view

    def clip(self, text: str, *, voice: str, language: str) -> bytes | None:
        """The ready audio for ``text`` (whole 160-byte frames), or None if it is not ready."""
        key = (voice, language, text)
        return self._stored.get(key) or self._clips.get(key)

    def prepare(self, texts: Iterable[str], *, voice: str, language: str) -> None:
        """Start making whatever is not ready yet, in the background; returns at once."""
        loop = asyncio.get_running_loop()
        for text in texts:
            key = (voice, language, text)
            making = self._making.get(key)
            if (
                key in self._stored
                or key in self._clips
                or (making is not None and not making.done() and making.get_loop() is loop)
            ):
                continue
            self._making[key] = loop.create_task(self._make(key))

    async def wait(self) -> None:
        """Until everything started has been made or given up on (tests, warm-up)."""
        loop = asyncio.get_running_loop()
        pending = [t for t in self._making.values() if not t.done() and t.get_loop() is loop]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _make(self, key: Key) -> None:
        voice, language, text = key
        for role, tts in self._voices:
            try:
                async with asyncio.timeout(self._timeout):
                    audio = await synthesize_clip(tts, text, voice=voice, language=language)
            except Exception as exc:  # the next voice, or the next call, tries again
                log.warning("ready audio: %s could not say %r: %s", role, text, exc)
                continue
            if audio:
                self._clips[key] = audio
                return
        log.error("ready audio: no voice could say %r", text)


async def synthesize_clip(tts: TTSProvider, text: str, *, voice: str, language: str) -> bytes:
    """All of ``tts``'s audio for ``text`` as whole frames, quiet edges trimmed (b"": nothing audible)."""
    framer = Framer()
    out = bytearray()
    stream = tts.synthesize(text, voice=voice, language=language)
    try:
        async for chunk in stream:
            out += framer.push(chunk)
    finally:
        await aclose(stream)
    out += framer.flush()
    return trim_quiet(bytes(out))
