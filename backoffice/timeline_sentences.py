"""What each call event means, as one short Hebrew sentence for sales staff.

The payloads are written for whoever debugs a call (``heard_ms``, ``frames_received``, ``role: tts``); staff
need "the caller cut the agent off after 1.2 s". One function per event kind turns a payload into a title and
a sentence; a kind without one falls back to a neat "key: value" list, keys translated where we know them.
The texts are Hebrew by nature (only staff of Hebrew-speaking businesses read them), so they are written in
Hebrew here, as the other staff-only admin texts are (admin_followups). Everything taken from the payload is
escaped; quoted speech and free text are isolated with ``<bdi dir="auto">``, numbers and phone numbers with
``<bdi dir="ltr">``, so right-to-left never reorders them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from backoffice.phone_display import phone_html
from crm.models import CallEvent, Lead

Payload = Mapping[str, Any]


@dataclass
class Described:
    """An event in words: a short title, a sentence, and (for kinds we cannot phrase) a list of facts."""

    title: str
    sentence: SafeString | str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)
    voicemail: bool = False


# -- pieces of a sentence -----------------------------------------------------------------------------------
def quoted(text: Any) -> SafeString:
    """Someone's words inside a Hebrew sentence: in quotes, their own direction kept."""
    return format_html('‘<bdi dir="auto">{}</bdi>’', str(text).strip())


def number(value: Any) -> SafeString:
    """A number (or time) isolated left-to-right, so "1.2" never reads "2.1" and a sign stays put."""
    return format_html('<bdi dir="ltr" class="num">{}</bdi>', value)


def seconds_from_ms(ms: Any) -> SafeString:
    """Milliseconds as seconds with one decimal ("1.2"), isolated."""
    try:
        return number(f"{int(ms) / 1000:.1f}")
    except (TypeError, ValueError):
        return number(ms)


