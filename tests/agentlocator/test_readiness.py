"""/readyz: 200 when the database, the channel layer and the Celery broker answer; 503 naming the one that does
not (faults caused for real: a closed port), with no URL or password in the answer or the log."""

from __future__ import annotations

import logging

import httpx
import pytest

from voice.simulator.server import free_port

pytestmark = pytest.mark.django_db


def closed_redis_url(password: str = "") -> str:
    """A Redis URL on a loopback port nothing listens on."""
    auth = f":{password}@" if password else ""
    return f"redis://{auth}127.0.0.1:{free_port()}/0"


def test_readyz_is_ok_when_the_database_the_channel_layer_and_the_broker_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "checks": {"database": "ok", "channel_layer": "ok", "broker": "ok"}}


def test_readyz_names_the_broker_when_it_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = closed_redis_url()
    settings.READINESS_TIMEOUT_SECONDS = 3
    response = client.get("/readyz")
    assert response.status_code == 503
    data = response.json()
    assert data["ok"] is False
    assert data["checks"]["broker"].startswith("failed")
    assert data["checks"]["database"] == data["checks"]["channel_layer"] == "ok"


def test_readyz_names_the_channel_layer_when_redis_is_down(client, settings):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [closed_redis_url()]}}
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    data = response.json()
    assert data["checks"]["channel_layer"].startswith("failed")
    assert data["checks"]["database"] == data["checks"]["broker"] == "ok"


def test_a_failed_readiness_check_shows_no_url_or_password(client, settings, caplog):
    settings.CELERY_BROKER_URL = closed_redis_url(password="broker-s3cret")
    with caplog.at_level(logging.WARNING):
        response = client.get("/readyz")
    assert response.status_code == 503
    for text in (response.content.decode(), caplog.text):
        assert "broker-s3cret" not in text and "redis://" not in text and "127.0.0.1" not in text
    assert "readiness check broker failed" in caplog.text


def test_healthz_stays_a_database_check_when_the_broker_is_down(client, settings):
    settings.CELERY_BROKER_URL = closed_redis_url()
    assert client.get("/healthz").content == b"ok"


@pytest.mark.slow
def test_readyz_is_ok_on_the_real_server(daphne_server):
    # The served configuration: the layer and broker of this test session (in memory and SQLite, or Redis).
    response = httpx.get(f"{daphne_server.url}/readyz", timeout=10)
    assert response.status_code == 200
    assert response.json()["ok"] is True
