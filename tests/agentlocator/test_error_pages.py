"""Error pages answer in Hebrew, right to left, in the admin's look, with the right status: never Django's bare
English "Not Found" / "Bad Request". Rendered as in production (DEBUG off), from views that fail on purpose."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path, reverse

from agentlocator import urls as project_urls
from agentlocator.limits import BodySizeLimit
from tests.backoffice.conftest import logged_in
from tests.support import factories

pytestmark = pytest.mark.django_db


def refuse(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("no")


def missing(request: HttpRequest) -> HttpResponse:
    raise Http404("No Lead matches the given query.")


def malformed(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation("bad input")


def crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


# This module is the URLconf of the tests below: the project's URLs and error handlers, plus views that fail.
urlpatterns = [
    path("fail/403", refuse),
    path("fail/404", missing),
    path("fail/400", malformed),
    path("fail/500", crash),
    *project_urls.urlpatterns,
]
handler400 = project_urls.handler400

as_production = override_settings(DEBUG=False, ROOT_URLCONF=__name__)


def assert_hebrew_page(response, status: int, *phrases: str) -> str:
    assert response.status_code == status
    page = response.content.decode()
    assert '<html lang="he" dir="rtl">' in page
    for phrase in (*phrases, "Agent Locator"):
        assert phrase in page
    for english in ("Not Found", "Bad Request", "Forbidden", "Server Error", "Django"):
        assert english not in page
    return page


@as_production
def test_a_page_that_does_not_exist_is_a_hebrew_404_in_the_admin_look(client):
    page = assert_hebrew_page(client.get("/no-such-page/"), 404, "הדף לא נמצא")
    assert "admin/css/base.css" in page and 'id="site-name"' in page
    assert f'href="{reverse("admin:index")}"' in page


@as_production
def test_a_404_raised_by_a_view_shows_no_english_detail(client):
    page = assert_hebrew_page(client.get("/fail/404"), 404, "הדף לא נמצא")
    assert "No Lead matches" not in page


@as_production
def test_a_refused_page_is_a_hebrew_403(db):
    user = factories.make_user("someone")
    assert_hebrew_page(logged_in(user).get("/fail/403"), 403, "אין לכם הרשאה")


@as_production
def test_a_form_sent_without_its_csrf_token_is_a_hebrew_403_that_says_nothing_was_saved():
    response = Client(enforce_csrf_checks=True).post(reverse("admin:login"), {"username": "x", "password": "y"})
    assert_hebrew_page(response, 403, "הטופס פג תוקף", "לא נשמר")


@as_production
def test_a_malformed_request_is_a_hebrew_400(client):
    page = assert_hebrew_page(client.get("/fail/400"), 400, "בקשה שגויה")
    assert "גדול מדי" not in page


@as_production
def test_a_server_error_is_a_hebrew_500_that_needs_no_template_context():
    response = Client(raise_request_exception=False).get("/fail/500")
    page = assert_hebrew_page(response, 500, "משהו השתבש")
    assert "<style>" in page and "boom" not in page


async def test_a_body_over_the_server_limit_is_a_hebrew_413_page():
    """Refused before Django runs, by the ASGI middleware: a page of its own, not English plain text."""
    reached = []

    async def app(scope, receive, send):
        reached.append(scope["path"])

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "path": "/admin/crm/business/1/change/", "headers": [(b"content-length", b"9000000")]}
    await BodySizeLimit(app, default=64 * 1024, limits=[("/admin/", 8 * 1024 * 1024)])(scope, receive, send)
    assert reached == []
    start, body = sent
    assert start["status"] == 413
    assert dict(start["headers"])[b"content-type"] == b"text/html; charset=utf-8"
    page = body["body"].decode()
    assert '<html lang="he" dir="rtl">' in page and "גדולה מדי" in page and "לא נשמרה" in page
