"""Talking to the server as Twilio does, in small steps, for socket tests (the simulator does whole calls).

Deliberately lower-level than ``voice.simulator.twilio_side``: a test may send a wrong signature, no
subprotocol, a bad path or messages out of order, and read each raw answer itself."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from voice.simulator.twilio_side import SUBPROTOCOL
from voice.simulator.webhook_client import DEFAULT_ACCOUNT_SID, new_sid
from voice.twilio import messages
from voice.twilio.security import SIGNATURE_HEADER, sign


@dataclass
class OpenedCall:
    call_sid: str
    stream_sid: str
    parameters: dict[str, str]


async def ring(base_url: str, auth_token: str, *, call_sid: str | None = None) -> OpenedCall:
    """POST a signed incoming_call and take the <Parameter>s from the TwiML."""
    call_sid = call_sid or new_sid("CA")
    params = {
        "AccountSid": DEFAULT_ACCOUNT_SID,
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": "+972501234567",
        "To": "+97233763805",
    }
    url = base_url + "/webhook/incoming_call"
    async with httpx.AsyncClient() as http:
        response = await http.post(url, data=params, headers={SIGNATURE_HEADER: sign(auth_token, url, params)})
    response.raise_for_status()
    stream = ET.fromstring(response.content).find("Connect/Stream")
    parameters = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    return OpenedCall(call_sid=call_sid, stream_sid=new_sid("MZ"), parameters=parameters)


@asynccontextmanager
async def media_socket(
    ws_url: str, *, subprotocol: bool = True, signature: str | None = None, path: str = "/ws/twilio-media"
):
    headers = {"x-twilio-signature": signature} if signature is not None else {}
    async with connect(
        ws_url + path,
        subprotocols=[Subprotocol(SUBPROTOCOL)] if subprotocol else None,
        additional_headers=headers,
        compression=None,
        proxy=None,
    ) as ws:
        yield ws


async def start(ws: ClientConnection, call: OpenedCall, *, parameters: dict[str, str] | None = None) -> None:
    await ws.send(messages.build_connected())
    await ws.send(
        messages.build_start(
            stream_sid=call.stream_sid,
            call_sid=call.call_sid,
            account_sid=DEFAULT_ACCOUNT_SID,
            custom_parameters=call.parameters if parameters is None else parameters,
        )
    )


async def send_frame(ws: ClientConnection, call: OpenedCall, payload: bytes, chunk: int = 1) -> None:
    await ws.send(messages.build_inbound_media(call.stream_sid, payload, chunk=chunk, sequence_number=chunk + 1))


async def stop(ws: ClientConnection, call: OpenedCall) -> None:
    await ws.send(
        messages.build_stop(
            call.stream_sid, call_sid=call.call_sid, account_sid=DEFAULT_ACCOUNT_SID, sequence_number=999
        )
    )


async def next_message(ws: ClientConnection, wait_s: float = 5) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), wait_s)


async def stream_stopped(call_sid: str, wait_s: float = 10) -> None:
    """Wait until the server has finished with the call's socket (its ``stream_stopped`` row): the client's
    close and the server's disconnect handling run concurrently."""
    from asgiref.sync import sync_to_async

    from crm.models import CallEvent

    exists = sync_to_async(CallEvent.objects.filter(call__call_sid=call_sid, kind="stream_stopped").exists)
    for _ in range(int(wait_s / 0.05)):
        if await exists():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the server never recorded the end of the stream of {call_sid}")
