"""The environment decides the topology: embedded defaults, or PostgreSQL and Redis when configured."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json
from django.conf import settings
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "db_name": settings.DATABASES["default"]["NAME"],
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "broker": settings.CELERY_BROKER_URL,
    "language": settings.LANGUAGE_CODE,
    "options": settings.DATABASES["default"].get("OPTIONS", {}),
    "conn_max_age": settings.DATABASES["default"]["CONN_MAX_AGE"],
    "health_checks": settings.DATABASES["default"].get("CONN_HEALTH_CHECKS"),
}))
"""


def load_settings(**env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    base.update({"DJANGO_SETTINGS_MODULE": "agentlocator.settings", "READ_DOT_ENV": "0", "SECRET_KEY": "x"})
    base.update(env)
    code = "import django; django.setup()\n" + PROBE
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_settings(**env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    base.update({"DJANGO_SETTINGS_MODULE": "agentlocator.settings", "READ_DOT_ENV": "0"})
    base.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
    )


def refused(**env: str) -> str:
    """The settings refuse to load with ``env``: what they said (stderr)."""
    result = run_settings(**env)
    assert result.returncode != 0
    return result.stderr


def test_embedded_defaults_need_no_servers():
    loaded = load_settings()
    assert loaded["engine"] == "django.db.backends.sqlite3"
    assert loaded["layer"] == "channels.layers.InMemoryChannelLayer"
    assert loaded["broker"].startswith("sqla+sqlite:///")
    assert loaded["language"] == "he"


def test_empty_values_mean_defaults():
    loaded = load_settings(DATABASE_URL="", REDIS_URL="", CELERY_BROKER_URL="")
    assert loaded["engine"] == "django.db.backends.sqlite3"
    assert loaded["broker"].startswith("sqla+sqlite:///")


def test_postgres_and_redis_urls_switch_the_topology():
    loaded = load_settings(DATABASE_URL="postgres://u:p@db.internal:5432/crm", REDIS_URL="redis://cache:6379/0")
    assert loaded["engine"] == "django.db.backends.postgresql"
    assert loaded["db_name"] == "crm"
    assert loaded["layer"] == "channels_redis.core.RedisChannelLayer"
    assert loaded["broker"] == "redis://cache:6379/0"


def test_postgresql_keeps_a_pool_of_connections_sized_from_the_environment():
    loaded = load_settings(DATABASE_URL="postgres://u:p@db.internal:5432/crm")
    assert loaded["options"]["pool"] == {"min_size": 2, "max_size": 10, "timeout": 3.0}
    assert loaded["health_checks"] is True  # the pool hands out only connections that answer
    assert loaded["conn_max_age"] == 0
    sized = load_settings(DATABASE_URL="postgres://u:p@db/crm", DB_POOL_MIN_SIZE="1", DB_POOL_MAX_SIZE="4")
    assert sized["options"]["pool"]["max_size"] == 4
    assert "pool" not in load_settings(DATABASE_URL="postgres://u:p@db/crm", DB_POOL="false")["options"]
    assert "pool" not in load_settings()["options"]  # SQLite has no pool


def test_sqlite_connections_are_kept_open_unless_told_otherwise():
    assert load_settings()["conn_max_age"] == 600
    assert load_settings(DB_CONN_MAX_AGE="")["conn_max_age"] == 600
    assert load_settings(DB_CONN_MAX_AGE="0")["conn_max_age"] == 0
    assert (
        load_settings(DATABASE_URL="postgres://u:p@db/crm", DB_POOL="false", DB_CONN_MAX_AGE="30")["conn_max_age"] == 30
    )


def test_a_connection_age_that_is_not_whole_seconds_is_refused_with_a_clear_error():
    assert "DB_CONN_MAX_AGE is a whole number of seconds, not 'ten'" in refused(SECRET_KEY="x", DB_CONN_MAX_AGE="ten")


def test_a_pool_with_persistent_connections_is_refused_with_a_clear_error():
    assert "DB_CONN_MAX_AGE keeps connections itself" in refused(
        SECRET_KEY="x", DATABASE_URL="postgres://u:p@db/crm", DB_CONN_MAX_AGE="60"
    )
    assert (
        run_settings(
            SECRET_KEY="x", DATABASE_URL="postgres://u:p@db/crm", DB_CONN_MAX_AGE="60", DB_POOL="false"
        ).returncode
        == 0
    )


@pytest.mark.parametrize(
    "sizes",
    [
        {"DB_POOL_MIN_SIZE": "5", "DB_POOL_MAX_SIZE": "2"},
        {"DB_POOL_MIN_SIZE": "0", "DB_POOL_MAX_SIZE": "0"},
        {"DB_POOL_MIN_SIZE": "-1"},
        {"DB_POOL_TIMEOUT_SECONDS": "0"},
    ],
)
def test_a_pool_that_could_never_serve_is_refused_at_start_up(sizes):
    said = refused(SECRET_KEY="x", DATABASE_URL="postgres://u:p@db/crm", **sizes)
    assert "DB_POOL_MIN_SIZE must be 0 or more and at most DB_POOL_MAX_SIZE" in said


def test_secret_key_is_required_outside_debug():
    assert "SECRET_KEY is not set" in refused(DEBUG="false")


def test_signature_validation_cannot_be_switched_off_without_debug():
    assert "TWILIO_VALIDATE_SIGNATURES" in refused(SECRET_KEY="x", DEBUG="false", TWILIO_VALIDATE_SIGNATURES="false")
    assert run_settings(SECRET_KEY="x", DEBUG="true", TWILIO_VALIDATE_SIGNATURES="false").returncode == 0


def test_env_example_lists_every_variable_the_settings_read():
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = {line.split("=", 1)[0] for line in example.splitlines() if line and not line.startswith("#")}
    source = (ROOT / "agentlocator" / "settings.py").read_text(encoding="utf-8")
    import re

    read = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', source)) - {"READ_DOT_ENV"}
    assert read <= listed, f"missing from .env.example: {sorted(read - listed)}"
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_dates_are_read_day_first_as_israelis_type_them():
    import datetime as dt

    from django import forms
    from django.utils import translation

    with translation.override("he"):
        assert forms.DateField().clean("02/01/2030") == dt.date(2030, 1, 2)
        assert forms.DateField().clean("2030-01-02") == dt.date(2030, 1, 2)
        assert forms.DateTimeField().clean("02/01/2030 16:30").replace(tzinfo=None) == dt.datetime(2030, 1, 2, 16, 30)
