"""A real browser for the admin: Debian's chromium driven by Playwright's sync API (never a downloaded browser).

Playwright's sync API runs its own loop; these tests are plain sync functions, so no asyncio loop is running
while it works. That loop is visible to Django's async-safety check in this thread, though: the ORM calls
the tests make between browser steps are plain sync code, so the check is lifted while the browser lives.
Screenshots go to artifacts/screenshots/ at the repository root, which CI keeps.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


@pytest.fixture
def browser(transactional_db) -> Iterator:
    """One browser per test, started after the database is ready: while Playwright's loop runs, Django
    sees another context (a fresh connection object), so the test database's setup and restore
    (flush and set-up) must happen before it starts and after it stops."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium); browser tests need Debian's chromium")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                yield browser
            finally:
                browser.close()
                # The connections the test opened belong to this context: closed here, or the test
                # database's teardown (in the other context) finds them still open and cannot drop it.
                from django.db import connections

                connections.close_all()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser) -> Iterator:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="he-IL")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
