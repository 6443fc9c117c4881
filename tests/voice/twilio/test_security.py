"""Twilio signatures (Twilio's own test vectors) and the per-call socket token."""

from __future__ import annotations

import pytest

from tests.support.twilio_fixtures import signature_vectors
from voice.twilio.security import call_token, is_valid_call_token, is_valid_signature, sign


@pytest.mark.parametrize("vector", signature_vectors(), ids=lambda v: v["about"][:40])
def test_twilio_vectors_validate(vector):
    assert is_valid_signature(vector["auth_token"], vector["url"], vector["params"], vector["signature"])
    assert sign(vector["auth_token"], vector["url"], vector["params"]) == vector["signature"]


def test_the_sdk_vector_from_the_issue():
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert is_valid_signature("12345", url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


@pytest.mark.parametrize(
    ("token", "url", "params", "signature"),
    [
        (
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            {"CallSid": "CA1"},
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
        ),
        ("54321", "wss://voice.example.com/ws/twilio-media", {}, "hRFXM6Yh5a7xGgLP/QOeNolPex8="),
        ("12345", "wss://other.example.com/ws/twilio-media", {}, "hRFXM6Yh5a7xGgLP/QOeNolPex8="),
        ("12345", "wss://voice.example.com/ws/twilio-media", {}, ""),
        ("12345", "wss://voice.example.com/ws/twilio-media", {}, None),
        ("", "wss://voice.example.com/ws/twilio-media", {}, "hRFXM6Yh5a7xGgLP/QOeNolPex8="),
    ],
)
def test_anything_else_fails(token, url, params, signature):
    assert not is_valid_signature(token, url, params, signature)


def test_call_token_is_an_hmac_of_the_call_sid():
    token = call_token("secret", "CA0123456789abcdef0123456789abcdef")
    assert len(token) == 32 and int(token, 16) >= 0
    assert token == call_token("secret", "CA0123456789abcdef0123456789abcdef")
    assert token != call_token("other-secret", "CA0123456789abcdef0123456789abcdef")
    assert token != call_token("secret", "CA0123456789abcdef0123456789abcdef0")


def test_call_token_check():
    sid = "CA0123456789abcdef0123456789abcdef"
    assert is_valid_call_token("secret", sid, call_token("secret", sid))
    assert not is_valid_call_token("secret", sid, call_token("secret", "CA" + "1" * 32))
    assert not is_valid_call_token("secret", sid, "")
    assert not is_valid_call_token("secret", sid, None)
    assert not is_valid_call_token("secret", "", call_token("secret", ""))
