"""espeak-ng as the offline text-to-speech of last resort: robotic, but always there and never dead air."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator

from voice.audio.wav import WavError, wav_to_mulaw
from voice.providers.base import ProviderError


def espeak_available(executable: str = "espeak-ng") -> bool:
    return shutil.which(executable) is not None


class EspeakTTS:
    """TTSProvider running ``espeak-ng --stdout`` as a subprocess; the voice is chosen by language."""

    def __init__(self, *, executable: str = "espeak-ng", words_per_minute: int = 160, timeout_s: float = 10.0):
        self.executable = executable
        self.words_per_minute = words_per_minute
        self.timeout_s = timeout_s

    async def synthesize(self, text: str, *, voice: str, language: str) -> AsyncIterator[bytes]:
        # Business voices name cloud voices; espeak only needs the language ("he-IL" -> "he").
        command = [self.executable, "-v", language.split("-")[0].lower(), "-s", str(self.words_per_minute)]
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                "--stdout",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise ProviderError(f"espeak-ng cannot run: {exc}") from exc
        try:
            # Text on stdin, so a line starting with "-" is never read as an option.
            async with asyncio.timeout(self.timeout_s):
                wav, errors = await process.communicate(text.encode())
        except TimeoutError as exc:
            raise ProviderError("espeak-ng timed out") from exc
        finally:
            if process.returncode is None:  # timed out, or the caller barged in
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if process.returncode != 0:
            raise ProviderError(f"espeak-ng failed ({process.returncode}): {errors.decode(errors='replace')[:200]}")
        try:
            audio = await asyncio.to_thread(wav_to_mulaw, wav)  # resampling: keep it off the event loop
        except WavError as exc:
            raise ProviderError(f"espeak-ng gave no readable WAV: {exc}") from exc
        if audio:
            yield audio
