"""Twilio's message shapes (copied from ../shared/twilio into tests/fixtures/twilio) and signed requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from voice.twilio.security import sign

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "twilio"


def fixture_text(group: str, name: str) -> str:
    """``group`` is inbound, outbound or callbacks."""
    return (FIXTURES / group / f"{name}.json").read_text()


def fixture(group: str, name: str) -> dict[str, Any]:
    return json.loads(fixture_text(group, name))


def signature_vectors() -> list[dict[str, Any]]:
    return json.loads((FIXTURES / "signature-vectors.json").read_text())


def post_signed(client, auth_token: str, path: str, params: dict[str, str], *, host: str = "testserver", **extra):
    """POST like Twilio: form fields plus X-Twilio-Signature of http://<host><path> and the fields."""
    signature = sign(auth_token, f"http://{host}{path}", params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature, **extra)
