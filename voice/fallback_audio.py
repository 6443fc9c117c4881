"""The business's uploaded voicemail greeting, reachable by Twilio's <Play>.

Uploaded files are never public. Twilio fetches <Play> audio without any credentials of ours, so the
TwiML carries a URL with an HMAC of the file name: valid only for that file, and changed by a new upload.
Remote storage (S3) already hands out signed URLs, which are used as they are.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest
from django.urls import reverse
from django.views.decorators.http import require_GET

from crm.models import Business
from voice.public_url import join


def _token(business_id: int, name: str) -> str:
    message = f"fallback-audio:{business_id}:{name}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()[:32]


def fallback_audio_url(base: str, business: Business) -> str:
    """A URL Twilio can fetch for the business's fallback audio ("" when none is uploaded); ``base`` is the
    server's public base URL."""
    if not business.fallback_audio:
        return ""
    storage_url = business.fallback_audio.url
    if storage_url.startswith(("https://", "http://")):
        return storage_url
    path = reverse("voice:fallback_audio", args=[business.pk, _token(business.pk, business.fallback_audio.name or "")])
    return join(base, path)


@require_GET
def fallback_audio(request: HttpRequest, business_id: int, token: str) -> FileResponse:
    business = Business.objects.filter(pk=business_id).first()
    if business is None or not business.fallback_audio:
        raise Http404
    name = business.fallback_audio.name or ""
    if not hmac.compare_digest(_token(business.pk, name), token):
        raise Http404
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse(business.fallback_audio.open("rb"), content_type=content_type)
