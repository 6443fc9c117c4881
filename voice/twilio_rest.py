"""The few Twilio REST calls we make, through the official client, plus recording downloads.

``settings.TWILIO_API_BASE_URL`` (tests: a local stand-in) replaces the scheme and host of every request the
client makes to ``*.twilio.com``; paths, parameters and auth stay exactly what the real client sends.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
import requests
from django.conf import settings
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

logger = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
REST_TIMEOUT = 15.0

__all__ = [
    "CallState",
    "DownloadError",
    "SentMessage",
    "TwilioRestException",
    "TwilioUnreachable",
    "create_call",
    "download_recording",
    "fetch_call",
    "hang_up",
    "move_to_voicemail",
    "redirect_call",
    "send_message",
]


class DownloadError(Exception):
    """A recording could not be fetched. ``permanent`` failures are not worth retrying (404, 401...)."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class TwilioUnreachable(Exception):
    """Twilio's REST API did not answer (connection error, timeout): worth asking again later."""


@dataclass(frozen=True)
class CallState:
    """A call as Twilio's REST API describes it (the fields we act on)."""

    status: str  # queued, ringing, in-progress, completed, busy, failed, no-answer, canceled
    duration_seconds: int | None = None
    end_time: dt.datetime | None = None


def _rebase(url: str) -> str:
    """Point a twilio.com URL at TWILIO_API_BASE_URL when it is set (tests); otherwise leave it alone."""
    base = settings.TWILIO_API_BASE_URL
    if not base:
        return url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host != "twilio.com" and not host.endswith(".twilio.com"):
        return url
    target = urlsplit(base)
    prefix = target.path.rstrip("/")
    return urlunsplit((target.scheme, target.netloc, prefix + parts.path, parts.query, parts.fragment))


class _RebasingHttpClient(TwilioHttpClient):
    def request(self, method: str, url: str, *args, **kwargs) -> Response:  # type: ignore[override]
        return super().request(method, _rebase(url), *args, **kwargs)


def client() -> Client:
    return Client(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        http_client=_RebasingHttpClient(timeout=REST_TIMEOUT),
    )


def move_to_voicemail(call_sid: str, twiml: str) -> None:
    """Replace what a live call is doing (e.g. a dead socket) with ``twiml`` (absolute URLs inside)."""
    client().calls(call_sid).update(twiml=twiml)
    logger.info("moved call to voicemail")


def redirect_call(call_sid: str, twiml: str) -> None:
    """Replace what a live call is doing with ``twiml`` (e.g. a ``<Dial>`` to a person): Twilio ends the
    ``<Connect><Stream>`` at once, without asking its action URL."""
    client().calls(call_sid).update(twiml=twiml)
    logger.info("redirected call to new TwiML")


def fetch_call(call_sid: str) -> CallState | None:
    """Twilio's view of a call (``GET .../Calls/{CallSid}.json``); None when Twilio does not know it (404).

    Raises ``TwilioRestException`` for other error answers and ``TwilioUnreachable`` when Twilio could not be
    reached at all.
    """
    try:
        call = client().calls(call_sid).fetch()
    except TwilioRestException as exc:
        if exc.status == 404:
            return None
        raise
    except requests.RequestException as exc:
        raise TwilioUnreachable(f"{type(exc).__name__}: {exc}") from exc
    duration = str(call.duration or "")
    return CallState(
        status=str(call.status or ""),
        duration_seconds=int(duration) if duration.isdigit() else None,
        end_time=call.end_time,
    )


def hang_up(call_sid: str) -> None:
    client().calls(call_sid).update(status="completed")
    logger.info("hung up call through the REST API")


def start_twilio_recording(call_sid: str, status_callback_url: str) -> str:
    """Ask Twilio for its own (dual-channel) recording of a live call; returns the RecordingSid."""
    recording = (
        client()
        .calls(call_sid)
        .recordings.create(
            recording_status_callback=status_callback_url,
            recording_status_callback_event=["completed", "absent"],
            recording_status_callback_method="POST",
            recording_channels="dual",
        )
    )
    logger.info("Twilio recording %s started", recording.sid)
    return recording.sid


