"""docker-compose.yml starts the production topology in an order that works, as the image's user can run it.

Docker is not on the test machines, so this reads the file as Compose does (YAML with merge keys); what it
checks is what a first `docker compose up` would trip over."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def runs_the_app(service: dict[str, Any]) -> bool:
    return service.get("build") == "."


def test_everything_that_runs_the_app_waits_for_the_migrations_to_finish(services):
    app = [name for name, service in services.items() if runs_the_app(service) and name != "migrate"]
    assert set(app) >= {"web1", "web2", "worker", "beat"}
    for name in app:
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["db"] == {"condition": "service_healthy"}, name
        assert "redis" in depends, name


def test_beat_keeps_its_schedule_where_the_image_user_may_write(services):
    # The image runs as `app` in /app, which root owns: beat's default ./celerybeat-schedule cannot be written.
    command = services["beat"]["command"].split()
    assert "--schedule" in command
    assert command[command.index("--schedule") + 1].startswith("/tmp/")


def test_web_processes_per_container_are_not_the_make_run_setting(services):
    # .env (from .env.example) sets WEB_CONCURRENCY=1 for `make run`, and Compose interpolates from .env.
    for name in ("web1", "web2"):
        value = services[name]["environment"]["WEB_CONCURRENCY"]
        assert "COMPOSE_WEB_CONCURRENCY" in value, name
