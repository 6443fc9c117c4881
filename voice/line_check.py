"""The owner's line check: what a caller to this business's number gets, tried through the public URL exactly as
Twilio would try it, one step at a time, each green or red with the reason (the admin page is
backoffice/line_check.py).

1. ``webhook``: a signed ``incoming_call`` POST to ``PUBLIC_BASE_URL`` (the simulator's Twilio-like client).
2. ``twiml``: the answer is TwiML Twilio executes, with ``<Connect><Stream url="wss://…">`` (or voicemail,
   when the agent is off or the business is closed and sends calls to voicemail: the socket is then skipped).
3. ``socket``: that ``wss://`` URL opens, signed like Twilio's upgrade, and answers the ``audio.twilio.com``
   subprotocol. It is closed before ``start``, so no conversation begins on the server.
4. ``tts``: the first line a caller would hear now (greeting, or the after-hours line), by the configured TTS.
5. ``llm``: one answer from the configured LLM, with the system prompt a call gets now.

What it leaves behind: nothing. Step 1 makes the server open a Call (and its webhook event). The caller is
``line-check``, which is no phone number, so no lead is created; the Call, with its events and any background
job queued for it, is deleted when the check ends (``forget_check_call``), whatever happened.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from asgiref.sync import async_to_sync
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from websockets.exceptions import InvalidStatus, WebSocketException

from crm.models import Business, Call
from voice.call_routing import route_call
from voice.provider_probe import ProbeResult, probe_llm, probe_tts
from voice.public_url import absolute_url
from voice.simulator.twilio_side import SUBPROTOCOL, connect_media_socket
from voice.simulator.webhook_client import (
    SimulationError,
    StreamTwiml,
    TwilioLikeClient,
    call_fields,
    check_twiml_response,
    new_sid,
    parse_connect_stream,
)
from voice.webhooks import connect_twiml, voicemail_twiml

OK, FAILED, SKIPPED = "ok", "failed", "skipped"
CHECK_CALLER = "line-check"  # Twilio's From: not a phone number, so the server creates no lead for it
CALLER_QUESTION = "שלום, אני רוצה לשמוע פרטים על השירות שלכם. מתי אתם פתוחים?"
STEP_KEYS = ("webhook", "twiml", "socket", "tts", "llm")


def step_labels() -> dict[str, str]:
    return {
        "webhook": _("Signed incoming_call webhook through the public URL"),
        "twiml": _("TwiML that Twilio accepts"),
        "socket": _("Media socket (wss) with the audio.twilio.com subprotocol"),
        "tts": _("The opening line in the agent's voice"),
        "llm": _("One answer from the language model"),
    }


@dataclass(frozen=True)
class Step:
    key: str
    state: str  # OK, FAILED or SKIPPED
    reason: str  # for the owner, in their language
    ms: float | None = None

    @property
    def label(self) -> str:
        return step_labels()[self.key]


@dataclass
class LineTarget:
    """Everything the check needs, read from settings and the business before any network I/O."""

    base_url: str
    auth_token: str
    account_sid: str
    to_number: str  # "" when the business has no number that reaches it
    opening_line: str
    voice: str
    language: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    call_sid: str = field(default_factory=lambda: new_sid("CA"))


def called_number(business: Business) -> str:
    """A number Twilio would send as ``To`` for this business: its first own number; for the default business
    without one, any number no business claims (it answers those)."""
    number = business.phone_numbers.order_by("pk").values_list("number", flat=True).first()
    if number:
        return number
    return "+972540000000" if business.is_default else ""


def target_for(business: Business, at: dt.datetime) -> LineTarget:
    # Late imports: the business's configuration (K's modules) is only needed when a check runs.
    from voice.agent.prompt import build_system_prompt
    from voice.business_config import agent_config_for

    config = agent_config_for(business, {}, at)
    system = build_system_prompt(config.system_prompt, config.business, {}, facts_heading=config.known_facts_heading)
    return LineTarget(
        base_url=settings.PUBLIC_BASE_URL,
        auth_token=settings.TWILIO_AUTH_TOKEN,
        account_sid=settings.TWILIO_ACCOUNT_SID,
        to_number=called_number(business),
        opening_line=config.greeting,
        voice=business.voice_name,
        language=business.language,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": CALLER_QUESTION}],
    )


def _elapsed(started: float) -> float:
    return (time.monotonic() - started) * 1000


def _short(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0][:200]


async def _webhook(target: LineTarget, client: TwilioLikeClient) -> tuple[Step, httpx.Response | None]:
    url = client.url("/webhook/incoming_call")
    if not target.to_number:
        return Step(
            "webhook", FAILED, _("This business has no phone number: add its Twilio number on the business page.")
        ), None
    fields = call_fields(
        target.call_sid, from_number=CHECK_CALLER, to_number=target.to_number, account_sid=target.account_sid
    )
    started = time.monotonic()
    try:
        response = await client.post(url, {**fields, "CallStatus": "ringing"})
    except httpx.HTTPError as exc:
        reason = _("%(url)s cannot be reached: %(error)s") % {"url": url, "error": _short(exc) or type(exc).__name__}
        return Step("webhook", FAILED, reason, _elapsed(started)), None
    ms = _elapsed(started)
    if response.status_code == 403:
        reason = _(
            "The server refused the request (%(answer)s): TWILIO_AUTH_TOKEN or TWILIO_ACCOUNT_SID differs between "
            "this server and the one at the public URL."
        ) % {"answer": response.text[:80]}
        return Step("webhook", FAILED, reason, ms), None
    if response.status_code != 200:
        reason = _("The server answered HTTP %(status)s.") % {"status": response.status_code}
        return Step("webhook", FAILED, reason, ms), None
    return Step("webhook", OK, _("Answered in %(ms)d ms.") % {"ms": ms}, ms), response


def _twiml(response: httpx.Response | None) -> tuple[Step, StreamTwiml | None]:
    if response is None:
        return Step("twiml", SKIPPED, _("Not checked: the webhook failed.")), None
    try:
        stream = parse_connect_stream(check_twiml_response(response))
    except SimulationError as exc:
        return Step("twiml", FAILED, _("Twilio would reject it: %(error)s") % {"error": exc}), None
    if stream is None:
        reason = _("Valid, without a media stream: right now calls go to voicemail (see the preview above).")
        return Step("twiml", OK, reason), None
    return Step("twiml", OK, _("Valid; the stream is %(url)s") % {"url": stream.url}), stream


async def _socket(target: LineTarget, stream: StreamTwiml | None, twiml_step: Step, timeout_s: float) -> Step:
    if stream is None:
        why = _("Not checked: calls go to voicemail.") if twiml_step.state == OK else _("Not checked: no stream URL.")
        return Step("socket", SKIPPED, why)
    started = time.monotonic()
    try:
        async with connect_media_socket(
            stream.url, target.base_url, target.auth_token, open_timeout=timeout_s, ping_interval=None
        ) as ws:
            subprotocol = ws.subprotocol
    except InvalidStatus as exc:
        reason = _("The socket upgrade was answered HTTP %(status)s.") % {"status": exc.response.status_code}
        return Step("socket", FAILED, reason, _elapsed(started))
    except (OSError, TimeoutError, WebSocketException) as exc:
        reason = _("%(url)s cannot be reached: %(error)s") % {"url": stream.url, "error": _short(exc)}
        return Step("socket", FAILED, reason, _elapsed(started))
    ms = _elapsed(started)
    if subprotocol != SUBPROTOCOL:
        reason = _("The socket opened without the %(subprotocol)s subprotocol: Twilio would close it.")
        return Step("socket", FAILED, reason % {"subprotocol": SUBPROTOCOL}, ms)
    return Step(
        "socket", OK, _("Opened in %(ms)d ms with %(subprotocol)s.") % {"ms": ms, "subprotocol": SUBPROTOCOL}, ms
    )


def _provider_step(key: str, result: ProbeResult) -> Step:
    if not result.ok:
        return Step(key, FAILED, _("Failed: %(error)s") % {"error": result.detail}, result.ms)
    if key == "tts":
        reason = _("%(seconds).1f s of speech in %(ms)d ms.") % {"seconds": len(result.audio) / 8000, "ms": result.ms}
    else:
        reason = _("“%(answer)s” (in %(ms)d ms)") % {"answer": result.text[:300], "ms": result.ms}
    return Step(key, OK, reason, result.ms)


async def check_line(target: LineTarget, providers: Any, providers_error: str, *, timeout_s: float) -> list[Step]:
    """Every step, in order. ``providers`` is None when they could not be built (``providers_error`` says why)."""
    async with httpx.AsyncClient(timeout=timeout_s) as http:
        client = TwilioLikeClient(target.base_url, target.auth_token, http=http)
        webhook, response = await _webhook(target, client)
    twiml, stream = _twiml(response)
    socket = _socket(target, stream, twiml, timeout_s)
    if providers is None:
        reason = _("The providers are not configured: %(error)s") % {"error": providers_error}
        return [webhook, twiml, await socket, Step("tts", FAILED, reason), Step("llm", FAILED, reason)]
    socket_step, tts, llm = await asyncio.gather(
        socket,
        probe_tts(
            providers.tts, target.opening_line, voice=target.voice, language=target.language, timeout_s=timeout_s
        ),
        probe_llm(providers.llm, target.messages, timeout_s=timeout_s),
    )
    return [webhook, twiml, socket_step, _provider_step("tts", tts), _provider_step("llm", llm)]


def forget_check_call(call_sid: str) -> int:
    """Delete the Call the check made the server open (events and jobs go with it). Returns how many."""
    deleted, _rows = Call.objects.filter(call_sid=call_sid, from_number=CHECK_CALLER).delete()
    return deleted


def run_line_check(business: Business, *, timeout_s: float = 15.0, at: dt.datetime | None = None) -> list[Step]:
    """The whole check for ``business``, then the clean-up. Synchronous: for the admin view."""
    from voice.provider_settings import providers_from_settings

    target = target_for(business, at or timezone.now())
    try:
        providers, providers_error = providers_from_settings(), ""
    except Exception as exc:
        providers, providers_error = None, _short(exc)
    try:
        return async_to_sync(check_line)(target, providers, providers_error, timeout_s=timeout_s)
    finally:
        forget_check_call(target.call_sid)


# -- what a caller gets right now ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Preview:
    open_now: bool
    next_opening: dt.datetime | None
    route: str  # "agent", "voicemail_agent_off", "voicemail_after_hours"
    twiml: str


_TOKEN_VALUE = re.compile(r'(<Parameter name="call_token[a-z_]*" value=")[^"]*(")')


def preview(business: Business, at: dt.datetime) -> Preview:
    """The TwiML a call to ``business`` ringing at ``at`` gets: the routing of ``voice.webhooks.incoming_call``
    (agent off: voicemail; closed and after-hours calls sent to voicemail: voicemail; else the stream). The
    per-call token is shown as "…": it is made for each call."""
    route = route_call(business, at)
    if route.to_voicemail:
        xml = voicemail_twiml(None, business)
    else:
        xml = _TOKEN_VALUE.sub(r"\1…\2", connect_twiml(Call(call_sid="CA" + "0" * 32)))
    return Preview(open_now=route.open_now, next_opening=route.next_opening, route=route.name, twiml=xml)


def webhook_urls() -> list[tuple[str, str]]:
    """What to paste into the Twilio console for the number, from ``PUBLIC_BASE_URL``."""
    return [
        (_("A call comes in (Webhook, HTTP POST)"), absolute_url(reverse("voice:incoming_call"))),
        (_("Call status changes (HTTP POST)"), absolute_url(reverse("voice:call_status"))),
    ]
