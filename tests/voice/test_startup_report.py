"""What `make run` prints at start-up: each provider configured and working or not, with the variable to set."""

from __future__ import annotations

import io

from django.core.management import call_command

from tests.support.openai_standin import OpenAIStandin
from voice.startup_report import FAILING, OK, TRIAL, configuration_findings, format_report, startup_report


def by_subject(findings) -> dict[str, tuple[str, str]]:
    return {f.subject: (f.state, f.fix) for f in findings}


def test_fakes_and_local_trial_credentials_are_trials_with_what_to_set(settings):
    settings.VOICE_ASR, settings.VOICE_LLM, settings.VOICE_TTS = "fake", "fake", "fake"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC" + "0" * 20 + "abcdef012345", "local-trial-x"
    settings.PUBLIC_BASE_URL = "http://localhost:8000"
    found = by_subject(configuration_findings())
    assert found["ASR (VOICE_ASR=fake)"][0] == TRIAL and "OPENAI_API_KEY" in found["ASR (VOICE_ASR=fake)"][1]
    assert found["LLM (VOICE_LLM=fake)"] == (TRIAL, "OPENAI_API_KEY and VOICE_LLM=openai")
    assert found["Twilio"][0] == TRIAL and "TWILIO_AUTH_TOKEN" in found["Twilio"][1]
    assert found["PUBLIC_BASE_URL"][0] == TRIAL
    text = format_report(startup_report(probe=True, timeout_s=5))
    assert "LOCAL TRIAL" in text and "local-trial-x" not in text  # never a secret, even a local one


def test_a_missing_key_fails_and_names_the_variable(settings):
    settings.VOICE_ASR, settings.VOICE_LLM, settings.VOICE_TTS = "openai", "openai", "openai"
    settings.OPENAI_API_KEY = ""
    settings.TWILIO_AUTH_TOKEN = ""
    found = by_subject(startup_report(probe=True))
    assert found["LLM (VOICE_LLM=openai)"] == (FAILING, "OPENAI_API_KEY")
    assert found["Twilio"][0] == FAILING
    assert found["providers"][0] == FAILING  # nothing probed: they cannot be built


def test_configured_providers_are_asked_once(settings):
    with OpenAIStandin(api_key="sk-good") as standin:
        settings.VOICE_ASR, settings.VOICE_LLM, settings.VOICE_TTS = "openai", "openai", "openai"
        settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = "sk-good", standin.base_url
        settings.PUBLIC_BASE_URL = "https://voice.example.com"
        found = by_subject(startup_report(probe=True, timeout_s=5))
        assert found["LLM (VOICE_LLM=openai) answers"][0] == OK
        assert found["TTS (VOICE_TTS=openai) answers"][0] == OK
        assert found["ASR (VOICE_ASR=openai) answers"][0] == OK
        assert found["PUBLIC_BASE_URL"][0] == OK
        settings.OPENAI_API_KEY = "sk-wrong"  # a key the server refuses: configured, not working
        found = by_subject(startup_report(probe=True, timeout_s=5))
        assert found["LLM (VOICE_LLM=openai)"][0] == OK
        assert found["LLM (VOICE_LLM=openai) answers"][0] == FAILING


def test_show_urls_prints_the_report(settings):
    settings.VOICE_ASR, settings.VOICE_LLM, settings.VOICE_TTS = "fake", "fake", "fake"
    out = io.StringIO()
    call_command("show_urls", "--port", "8123", "--no-probe", stdout=out)
    text = out.getvalue()
    assert "/webhook/incoming_call" in text and "simulate_call --url http://127.0.0.1:8123" in text
    assert "[ TRIAL ] LLM (VOICE_LLM=fake)" in text and "answers" not in text
