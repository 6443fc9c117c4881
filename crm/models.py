"""The sales data: businesses, their staff, leads, calls, transcripts, timelines and recordings."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm import defaults
from crm.phone_text import phone_text, route_text


class Business(models.Model):
    """A company the agent answers for, with the agent configuration its owner edits."""

    class AgentMode(models.TextChoices):
        AI = "ai", _("AI agent")
        ECHO = "echo", _("Echo (diagnostic)")
        SINK = "sink", _("Sink (diagnostic)")

    class CallerAddress(models.TextChoices):
        PLURAL = defaults.ADDRESS_PLURAL, _("In the plural (“you” as אתם)")
        NEUTRAL = defaults.ADDRESS_NEUTRAL, _("Gender-neutral phrasing")

    class AgentGender(models.TextChoices):
        MASCULINE = defaults.SPEAKS_MASCULINE, _("Masculine")
        FEMININE = defaults.SPEAKS_FEMININE, _("Feminine")

    class AfterHours(models.TextChoices):
        AGENT = "agent", _("The agent answers, says we are closed and takes a message")
        VOICEMAIL = "voicemail", _("Straight to voicemail")

    name = models.CharField(_("name"), max_length=200, default=defaults.DEFAULT_BUSINESS_NAME)
    is_default = models.BooleanField(
        _("default business"), default=False, help_text=_("Answers calls to numbers no business claims.")
    )
    language = models.CharField(_("language"), max_length=16, default=defaults.DEFAULT_LANGUAGE)
    time_zone = models.CharField(_("time zone"), max_length=64, default=defaults.DEFAULT_TIME_ZONE)

    agent_mode = models.CharField(_("agent mode"), max_length=8, choices=AgentMode.choices, default=AgentMode.AI)
    agent_enabled = models.BooleanField(
        _("agent answers calls"),
        default=True,
        help_text=_("When off, every call goes straight to voicemail."),
    )
    greeting = models.TextField(_("greeting"), default=defaults.DEFAULT_GREETING)
    system_prompt = models.TextField(_("system prompt"), default=defaults.DEFAULT_SYSTEM_PROMPT)
    voice_name = models.CharField(
        _("voice"),
        max_length=100,
        default=defaults.DEFAULT_VOICE,
        help_text=_(
            "Google's he-IL voices: A and C are female, B and D male. Choose the one that matches how the agent "
            "speaks of itself."
        ),
    )
    fallback_message = models.TextField(_("voicemail message"), default=defaults.DEFAULT_FALLBACK_MESSAGE)
    fallback_audio = models.FileField(
        _("voicemail audio"),
        upload_to="business-audio/",
        blank=True,
        help_text=_("Played instead of the text."),
    )

    eou_silence_ms = models.PositiveIntegerField(
        _("end-of-utterance silence (ms)"),
        default=600,
        validators=[MinValueValidator(200), MaxValueValidator(3000)],
        help_text=_(
            "How long the caller is silent before the agent answers. Lower answers sooner, but too low cuts in "
            "on callers who pause in mid-sentence: a call's timeline then shows that the caller went on after a "
            "pause."
        ),
    )
    barge_in_min_ms = models.PositiveIntegerField(
        _("barge-in minimum speech (ms)"),
        default=300,
        validators=[MinValueValidator(60), MaxValueValidator(2000)],
        help_text=_("Lower interrupts the agent sooner."),
    )
    idle_prompt_seconds = models.PositiveIntegerField(
        _("idle prompt after (s)"), default=8, validators=[MinValueValidator(3), MaxValueValidator(60)]
    )
    max_call_minutes = models.PositiveIntegerField(
        _("maximum call length (min)"), default=15, validators=[MinValueValidator(1), MaxValueValidator(120)]
    )
    record_calls = models.BooleanField(_("record calls"), default=True)
    twilio_recording = models.BooleanField(
        _("also record with Twilio"),
        default=False,
        help_text=_("Ask Twilio for its own recording of each call."),
    )

    # Handing the caller to a person (the agent's transfer_to_human tool, DTMF 0, staff's "transfer to me").
    transfer_number = models.CharField(
        _("transfer number"),
        max_length=20,
        blank=True,
        help_text=_("A person who takes calls the agent hands over, in international format. Empty: no transfer."),
    )
    transfer_ring_seconds = models.PositiveIntegerField(
        _("ring the transfer number for (s)"), default=25, validators=[MinValueValidator(5), MaxValueValidator(60)]
    )

    # Who hears about each call, and what the caller gets afterwards (the followup app).
    notification_emails = models.TextField(
        _("notification emails"),
        blank=True,
        help_text=_("Who is told about every call, one address per line (staff who opted in are told too)."),
    )
    webhook_url = models.URLField(
        _("webhook URL"),
        max_length=500,
        blank=True,
        help_text=_("Calls, leads, voicemails and due follow-ups are POSTed here as JSON (Slack, Zapier, your CRM)."),
    )
    webhook_secret = models.CharField(
        _("webhook secret"),
        max_length=128,
        blank=True,
        help_text=_("Signs every webhook (X-Agentlocator-Signature: sha256=HMAC of the body)."),
    )
    followup_sms_text = models.TextField(
        _("text message to the caller"),
        blank=True,
        help_text=_("Sent after the call. {business} and {callback} are filled in. Empty: no message."),
    )
    whatsapp_sender = models.CharField(
        _("WhatsApp sender"),
        max_length=20,
        blank=True,
        help_text=_("The business's WhatsApp number at Twilio, in international format. Empty: SMS only."),
    )

    # What the agent knows about the business (crm.business_hours reads the hours; the prompt gets it all).
    address = models.CharField(_("address"), max_length=300, blank=True)
    # {"sun": [["09:00", "13:00"], ["16:00", "19:00"]], ...}; a day without ranges is closed; no day at all
    # means hours are not set and the business counts as open at all times (crm.opening_hours).
    opening_hours = models.JSONField(_("opening hours"), default=dict, blank=True)
    closed_dates = models.JSONField(
        _("closed dates"), default=list, blank=True, help_text=_("Holidays and closures: ISO dates.")
    )
    knowledge = models.TextField(
        _("what the agent may tell callers"),
        blank=True,
        help_text=_("Services, prices, directions, policies: the agent answers only from this text."),
    )
    addresses_callers = models.CharField(
        _("the agent addresses callers"), max_length=8, choices=CallerAddress.choices, default=CallerAddress.PLURAL
    )
    speaks_as = models.CharField(
        _("the agent speaks of itself in the"),
        max_length=10,
        choices=AgentGender.choices,
        default=AgentGender.MASCULINE,
        help_text=_("Choose a voice of the same gender."),
    )
    after_hours = models.CharField(_("after hours"), max_length=10, choices=AfterHours.choices, default="agent")

    # The fixed lines (defaults in crm.defaults; {business} and {next_open} are filled in per call).
    apology = models.TextField(_("apology"), default=defaults.DEFAULT_LINES["apology"])
    idle_prompt = models.TextField(_("idle prompt"), default=defaults.DEFAULT_LINES["idle_prompt"])
    goodbye = models.TextField(_("goodbye"), default=defaults.DEFAULT_LINES["goodbye"])
    fillers = models.TextField(
        _("fillers"),
        default=defaults.DEFAULT_LINES["fillers"],
        help_text=_("Short holding phrases while a slow answer comes, one per line."),
    )
    after_hours_line = models.TextField(
        _("after-hours line"),
        default=defaults.DEFAULT_LINES["after_hours_line"],
        help_text=_("Said instead of the greeting when the business is closed; {next_open} says when it opens."),
    )

    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="businesses", blank=True
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("business")
        verbose_name_plural = _("businesses")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="one_default_business"
            )
        ]

    def __str__(self) -> str:
        return self.name


class PhoneNumber(models.Model):
    """A number (E.164) that routes calls to a business: the Twilio `To`."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="phone_numbers")
    number = models.CharField(_("number"), max_length=20, unique=True)
    label = models.CharField(_("label"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("phone number")
        verbose_name_plural = _("phone numbers")

    def __str__(self) -> str:
        """Shown in the business page's number rows and in messages: local format, isolated from Hebrew."""
        return phone_text(self.number)


class Membership(models.Model):
    """A staff user's place in a business. Owners edit its settings; sales staff work its leads."""

    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        STAFF = "staff", _("Sales staff")

    class Notify(models.TextChoices):
        NEW_LEADS = "new_leads", _("New leads only")
        EVERY_CALL = "every_call", _("Every call")
        NONE = "none", _("Nothing")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=8, choices=Role.choices, default=Role.STAFF)
    phone = models.CharField(
        _("phone for transfers"),
        max_length=20,
        blank=True,
        help_text=_('Where a live call goes when this person takes it ("transfer to me").'),
    )
    notify = models.CharField(_("email me about"), max_length=12, choices=Notify.choices, default=Notify.NEW_LEADS)
    on_duty = models.BooleanField(
        _("on duty"), default=True, help_text=_("Takes follow-up tasks in turn when a lead has no owner.")
    )

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [models.UniqueConstraint(fields=["user", "business"], name="one_membership_per_business")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.business} ({self.get_role_display()})"


class Lead(models.Model):
    """A caller, found again by phone number on every later call."""

    class Status(models.TextChoices):
        NEW = "new", _("New")
        CONTACTED = "contacted", _("Contacted")
        QUALIFIED = "qualified", _("Qualified")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="leads")
    phone = models.CharField(_("phone"), max_length=20, help_text=_("E.164, e.g. +972501234567"))
    name = models.CharField(_("name"), max_length=200, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.NEW)
    source = models.CharField(_("source"), max_length=50, default="phone", blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_leads",
    )
    interest = models.CharField(_("interest"), max_length=500, blank=True)
    callback_time = models.CharField(_("preferred callback time"), max_length=200, blank=True)
    callback_at = models.DateTimeField(
        _("call back at"), null=True, blank=True, help_text=_("The callback request as a time (its words stay above).")
    )
    notes = models.TextField(_("notes"), blank=True)
    next_follow_up = models.DateField(_("next follow-up"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["business", "phone"], name="one_lead_per_phone")]
        indexes = [
            models.Index(fields=["phone"]),
            models.Index(fields=["status"]),
            models.Index(fields=["next_follow_up"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self) -> str:
        """The page title, breadcrumbs, history and select options: plain text among Hebrew, so the number is
        in the local format and isolated (crm/phone_text.py)."""
        return f"{self.name} {phone_text(self.phone)}" if self.name else phone_text(self.phone)


class Call(models.Model):
    """One phone call, as Twilio knows it (CallSid) and as the agent lived it."""

    class Status(models.TextChoices):
        # Twilio's CallStatus values.
        QUEUED = "queued", _("Queued")
        RINGING = "ringing", _("Ringing")
        IN_PROGRESS = "in-progress", _("In progress")
        COMPLETED = "completed", _("Completed")
        BUSY = "busy", _("Busy")
        FAILED = "failed", _("Failed")
        NO_ANSWER = "no-answer", _("No answer")
        CANCELED = "canceled", _("Canceled")

    class Outcome(models.TextChoices):
        NONE = "", _("(none yet)")
        CONVERSATION = "conversation", _("Talked with the agent")
        VOICEMAIL = "voicemail", _("Left a voicemail")
        NO_MESSAGE = "no_message", _("Hung up without a message")
        FAILED = "failed", _("Failed")

    call_sid = models.CharField(_("CallSid"), max_length=64, unique=True)
    stream_sid = models.CharField(_("StreamSid"), max_length=64, blank=True, db_index=True)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="calls")
    lead = models.ForeignKey(Lead, on_delete=models.SET_NULL, null=True, blank=True, related_name="calls")
    direction = models.CharField(_("direction"), max_length=20, default="inbound")
    from_number = models.CharField(_("from"), max_length=40, blank=True, db_index=True)
    to_number = models.CharField(_("to"), max_length=40, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RINGING)
    agent_mode = models.CharField(_("agent mode"), max_length=8, choices=Business.AgentMode.choices, blank=True)
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    # Stamped every few seconds by the socket serving the call (voice.stream_liveness): a stale stamp on a
    # call that is not over means no process serves its stream any more (voice.reconciler closes it).
    stream_seen_at = models.DateTimeField(_("stream last seen"), null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(_("duration (s)"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, default="", blank=True)
    summary = models.TextField(_("summary"), blank=True)

    class Meta:
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["status"]), models.Index(fields=["started_at"])]

    def __str__(self) -> str:
        """Who called whom, readable in Hebrew: isolated local numbers, an arrow in the reading direction."""
        return route_text(self.from_number, self.to_number)


class Utterance(models.Model):
    """One transcript segment, stored as soon as it completes."""

    class Speaker(models.TextChoices):
        CALLER = "caller", _("Caller")
        AGENT = "agent", _("Agent")

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="utterances")
    speaker = models.CharField(_("speaker"), max_length=8, choices=Speaker.choices)
    text = models.TextField(_("text"))
    start_ms = models.PositiveIntegerField(_("start (ms)"))
    end_ms = models.PositiveIntegerField(_("end (ms)"))
    interrupted = models.BooleanField(_("interrupted"), default=False)
    heard_text = models.TextField(_("heard text"), blank=True, help_text=_("What the caller heard before cutting in."))
    latency = models.JSONField(_("latency (ms)"), default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("utterance")
        verbose_name_plural = _("utterances")
        ordering = ["call", "start_ms", "id"]

    def __str__(self) -> str:
        return f"{self.get_speaker_display()}: {self.text[:60]}"


class CallEvent(models.Model):
    """One row of a call's timeline."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", _("Webhook received")
        CALL_STATUS = "call_status", _("Call status")
        STREAM_STATUS = "stream_status", _("Stream status")
        STREAM_STARTED = "stream_started", _("Stream started")
        GREETING = "greeting", _("Greeting played")
        FILLER = "filler", _("Filler while the caller waits")
        TURN = "turn", _("Turn")
        BARGE_IN = "barge_in", _("Barge-in")
        RESUMED = "resumed", _("The agent went on after a pause")
        WENT_ON = "went_on", _("The caller went on after a pause")
        LINE_ECHOES = "line_echoes", _("The agent's voice comes back on the caller's line")
        TOOL_CALL = "tool_call", _("Tool call")
        DTMF = "dtmf", _("DTMF digit")
        MARK = "mark", _("Mark")
        IDLE = "idle", _("Idle prompt")
        ERROR = "error", _("Error")
        FALLBACK = "fallback", _("Fallback to voicemail")
        RECORDING_STORED = "recording_stored", _("Recording stored")
        RECORDING_FAILED = "recording_failed", _("Recording failed")
        TRANSCRIBED = "transcribed", _("Transcribed")
        SUMMARY = "summary", _("Summary")
        LEAD_UPDATED = "lead_updated", _("Lead updated")
        HANGUP = "hangup", _("Hang-up")
        TRANSFER = "transfer", _("Transfer to a person")
        NOTIFIED = "notified", _("Staff notified")
        SMS = "sms", _("Message to the caller")
        FOLLOW_UP = "follow_up", _("Follow-up task")
        CALL_BACK = "call_back", _("Call back")
        STREAM_STOPPED = "stream_stopped", _("Stream stopped")

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    offset_ms = models.IntegerField(_("offset (ms)"), default=0)
    payload = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("call event")
        verbose_name_plural = _("call events")
        ordering = ["call", "created_at", "id"]
        indexes = [models.Index(fields=["kind"]), models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} +{self.offset_ms} ms"


class Recording(models.Model):
    """Audio of a call: our own two-channel recording, Twilio's, or a voicemail."""

    class Kind(models.TextChoices):
        CALL = "call", _("Full call")
        VOICEMAIL = "voicemail", _("Voicemail")

    class Source(models.TextChoices):
        STREAM = "stream", _("Recorded by the system")  # our own, from the call's Media Stream
        TWILIO = "twilio", _("Recorded by Twilio")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        STORED = "stored", _("Stored")
        TRANSCRIBED = "transcribed", _("Transcribed")
        FAILED = "failed", _("Failed")

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="recordings")
    recording_sid = models.CharField(_("RecordingSid"), max_length=64, unique=True, null=True, blank=True)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.CALL)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.STREAM)
    source_url = models.URLField(_("source URL"), max_length=500, blank=True)
    file = models.FileField(_("file"), upload_to="recordings/%Y/%m/", blank=True)
    content_type = models.CharField(_("content type"), max_length=50, blank=True)
    channels = models.PositiveSmallIntegerField(_("channels"), default=1)
    duration_seconds = models.FloatField(_("duration (s)"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING)
    failure_reason = models.TextField(_("failure reason"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    transcript = models.TextField(_("transcript"), blank=True)
    summary = models.TextField(_("summary"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("recording")
        verbose_name_plural = _("recordings")
        ordering = ["-created_at"]
        constraints = [
            # Our own stream recording is written once per call, however often its task runs.
            models.UniqueConstraint(
                fields=["call"], condition=models.Q(source="stream"), name="one_stream_recording_per_call"
            )
        ]
        indexes = [models.Index(fields=["status"]), models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.call}"
