"""Twilio's HTTP side of a call: signed webhook POSTs, and the checks Twilio makes on the TwiML it gets back.

Used by the simulator (whole calls), the load benchmark and the socket tests. No Django: it talks to the
server over HTTP exactly as Twilio does.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from voice.twilio.security import SIGNATURE_HEADER, sign

DEFAULT_ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"  # the account of the fixtures


class SimulationError(Exception):
    """The server answered something Twilio would reject (the message names Twilio's error where known)."""


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def call_fields(call_sid: str, *, from_number: str, to_number: str, account_sid: str) -> dict[str, str]:
    """The form fields every voice webhook of an inbound call carries (add ``CallStatus`` and the rest)."""
    return {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "Called": to_number,
        "Caller": from_number,
        "Direction": "inbound",
        "From": from_number,
        "To": to_number,
    }


def check_twiml_response(response: httpx.Response) -> str:
    """What Twilio checks before it executes TwiML (else error 11200 / 12100)."""
    if response.status_code != 200:
        raise SimulationError(f"11200: HTTP {response.status_code} from {response.request.url}")
    content_type = response.headers.get("content-type", "").lower().replace(" ", "")
    if not content_type.startswith(("text/xml", "application/xml")) or "charset=utf-8" not in content_type:
        raise SimulationError(f"12100: content type {content_type!r} is not XML with charset=utf-8")
    body = response.content.decode("utf-8")
    if not body.startswith("<?xml"):
        raise SimulationError("12100: the document does not start with <?xml")
    return body


@dataclass
class StreamTwiml:
    url: str
    action: str
    status_callback: str
    parameters: dict[str, str]


def parse_connect_stream(body: str) -> StreamTwiml | None:
    """``<Response><Connect action><Stream url>`` with its ``<Parameter>``s; None when there is none."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise SimulationError(f"12100: TwiML does not parse: {exc}") from None
    if root.tag != "Response":
        raise SimulationError(f"12100: root element is <{root.tag}>, not <Response>")
    connect_el = root.find("Connect")
    stream_el = connect_el.find("Stream") if connect_el is not None else None
    if connect_el is None or stream_el is None:
        return None
    url = stream_el.get("url", "")
    if not url.startswith("wss://"):
        raise SimulationError(f"31920: stream URL {url!r} is not wss://")
    for attr in (url, connect_el.get("action", ""), stream_el.get("statusCallback", "")):
        if attr and "//" in urlsplit(attr).path:
            raise SimulationError(f"12100: '//' in the path of {attr}")
    params = {p.get("name", ""): p.get("value", "") for p in stream_el.findall("Parameter")}
    return StreamTwiml(
        url=url,
        action=connect_el.get("action", ""),
        status_callback=stream_el.get("statusCallback", ""),
        parameters=params,
    )


class TwilioLikeClient:
    """Signed POSTs to the server's webhooks. Share one instance (one connection pool) across calls."""

    def __init__(self, base_url: str, auth_token: str, *, http: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth_token = auth_token
        self._http = http or httpx.AsyncClient(timeout=15)
        self._own_http = http is None

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    def url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    async def post(self, url: str, params: dict[str, str]) -> httpx.Response:
        headers = {SIGNATURE_HEADER: sign(self.auth_token, url, params)}
        return await self._http.post(url, data=params, headers=headers)