def clock(ms: Any) -> SafeString:
    """A duration in ms as m:ss, isolated."""
    try:
        minutes, secs = divmod(int(ms) // 1000, 60)
    except (TypeError, ValueError):
        return number(ms)
    return number(f"{minutes}:{secs:02d}")


def thousands(value: Any) -> SafeString:
    """A count with thousands separators ("4,150"), isolated."""
    try:
        return number(f"{int(value):,}")
    except (TypeError, ValueError):
        return number(value)


def when(value: Any) -> SafeString:
    """An ISO date/time from a payload as people write it ("5.12 10:00"), isolated; as given if not ISO."""
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return number(value)
    return number(f"{moment.day}.{moment.month} {moment:%H:%M}")


def joined(parts: list[SafeString | str], separator: str = "; ") -> SafeString:
    """Sentence parts joined; each part is already escaped or plain text that format_html escapes."""
    return format_html_join(separator, "{}", ((part,) for part in parts if part))


def lead_field_label(name: str) -> str:
    """A lead field's name as staff see it in the lead form (its verbose name, translated)."""
    extra = {"note": "הערה", "callback_at": "מועד לחזרה", "callback_time": "זמן מועדף לחזרה"}
    try:
        lead_field = Lead._meta.get_field(name)
    except FieldDoesNotExist:
        return extra.get(name, name)
    return str(getattr(lead_field, "verbose_name", name))


def lead_status_label(value: Any) -> str:
    """A lead status value ("qualified") as its label in the admin's language."""
    try:
        return str(Lead.Status(value).label)
    except ValueError:
        return str(value)


# Payload keys staff may meet in the fallback list, and a few values worth translating.
KEY_LABELS = {
    "reason": "סיבה",
    "message": "הודעה",
    "status": "סטטוס",
    "text": "טקסט",
    "to": "אל",
    "from": "מאת",
    "duration": "משך",
    "duration_seconds": "משך (שניות)",
    "recording_id": "מס׳ הקלטה",
    "source": "מקור",
    "channel": "ערוץ",
    "webhook": "התראה מ-Twilio",
    "call_status": "סטטוס השיחה",
    "decision": "החלטה",
    "repeat": "חוזר",
    "outcome": "תוצאה",
    "role": "רכיב",
    "stage": "שלב",
}
ROLE_NAMES = {
    "asr": "ASR (זיהוי דיבור)",
    "tts": "TTS (הקראה)",
    "llm": "מודל השפה",
    "vad": "זיהוי דיבור ושקט",
    "agent": "הנציג הממוחשב",
    "providers": "ספקי השירות",
}
DIAL_OUTCOMES = {
    "completed": "ענה",
    "answered": "ענה",
    "busy": "תפוס",
    "no-answer": "לא ענה",
    "failed": "החיוג נכשל",
    "canceled": "המתקשר ניתק לפני מענה",
}
MESSAGE_STATUSES = {
    "queued": "ממתינה לשליחה",
    "accepted": "ממתינה לשליחה",
    "sending": "בשליחה",
    "sent": "נשלחה",
    "delivered": "נמסרה",
    "read": "נקראה",
    "undelivered": "לא נמסרה",
    "failed": "נכשלה",
    "refused": "לא נשלחה",
    "skipped": "לא נשלחה",
    "pending": "ממתינה לשליחה",
}
CHANNELS = {"sms": "SMS", "whatsapp": "WhatsApp", "email": "דוא״ל", "webhook": "Webhook"}
VOICEMAIL_REASONS = {
    "agent_disabled": "הנציג הממוחשב כבוי",
    "after_hours": "מחוץ לשעות הפעילות",
    "socket_dropped": "הקשר עם השיחה נותק",
    "stream_broke": "הקשר עם השיחה נותק",
    "stream_never_started": "השיחה לא התחברה לנציג",
    "no_live_stream": "השיחה לא התחברה לנציג",
    "no_transfer_number": "אין מספר להעברה",
    "agent_requested_voicemail": "הנציג העביר להשארת הודעה",
    "tts_failed": "ההקראה נכשלה",
    "providers_unavailable": "ספקי השירות אינם זמינים",
    "transfer_busy": "ההעברה לנציג נכשלה: תפוס",
    "transfer_no-answer": "ההעברה לנציג נכשלה: לא ענה",
    "transfer_failed": "ההעברה לנציג נכשלה",
}
HANGUP_REASONS = {
    "idle": "המתקשר לא ענה",
    "transfer": "העברה לנציג אנושי",
    "goodbye": "סיום שיחה",
    "agent_ended": "סיום שיחה",
    "providers_unavailable": "ספקי השירות אינם זמינים",
}
FOLLOW_UP_SOURCES = {"callback": "בקשת חזרה", "voicemail": "הודעה קולית", "manual": "נוספה ידנית"}
TOOL_NAMES = {
    "save_lead_details": "שמירת פרטי הליד",
    "update_lead": "עדכון הליד",
    "add_note": "הוספת הערה",
    "transfer_to_human": "העברה לנציג אנושי",
    "end_call": "סיום השיחה",
}


def translated(table: Mapping[str, str], value: Any) -> str:
    return table.get(str(value), str(value))


def value_text(value: Any) -> str:
    """A payload value as plain text: yes/no in Hebrew, lists and dicts flattened, "—" for nothing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "כן" if value else "לא"
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{KEY_LABELS.get(str(k), k)}: {value_text(v)}" for k, v in value.items())
    return str(value)


def fact_list(payload: Payload) -> list[tuple[str, str]]:
    """The fallback for kinds without a sentence: "key: value", keys in Hebrew where we know them."""
    return [(KEY_LABELS.get(str(k), str(k)), value_text(v)) for k, v in payload.items()]


# -- one function per kind ----------------------------------------------------------------------------------
def barge_in(payload: Payload, offset_ms: int) -> Described:
    if payload.get("cause") == "dtmf":
        sentence = mark_safe("המתקשר הקיש על המקשים ועצר את הנציג")
    elif "heard_ms" in payload:
        sentence = format_html("המתקשר קטע את הנציג אחרי {} שניות", seconds_from_ms(payload["heard_ms"]))
    else:
        sentence = mark_safe("המתקשר קטע את הנציג")
    heard = str(payload.get("heard_text") or "").strip()
    if heard:
        sentence = format_html("{}; הוא שמע: {}", sentence, quoted(heard))
    elif "heard_ms" in payload:
        sentence = format_html("{}; הוא לא שמע מילה", sentence)
    return Described("קטע את הנציג", sentence)


def resumed(payload: Payload, offset_ms: int) -> Described:
    """The agent paused when the caller spoke over it, and went on: a "כן", a noise or its own echo."""
    paused = seconds_from_ms(payload.get("paused_ms") or 0)
    said = str(payload.get("text") or "").strip()
    if said:
        sentence = format_html("המתקשר אמר {} בזמן שהנציג דיבר; הנציג עצר ל-{} שניות והמשיך", quoted(said), paused)
    elif payload.get("echo"):
        sentence = format_html("הקול של הנציג חזר בקו ועצר אותו ל-{} שניות, והוא המשיך", paused)
    else:
        sentence = format_html("רעש על הקו עצר את הנציג ל-{} שניות, והוא המשיך", paused)
    return Described("הנציג המשיך", sentence)


def went_on(payload: Payload, offset_ms: int) -> Described:
    """The caller paused mid-sentence long enough for the agent to take it for the end, and went on before
    anything of the answer was heard: the agent dropped it and answered the whole."""
    paused = seconds_from_ms(payload.get("pause_ms") or 0)
    sentence = format_html(
        "המתקשר השתהה {} שניות באמצע המשפט והמשיך לדבר; הנציג חיכה עד שסיים וענה על הכול בבת אחת", paused
    )
    return Described("המתקשר המשיך לדבר", sentence)


def line_echoes(payload: Payload, offset_ms: int) -> Described:
    """The agent's voice comes back on the caller's line: why it may have paused on its own words (a "resumed"
    event with ``echo``). The delay is for whoever debugs the line, not for staff."""
    sentence = mark_safe("הקול של הנציג חוזר בקו של המתקשר, בדרך כלל מרמקול; הנציג מזהה את ההד ולא נעצר בגללו")
    return Described("הד בקו", sentence)


def lead_updated(payload: Payload, offset_ms: int) -> Described:
    fields = payload.get("fields") or []
    names = [lead_field_label(str(name)) for name in fields]
    sentence = format_html("הליד עודכן: {}", ", ".join(names)) if names else "הליד עודכן"
    return Described("הליד עודכן", sentence)


def stream_stopped(payload: Payload, offset_ms: int) -> Described:
    """Duration and frames in one line; the counters staff never need stay in the raw payload."""
    ended_by = {"agent": "הנציג סיים", "twilio": "Twilio סגרה את הזרם", "disconnect": "הקשר נותק"}
    parts: list[SafeString | str] = [
        format_html("השמע נסגר אחרי {}", clock(offset_ms)),
        translated(ended_by, payload.get("ended_by", "")) if payload.get("ended_by") else "",
        format_html(
            "התקבלו {} מסגרות ונשלחו {}",
            thousands(payload.get("frames_received", 0)),
            thousands(payload.get("frames_sent", 0)),
        ),
    ]
    troubled = bool(payload.get("tape_write_errors") or payload.get("underruns"))
    if payload.get("underruns"):
        parts.append(format_html("{} פעמים נגמר השמע לשליחה", thousands(payload["underruns"])))
    if payload.get("tape_write_errors"):
        parts.append(format_html("{} שגיאות בכתיבת ההקלטה", thousands(payload["tape_write_errors"])))
    return Described("סוף השמע (עם תקלות)" if troubled else "סוף השמע", joined(parts))


def error(payload: Payload, offset_ms: int) -> Described:
    role = payload.get("role") or payload.get("stage") or ""
    message = payload.get("message") or payload.get("reason") or payload.get("error") or ""
    where = translated(ROLE_NAMES, role) if role else ""
    sentence: SafeString = (
        format_html("תקלה ב-{}: {}", where, quoted(message)) if where else format_html("תקלה: {}", quoted(message))
    )
    if payload.get("fallback"):
        sentence = format_html("{}; עברנו ל-{}", sentence, payload["fallback"])
    return Described("תקלה", sentence)


def filler(payload: Payload, offset_ms: int) -> Described:
    return Described("משפט המתנה", format_html("נאמר משפט המתנה: {}", quoted(payload.get("text", ""))))


def greeting(payload: Payload, offset_ms: int) -> Described:
    text = str(payload.get("text") or "").strip()
    sentence = format_html("הברכה התחילה: {}", quoted(text)) if text else "הברכה התחילה"
    return Described("ברכה", sentence)


def transfer(payload: Payload, offset_ms: int) -> Described:
    outcome = str(payload.get("outcome", ""))
    if outcome in ("completed", "answered"):
        sentence = format_html("השיחה הועברה לנציג אנושי, שדיבר {} שניות", number(payload.get("duration", 0)))
    else:
        sentence = format_html("ההעברה לנציג אנושי לא הצליחה: {}", translated(DIAL_OUTCOMES, outcome))
    if payload.get("voicemail"):
        sentence = format_html("{}; המתקשר הועבר לתא קולי", sentence)
    return Described("העברה לנציג", sentence, voicemail=bool(payload.get("voicemail")))


def sms(payload: Payload, offset_ms: int) -> Described:
    channel = translated(CHANNELS, payload.get("channel", "sms"))
    status = translated(MESSAGE_STATUSES, payload.get("status", ""))
    sentence = format_html("הודעת {} למתקשר ({}): {}", channel, phone_html(payload.get("to")), status)
    if payload.get("reason"):
        sentence = format_html("{}; {}", sentence, quoted(payload["reason"]))
    if payload.get("error_code"):
        sentence = format_html("{} (קוד שגיאה {})", sentence, number(payload["error_code"]))
    if payload.get("text"):
        sentence = format_html("{}: {}", sentence, quoted(payload["text"]))
    return Described("הודעה למתקשר", sentence)


def follow_up(payload: Payload, offset_ms: int) -> Described:
    source = translated(FOLLOW_UP_SOURCES, payload.get("source", ""))
    state = payload.get("state", "open")
    if state == "done":
        sentence = format_html("משימת המעקב ({}) בוצעה", source)
        if payload.get("by"):
            sentence = format_html("{} על ידי {}", sentence, payload["by"])
        if payload.get("outcome"):
            sentence = format_html("{}: {}", sentence, quoted(payload["outcome"]))
    elif state == "missed":
        sentence = format_html("משימת המעקב ({}) הוחמצה", source)
    else:
        sentence = format_html("נפתחה משימת מעקב ({}) עד {}", source, when(payload.get("due_at", "")))
        if payload.get("assignee"):
            sentence = format_html("{}, באחריות {}", sentence, payload["assignee"])
    return Described("משימת מעקב", sentence)


def notified(payload: Payload, offset_ms: int) -> Described:
    channel = translated(CHANNELS, payload.get("channel", ""))
    to = payload.get("to", "")
    target = (
        phone_html(to) if payload.get("channel") in ("sms", "whatsapp") else format_html('<bdi dir="ltr">{}</bdi>', to)
    )
    status = translated(MESSAGE_STATUSES, payload.get("status", ""))
    sentence = format_html("הצוות קיבל הודעה ב-{} אל {}: {}", channel, target, status)
    if payload.get("reason"):
        sentence = format_html("{}; {}", sentence, quoted(payload["reason"]))
    return Described("הודעה לצוות", sentence)


def call_back(payload: Payload, offset_ms: int) -> Described:
    outcome = str(payload.get("outcome", ""))
    if outcome in ("completed", "answered"):
        sentence = format_html("חזרנו למתקשר והוא ענה; שיחה של {} שניות", number(payload.get("duration", 0)))
    else:
        sentence = format_html("חזרנו למתקשר: {}", translated(DIAL_OUTCOMES, outcome))
    return Described("חזרה למתקשר", sentence)


def fallback(payload: Payload, offset_ms: int) -> Described:
    """A TTS retry (``role: tts``) spoke the backup voice and the call went on; anything else went to
    voicemail. Only the latter may say so."""
    if payload.get("role") == "tts":
        text = str(payload.get("text") or "").strip()
        sentence = format_html("הקול החלופי הושמע: {}", quoted(text)) if text else "הקול החלופי הושמע"
        return Described("קול חלופי", sentence)
    reason = str(payload.get("reason", ""))
    sentence = format_html("המתקשר הועבר לתא קולי: {}", translated(VOICEMAIL_REASONS, reason))
    if payload.get("next_open"):
        sentence = format_html("{}; פתוח שוב ב-{}", sentence, when(payload["next_open"]))
    return Described("הועבר לתא קולי", sentence, voicemail=True)


def hangup(payload: Payload, offset_ms: int) -> Described:
    reason = translated(HANGUP_REASONS, payload.get("reason", "")) if payload.get("reason") else ""
    sentence = format_html("הנציג סיים את השיחה ({})", reason) if reason else mark_safe("הנציג סיים את השיחה")
    if payload.get("voicemail"):
        sentence = format_html("{}; המתקשר הועבר לתא קולי", sentence)
    return Described("סיום", sentence, voicemail=bool(payload.get("voicemail")))


def idle(payload: Payload, offset_ms: int) -> Described:
    if payload.get("hangup"):
        return Described("שתיקה", "המתקשר שתק זמן רב; הנציג נפרד וסיים")
    return Described("שתיקה", format_html("המתקשר שתק; נאמרה תזכורת (מס׳ {})", number(payload.get("prompts", 1))))


def dtmf(payload: Payload, offset_ms: int) -> Described:
    digits = payload.get("digit", payload.get("digits", ""))
    return Described("הקשה", format_html('המתקשר הקיש <bdi dir="ltr" class="digits">{}</bdi>', digits))


def recording_stored(payload: Payload, offset_ms: int) -> Described:
    seconds = payload.get("duration_seconds", payload.get("duration_s"))
    if seconds:
        return Described("הקלטה", format_html("ההקלטה נשמרה ({} שניות)", number(f"{float(seconds):.0f}")))
    return Described("הקלטה", "ההקלטה נשמרה")


def recording_failed(payload: Payload, offset_ms: int) -> Described:
    reason = payload.get("reason") or payload.get("message") or ""
    sentence = format_html("שמירת ההקלטה נכשלה: {}", quoted(reason)) if reason else "שמירת ההקלטה נכשלה"
    return Described("ההקלטה נכשלה", sentence)


def transcribed(payload: Payload, offset_ms: int) -> Described:
    text = str(payload.get("text") or "").strip()
    return Described("תמלול", format_html("ההודעה תומללה: {}", quoted(text)) if text else "ההודעה תומללה")


def summary(payload: Payload, offset_ms: int) -> Described:
    text = str(payload.get("text") or "").strip()
    return Described("סיכום", format_html("נכתב סיכום: {}", quoted(text)) if text else "נכתב סיכום")


def stream_started(payload: Payload, offset_ms: int) -> Described:
    return Described("תחילת השיחה", "השיחה התחברה לנציג הממוחשב")


def tool_call(payload: Payload, offset_ms: int) -> Described:
    """The tool's name in Hebrew; what it changed is shown as a list of changes (see admin_timeline)."""
    name = str(payload.get("name", "?"))
    title = format_html("הנציג ביצע: {}", translated(TOOL_NAMES, name))
    arguments = payload.get("arguments")
    facts = (
        [(lead_field_label(str(k)), value_text(v)) for k, v in arguments.items()] if isinstance(arguments, dict) else []
    )
    sentence: SafeString | str = ""
    if payload.get("error"):
        sentence = format_html("לא הצליח: {}", quoted(value_text(payload["error"])))
    return Described(title, sentence, facts)


SENTENCES: dict[str, Callable[[Payload, int], Described]] = {
    CallEvent.Kind.BARGE_IN: barge_in,
    CallEvent.Kind.RESUMED: resumed,
    CallEvent.Kind.WENT_ON: went_on,
    CallEvent.Kind.LINE_ECHOES: line_echoes,
    CallEvent.Kind.LEAD_UPDATED: lead_updated,
    CallEvent.Kind.STREAM_STOPPED: stream_stopped,
    CallEvent.Kind.STREAM_STARTED: stream_started,
    CallEvent.Kind.ERROR: error,
    CallEvent.Kind.FILLER: filler,
    CallEvent.Kind.GREETING: greeting,
    CallEvent.Kind.TRANSFER: transfer,
    CallEvent.Kind.SMS: sms,
    CallEvent.Kind.FOLLOW_UP: follow_up,
    CallEvent.Kind.NOTIFIED: notified,
    CallEvent.Kind.CALL_BACK: call_back,
    CallEvent.Kind.FALLBACK: fallback,
    CallEvent.Kind.HANGUP: hangup,
    CallEvent.Kind.IDLE: idle,
    CallEvent.Kind.DTMF: dtmf,
    CallEvent.Kind.RECORDING_STORED: recording_stored,
    CallEvent.Kind.RECORDING_FAILED: recording_failed,
    CallEvent.Kind.TRANSCRIBED: transcribed,
    CallEvent.Kind.SUMMARY: summary,
    CallEvent.Kind.TOOL_CALL: tool_call,
}


def describe_event(kind: str, payload: Payload, offset_ms: int = 0, default_title: str = "") -> Described:
    """The event in words; kinds without a sentence (webhooks, marks, turns) as a "key: value" list."""
    describe = SENTENCES.get(kind)
    if describe is None:
        return Described(default_title or kind, "", fact_list(payload))
    return describe(payload, offset_ms)
