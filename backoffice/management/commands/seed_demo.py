"""Demo data for looking at the admin (and for screenshots): one business with Hebrew leads and calls.

No account is created; the command prints how to make one.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import numpy as np
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from crm.call_events import write_event
from crm.models import Business, Call, Lead, PhoneNumber, Recording, Utterance

DEMO_NAME = "מרפאת השיניים של ד״ר אלון (דמו)"

# Fictional numbers only. Israel's numbering plan reserves no range for fiction (nothing like the US 555-01xx),
# so the demo uses a block the plan has not allocated: 054-000-xxxx. Partner's 054 numbers continue with a
# digit 2-9 ("5[49][2-9]" in libphonenumber's metadata), so `phonenumbers` finds these possible (they parse
# and are stored like any number) but not valid: no subscriber can have one. tests/backoffice/test_seed_demo.py
# checks every number the command writes.
FICTIONAL_PREFIX = "+97254000"
DEMO_NUMBER = FICTIONAL_PREFIX + "0100"  # the demo line; simulate_call calls it by default
# DEMO_NUMBER first; when another business uses it, the next free one after the leads' numbers (never theirs).
SPARE_LINES = (100, *range(110, 200))

LEADS = [
    (FICTIONAL_PREFIX + "0101", "דנה כהן", Lead.Status.QUALIFIED, "הלבנת שיניים", 0),
    (FICTIONAL_PREFIX + "0102", "Yossi Levi", Lead.Status.CONTACTED, "שתל + כתר", -2),
    (FICTIONAL_PREFIX + "0103", "מיכל אברהם", Lead.Status.NEW, "בדיקה תקופתית", 3),
    (FICTIONAL_PREFIX + "0104", "", Lead.Status.NEW, "", None),
    (FICTIONAL_PREFIX + "0105", "אבי ואנונו", Lead.Status.WON, "יישור שיניים Invisalign", None),
]

# (speaker, text, start_ms, end_ms, extra)
CONVERSATION: list[tuple[str, str, int, int, dict[str, Any]]] = [
    ("agent", "שלום, הגעתם למרפאת השיניים של ד״ר אלון. במה אפשר לעזור?", 400, 3900, {}),
    ("caller", "היי, אני רוצה לקבוע תור להלבנת שיניים, אם אפשר ב-10:30", 4600, 8200, {}),
    (
        "agent",
        "בשמחה! יש לנו תור פנוי ביום ראשון ב-10:30, וגם ביום שני אחר הצהריים. מה נוח לך?",
        9100,
        14500,
        {
            "interrupted": True,
            "heard_text": "בשמחה! יש לנו תור פנוי ביום ראשון ב-10:30,",
            "latency": {"asr": 310, "llm_first_token": 690, "tts_first_audio": 940, "first_frame": 965},
        },
    ),
    ("caller", "ראשון מעולה. השם שלי דנה כהן", 11900, 14200, {}),
    (
        "agent",
        "מצוין דנה, רשמתי אותך ליום ראשון ב-10:30. לאיזה מספר לשלוח תזכורת ב-SMS?",
        15100,
        19600,
        {"latency": {"asr": 280, "llm_first_token": 1150, "tts_first_audio": 1420, "first_frame": 1450}},
    ),
    ("caller", "כן", 17200, 17600, {}),  # a back-channel: the agent paused and went on
    ("caller", "למספר הזה, 054-000-0101", 20300, 22600, {}),
    (
        "agent",
        "תודה! שלחנו תזכורת. יום טוב ונתראה ביום ראשון.",
        23400,
        26800,
        {"latency": {"asr": 350, "llm_first_token": 610, "tts_first_audio": 870, "first_frame": 900}},
    ),
]

# (kind, offset_ms, payload)
EVENTS: list[tuple[str, int, dict[str, Any]]] = [
    ("webhook", -900, {"path": "/webhook/incoming_call", "from": LEADS[0][0]}),
    ("stream_started", 0, {"tracks": "inbound"}),
    ("greeting", 400, {"text": CONVERSATION[0][1]}),
    ("barge_in", 11900, {"heard_ms": 2800}),
    (
        "tool_call",
        14400,
        {
            "name": "update_lead",
            "arguments": {"name": "דנה כהן", "interest": "הלבנת שיניים", "callback_time": "יום ראשון 10:30"},
            "changed": {
                "name": {"old": "", "new": "דנה כהן"},
                "interest": {"old": "", "new": "הלבנת שיניים"},
                "status": {"old": "new", "new": "qualified"},
            },
        },
    ),
    ("resumed", 18400, {"paused_ms": 1100, "text": "כן"}),
    ("dtmf", 22700, {"digit": "1"}),
    ("error", 23000, {"message": "Google TTS timeout after 3 s", "provider": "google"}),
    ("fallback", 23050, {"reason": "TTS retried with the backup voice"}),
    ("hangup", 27400, {"by": "caller"}),
    ("stream_stopped", 27500, {}),
    ("recording_stored", 31000, {"duration_s": 27.5, "channels": 2}),
]


def demo_wav(seconds: float) -> bytes:
    """Two quiet tones (caller left, agent right): enough for the player to show length and seek."""
    from voice.audio.wav import write_wav

    t = np.arange(int(8000 * seconds)) / 8000
    left = (1200 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.2 * t) > 0)).astype(np.int16)
    right = (1200 * np.sin(2 * np.pi * 330 * t) * (np.sin(2 * np.pi * 0.2 * t) <= 0)).astype(np.int16)
    return write_wav(np.stack([left, right], axis=1))


def free_demo_line() -> str | None:
    """DEMO_NUMBER, or the first fictional line after it that no business uses: never another business's."""
    for n in SPARE_LINES:
        number = f"{FICTIONAL_PREFIX}{n:04d}"
        if not PhoneNumber.objects.filter(number=number).exists():
            return number
    return None


