"""``PUBLIC_BASE_URL``: the one address we hand Twilio for callbacks, streams and voicemail.

Outbound URLs never come from a request (a forged ``Host`` or ``X-Forwarded-Host`` would otherwise receive
Twilio's callbacks). The value is checked when the settings load (scheme, host, no path) and required when
the server starts without DEBUG (``require_public_base_url``, called by agentlocator/asgi.py).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

# DEBUG only, when nothing is set: the address `make run` serves on. Never derived from a request.
DEBUG_DEFAULT = "http://localhost:8000"
EXAMPLE = "https://voice.example.com"


def clean_public_base_url(value: str) -> str:
    """``scheme://host[:port]`` without a trailing slash, or "" when unset. Raises with what to set."""
    value = value.strip().rstrip("/")
    if not value:
        return ""
    parts = urlsplit(value)
    problem = ""
    if parts.scheme not in ("http", "https"):
        problem = "its scheme must be http or https"
    elif not parts.hostname:
        problem = "it has no host"
    elif parts.path or parts.query or parts.fragment or parts.username or parts.password:
        problem = "it must be only scheme://host[:port], with no path, query, fragment or credentials"
    if problem:
        raise ImproperlyConfigured(
            f"PUBLIC_BASE_URL={value!r} is invalid: {problem}. "
            f"Set it to the public address Twilio reaches, e.g. PUBLIC_BASE_URL={EXAMPLE}"
        )
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise ImproperlyConfigured(f"PUBLIC_BASE_URL={value!r} has an invalid port: {exc}") from exc
    return value


def require_public_base_url(value: str, *, debug: bool) -> None:
    """Refuse to start a server without DEBUG and without a public address."""
    if not value and not debug:
        raise ImproperlyConfigured(
            "PUBLIC_BASE_URL is required when DEBUG is off: set it in the environment or .env to the public "
            f"https address Twilio reaches (e.g. PUBLIC_BASE_URL={EXAMPLE}, or your tunnel's URL). Callback "
            "URLs are never taken from a request's Host or X-Forwarded-Host."
        )
