"""Google Cloud Speech-to-Text v1 (streaming, per call) and Text-to-Speech v1 adapters.

Both speak gRPC through Google's own async clients. Audio goes to and comes from Google as mu-law 8 kHz,
exactly what Twilio carries, so nothing is transcoded on the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, cast

import grpc
from google.api_core import exceptions as google_exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import Credentials
from google.cloud.speech_v1 import SpeechAsyncClient
from google.cloud.speech_v1.services.speech.transports import SpeechGrpcAsyncIOTransport
from google.cloud.speech_v1.types import cloud_speech
from google.cloud.texttospeech_v1 import TextToSpeechAsyncClient
from google.cloud.texttospeech_v1.services.text_to_speech.transports import TextToSpeechGrpcAsyncIOTransport
from google.cloud.texttospeech_v1.types import cloud_tts

from voice.providers.base import ProviderError

log = logging.getLogger(__name__)

RATE = 8000
DEFAULT_VOICE = "he-IL-Wavenet-B"
_GOOGLE_ERRORS = (google_exceptions.GoogleAPIError, grpc.RpcError, TimeoutError)


def load_credentials(credentials_json: str | None = None, credentials_path: str | None = None) -> Credentials | None:
    """Service-account credentials from a JSON string or a file; None means Google's default lookup."""
    from google.oauth2 import service_account

    scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    credentials: Credentials  # google.oauth2's constructors are not annotated
    if credentials_json:
        credentials = service_account.Credentials.from_service_account_info(json.loads(credentials_json), scopes=scopes)
        return credentials
    if credentials_path:
        credentials = service_account.Credentials.from_service_account_file(credentials_path, scopes=scopes)
        return credentials
    return None


def google_language(language: str) -> str:
    """Google Speech still knows Hebrew by its legacy code iw-IL."""
    return "iw-IL" if language.lower() in ("he", "he-il", "iw") else language


class _Endpoint:
    """Where and how to reach Google. Clients are built lazily, one per event loop: a gRPC aio channel
    belongs to the loop it was made in (the server has one loop; a Celery task may make a fresh one)."""

    def __init__(self, credentials: Credentials | None, endpoint: str | None, plaintext: bool) -> None:
        self.credentials = credentials
        self.endpoint = endpoint
        self.plaintext = plaintext  # for local stand-ins only
        self._clients: dict[type, tuple[asyncio.AbstractEventLoop, Any]] = {}

    def client(self, client_cls: type, transport_cls: type) -> Any:
        loop = asyncio.get_running_loop()
        cached = self._clients.get(client_cls)
        if cached is None or cached[0] is not loop:
            cached = (loop, client_cls(**self._client_kwargs(transport_cls)))
            self._clients[client_cls] = cached
        return cached[1]

    def _client_kwargs(self, transport_cls: type) -> dict[str, Any]:
        if self.plaintext and self.endpoint:
            return {"transport": transport_cls(channel=grpc.aio.insecure_channel(self.endpoint))}
        kwargs: dict[str, Any] = {"credentials": self.credentials}
        if self.endpoint:
            kwargs["client_options"] = ClientOptions(api_endpoint=self.endpoint)
        return kwargs


class GoogleASR:
    """ASRProvider over Speech-to-Text v1: one StreamingRecognize per call, batch Recognize for files."""

    def __init__(
        self,
        *,
        credentials: Credentials | None = None,
        endpoint: str | None = None,
        plaintext: bool = False,
        stream_limit_s: float = 290.0,
        stream_hard_limit_s: float | None = None,
        replay_max_s: float = 15.0,
        final_wait_s: float = 1.5,
        timeout_s: float = 30.0,
        model: str = "phone_call",
    ) -> None:
        self._where = _Endpoint(credentials, endpoint, plaintext)
        # Streams are replaced at a final past stream_limit_s, or anyway at the hard limit (Google: ~305 s).
        self.stream_limit_s = stream_limit_s
        self.stream_hard_limit_s = stream_hard_limit_s or stream_limit_s + 10.0
        # Audio kept for replay: longer than any utterance, and well under the hard limit.
        self.replay_max_s = min(replay_max_s, self.stream_hard_limit_s / 2)
        self.final_wait_s = final_wait_s
        self.timeout_s = timeout_s
        self.model = model

    def client(self) -> SpeechAsyncClient:
        client: SpeechAsyncClient = self._where.client(SpeechAsyncClient, SpeechGrpcAsyncIOTransport)
        return client

    def recognition_config(self, language: str, **extra: Any) -> cloud_speech.RecognitionConfig:
        return cloud_speech.RecognitionConfig(
            language_code=google_language(language), enable_automatic_punctuation=True, **extra
        )

    def new_transcriber(self, language: str) -> GoogleTranscriber:
        config = cloud_speech.StreamingRecognitionConfig(
            config=self.recognition_config(
                language,
                encoding=cloud_speech.RecognitionConfig.AudioEncoding.MULAW,
                sample_rate_hertz=RATE,
                model=self.model,
            ),
            interim_results=True,
        )
        return GoogleTranscriber(self, config)

    async def transcribe(self, audio: bytes, *, content_type: str, language: str) -> str:
        kind = content_type.split(";")[0].strip().lower()
        if kind in ("audio/basic", "audio/x-mulaw", "audio/mulaw"):
            extra = {
                "encoding": cloud_speech.RecognitionConfig.AudioEncoding.MULAW,
                "sample_rate_hertz": RATE,
            }
        elif kind in ("audio/mpeg", "audio/mp3"):
            extra = {"encoding": cloud_speech.RecognitionConfig.AudioEncoding.MP3, "sample_rate_hertz": RATE}
        else:
            extra = {}  # WAV/FLAC: Google reads encoding and rate from the header
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await self.client().recognize(
                    config=self.recognition_config(language, **extra),
                    audio=cloud_speech.RecognitionAudio(content=audio),
                )
        except _GOOGLE_ERRORS as exc:
            raise ProviderError(f"google recognize failed: {type(exc).__name__}") from exc
        return " ".join(r.alternatives[0].transcript.strip() for r in response.results if r.alternatives).strip()


