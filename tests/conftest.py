"""Shared fixtures. Servers that tests need are started here and stopped when the test ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings

from tests.support.live import LiveServer, run_daphne
from tests.support.twilio_standin import TwilioStandin


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = getattr(settings, "SERVICES_SKIP_REASON", "")
    if reason:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def daphne_server(transactional_db, tmp_path) -> Iterator[LiveServer]:
    """The project served by a real daphne process on a loopback port (fake voice providers)."""
    with run_daphne(tmp_path) as server:
        yield server


@pytest.fixture
def twilio(settings):
    """Twilio's REST API and recording URLs, served by a local stand-in the real twilio client talks to."""
    with TwilioStandin(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN) as standin:
        settings.TWILIO_API_BASE_URL = standin.base_url
        yield standin


@pytest.fixture
def staff_groups(transactional_db) -> None:
    """The staff groups of the data migration, again: a transactional test's flush empties every table (and a
    serialized rollback would clash with the content types the flush recreates)."""
    from django.contrib.auth.models import Group, Permission

    from crm.staff_groups import ensure_staff_groups

    ensure_staff_groups(Group, Permission)
