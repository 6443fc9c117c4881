"""Production settings: `check --deploy` is clean from the environment alone; PUBLIC_BASE_URL is checked and
required without DEBUG, with an error that says what to set."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from agentlocator.public_base import clean_public_base_url, require_public_base_url
from tests.agentlocator.test_settings import ROOT

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnop",
    "ALLOWED_HOSTS": "voice.example.com",
    "PUBLIC_BASE_URL": "https://voice.example.com",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
}


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL")}
    base.update({"DJANGO_SETTINGS_MODULE": "agentlocator.settings", "READ_DOT_ENV": "0", **env})
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_production_settings():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "value",
    ["voice.example.com", "ftp://voice.example.com", "https://", "https://voice.example.com/path", "https://h/?q=1"],
)
def test_an_invalid_public_base_url_is_refused_with_what_to_set(value):
    with pytest.raises(ImproperlyConfigured, match=r"PUBLIC_BASE_URL=https://voice\.example\.com"):
        clean_public_base_url(value)


def test_a_valid_public_base_url_loses_its_trailing_slash():
    assert clean_public_base_url("https://voice.example.com:8443/") == "https://voice.example.com:8443"


def test_the_server_does_not_start_without_public_base_url_outside_debug():
    with pytest.raises(ImproperlyConfigured, match="PUBLIC_BASE_URL is required"):
        require_public_base_url("", debug=False)
    require_public_base_url("", debug=True)
    result = run(["-c", "import agentlocator.asgi"], **{**PRODUCTION, "PUBLIC_BASE_URL": ""})
    assert result.returncode != 0 and "PUBLIC_BASE_URL is required" in result.stderr
    assert run(["-c", "import django; django.setup()"], **{**PRODUCTION, "PUBLIC_BASE_URL": "x"}).returncode != 0