class Command(BaseCommand):
    help = "Create a demo business with Hebrew leads, calls, transcripts and timelines (for a first look)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--reset", action="store_true", help="Delete the demo business and create it again.")

    def handle(self, *args, reset: bool = False, **options) -> None:
        existing = Business.objects.filter(name=DEMO_NAME).first()
        if existing and not reset:
            self.stdout.write(f"The demo business exists already (id {existing.pk}); use --reset to rebuild it.")
        else:
            with transaction.atomic():
                if existing:
                    existing.calls.all().delete()
                    existing.delete()
                business = self.create_demo()
            self.stdout.write(self.style.SUCCESS(f"Demo business created: {business.name} (id {business.pk})"))
        self.stdout.write(
            "\nNo account was created. To look around:\n"
            "  python manage.py createsuperuser            # sees every business\n"
            "Or, for an owner of the demo business only: create a staff user (createsuperuser, or the admin's\n"
            "Users page), then add it on the business page under Memberships with role Owner: it joins the\n"
            "'Owners' group and sees just this business."
        )

    def create_demo(self) -> Business:
        business = Business.objects.create(name=DEMO_NAME)
        line = free_demo_line()
        if line is None:
            self.stdout.write("Every demo line is taken by another business: the demo business gets no number.")
        else:
            PhoneNumber.objects.create(number=line, business=business, label="ראשי")
        self.demo_line = line or DEMO_NUMBER
        today = timezone.localdate()
        leads = []
        for phone, name, status, interest, follow_up in LEADS:
            lead = Lead.objects.create(
                business=business,
                phone=phone,
                name=name,
                status=status,
                interest=interest,
                next_follow_up=today + timedelta(days=follow_up) if follow_up is not None else None,
            )
            leads.append(lead)

        def at(days_ago: int, hour: int, minute: int = 0) -> datetime:
            day = today - timedelta(days=days_ago)
            return timezone.make_aware(datetime.combine(day, time(hour, minute)))

        main = self.make_call(business, leads[0], at(0, 9, 12), Call.Outcome.CONVERSATION, 28)
        main.summary = "דנה כהן מעוניינת בהלבנת שיניים. נקבע תור ליום ראשון ב-10:30; נשלחה תזכורת ב-SMS."
        main.save(update_fields=["summary"])
        for speaker, text, start, end, extra in CONVERSATION:
            Utterance.objects.create(call=main, speaker=speaker, text=text, start_ms=start, end_ms=end, **extra)
        for kind, offset, payload in EVENTS:
            write_event(main, kind, payload, offset_ms=offset)  # the demo's own times: no broadcast
        recording = Recording(
            call=main,
            kind=Recording.Kind.CALL,
            source="stream",
            channels=2,
            duration_seconds=27.5,
            status=Recording.Status.STORED,
            content_type="audio/wav",
        )
        recording.file.save(f"demo-{main.call_sid}.wav", ContentFile(demo_wav(27.5)), save=False)
        recording.save()

        # Some history for the dashboard and the leads' call lists.
        history = [
            (leads[0], 3, 16, Call.Outcome.VOICEMAIL, 35),
            (leads[1], 0, 11, Call.Outcome.CONVERSATION, 142),
            (leads[1], 5, 10, Call.Outcome.CONVERSATION, 95),
            (leads[2], 1, 14, Call.Outcome.CONVERSATION, 61),
            (leads[3], 1, 20, Call.Outcome.VOICEMAIL, 22),
            (leads[3], 2, 8, Call.Outcome.NO_MESSAGE, 6),
            (leads[4], 6, 12, Call.Outcome.CONVERSATION, 210),
            (leads[4], 9, 13, Call.Outcome.CONVERSATION, 180),
            (leads[2], 12, 17, Call.Outcome.FAILED, 3),
            (leads[1], 13, 9, Call.Outcome.VOICEMAIL, 40),
        ]
        for lead, days_ago, hour, outcome, duration in history:
            call = self.make_call(business, lead, at(days_ago, hour), outcome, duration)
            Utterance.objects.create(
                call=call, speaker="agent", text="שלום, הגעתם למרפאת השיניים של ד״ר אלון.", start_ms=300, end_ms=3000
            )
        return business

    def make_call(self, business, lead, started_at, outcome, duration) -> Call:
        call = Call.objects.create(
            call_sid=f"CAdemo{business.pk:04d}{Call.objects.count():022d}",
            business=business,
            lead=lead,
            from_number=lead.phone,
            to_number=self.demo_line,
            status=Call.Status.COMPLETED,
            agent_mode=business.agent_mode,
            outcome=outcome,
            duration_seconds=duration,
        )
        ended = started_at + timedelta(seconds=duration)
        Call.objects.filter(pk=call.pk).update(started_at=started_at, answered_at=started_at, ended_at=ended)
        call.refresh_from_db()
        return call
