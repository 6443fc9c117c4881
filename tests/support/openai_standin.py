"""A local stand-in for the OpenAI HTTP endpoints the voice agent uses, driven by the real ``openai`` SDK.

- POST /v1/chat/completions: streamed (SSE chunks, text and tool-call arguments split across chunks, then
  ``data: [DONE]``) or whole.
- POST /v1/audio/transcriptions: multipart upload, answers ``{"text": ...}``.
- POST /v1/audio/speech: 24 kHz 16-bit mono PCM, sent in chunks (espeak-ng Hebrew if installed, else a tone).

Scriptable: queue ``Reply`` objects per endpoint (text, tool calls, HTTP error status, delays) and read
``requests`` afterwards. Unscripted, it answers in plausible Hebrew, good enough for an end-to-end demo:
``python -m tests.support.openai_standin --port 8089`` then ``OPENAI_BASE_URL=http://127.0.0.1:8089/v1``.

Faults: ``Reply(hang=True)`` accepts the request and never answers (``abandoned`` lists the requests whose
client gave up and closed the connection); ``Reply(first_chunk_delay_s=3)`` starts the streamed response at
once but sends its first token (or audio) only after that pause. ``--chat hang|slow`` does the same to every
unscripted chat request of the command-line server.
"""

from __future__ import annotations

import argparse
import io
import json
import select
import shutil
import socket
import subprocess
import threading
import time
import wave
from collections import deque
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import soxr

SPEECH_RATE = 24_000
DEFAULT_TRANSCRIPT = "שלום, אני רוצה לשמוע פרטים על השירות שלכם"
DEFAULT_REPLY = "בשמחה! אשמח לעזור. איך קוראים לך?"
DEFAULT_COMPLETION = "סיכום השיחה: הלקוח ביקש פרטים על השירות."


@dataclass
class Reply:
    """One scripted answer. ``status`` set means an error response with that HTTP status."""

    text: str | None = None
    tool_calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)  # str: raw arguments
    status: int | None = None
    delay_s: float = 0.0  # before the response starts
    chunk_delay_s: float = 0.0  # between streamed chunks
    pcm: bytes | None = None  # /audio/speech body (24 kHz s16le)
    hang: bool = False  # accept the request and never answer
    first_chunk_delay_s: float = 0.0  # streamed: the response starts at once, its first content after this


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]  # lower-case names
    json: dict[str, Any] | None = None
    fields: dict[str, str] = field(default_factory=dict)  # multipart text fields
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # name -> (filename, type, bytes)

    def wav_info(self, name: str = "file") -> tuple[int, int, int] | None:
        """(rate, channels, sample width) if the uploaded file is a valid PCM WAV, else None."""
        try:
            with wave.open(io.BytesIO(self.files[name][2])) as w:
                return w.getframerate(), w.getnchannels(), w.getsampwidth()
        except (KeyError, wave.Error, EOFError):
            return None


def hebrew_speech_pcm(text: str) -> bytes:
    """24 kHz PCM of ``text``: espeak-ng's Hebrew voice if installed, else a tone as long as the text."""
    if shutil.which("espeak-ng"):
        wav = subprocess.run(["espeak-ng", "-v", "he", "--stdout", text], capture_output=True, check=True).stdout
        with wave.open(io.BytesIO(wav)) as w:
            rate = w.getframerate()
            samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return soxr.resample(samples, rate, SPEECH_RATE).astype("<i2").tobytes()
    t = np.arange(int(0.06 * max(1, len(text)) * SPEECH_RATE)) / SPEECH_RATE
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()


class OpenAIStandin:
    """Threaded HTTP server on 127.0.0.1; use as a context manager or start()/stop()."""

    def __init__(self, *, api_key: str | None = None) -> None:
        self.api_key = api_key  # when set, other bearer tokens get 401 like the real API
        self.chat: deque[Reply] = deque()
        self.transcriptions: deque[Reply] = deque()
        self.speech: deque[Reply] = deque()
        self.requests: list[Recorded] = []
        self.abandoned: list[Recorded] = []  # hung requests the client closed (it gave up waiting)
        self.chat_default = Reply()  # what an unscripted chat request gets
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def requests_to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    def start(self, port: int = 0) -> OpenAIStandin:
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # hung requests give up too
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OpenAIStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next(self, queue: deque[Reply]) -> Reply:
        with self._lock:
            if queue:
                return queue.popleft()
            return self.chat_default if queue is self.chat else Reply()

    def _hang(self, connection: socket.socket, recorded: Recorded) -> None:
        """Never answer: wait until the client closes the connection (or the stand-in stops)."""
        while not self._stopping.is_set():
            readable, _, _ = select.select([connection], [], [], 0.05)
            if readable:
                try:
                    closed = connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    closed = True
                if closed:
                    with self._lock:
                        self.abandoned.append(recorded)
                    return

    def _record(self, recorded: Recorded) -> None:
        with self._lock:
            self.requests.append(recorded)


