"""Write .env from .env.example on first start: everything a local trial needs, so `make run` and the README's
`manage.py simulate_call` line complete a call without anyone editing .env. Never overwrites an existing .env.

What it fills in:
- SECRET_KEY: a fresh random one (never committed).
- TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN, when the example leaves them empty: LOCAL-TRIAL values, marked as
  such in .env. They are not Twilio's: the local server and `simulate_call` read the same .env, so they sign
  and check with the same token; a real Twilio request is refused (403) until the console's values replace them.
- PUBLIC_BASE_URL, when the example's local address is kept: the port `make run` serves on (``WEB_PORT``), so
  the callbacks in the TwiML come back to this server.
- VOICE_ASR / VOICE_LLM / VOICE_TTS, when no provider key is in the environment: the scripted recogniser and
  replies, and espeak-ng's offline Hebrew voice when it is installed, so the agent talks (it does not
  understand). `manage.py show_urls` (run by `make run`) says so at every start, with the variables to set.

Standard library only: it runs before the project's requirements matter. The markers below are recognised by
voice/startup_report.py (a test keeps the two in step).
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

LOCAL_TRIAL_TOKEN_PREFIX = "local-trial-"
LOCAL_TRIAL_SID_PREFIX = "AC" + "0" * 20  # no real Account SID starts with twenty zeros
LOCAL_BASE_URL = "http://localhost:8000"  # .env.example's PUBLIC_BASE_URL: where `make run` serves by default

TWILIO_NOTE = (
    "# LOCAL TRIAL ONLY (written by scripts/make_env.py): these are NOT your Twilio credentials. The local server\n"
    "# and `manage.py simulate_call` share them, so a simulated call works; Twilio's real requests are refused\n"
    "# (403) until you paste the Account SID and Auth Token from the Twilio console over them."
)
PROVIDERS_NOTE = (
    "# LOCAL TRIAL (scripts/make_env.py found no provider key): a scripted recogniser and scripted replies{voice}.\n"
    "# The agent talks but does not understand. For the real agent set OPENAI_API_KEY below and\n"
    "# VOICE_ASR=openai VOICE_LLM=openai VOICE_TTS=openai (or Google's, see GOOGLE_APPLICATION_CREDENTIALS)."
)


def trial_providers(environ: Mapping[str, str], *, espeak: bool) -> dict[str, str]:
    """The VOICE_* values to write: {} when the example's choice (OpenAI) has its key in the environment.
    Google credentials in the environment keep Google for speech; whatever has no key becomes a fake."""
    if environ.get("OPENAI_API_KEY"):
        return {}
    google = bool(environ.get("GOOGLE_APPLICATION_CREDENTIALS") or environ.get("GOOGLE_CREDENTIALS_JSON"))
    return {
        "VOICE_ASR": "google" if google else "fake",
        "VOICE_LLM": "fake",
        "VOICE_TTS": "google" if google else ("espeak" if espeak else "fake"),
    }


def render_env(example: str, environ: Mapping[str, str], *, espeak: bool) -> tuple[str, list[str]]:
    """The .env text for ``example`` (the text of .env.example), and what was chosen for a local trial."""
    providers = trial_providers(environ, espeak=espeak)
    trial_twilio = not (environ.get("TWILIO_AUTH_TOKEN") or environ.get("TWILIO_ACCOUNT_SID"))
    values = {"SECRET_KEY": secrets.token_urlsafe(50), **providers}
    port = environ.get("WEB_PORT", "")
    local_base = f"http://localhost:{port}" if port.isdigit() else LOCAL_BASE_URL
    if trial_twilio:
        values["TWILIO_ACCOUNT_SID"] = LOCAL_TRIAL_SID_PREFIX + secrets.token_hex(6)
        values["TWILIO_AUTH_TOKEN"] = LOCAL_TRIAL_TOKEN_PREFIX + secrets.token_hex(16)
    notes = {
        "TWILIO_ACCOUNT_SID": TWILIO_NOTE if trial_twilio else "",
        "VOICE_ASR": PROVIDERS_NOTE.format(voice=", espeak-ng's voice" if espeak else "") if providers else "",
    }
    lines: list[str] = []
    for line in example.splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.startswith("#") and name in values and not value:
            line = f"{name}={values[name]}"
        elif sep and name in providers:
            line = f"{name}={providers[name]}"
        elif sep and name == "PUBLIC_BASE_URL" and value == LOCAL_BASE_URL:
            line = f"{name}={local_base}"
        if sep and notes.get(name):
            lines.append(notes[name])
        lines.append(line)
    chosen = []
    if trial_twilio:
        chosen.append("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN: local trial values, NOT Twilio's")
    chosen += [f"{name}={value}" for name, value in providers.items()]
    return "\n".join(lines) + "\n", chosen


def main(example: str, target: str, environ: Mapping[str, str] | None = None) -> None:
    target_path = Path(target)
    if target_path.exists():
        return
    text, chosen = render_env(
        Path(example).read_text(encoding="utf-8"),
        os.environ if environ is None else environ,
        espeak=shutil.which("espeak-ng") is not None,
    )
    target_path.write_text(text, encoding="utf-8")
    target_path.chmod(0o600)
    print(f"Wrote {target} with a new SECRET_KEY.")
    if chosen:
        banner = "!" * 100
        print(banner)
        print("!! LOCAL TRIAL: no keys were found, so .env was set up to run without them:")
        for item in chosen:
            print(f"!!   {item}")
        print("!! The agent talks, but it does not understand callers. Edit .env to add your keys (see its comments).")
        print(banner)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
