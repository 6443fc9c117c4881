"""What `make run` prints before the servers start (``manage.py show_urls``): which providers are configured and
working, which are not, and for each problem the variable to set.

Two passes. ``configuration_findings`` reads settings only (keys present, credentials loadable, espeak-ng
installed, local-trial Twilio values written by scripts/make_env.py, a public URL Twilio cannot reach).
``probe_findings`` then asks each configured provider once, bounded in time (voice/provider_probe.py): a TTS
sentence, an LLM answer, and the recogniser on that audio. Secrets are never printed, only whether they are set.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from voice.provider_probe import probe_asr, probe_llm, probe_tts
from voice.providers.base import Providers
from voice.providers.espeak import espeak_available

# Written by scripts/make_env.py on a first start (tests/test_first_run.py keeps the two in step).
LOCAL_TRIAL_TOKEN_PREFIX = "local-trial-"
LOCAL_TRIAL_SID_PREFIX = "AC" + "0" * 20

OK, TRIAL, FAILING = "ok", "trial", "failing"
_MARKS = {OK: "[  OK   ]", TRIAL: "[ TRIAL ]", FAILING: "[ FAIL  ]"}
PROBE_TEXT = "שלום, זו בדיקה."
PROBE_QUESTION = [{"role": "user", "content": "ענה במילה אחת: שלום."}]
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0", "testserver")

REAL_ASR = "OPENAI_API_KEY and VOICE_ASR=openai (or GOOGLE_APPLICATION_CREDENTIALS and VOICE_ASR=google)"
REAL_LLM = "OPENAI_API_KEY and VOICE_LLM=openai"
REAL_TTS = "OPENAI_API_KEY and VOICE_TTS=openai (or GOOGLE_APPLICATION_CREDENTIALS and VOICE_TTS=google)"


@dataclass(frozen=True)
class Finding:
    subject: str  # what was checked, with the setting that chose it
    state: str  # OK, TRIAL (works, but not for real callers) or FAILING
    detail: str
    fix: str = ""  # the variable(s) to set

    def line(self) -> str:
        text = f"  {_MARKS[self.state]} {self.subject}: {self.detail}"
        return text + (f"\n              -> set {self.fix}" if self.fix else "")


def is_local_trial_twilio(account_sid: str, auth_token: str) -> bool:
    return auth_token.startswith(LOCAL_TRIAL_TOKEN_PREFIX) or account_sid.startswith(LOCAL_TRIAL_SID_PREFIX)


def _google_problem() -> str:
    from voice.providers.google_cloud import load_credentials

    json_value, path = settings.GOOGLE_CREDENTIALS_JSON, settings.GOOGLE_APPLICATION_CREDENTIALS
    if not (json_value or path):
        return "no credentials (GOOGLE_APPLICATION_CREDENTIALS / GOOGLE_CREDENTIALS_JSON are empty)"
    try:
        load_credentials(json_value or None, path or None)
    except Exception as exc:
        return f"the credentials cannot be loaded: {type(exc).__name__}"
    return ""


def _provider_finding(role: str, name: str, fake_detail: str, real: str) -> Finding:
    subject = f"{role} (VOICE_{role}={name})"
    if name == "fake":
        return Finding(subject, TRIAL, fake_detail, real)
    if name == "openai":
        if not settings.OPENAI_API_KEY:
            return Finding(subject, FAILING, "OPENAI_API_KEY is empty: calls go to voicemail", "OPENAI_API_KEY")
        return Finding(subject, OK, "key set")
    if name == "google":
        problem = _google_problem()
        if problem:
            return Finding(subject, FAILING, problem, "GOOGLE_APPLICATION_CREDENTIALS or GOOGLE_CREDENTIALS_JSON")
        return Finding(subject, OK, "credentials set")
    if name == "espeak":
        if not espeak_available():
            return Finding(subject, FAILING, "espeak-ng is not installed", "VOICE_TTS, or apt-get install espeak-ng")
        return Finding(subject, OK, "espeak-ng's offline voice (robotic)", "")
    return Finding(subject, FAILING, f"unknown provider {name!r}", f"VOICE_{role}")


def configuration_findings() -> list[Finding]:
    """What the settings say, without asking anyone."""
    findings = [
        _provider_finding(
            "ASR", settings.VOICE_ASR, "scripted: every utterance is heard as the same sentence", REAL_ASR
        ),
        _provider_finding("LLM", settings.VOICE_LLM, "scripted: the same reply every turn", REAL_LLM),
        _provider_finding("TTS", settings.VOICE_TTS, "a tone instead of speech", REAL_TTS),
    ]
    if espeak_available():
        findings.append(Finding("fallback voice", OK, "espeak-ng (when the main voice fails)"))
    else:
        findings.append(
            Finding(
                "fallback voice",
                FAILING,
                "espeak-ng is not installed: a failing TTS means silence",
                "apt-get install espeak-ng",
            )
        )
    sid, token = settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN
    credentials = "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN from the Twilio console"
    if not token:
        findings.append(Finding("Twilio", FAILING, "TWILIO_AUTH_TOKEN is empty: every webhook is refused", credentials))
    elif is_local_trial_twilio(sid, token):
        findings.append(
            Finding(
                "Twilio",
                TRIAL,
                "local trial credentials, NOT Twilio's: simulate_call works, Twilio is refused",
                credentials,
            )
        )
    else:
        findings.append(Finding("Twilio", OK, "account SID and auth token set"))
    base = settings.PUBLIC_BASE_URL
    host = urlsplit(base).hostname or ""
    if not base:
        findings.append(Finding("PUBLIC_BASE_URL", FAILING, "empty", "PUBLIC_BASE_URL (your public https URL)"))
    elif host in LOCAL_HOSTS or host.endswith(".localhost"):
        findings.append(
            Finding(
                "PUBLIC_BASE_URL",
                TRIAL,
                f"{base}: fine for simulate_call, Twilio cannot reach it",
                "PUBLIC_BASE_URL (a tunnel's https URL)",
            )
        )
    elif not base.startswith("https://"):
        findings.append(
            Finding("PUBLIC_BASE_URL", FAILING, f"{base}: Twilio streams need https/wss", "PUBLIC_BASE_URL (https)")
        )
    else:
        findings.append(Finding("PUBLIC_BASE_URL", OK, base))
    return findings


async def probe_findings(providers: Providers, *, timeout_s: float = 8.0) -> list[Finding]:
    """One request to each provider, at the same time; the recogniser hears the TTS's sentence."""
    tts, llm = await asyncio.gather(
        probe_tts(providers.tts, PROBE_TEXT, voice="", language="he-IL", timeout_s=timeout_s),
        probe_llm(providers.llm, PROBE_QUESTION, timeout_s=timeout_s),
    )
    asr = await probe_asr(providers.asr, tts.audio or b"\xff" * 4000, language="he-IL", timeout_s=timeout_s)

    def finding(role: str, name: str, result, shown: str) -> Finding:
        subject = f"{role} (VOICE_{role}={name}) answers"
        if result.ok:
            return Finding(subject, TRIAL if name == "fake" else OK, f"{shown} in {result.ms:.0f} ms")
        return Finding(subject, FAILING, result.detail, f"VOICE_{role} and its key")

    return [
        finding("ASR", settings.VOICE_ASR, asr, f"heard “{asr.text[:60]}”"),
        finding("LLM", settings.VOICE_LLM, llm, f"“{llm.text[:60]}”"),
        finding("TTS", settings.VOICE_TTS, tts, tts.detail),
    ]


def startup_report(*, probe: bool = True, timeout_s: float = 8.0) -> list[Finding]:
    findings = configuration_findings()
    if not probe:
        return findings
    from voice.provider_settings import providers_from_settings

    try:
        providers = providers_from_settings()
    except Exception as exc:
        return [*findings, Finding("providers", FAILING, f"not probed: {exc}")]
    return [*findings, *asyncio.run(probe_findings(providers, timeout_s=timeout_s))]


def format_report(findings: list[Finding]) -> str:
    lines = ["", "  Providers and Twilio (what calls will use; edit .env to change):"]
    lines += [finding.line() for finding in findings]
    if any(f.state == TRIAL and f.subject.startswith(("ASR", "LLM", "TTS")) for f in findings):
        lines += [
            "",
            "  " + "!" * 96,
            "  !! LOCAL TRIAL: some providers are scripted fakes. The agent talks, but it does not understand callers.",
            "  !! Set the variables above in .env for the real agent.",
            "  " + "!" * 96,
        ]
    return "\n".join(lines) + "\n"
