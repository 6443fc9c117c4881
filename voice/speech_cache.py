"""The greeting and the fixed lines, synthesised once and kept in storage, so a call starts speaking at once.

A call's fixed lines (greeting, after-hours line, apology, idle prompt, goodbye, transfer line, fillers) are
the same call after call. Each is synthesised once per text + voice + language + TTS provider (as
``provider_name`` names it: OpenAI's model and default voice, the fake voice's recording) and the rules that
turn digits into words (``voice.providers.normalize.RULES_VERSION``) and kept in Django's default
storage as raw mu-law 8 kHz, whole 20 ms frames, quiet edges trimmed. A changed text or voice is a new key,
so it is made again; old files are simply no longer asked for.

At a call's start the edge loads what is stored (``stored_clips``) and hands it to the core as ready audio
(``ReadyAudio.with_stored``): the greeting then plays without waiting on TTS. What is missing is spoken live
by that call and made in the background by a Celery job (``voice.tasks.queue_speech_warm_up``), so the next
call has it. ``warm_business`` makes a business's lines ahead (after its settings are saved).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from crm.models import Business
from voice.agent.config import AgentConfig
from voice.agent.ready_audio import Key, synthesize_clip
from voice.audio.frames import FRAME_BYTES
from voice.business_config import agent_config_for
from voice.provider_settings import providers_from_settings
from voice.providers.base import TTSProvider
from voice.providers.normalize import RULES_VERSION

log = logging.getLogger(__name__)

FOLDER = "speech"
SUFFIX = ".ulaw"  # raw mu-law 8 kHz mono, the bytes Twilio plays


def fixed_lines(config: AgentConfig) -> list[str]:
    """Every line a call of ``config`` may say word for word, each once, the greeting first."""
    lines = [
        config.greeting,
        config.after_hours_line,
        config.apology,
        config.idle_prompt,
        config.goodbye,
        config.transfer_line,
        *config.fillers,
    ]
    return list(dict.fromkeys(line.strip() for line in lines if line.strip()))


def speech_key(text: str, *, voice: str, language: str, provider: str) -> str:
    """The stored clip's name: a hash of everything that changes how ``text`` sounds."""
    material = json.dumps([RULES_VERSION, provider, voice, language, text], ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()


def speech_path(key: str) -> str:
    return f"{FOLDER}/{key[:2]}/{key}{SUFFIX}"


def _path(text: str, voice: str, language: str, provider: str) -> str:
    return speech_path(speech_key(text, voice=voice, language=language, provider=provider))


def stored_clip(text: str, *, voice: str, language: str, provider: str) -> bytes | None:
    """The stored audio of ``text``, or None when it was never made (or the file is not whole frames)."""
    path = _path(text, voice, language, provider)
    try:
        with default_storage.open(path, "rb") as f:
            audio: bytes = f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:  # a broken storage must not break the call: it is spoken live instead
        log.warning("stored speech %s unreadable: %s", path, exc)
        return None
    if not audio or len(audio) % FRAME_BYTES:
        log.warning("stored speech %s is not whole frames (%s bytes); it is made again", path, len(audio))
        return None
    return audio


def stored_clips(config: AgentConfig, provider: str) -> tuple[dict[Key, bytes], list[str]]:
    """What is stored of ``config``'s fixed lines, as ready audio, and the lines that are missing."""
    found: dict[Key, bytes] = {}
    missing: list[str] = []
    for text in fixed_lines(config):
        audio = stored_clip(text, voice=config.voice, language=config.language, provider=provider)
        if audio is None:
            missing.append(text)
        else:
            found[(config.voice, config.language, text)] = audio
    return found, missing


def store_clip(text: str, audio: bytes, *, voice: str, language: str, provider: str) -> str:
    """Keep ``audio`` (whole frames) as the clip of ``text``; returns its storage path."""
    if not audio or len(audio) % FRAME_BYTES:
        raise ValueError(f"speech for {text!r} must be whole {FRAME_BYTES}-byte frames, got {len(audio)} bytes")
    path = _path(text, voice, language, provider)
    if default_storage.exists(path):  # two warm-ups raced: same text, same sound
        default_storage.delete(path)
    return default_storage.save(path, ContentFile(audio))


async def _make(tts: TTSProvider, texts: Sequence[str], voice: str, language: str) -> dict[str, bytes | Exception]:
    made: dict[str, bytes | Exception] = {}
    for text in texts:  # one at a time: a warm-up must not compete with live calls for the provider
        try:
            made[text] = await synthesize_clip(tts, text, voice=voice, language=language)
        except Exception as exc:
            made[text] = exc
    return made


def warm(texts: Iterable[str], *, voice: str, language: str, provider: str, tts: TTSProvider) -> list[str]:
    """Synthesise and store each of ``texts`` not stored yet. Returns the texts that could not be made
    (each logged); the rest are stored. Synchronous: a Celery worker or a management command calls it."""
    wanted = [
        t for t in dict.fromkeys(texts) if stored_clip(t, voice=voice, language=language, provider=provider) is None
    ]
    if not wanted:
        return []
    failed: list[str] = []
    for text, audio in asyncio.run(_make(tts, wanted, voice, language)).items():
        if isinstance(audio, Exception) or not audio:
            log.warning("could not make speech for %r: %s", text, audio or "no audible audio")
            failed.append(text)
        else:
            store_clip(text, audio, voice=voice, language=language, provider=provider)
    return failed


def warm_up_digest(texts: Sequence[str], *, voice: str, language: str, provider: str) -> str:
    """One warm-up's job key: the same lines in the same voice are one job, whichever call asks."""
    material = json.dumps([RULES_VERSION, provider, voice, language, sorted(texts)], ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def provider_name() -> str:
    """The TTS as the stored clips' keys name it: the provider, and those of its settings that change how a line
    sounds beyond the business's voice and language. OpenAI's model, and its default voice (which a business's
    Google voice name falls back to), are the deployment's; the fake voice may say a recording
    (``FAKE_TTS_WAV``), named by its content. A change to any of them makes every line again; before, a demo
    whose recording changed kept greeting callers with the old one."""
    provider = str(settings.VOICE_TTS)
    if provider == "openai":
        return f"openai:{settings.OPENAI_TTS_MODEL}:{settings.OPENAI_TTS_VOICE}"
    if provider == "fake" and settings.FAKE_TTS_WAV:
        return f"fake:{_recording_digest(settings.FAKE_TTS_WAV)}"
    return provider


def _recording_digest(path: str) -> str:
    """A digest of the file's content, read again only when its status changes (every call asks). The change
    time is in the key, not only the modification time: a copy that keeps the old file's time and size
    (``cp -p``) still changes it, and a file put in its place has another inode."""
    try:
        stat = os.stat(path)
    except OSError:
        return "unreadable"  # the providers refuse it by name (voice.provider_settings)
    return _file_digest(path, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


@functools.lru_cache(maxsize=4)
def _file_digest(path: str, inode: int, size: int, mtime_ns: int, ctime_ns: int) -> str:
    try:
        with open(path, "rb") as file:
            return hashlib.sha256(file.read()).hexdigest()[:16]
    except OSError:
        return "unreadable"


def warm_business(business_id: int, at: dt.datetime | None = None) -> list[str]:
    """Make ahead the fixed lines a call to the business would say now (its settings as saved); returns
    the lines that could not be made."""
    business = Business.objects.get(pk=business_id)
    config = agent_config_for(business, {}, at or timezone.now())
    tts = providers_from_settings().tts
    return warm(fixed_lines(config), voice=config.voice, language=config.language, provider=provider_name(), tts=tts)