class _Stream:
    """One StreamingRecognize call: the request queue feeding it and the task reading its answers."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.sent = 0  # bytes of audio given to this stream
        self.task: asyncio.Task[None] | None = None


class GoogleTranscriber:
    """Streams a call's audio to Google and hands out final transcripts per utterance.

    Google ends a stream after ~305 s of audio, so past ``stream_limit_s`` the stream is replaced at the
    next final result (forced at ``stream_hard_limit_s`` if none comes). The audio after the last final is
    replayed into the new stream, so no words are lost.
    """

    CHUNK = RATE // 10  # 100 ms per request, as Google recommends

    def __init__(self, asr: GoogleASR, config: cloud_speech.StreamingRecognitionConfig) -> None:
        self._asr = asr
        self._config = config
        self._replay_max = int(asr.replay_max_s * RATE)
        self._stream: _Stream | None = None
        self._chunk = bytearray()
        # Audio since the last final, and where it starts in the current stream (bytes).
        self._unfinalised = bytearray()
        self._unfinalised_at = 0
        self._finals: list[str] = []
        self._collecting = 0  # end_of_utterance calls under way
        self._interim = ""  # latest non-final text since the last final
        self._segment_start: int | None = None  # stream offset when the current speech was first heard
        self._discard_until = -1  # speech first heard before this offset was already handed out
        self._changed = asyncio.Event()
        self._error: BaseException | None = None
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def push_audio(self, mulaw: bytes) -> None:
        if self._closed or self._error is not None:
            return
        if self._stream is None:
            self._start_stream(replay=b"")
        self._unfinalised += mulaw
        if (excess := len(self._unfinalised) - self._replay_max) > 0:
            del self._unfinalised[:excess]  # long silence: keep only what a restart could need
            self._unfinalised_at += excess
        self._chunk += mulaw
        if len(self._chunk) >= self.CHUNK:
            self._flush()
        if cast(_Stream, self._stream).sent > self._asr.stream_hard_limit_s * RATE:  # set by _start_stream
            self._restart()  # no final came in time (silence, or a caller who never pauses)

    def _flush(self) -> None:
        if self._chunk and self._stream is not None:
            self._stream.queue.put_nowait(bytes(self._chunk))
            self._stream.sent += len(self._chunk)
        self._chunk.clear()

    def _start_stream(self, replay: bytes) -> None:
        stream = _Stream()
        # Offsets are per stream: the new one begins where the replayed audio began in the old one.
        self._discard_until = self._discard_until - self._unfinalised_at if replay else -1
        self._unfinalised = bytearray(replay)
        self._unfinalised_at = 0
        self._segment_start = None
        for start in range(0, len(replay), self.CHUNK):
            stream.queue.put_nowait(replay[start : start + self.CHUNK])
        stream.sent = len(replay)
        stream.task = asyncio.get_running_loop().create_task(self._consume(stream))
        self._tasks.add(stream.task)
        stream.task.add_done_callback(self._tasks.discard)
        self._stream = stream

    def _restart(self) -> None:
        old = self._stream
        self._flush()  # to the old stream; it is part of the unfinalised audio replayed below
        self._start_stream(replay=bytes(self._unfinalised))
        if old is not None:
            old.queue.put_nowait(None)  # half-close; its later results are ignored

    async def _requests(self, stream: _Stream) -> AsyncIterator[cloud_speech.StreamingRecognizeRequest]:
        yield cloud_speech.StreamingRecognizeRequest(streaming_config=self._config)
        while (chunk := await stream.queue.get()) is not None:
            yield cloud_speech.StreamingRecognizeRequest(audio_content=chunk)

    async def _consume(self, stream: _Stream) -> None:
        # A gRPC call (it has cancel()), though the client's hints only promise an async iterable.
        call: grpc.aio.StreamStreamCall | None = None
        try:
            call = await self._asr.client().streaming_recognize(requests=self._requests(stream))
            async for response in call:
                for result in response.results:
                    if stream is self._stream and result.alternatives:
                        self._on_result(stream, result)
                if stream is not self._stream:
                    return
        except Exception as exc:  # a background task: every failure must reach end_of_utterance
            if stream is self._stream:
                log.warning("google streaming recognition failed: %s", type(exc).__name__)
                self._error = exc
                self._stream = None
                self._changed.set()
        finally:
            if call is not None:
                call.cancel()

    def _on_result(self, stream: _Stream, result: cloud_speech.StreamingRecognitionResult) -> None:
        text = result.alternatives[0].transcript.strip()
        if not result.is_final:
            if self._segment_start is None:
                self._segment_start = stream.sent
            self._interim = text
            self._changed.set()
            return
        end = int(result.result_end_time.total_seconds() * RATE) if result.result_end_time else stream.sent
        started = self._segment_start if self._segment_start is not None else end
        if started > self._discard_until and text:
            self._finals.append(text)
        self._interim, self._segment_start = "", None
        # Forget the audio this final covers; what follows it is what a restart must replay.
        del self._unfinalised[: max(0, end - self._unfinalised_at)]
        self._unfinalised_at = max(self._unfinalised_at, end)
        self._changed.set()
        if stream.sent > self._asr.stream_limit_s * RATE:
            self._restart()

    def speech_started(self) -> None:
        # Finals already in were finalised before the caller began: Google ended those segments on a
        # silence, so none of them holds this utterance's words (an open interim may, and stays). While
        # the previous utterance's words are still being collected, they are that utterance's.
        if not self._collecting:
            self._finals.clear()

    async def end_of_utterance(self, utterance_mulaw: bytes) -> str:
        self._collecting += 1
        try:
            return await self._collect()
        finally:
            self._collecting -= 1

    async def _collect(self) -> str:
        self._flush()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._asr.final_wait_s
        # Wait for Google to finalise what it heard: a final and no interim still open.
        while (not self._finals or self._interim) and self._error is None:
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
        if self._error is not None:
            error, self._error = self._error, None
            raise ProviderError(f"google streaming recognition failed: {type(error).__name__}") from error
        words = [*self._finals, self._interim] if self._interim else self._finals
        if self._interim and self._stream is not None:
            # The late final for this speech must not reappear in the next utterance.
            self._discard_until = self._stream.sent
        self._finals, self._interim = [], ""
        return " ".join(words).strip()

    async def close(self) -> None:
        self._closed = True
        self._stream = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class GoogleTTS:
    """TTSProvider over Text-to-Speech v1: asks for mu-law 8 kHz, the bytes Twilio plays."""

    def __init__(
        self,
        *,
        credentials: Credentials | None = None,
        endpoint: str | None = None,
        plaintext: bool = False,
        timeout_s: float = 10.0,
        default_voice: str = DEFAULT_VOICE,
    ) -> None:
        self._where = _Endpoint(credentials, endpoint, plaintext)
        self.timeout_s = timeout_s
        self.default_voice = default_voice

    def client(self) -> TextToSpeechAsyncClient:
        client: TextToSpeechAsyncClient = self._where.client(TextToSpeechAsyncClient, TextToSpeechGrpcAsyncIOTransport)
        return client

    async def synthesize(self, text: str, *, voice: str, language: str) -> AsyncIterator[bytes]:
        name = voice if voice.lower().startswith(language.lower().split("-")[0]) else self.default_voice
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await self.client().synthesize_speech(
                    input=cloud_tts.SynthesisInput(text=text),
                    voice=cloud_tts.VoiceSelectionParams(language_code=language, name=name),
                    audio_config=cloud_tts.AudioConfig(
                        audio_encoding=cloud_tts.AudioEncoding.MULAW, sample_rate_hertz=RATE
                    ),
                )
        except _GOOGLE_ERRORS as exc:
            raise ProviderError(f"google synthesize failed: {type(exc).__name__}") from exc
        audio = strip_wav_header(response.audio_content)
        if audio:
            yield audio


def strip_wav_header(audio: bytes) -> bytes:
    """Google wraps MULAW in a WAV header; header bytes played to a caller are heard as a click."""
    if audio[:4] != b"RIFF" or audio[8:12] != b"WAVE":
        return audio
    pos = 12
    while pos + 8 <= len(audio):
        chunk_id, size = audio[pos : pos + 4], int.from_bytes(audio[pos + 4 : pos + 8], "little")
        if chunk_id == b"data":
            return audio[pos + 8 :]
        pos += 8 + size + (size & 1)
    return b""
