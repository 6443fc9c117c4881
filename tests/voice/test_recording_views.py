"""Recording audio is served only to staff of the call's business, and the player can seek (ranges)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import connections

from crm.models import Business, Call, Membership, Recording

pytestmark = pytest.mark.django_db

AUDIO = bytes(range(256)) * 40  # 10240 bytes: content does not matter, positions do


def member(business: Business, username: str, role: str = Membership.Role.STAFF):
    user = get_user_model().objects.create_user(username=username, password="pw-not-used", is_staff=True)
    Membership.objects.create(user=user, business=business, role=role)
    return user


@pytest.fixture
def business() -> Business:
    return Business.objects.create(name="הסוכנות")


@pytest.fixture
def recording(business) -> Recording:
    call = Call.objects.create(call_sid="CA" + "1" * 32, business=business, from_number="+972501234567")
    recording = Recording(call=call, kind=Recording.Kind.CALL, content_type="audio/wav", channels=2)
    recording.file.save("call.wav", ContentFile(AUDIO), save=False)
    recording.status = Recording.Status.STORED
    recording.save()
    return recording


def url(recording: Recording) -> str:
    return f"/recordings/{recording.pk}/audio"


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_anonymous_users_are_sent_to_log_in_and_get_no_audio(client, recording):
    response = client.get(url(recording))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_staff_of_another_business_get_a_404_as_if_it_did_not_exist(client, recording):
    other = Business.objects.create(name="מתחרה")
    client.force_login(member(other, "outsider", Membership.Role.OWNER))

    assert client.get(url(recording)).status_code == 404
    assert client.get("/recordings/999999/audio").status_code == 404


def test_a_logged_in_user_with_no_business_gets_a_404(client, recording):
    client.force_login(get_user_model().objects.create_user(username="nobody", is_staff=True))
    assert client.get(url(recording)).status_code == 404


@pytest.mark.parametrize("role", [Membership.Role.STAFF, Membership.Role.OWNER])
def test_staff_and_owners_of_the_business_hear_the_whole_file(client, business, recording, role):
    client.force_login(member(business, "insider", role))

    response = client.get(url(recording))

    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == str(len(AUDIO))
    assert "private" in response["Cache-Control"]
    assert body(response) == AUDIO


def test_superusers_see_every_business(client, recording):
    admin = get_user_model().objects.create_superuser(username="root", password="pw-not-used")
    client.force_login(admin)
    assert client.get(url(recording)).status_code == 200


def test_a_range_request_gets_206_with_just_those_bytes(client, business, recording):
    client.force_login(member(business, "insider"))

    response = client.get(url(recording), HTTP_RANGE="bytes=1000-1999")

    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 1000-1999/{len(AUDIO)}"
    assert response["Content-Length"] == "1000"
    assert body(response) == AUDIO[1000:2000]


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=10000-", 10000, 10239), ("bytes=-240", 10000, 10239), ("bytes=10200-99999", 10200, 10239)],
)
def test_open_ended_suffix_and_overlong_ranges(client, business, recording, header, first, last):
    client.force_login(member(business, "insider"))

    response = client.get(url(recording), HTTP_RANGE=header)

    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/{len(AUDIO)}"
    assert body(response) == AUDIO[first : last + 1]


def test_a_range_beyond_the_end_is_416(client, business, recording):
    client.force_login(member(business, "insider"))

    response = client.get(url(recording), HTTP_RANGE=f"bytes={len(AUDIO)}-")

    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(AUDIO)}"


def test_a_malformed_range_is_ignored_and_the_whole_file_sent(client, business, recording):
    client.force_login(member(business, "insider"))
    response = client.get(url(recording), HTTP_RANGE="bytes=0-10,20-30")
    assert response.status_code == 200 and body(response) == AUDIO


def test_a_recording_without_a_file_yet_is_a_404(client, business, recording):
    client.force_login(member(business, "insider"))
    pending = Recording.objects.create(call=recording.call, kind="voicemail", source="twilio")
    assert client.get(url(pending)).status_code == 404


def test_the_recording_has_no_public_url_in_storage_routes(client, business, recording):
    """MEDIA_URL is never routed: the file is reachable only through the checked view."""
    assert client.get(f"/media-not-public/{recording.file.name}").status_code == 404


def test_head_gives_the_headers_without_the_body(client, business, recording):
    client.force_login(member(business, "insider"))
    response = client.head(url(recording))
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(AUDIO)) and response["Accept-Ranges"] == "bytes"
    assert response.content == b""


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_audio_streams_without_blocking_the_event_loop(async_client, business, recording):
    user = await sync_to_async(member)(business, "insider")
    await async_client.aforce_login(user)

    response = await async_client.get(url(recording), headers={"Range": "bytes=100-"})

    assert response.status_code == 206
    assert response.is_async
    assert b"".join([chunk async for chunk in response.streaming_content]) == AUDIO[100:]
    await sync_to_async(connections.close_all)()  # the view's thread kept a connection open