def _chat_chunks(reply: Reply, model: str) -> list[dict[str, Any]]:
    """The reply as OpenAI streams it: words of text, then each tool call with its arguments in pieces."""
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    text = reply.text if reply.text is not None else ("" if reply.tool_calls else DEFAULT_REPLY)
    words = text.split(" ")
    deltas += [{"content": w if i == 0 else " " + w} for i, w in enumerate(words) if text]
    for index, (name, arguments) in enumerate(reply.tool_calls):
        head = {"index": index, "id": f"call_{index}_{name}", "type": "function"}
        deltas.append({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]})
        encoded = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        third = max(1, len(encoded) // 3)
        for start in range(0, len(encoded), third):
            piece = encoded[start : start + third]
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    finish = "tool_calls" if reply.tool_calls else "stop"
    chunks = [{"index": 0, "delta": d, "finish_reason": None, "logprobs": None} for d in deltas] + [
        {"index": 0, "delta": {}, "finish_reason": finish, "logprobs": None}
    ]
    base = {
        "id": "chatcmpl-standin",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    return [{**base, "choices": [choice]} for choice in chunks]


def _chat_completion(reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text if reply.text is not None else None}
    if reply.text is None and not reply.tool_calls:
        message["content"] = DEFAULT_COMPLETION
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{i}_{name}",
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": args if isinstance(args, str) else json.dumps(args, ensure_ascii=False),
                },
            }
            for i, (name, args) in enumerate(reply.tool_calls)
        ]
    return {
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if reply.tool_calls else "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


def _handler_for(standin: OpenAIStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            recorded = Recorded(path=self.path, headers={k.lower(): v for k, v in self.headers.items()})
            content_type = self.headers.get("Content-Type", "")
            if content_type.startswith("application/json"):
                recorded.json = json.loads(body or b"{}")
            elif content_type.startswith("multipart/form-data"):
                _parse_multipart(content_type, body, recorded)
            standin._record(recorded)
            if standin.api_key and recorded.headers.get("authorization") != f"Bearer {standin.api_key}":
                return self._error(401, "Incorrect API key provided")
            routes = {
                "/v1/chat/completions": (standin.chat, self._chat),
                "/v1/audio/transcriptions": (standin.transcriptions, self._transcription),
                "/v1/audio/speech": (standin.speech, self._speech),
            }
            if self.path not in routes:
                return self._error(404, f"no route {self.path}")
            queue, answer = routes[self.path]
            reply = standin._next(queue)
            time.sleep(reply.delay_s)
            if reply.hang:
                self.close_connection = True
                return standin._hang(self.connection, recorded)
            try:
                if reply.status is not None:
                    self._error(reply.status, "scripted failure")
                else:
                    answer(reply, recorded)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def _chat(self, reply: Reply, recorded: Recorded) -> None:
            request = recorded.json or {}
            model = request.get("model", "standin")
            if not request.get("stream"):
                return self._json(200, _chat_completion(reply, model))
            self._start_chunked("text/event-stream")
            for i, chunk in enumerate(_chat_chunks(reply, model)):
                if i == 1:  # after the role-only chunk: the first token is slow to come
                    time.sleep(reply.first_chunk_delay_s)
                self._chunk(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                time.sleep(reply.chunk_delay_s)
            self._chunk(b"data: [DONE]\n\n")
            self._chunk(b"")

        def _transcription(self, reply: Reply, recorded: Recorded) -> None:
            if "file" not in recorded.files:
                return self._error(400, "file is required")
            self._json(200, {"text": reply.text if reply.text is not None else DEFAULT_TRANSCRIPT})

        def _speech(self, reply: Reply, recorded: Recorded) -> None:
            request = recorded.json or {}
            if request.get("response_format") != "pcm":
                return self._error(400, "the stand-in only speaks response_format=pcm")
            pcm = reply.pcm if reply.pcm is not None else hebrew_speech_pcm(request.get("input", ""))
            self._start_chunked("application/octet-stream")
            time.sleep(reply.first_chunk_delay_s)
            step = 4801  # odd on purpose: real chunks do not respect sample boundaries
            for start in range(0, len(pcm), step):
                self._chunk(pcm[start : start + step])
                time.sleep(reply.chunk_delay_s)
            self._chunk(b"")

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True

        def _error(self, status: int, message: str) -> None:
            self._json(status, {"error": {"message": message, "type": "standin_error", "code": status}})

        def _start_chunked(self, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler


def _parse_multipart(content_type: str, body: bytes, recorded: Recorded) -> None:
    message = BytesParser(policy=policy.HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            recorded.files[name] = (filename, part.get_content_type(), payload)
        else:
            recorded.fields[name] = payload.decode()


def main() -> None:
    parser = argparse.ArgumentParser(description="Local OpenAI API stand-in")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--api-key", default=None, help="require this bearer token")
    parser.add_argument("--chat", choices=("normal", "hang", "slow"), default="normal", help="unscripted chat")
    args = parser.parse_args()
    standin = OpenAIStandin(api_key=args.api_key)
    standin.chat_default = {"hang": Reply(hang=True), "slow": Reply(first_chunk_delay_s=3.0)}.get(args.chat, Reply())
    standin.start(args.port)
    print(f"openai stand-in listening on {standin.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
