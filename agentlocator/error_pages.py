"""The 400 handler: Django's own renders 400.html with no context, so a form refused for its size (a 3 MB
paste into notes) would get the same page as a malformed request. This one tells the two apart.

The page is rendered without the request, as Django's is: the request is what was wrong (an unreadable body,
a bad Host header), and nothing on the page needs it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponseBadRequest
from django.template import loader

# What the server refuses to read from a form, as the kinds of "too large" the page explains in one way.
TOO_LARGE = (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponseBadRequest:
    """400.html, saying "the form is too large" (with the limit) when that is why."""
    too_large = isinstance(exception, TOO_LARGE)
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    context = {
        "too_large": too_large,
        "max_megabytes": _megabytes(limit) if too_large and limit else "",
    }
    return HttpResponseBadRequest(loader.render_to_string("400.html", context))


def _megabytes(size: int) -> str:
    """2621440 → "2.5": the limit as people read file sizes."""
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0")
