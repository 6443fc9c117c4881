"""What every browser test does first: log a user in through the admin's own login page."""

from __future__ import annotations

from tests.support import factories


def log_in(page, server, user) -> None:
    page.goto(server.url + "/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", factories.PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")
    assert "/admin/login" not in page.url, page.locator(".errornote").all_inner_texts()
