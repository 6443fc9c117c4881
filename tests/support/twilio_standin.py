"""A local stand-in for the parts of Twilio's REST API we use, driven by the real ``twilio`` client and httpx.

- GET  /2010-04-01/Accounts/{AC}/Recordings/{RE}[.wav|.mp3]: the recording's audio, HTTP Basic auth
  (AccountSid:AuthToken) checked like Twilio does (401 otherwise). Scriptable per recording: fail with 500
  N times then succeed, 404 for good, or a zero-length body.
- GET  /2010-04-01/Accounts/{AC}/Calls/{CA}.json: the call resource in the state a test scripted
  (``set_call``); 404 for a call it was never told about, or a scripted error status (e.g. 503).
- POST /2010-04-01/Accounts/{AC}/Calls/{CA}.json: call update (``Twiml``, ``Status``...), answered with a
  realistic call resource (a ``Status`` sent becomes the scripted state).
- POST /2010-04-01/Accounts/{AC}/Calls/{CA}/Recordings.json: start a recording, answered with a recording.
- POST /2010-04-01/Accounts/{AC}/Messages.json: send a message (SMS, or WhatsApp with ``whatsapp:``
  addresses), answered 201 with a queued message resource and a fresh MessageSid; or a scripted refusal
  (``refuse_messages``: Twilio's error JSON, e.g. 400 / 21211 "invalid To", or 503).
- POST /2010-04-01/Accounts/{AC}/Calls.json: create an outbound call (``To``, ``From``, ``Twiml``...),
  answered 201 with a queued call resource and a fresh CallSid; or a scripted refusal (``refuse_calls``).

Point the app at it with ``settings.TWILIO_API_BASE_URL = standin.base_url``; ``requests`` lists what came.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import threading
import uuid
import wave
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

API = "/2010-04-01/Accounts"
_RECORDING = re.compile(rf"^{API}/(AC\w+)/Recordings/(RE\w+?)(\.wav|\.mp3)?$")
_CALL = re.compile(rf"^{API}/(AC\w+)/Calls/(CA\w+)\.json$")
_CALL_RECORDINGS = re.compile(rf"^{API}/(AC\w+)/Calls/(CA\w+)/Recordings\.json$")
_MESSAGES = re.compile(rf"^{API}/(AC\w+)/Messages\.json$")
_CALLS = re.compile(rf"^{API}/(AC\w+)/Calls\.json$")


def hebrew_voicemail_wav(
    text: str = "שלום, קוראים לי דנה. אני מתעניינת בשירות. תחזרו אליי מחר בבוקר.",
) -> bytes:
    """A WAV like Twilio's recordings (8 kHz 16-bit mono): espeak-ng's Hebrew voice, else a tone."""
    if shutil.which("espeak-ng"):
        raw = subprocess.run(["espeak-ng", "-v", "he", "--stdout", text], capture_output=True, check=True).stdout
        with wave.open(io.BytesIO(raw)) as w:
            rate = w.getframerate()
            samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        import soxr

        samples = soxr.resample(samples, rate, 8000).astype(np.int16)
    else:
        t = np.arange(8000 * 2) / 8000
        samples = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    return pcm_wav(samples)


def pcm_wav(samples: np.ndarray, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return out.getvalue()


@dataclass
class ScriptedRecording:
    audio: bytes
    content_type: str = "audio/x-wav"
    fail_times: int = 0  # answer ``fail_status`` this many times, then the audio
    fail_status: int = 500
    missing: bool = False  # 404 for good


@dataclass
class ScriptedCall:
    status: str = "in-progress"
    duration: int | None = None  # seconds, as Twilio reports it once the call ended
    end_time: str | None = None  # RFC 2822, e.g. "Sun, 01 Mar 2026 12:01:05 +0000"
    error_status: int = 0  # answer GET with this HTTP error instead (e.g. 503)
    malformed: bool = False  # answer GET with 200 and a body that is not JSON


@dataclass
class Seen:
    method: str
    path: str
    authorized: bool
    form: dict[str, list[str]] = field(default_factory=dict)


class TwilioStandin:
    """Threaded HTTP server on 127.0.0.1; use as a context manager."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.recordings: dict[str, ScriptedRecording] = {}
        self.calls: dict[str, ScriptedCall] = {}
        self.requests: list[Seen] = []
        self.message_refusals: list[tuple[int, int]] = []  # (HTTP status, Twilio error code), one per POST
        self.call_refusals: list[tuple[int, int]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting --------------------------------------------------------------------------------------
    def add_recording(self, recording_sid: str, audio: bytes, **script: Any) -> str:
        """Serve ``audio`` for this RecordingSid; returns its RecordingUrl (no extension, as Twilio sends)."""
        self.recordings[recording_sid] = ScriptedRecording(audio=audio, **script)
        return self.recording_url(recording_sid)

    def set_call(self, call_sid: str, status: str, **script: Any) -> ScriptedCall:
        """What GET .../Calls/{call_sid}.json answers from now on."""
        with self._lock:
            self.calls[call_sid] = ScriptedCall(status=status, **script)
            return self.calls[call_sid]

    def call_fetches(self, call_sid: str) -> list[Seen]:
        return [r for r in self.requests if r.method == "GET" and r.path.endswith(f"/Calls/{call_sid}.json")]

    def recording_url(self, recording_sid: str) -> str:
        return f"{self.base_url}{API}/{self.account_sid}/Recordings/{recording_sid}"

    def downloads(self, recording_sid: str) -> list[Seen]:
        return [r for r in self.requests if r.method == "GET" and recording_sid in r.path]

    def call_updates(self, call_sid: str) -> list[dict[str, str]]:
        return [
            {k: v[0] for k, v in r.form.items()}
            for r in self.requests
            if r.method == "POST" and r.path.endswith(f"/Calls/{call_sid}.json")
        ]

    def refuse_messages(self, status: int, code: int, times: int = 1) -> None:
        """The next ``times`` message sends are refused with this HTTP status and Twilio error code."""
        with self._lock:
            self.message_refusals.extend([(status, code)] * times)

    def refuse_calls(self, status: int, code: int, times: int = 1) -> None:
        with self._lock:
            self.call_refusals.extend([(status, code)] * times)

    def messages_sent(self) -> list[dict[str, str]]:
        """Every message POST that came (refused ones too), each field's first value."""
        return [
            {k: v[0] for k, v in r.form.items()}
            for r in self.requests
            if r.method == "POST" and _MESSAGES.match(r.path)
        ]

    def calls_created(self) -> list[Seen]:
        """Every outbound call POST that came (refused ones too); ``form`` keeps repeated fields."""
        return [r for r in self.requests if r.method == "POST" and _CALLS.match(r.path)]

    def _refusal(self, refusals: list[tuple[int, int]]) -> tuple[int, int] | None:
        with self._lock:
            return refusals.pop(0) if refusals else None

    def _new_sid(self, prefix: str) -> str:
        return f"{prefix}{uuid.uuid4().hex}"  # like Twilio's: 32 hex digits, never one a test made up

    # -- server -----------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> TwilioStandin:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _authorized(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == f"Basic {expected}"

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)

    def _take_recording(self, recording_sid: str) -> tuple[int, bytes, str]:
        with self._lock:
            script = self.recordings.get(recording_sid)
            if script is None or script.missing:
                return 404, _error_json(20404, "The requested resource was not found"), "application/json"
            if script.fail_times > 0:
                script.fail_times -= 1
                return script.fail_status, _error_json(20500, "Internal Server Error"), "application/json"
            return 200, script.audio, script.content_type

    def _take_call(self, call_sid: str) -> ScriptedCall | None:
        with self._lock:
            return self.calls.get(call_sid)

    def _update_call(self, call_sid: str, form: dict[str, list[str]]) -> ScriptedCall:
        with self._lock:
            script = self.calls.setdefault(call_sid, ScriptedCall())
            if "Status" in form:
                script.status = form["Status"][0]
            return script


