"""The voicemail fallback TwiML of a business, with absolute URLs so that it also works when pushed to a
live call through Twilio's REST API (``calls(sid).update(twiml=...)``)."""

from __future__ import annotations

from crm.models import Business
from voice.fallback_audio import fallback_audio_url
from voice.public_url import join, with_overrides
from voice.twilio import twiml

# Fixed paths that Twilio calls back (routed in voice/urls.py).
HANDLE_RECORDING_PATH = "/webhook/handle_recording"
RECORDING_STATUS_PATH = "/webhook/recording_status"


def voicemail_twiml_at(base: str, business: Business) -> str:
    """The business's message (uploaded audio or text), a recording, thanks. ``base`` is the server's public
    base URL (``https://host``, from ``PUBLIC_BASE_URL``); Twilio retries the recording callback through a
    short outage (connection overrides)."""
    return twiml.voicemail(
        record_action_url=join(base, HANDLE_RECORDING_PATH),
        recording_status_url=with_overrides(join(base, RECORDING_STATUS_PATH)),
        message=business.fallback_message,
        audio_url=fallback_audio_url(base, business),
    )
