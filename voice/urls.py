"""HTTP routes of the voice app. Webhook paths are the ones existing Twilio consoles already point at,
matched with or without a trailing slash (no APPEND_SLASH redirect: Twilio does not repeat a POST)."""

from django.urls import path, re_path

from voice import fallback_audio, message_webhooks, recording_views, recording_webhooks, webhooks

app_name = "voice"


def webhook(name: str, view):
    return re_path(rf"^webhook/{name}/?$", view, name=name)


urlpatterns = [
    # Twilio: the call and its media stream.
    webhook("incoming_call", webhooks.incoming_call),
    webhook("stream_status", webhooks.stream_status),
    webhook("stream_ended", webhooks.stream_ended),
    webhook("call_status", webhooks.call_status),
    # Twilio: the <Dial> to a person ended (voice.transfer).
    webhook("dial_status", webhooks.dial_status),
    # Twilio's <Play> of the business's uploaded voicemail greeting.
    path(
        "voice/fallback-audio/<int:business_id>/<str:token>",
        fallback_audio.fallback_audio,
        name="fallback_audio",
    ),
]

# Recordings: Twilio's recording callbacks, and the access-checked audio for the admin's player.
urlpatterns += [
    webhook("recording_status", recording_webhooks.recording_status),
    webhook("handle_recording", recording_webhooks.handle_recording),
    path("recordings/<int:recording_id>/audio", recording_views.recording_audio, name="recording_audio"),
]

# Twilio: delivery reports of the message to the caller, and the <Dial action> of a staff call-back.
urlpatterns += [
    webhook("message_status", message_webhooks.message_status),
    webhook("call_back_dial_status", message_webhooks.call_back_dial_status),
]