def _error_json(code: int, message: str) -> bytes:
    status = 404 if code == 20404 else 500
    return json.dumps(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
    ).encode()


def _call_resource(account_sid: str, call_sid: str, script: ScriptedCall) -> dict[str, Any]:
    return {
        "sid": call_sid,
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "direction": "inbound",
        "from": "+972501234567",
        "from_formatted": "050-123-4567",
        "to": "+97233763805",
        "to_formatted": "03-376-3805",
        "status": script.status,
        "start_time": "Sun, 01 Mar 2026 12:00:00 +0000",
        "end_time": script.end_time,
        "duration": None if script.duration is None else str(script.duration),
        "price": None,
        "price_unit": "USD",
        "parent_call_sid": None,
        "phone_number_sid": "PN0123456789abcdef0123456789abcdef",
        "date_created": "Sun, 01 Mar 2026 12:00:00 +0000",
        "date_updated": "Sun, 01 Mar 2026 12:00:05 +0000",
        "uri": f"{API}/{account_sid}/Calls/{call_sid}.json",
        "subresource_uris": {
            "recordings": f"{API}/{account_sid}/Calls/{call_sid}/Recordings.json",
        },
    }


def _refusal_json(status: int, code: int) -> bytes:
    messages = {
        21211: "The 'To' number is not a valid phone number.",
        21610: "Attempt to send to unsubscribed recipient",
    }
    return json.dumps(
        {
            "code": code,
            "message": messages.get(code, "Service Unavailable" if status >= 500 else "Bad request"),
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
    ).encode()


def _message_resource(account_sid: str, sid: str, form: dict[str, list[str]]) -> dict[str, Any]:
    first = {k: v[0] for k, v in form.items()}
    return {
        "sid": sid,
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "from": first.get("From"),
        "to": first.get("To"),
        "body": first.get("Body", ""),
        "status": "queued",
        "direction": "outbound-api",
        "num_segments": "1",
        "num_media": "0",
        "error_code": None,
        "error_message": None,
        "price": None,
        "price_unit": "USD",
        "messaging_service_sid": None,
        "date_created": "Sun, 01 Mar 2026 12:02:00 +0000",
        "date_updated": "Sun, 01 Mar 2026 12:02:00 +0000",
        "date_sent": None,
        "uri": f"{API}/{account_sid}/Messages/{sid}.json",
        "subresource_uris": {"media": f"{API}/{account_sid}/Messages/{sid}/Media.json"},
    }


def _created_call_resource(account_sid: str, sid: str, form: dict[str, list[str]]) -> dict[str, Any]:
    first = {k: v[0] for k, v in form.items()}
    body = _call_resource(account_sid, sid, ScriptedCall(status="queued"))
    return body | {"direction": "outbound-api", "from": first.get("From"), "to": first.get("To"), "start_time": None}


def _recording_resource(account_sid: str, call_sid: str) -> dict[str, Any]:
    sid = "RE" + call_sid[2:]
    return {
        "sid": sid,
        "account_sid": account_sid,
        "call_sid": call_sid,
        "api_version": "2010-04-01",
        "status": "in-progress",
        "channels": 2,
        "source": "StartCallRecordingAPI",
        "start_time": "Sun, 01 Mar 2026 12:00:05 +0000",
        "date_created": "Sun, 01 Mar 2026 12:00:05 +0000",
        "date_updated": "Sun, 01 Mar 2026 12:00:05 +0000",
        "duration": "-1",
        "uri": f"{API}/{account_sid}/Calls/{call_sid}/Recordings/{sid}.json",
    }


def _handler_for(standin: TwilioStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
            pass

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            authorized = standin._authorized(self.headers.get("Authorization"))
            standin._record(Seen("GET", path, authorized))
            if match := _CALL.match(path):
                if not authorized or match.group(1) != standin.account_sid:
                    return self._unauthorized()
                call = standin._take_call(match.group(2))
                if call is None:
                    return self._send(
                        404, _error_json(20404, "The requested resource was not found"), "application/json"
                    )
                if call.malformed:
                    return self._send(200, b"<html>not json", "text/html")
                if call.error_status:
                    return self._send(call.error_status, _error_json(20500, "Service Unavailable"), "application/json")
                body = _call_resource(match.group(1), match.group(2), call)
                return self._send(200, json.dumps(body).encode(), "application/json")
            match = _RECORDING.match(path)
            if not match:
                return self._send(404, _error_json(20404, "Not found"), "application/json")
            if not authorized or match.group(1) != standin.account_sid:
                return self._unauthorized()
            self._send(*standin._take_recording(match.group(2)))

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
            authorized = standin._authorized(self.headers.get("Authorization"))
            standin._record(Seen("POST", path, authorized, form))
            if not authorized:
                return self._unauthorized()
            if match := _CALL.match(path):
                body = _call_resource(match.group(1), match.group(2), standin._update_call(match.group(2), form))
                return self._send(200, json.dumps(body).encode(), "application/json")
            if match := _MESSAGES.match(path):
                if refused := standin._refusal(standin.message_refusals):
                    return self._send(refused[0], _refusal_json(*refused), "application/json")
                body = _message_resource(match.group(1), standin._new_sid("SM"), form)
                return self._send(201, json.dumps(body).encode(), "application/json")
            if match := _CALLS.match(path):
                if refused := standin._refusal(standin.call_refusals):
                    return self._send(refused[0], _refusal_json(*refused), "application/json")
                sid = standin._new_sid("CA")
                standin.set_call(sid, "queued")
                body = _created_call_resource(match.group(1), sid, form)
                return self._send(201, json.dumps(body).encode(), "application/json")
            if match := _CALL_RECORDINGS.match(path):
                body = _recording_resource(match.group(1), match.group(2))
                return self._send(201, json.dumps(body).encode(), "application/json")
            self._send(404, _error_json(20404, "Not found"), "application/json")

        def _unauthorized(self) -> None:
            body = json.dumps({"code": 20003, "message": "Authenticate", "status": 401}).encode()
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
