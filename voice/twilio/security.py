"""Who may talk to us: Twilio's request signatures and the per-call token that authenticates the socket.

Webhooks carry ``X-Twilio-Signature`` (HMAC of the public URL and the POST parameters with the account's
auth token). The Media Streams socket upgrade may carry it too (signed ``wss://`` URL, empty params), but
the real gate is the per-call token: issued in the TwiML as a ``<Parameter>``, it comes back in
``start.customParameters``. It is an HMAC of the CallSid and of its issue time (sent beside it, so it
can expire), so nothing needs to be stored to check it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

# twilio ships no type hints: what its validator returns is annotated where we return it.
from twilio.request_validator import RequestValidator, get_signature_algorithm

SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
CALL_TOKEN_PARAMETER = "call_token"
CALL_TOKEN_ISSUED_PARAMETER = "call_token_issued"  # unix seconds, covered by the HMAC
CALL_TOKEN_CHARS = 32  # 128 bits of HMAC-SHA256: far beyond guessing, short enough for a <Parameter>


def is_valid_signature(
    auth_token: str,
    url: str,
    params: Mapping[str, Any] | None,
    signature: str | None,
    *,
    signature_settings: str | None = None,
) -> bool:
    """True when ``signature`` is Twilio's signature of ``url`` + ``params`` under ``auth_token``."""
    if not signature or not auth_token:
        return False
    algorithm = get_signature_algorithm(signature_settings) if signature_settings else None
    valid: bool = RequestValidator(auth_token).validate(url, params or {}, signature, algorithm=algorithm)
    return valid


def sign(auth_token: str, url: str, params: Mapping[str, Any] | None = None) -> str:
    """The signature Twilio would send (the simulator uses this to play Twilio)."""
    signature: str = RequestValidator(auth_token).compute_signature(url, params or {})
    return signature


def call_token(secret: str, call_sid: str, issued_at: int = 0) -> str:
    """The per-call socket token for ``call_sid`` issued at ``issued_at`` (unix seconds)."""
    message = call_sid if not issued_at else f"{call_sid}|{issued_at}"
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return digest[:CALL_TOKEN_CHARS]


def call_token_parameters(secret: str, call_sid: str, now: float | None = None) -> dict[str, str]:
    """The ``<Parameter>``s that authenticate the stream of ``call_sid``: the token and its issue time."""
    issued_at = int(time.time() if now is None else now)
    return {
        CALL_TOKEN_PARAMETER: call_token(secret, call_sid, issued_at),
        CALL_TOKEN_ISSUED_PARAMETER: str(issued_at),
    }


def call_token_problem(
    secret: str, call_sid: str, parameters: Mapping[str, str], *, max_age_s: float, now: float | None = None
) -> str:
    """Why ``parameters`` (``start.customParameters``) do not authenticate ``call_sid`` now: "missing",
    "malformed", "wrong" or "expired"; "" when they do."""
    token, issued = parameters.get(CALL_TOKEN_PARAMETER), parameters.get(CALL_TOKEN_ISSUED_PARAMETER)
    if not token or not call_sid:
        return "missing"
    if not issued or not issued.isdigit() or len(issued) > 12:
        return "malformed"
    if not hmac.compare_digest(call_token(secret, call_sid, int(issued)), token):
        return "wrong"
    age = (time.time() if now is None else now) - int(issued)
    if not -5 <= age <= max_age_s:  # a few seconds of clock skew between web processes
        return "expired"
    return ""


def is_valid_call_token(secret: str, call_sid: str, token: str | None, issued_at: int = 0) -> bool:
    """The HMAC alone (no expiry): ``call_token_problem`` is what the socket uses."""
    if not token or not call_sid:
        return False
    return hmac.compare_digest(call_token(secret, call_sid, issued_at), token)
