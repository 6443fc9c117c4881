"""A local stand-in for Google Cloud Speech-to-Text v1 and Text-to-Speech v1, speaking real gRPC.

The real ``google-cloud-speech`` / ``google-cloud-texttospeech`` clients talk to it over a plaintext
channel. It records every request and can be scripted:

- Streaming recognition segments the caller's audio by energy: 100 ms of sound followed by
  ``final_silence_ms`` of silence is one utterance. Interim results (the first word) arrive while sound
  continues; the final carries the next queued transcript (or "משפט N") and a ``result_end_time``.
  ``max_stream_s`` aborts a stream with OUT_OF_RANGE, as Google does after ~305 s of audio.
- Recognize (batch) answers the next queued batch transcript.
- SynthesizeSpeech answers a tone (or queued audio) in the requested encoding, with the WAV header
  Google puts in front of MULAW/LINEAR16 audio.

Run standalone for end-to-end demos: ``python -m tests.support.google_standin --port 50051``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import struct
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import grpc
import numpy as np
from google.cloud.speech_v1.types import cloud_speech
from google.cloud.texttospeech_v1.types import cloud_tts

RATE = 8000
BLOCK = 160  # 20 ms of mu-law at 8 kHz: the segmenter's resolution

# Magnitude of each mu-law byte (G.711), for the energy test.
_U = ~np.arange(256, dtype=np.int32) & 0xFF
_MULAW_MAGNITUDE = ((((_U & 0x0F) << 3) + 0x84) << ((_U >> 4) & 0x07)) - 0x84


def mulaw_encode(pcm16: np.ndarray) -> bytes:
    """G.711 mu-law encoding (kept here so the stand-in depends on nothing of ours)."""
    x = pcm16.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    mag = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def tone_mulaw(seconds: float, freq: float = 440.0) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    return mulaw_encode((np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16))


def mulaw_wav_header(data_len: int, rate: int = RATE) -> bytes:
    """A RIFF/WAVE header for mu-law (format 7), as Google prepends it."""
    fmt = struct.pack("<HHIIHH", 7, 1, rate, rate, 1, 8)
    return (
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(fmt) + 8 + data_len)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", data_len)
    )


@dataclass
class RecordedStream:
    config: cloud_speech.StreamingRecognitionConfig | None = None
    audio: bytearray = field(default_factory=bytearray)
    finals: list[str] = field(default_factory=list)
    aborted: str = ""


class _Segmenter:
    """Finds utterances in mu-law audio by energy, in 20 ms blocks of media time."""

    def __init__(self, final_silence_ms: int, interim_every_ms: int, threshold: int = 500) -> None:
        self.final_silence_ms = final_silence_ms
        self.interim_every_ms = interim_every_ms
        self.threshold = threshold
        self._rest = b""
        self._offset = 0  # bytes consumed in this stream
        self._speech_ms = 0
        self._silence_ms = 0

    def feed(self, mulaw: bytes) -> list[tuple[str, int]]:
        """Events ("interim" | "final", stream byte offset) found in this audio."""
        data = self._rest + mulaw
        usable = len(data) - len(data) % BLOCK
        self._rest = data[usable:]
        events = []
        for start in range(0, usable, BLOCK):
            block = np.frombuffer(data[start : start + BLOCK], dtype=np.uint8)
            self._offset += BLOCK
            if _MULAW_MAGNITUDE[block].mean() > self.threshold:
                self._speech_ms += 20
                self._silence_ms = 0
                if self._speech_ms % self.interim_every_ms == 0:
                    events.append(("interim", self._offset))
            elif self._speech_ms:
                self._silence_ms += 20
                if self._silence_ms >= self.final_silence_ms:
                    if self._speech_ms >= 100:
                        events.append(("final", self._offset))
                    self._speech_ms = self._silence_ms = 0
        return events


def _alternative(text: str) -> list[cloud_speech.SpeechRecognitionAlternative]:
    return [cloud_speech.SpeechRecognitionAlternative(transcript=text, confidence=0.9)]


class GoogleStandin:
    """Scriptable Speech + TextToSpeech servicer on 127.0.0.1; start it inside the test's event loop."""

    def __init__(
        self,
        *,
        final_silence_ms: int = 300,
        interim_every_ms: int = 200,
        max_stream_s: float | None = None,
    ) -> None:
        self.final_silence_ms = final_silence_ms
        self.interim_every_ms = interim_every_ms
        self.max_stream_s = max_stream_s
        self.transcripts: deque[str] = deque()  # finals of streaming recognition, in order
        self.batch_transcripts: deque[str] = deque()
        self.tts_replies: deque[bytes | grpc.StatusCode] = deque()  # raw audio (header added) or error
        self.stream_errors: deque[grpc.StatusCode] = deque()  # abort the next streams at their start
        self.streams: list[RecordedStream] = []
        self.recognize_requests: list[cloud_speech.RecognizeRequest] = []
        self.tts_requests: list[cloud_tts.SynthesizeSpeechRequest] = []
        self._finals_given = 0
        self._server: grpc.aio.Server | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> GoogleStandin:
        self._server = grpc.aio.server()
        self._server.add_generic_rpc_handlers(self._handlers())
        self.port = self._server.add_insecure_port(f"127.0.0.1:{port}")
        await self._server.start()
        return self

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None

    async def __aenter__(self) -> GoogleStandin:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _handlers(self) -> list[grpc.GenericRpcHandler]:
        speech = grpc.method_handlers_generic_handler(
            "google.cloud.speech.v1.Speech",
            {
                "StreamingRecognize": grpc.stream_stream_rpc_method_handler(
                    self._streaming_recognize,
                    request_deserializer=cloud_speech.StreamingRecognizeRequest.deserialize,
                    response_serializer=cloud_speech.StreamingRecognizeResponse.serialize,
                ),
                "Recognize": grpc.unary_unary_rpc_method_handler(
                    self._recognize,
                    request_deserializer=cloud_speech.RecognizeRequest.deserialize,
                    response_serializer=cloud_speech.RecognizeResponse.serialize,
                ),
            },
        )
        tts = grpc.method_handlers_generic_handler(
            "google.cloud.texttospeech.v1.TextToSpeech",
            {
                "SynthesizeSpeech": grpc.unary_unary_rpc_method_handler(
                    self._synthesize,
                    request_deserializer=cloud_tts.SynthesizeSpeechRequest.deserialize,
                    response_serializer=cloud_tts.SynthesizeSpeechResponse.serialize,
                )
            },
        )
        return [speech, tts]

    def _upcoming(self) -> str:
        return self.transcripts[0] if self.transcripts else f"משפט {self._finals_given + 1}"

    def _next_final(self) -> str:
        text = self._upcoming()
        if self.transcripts:
            self.transcripts.popleft()
        self._finals_given += 1
        return text

    async def _streaming_recognize(
        self,
        requests: AsyncIterator[cloud_speech.StreamingRecognizeRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[cloud_speech.StreamingRecognizeResponse]:
        stream = RecordedStream()
        self.streams.append(stream)
        if self.stream_errors:
            stream.aborted = "scripted"
            await context.abort(self.stream_errors.popleft(), "scripted failure")
        segmenter = _Segmenter(self.final_silence_ms, self.interim_every_ms)
        async for request in requests:
            if "streaming_config" in request:
                stream.config = request.streaming_config
                continue
            if stream.config is None:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "streaming_config must come first")
            stream.audio += request.audio_content
            if self.max_stream_s is not None and len(stream.audio) > self.max_stream_s * RATE:
                stream.aborted = "OUT_OF_RANGE"
                await context.abort(
                    grpc.StatusCode.OUT_OF_RANGE, "Exceeded maximum allowed stream duration of 305 seconds."
                )
            for kind, offset in segmenter.feed(request.audio_content):
                is_final = kind == "final"
                text = self._next_final() if is_final else self._upcoming().split()[0]
                if is_final:
                    stream.finals.append(text)
                result = cloud_speech.StreamingRecognitionResult(
                    alternatives=_alternative(text),
                    is_final=is_final,
                    stability=0.0 if is_final else 0.5,
                    result_end_time=timedelta(seconds=offset / RATE),
                    language_code=stream.config.config.language_code.lower(),
                )
                yield cloud_speech.StreamingRecognizeResponse(results=[result])

    async def _recognize(
        self, request: cloud_speech.RecognizeRequest, context: grpc.aio.ServicerContext
    ) -> cloud_speech.RecognizeResponse:
        self.recognize_requests.append(request)
        text = self.batch_transcripts.popleft() if self.batch_transcripts else "הודעה קולית לדוגמה"
        return cloud_speech.RecognizeResponse(
            results=[cloud_speech.SpeechRecognitionResult(alternatives=_alternative(text))]
        )

    async def _synthesize(
        self, request: cloud_tts.SynthesizeSpeechRequest, context: grpc.aio.ServicerContext
    ) -> cloud_tts.SynthesizeSpeechResponse:
        self.tts_requests.append(request)
        reply = self.tts_replies.popleft() if self.tts_replies else None
        if isinstance(reply, grpc.StatusCode):
            await context.abort(reply, "scripted failure")
        audio = reply if reply is not None else tone_mulaw(0.06 * max(1, len(request.input.text)))
        encoding = request.audio_config.audio_encoding
        if encoding == cloud_tts.AudioEncoding.MULAW:
            audio = mulaw_wav_header(len(audio), request.audio_config.sample_rate_hertz or RATE) + audio
        return cloud_tts.SynthesizeSpeechResponse(audio_content=audio)


async def _serve(port: int) -> None:
    standin = await GoogleStandin().start(port)
    print(f"google stand-in listening on {standin.address}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await standin.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=50051)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()