@dataclass(frozen=True)
class SentMessage:
    """What Twilio answered when it took a message: its MessageSid and first status (queued, accepted...)."""

    sid: str
    status: str


def send_message(*, to: str, from_: str, body: str, status_callback: str) -> SentMessage:
    """Send a text message (``POST .../Messages.json``). ``to``/``from_`` are E.164 numbers for SMS, or
    ``whatsapp:+...`` addresses for WhatsApp; Twilio reports the delivery to ``status_callback``.

    Raises ``TwilioRestException`` when Twilio refuses (its status and error code say why) and
    ``TwilioUnreachable`` when it could not be reached.
    """
    try:
        message = client().messages.create(to=to, from_=from_, body=body, status_callback=status_callback)
    except requests.RequestException as exc:
        raise TwilioUnreachable(f"{type(exc).__name__}: {exc}") from exc
    logger.info("message %s taken by Twilio (%s)", message.sid, message.status)
    return SentMessage(sid=str(message.sid), status=str(message.status or ""))


def create_call(
    *,
    to: str,
    from_: str,
    twiml: str,
    status_callback: str,
    status_callback_event: list[str],
    timeout_s: int,
) -> str:
    """Place an outbound call (``POST .../Calls.json``) that runs ``twiml`` once ``to`` answers; its status
    callbacks go to ``status_callback``. Returns the new CallSid.

    Raises ``TwilioRestException`` when Twilio refuses and ``TwilioUnreachable`` when it could not be reached.
    """
    try:
        call = client().calls.create(
            to=to,
            from_=from_,
            twiml=twiml,
            status_callback=status_callback,
            status_callback_event=status_callback_event,
            status_callback_method="POST",
            timeout=timeout_s,
        )
    except requests.RequestException as exc:
        raise TwilioUnreachable(f"{type(exc).__name__}: {exc}") from exc
    logger.info("outbound call %s created", call.sid)
    return str(call.sid)


def _allowed_download_host(url: str) -> bool:
    # The account credentials go only to Twilio (or the configured stand-in), whatever a callback says.
    host = (urlsplit(url).hostname or "").lower()
    if host == "twilio.com" or host.endswith(".twilio.com"):
        return True
    base = settings.TWILIO_API_BASE_URL
    return bool(base) and host == (urlsplit(base).hostname or "").lower()


def media_url(recording_url: str) -> str:
    """Twilio serves a recording's audio at its URL plus ``.wav`` or ``.mp3``; WAV unless one is given."""
    path = urlsplit(recording_url).path
    if path.endswith((".wav", ".mp3")):
        return recording_url
    return recording_url + ".wav"


def download_recording(url: str) -> tuple[bytes, str]:
    """The recording's bytes and content type, fetched with HTTP Basic auth (AccountSid:AuthToken).

    Raises ``DownloadError``: permanent for 4xx answers other than 408/429 and for hosts that are not
    Twilio's; transient for 5xx, timeouts and connection errors.
    """
    target = _rebase(media_url(url))
    if not _allowed_download_host(target):
        raise DownloadError(f"refusing to send Twilio credentials to {urlsplit(target).hostname}", permanent=True)
    try:
        response = httpx.get(
            target,
            auth=(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN),
            timeout=DOWNLOAD_TIMEOUT,
            follow_redirects=True,  # httpx drops the Authorization header on a cross-host redirect
        )
    except httpx.HTTPError as exc:
        raise DownloadError(f"download failed: {exc.__class__.__name__}: {exc}", permanent=False) from exc
    status = response.status_code
    if status >= 400:
        permanent = status < 500 and status not in (408, 429)
        raise DownloadError(f"download answered HTTP {status}", permanent=permanent)
    default_type = "audio/mpeg" if target.endswith(".mp3") else "audio/wav"
    content_type = response.headers.get("content-type", "").split(";")[0].strip() or default_type
    if content_type in ("audio/x-wav", "audio/wave"):
        content_type = "audio/wav"
    return response.content, content_type
