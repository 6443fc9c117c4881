"""Settings: everything from the environment (12-factor), with embedded defaults that need no servers.

See .env.example for every variable. A ``.env`` file in the project root is read when present.
"""

import os
from pathlib import Path

import dj_database_url
import environ
from django.core.exceptions import ImproperlyConfigured

from agentlocator.public_base import DEBUG_DEFAULT, clean_public_base_url

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if env.bool("READ_DOT_ENV", default=True):  # the test suite sets READ_DOT_ENV=0 to stay hermetic
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# Call tokens are HMACs of SECRET_KEY, so there is no usable default outside DEBUG.
# `make run` writes a random one into .env on first start.
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is not set: put it in the environment or .env (see .env.example)")
    SECRET_KEY = "insecure-debug-only-secret"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=True)
# Behind a TLS proxy that sets X-Forwarded-Proto (Caddy, a load balancer): false when daphne faces clients.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("SECURE_PROXY_SSL_HEADER", default=True) else None
)
# HTTPS hardening (`manage.py check --deploy`): all off by default so plain-http development works; production
# sets them in the environment (see .env.example).
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# The load balancer's probes and the metrics scraper speak plain http inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "import_export",
    "backoffice.apps.SignInProtectionConfig",  # django-axes, with a Hebrew heading
    "crm",
    "voice",
    "followup",
    "backoffice",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "agentlocator.urls"
ASGI_APPLICATION = "agentlocator.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: SQLite file by default; DATABASE_URL=postgres://... switches to PostgreSQL.
# (Empty values in .env mean "use the default", hence the `or`.)
DATABASE_URL = env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
_IS_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
_IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
# Seconds a connection is kept between a call's writes (Channels' database_sync_to_async closes obsolete ones
# after each, on the one thread per process that stores calls). SQLite's are kept 10 minutes by default:
# opening one runs the PRAGMAs below and registers Django's SQL functions, which at 40 calls was 12 % of the
# server's samples (bench/README.md). HTTP requests run on a thread each; agentlocator.asgi closes theirs.
_conn_max_age = env.str("DB_CONN_MAX_AGE", default="").strip()
if _conn_max_age and not _conn_max_age.isdigit():
    raise ImproperlyConfigured(f"DB_CONN_MAX_AGE is a whole number of seconds, not {_conn_max_age!r}")
DATABASES["default"]["CONN_MAX_AGE"] = int(_conn_max_age) if _conn_max_age else (600 if _IS_SQLITE else 0)
if _IS_POSTGRES and env.bool("DB_POOL", default=True):
    # A call's writes run through Channels' database_sync_to_async, which closes the connection after each
    # one: without a pool every write of every call opened a new PostgreSQL connection (TCP, auth, ~3-5 ms
    # of a thread the whole process shares). psycopg's pool keeps them open; Celery's prefork children close
    # their pool around each task (its Django fixup), so nothing is shared across a fork.
    if DATABASES["default"]["CONN_MAX_AGE"]:
        raise ImproperlyConfigured("DB_CONN_MAX_AGE keeps connections itself: set it to 0 or DB_POOL=false")
    _pool = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DB_POOL_MAX_SIZE", default=10),
        # Waiting for a free connection (or for a database that is down) holds the one thread that stores
        # every call's rows: fail fast instead.
        "timeout": env.float("DB_POOL_TIMEOUT_SECONDS", default=3.0),
    }
    if not 0 <= _pool["min_size"] <= _pool["max_size"] or _pool["max_size"] < 1 or _pool["timeout"] <= 0:
        raise ImproperlyConfigured(
            "DB_POOL_MIN_SIZE must be 0 or more and at most DB_POOL_MAX_SIZE (at least 1); "
            f"DB_POOL_TIMEOUT_SECONDS above 0 (got {_pool})"
        )
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = _pool
    # The pool hands out only connections that answer (after a PostgreSQL restart or a failover the idle
    # ones are dead).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if _IS_SQLITE:
    # WAL + a busy timeout let the web process and the Celery worker write the same file; IMMEDIATE
    # transactions take the write lock up front, so a read-then-write transaction waits for the lock instead
    # of failing with "database is locked" when another thread wrote in between.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: unset means embedded defaults (in-memory channel layer, SQLite-file Celery broker).
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}
    CELERY_BROKER_URL = REDIS_URL
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    # Celery also reads CELERY_BROKER_URL from the process environment itself; an empty value from .env
    # would make it fall back to amqp://, so drop it.
    if not os.environ.get("CELERY_BROKER_URL"):
        os.environ.pop("CELERY_BROKER_URL", None)
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=f"sqla+sqlite:///{BASE_DIR / 'celery-broker.sqlite3'}")

# --- Celery (settings under the CELERY_ namespace, read by agentlocator/celery.py).
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_TIME_LIMIT = 300
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Crash recovery: the call tape is spooled to storage as the call goes, the socket stamps its call as live,
# and a periodic task (Celery beat, and once when a worker starts) closes calls no process serves any more.
CALL_TAPE_CHUNK_SECONDS = env.float("CALL_TAPE_CHUNK_SECONDS", default=3.0)
STREAM_HEARTBEAT_SECONDS = env.float("STREAM_HEARTBEAT_SECONDS", default=10.0)
CALL_RECONCILE_GRACE_SECONDS = env.float("CALL_RECONCILE_GRACE_SECONDS", default=60.0)
CALL_RECONCILE_INTERVAL_SECONDS = env.float("CALL_RECONCILE_INTERVAL_SECONDS", default=60.0)
if CALL_TAPE_CHUNK_SECONDS <= 0 or STREAM_HEARTBEAT_SECONDS <= 0 or CALL_RECONCILE_INTERVAL_SECONDS <= 0:
    raise ImproperlyConfigured(
        "CALL_TAPE_CHUNK_SECONDS, STREAM_HEARTBEAT_SECONDS and CALL_RECONCILE_INTERVAL_SECONDS must be positive"
    )
if CALL_RECONCILE_GRACE_SECONDS < 2 * STREAM_HEARTBEAT_SECONDS:
    # A shorter grace would take a live call whose stamp is merely a little late for a dead one.
    raise ImproperlyConfigured(
        f"CALL_RECONCILE_GRACE_SECONDS ({CALL_RECONCILE_GRACE_SECONDS:g}) must be at least twice "
        f"STREAM_HEARTBEAT_SECONDS ({STREAM_HEARTBEAT_SECONDS:g})"
    )
CELERY_BEAT_SCHEDULE = {
    "reconcile-calls": {
        "task": "voice.reconciler_tasks.reconcile_calls",
        "schedule": CALL_RECONCILE_INTERVAL_SECONDS,
    },
}

# --- Durable job state (voice/jobs.py): every Celery job has a row; the job reconciler (beat, and once when a
# worker starts) queues again what a dead worker or a lost message left pending or running.
JOB_STUCK_AFTER_SECONDS = env.int("JOB_STUCK_AFTER_SECONDS", default=120)
JOB_MAX_REQUEUES = env.int("JOB_MAX_REQUEUES", default=5)
JOB_RECONCILE_INTERVAL_SECONDS = env.int("JOB_RECONCILE_INTERVAL_SECONDS", default=60)
# Redis redelivers a message not acknowledged (acks_late) this long after delivery: a dead worker's task runs
# again. Longer than the longest task time limit and retry back-off (300 s each), or live tasks run twice.
BROKER_VISIBILITY_TIMEOUT_SECONDS = env.int("BROKER_VISIBILITY_TIMEOUT_SECONDS", default=900)
if JOB_STUCK_AFTER_SECONDS <= 0 or JOB_RECONCILE_INTERVAL_SECONDS <= 0 or JOB_MAX_REQUEUES < 0:
    raise ImproperlyConfigured(
        "JOB_STUCK_AFTER_SECONDS and JOB_RECONCILE_INTERVAL_SECONDS must be positive, JOB_MAX_REQUEUES not negative"
    )
if BROKER_VISIBILITY_TIMEOUT_SECONDS < CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured(
        f"BROKER_VISIBILITY_TIMEOUT_SECONDS ({BROKER_VISIBILITY_TIMEOUT_SECONDS}) must be at least the longest task "
        f"time limit ({CELERY_TASK_TIME_LIMIT} s): Redis would hand a running task to a second worker"
    )
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Only Redis knows this option (the SQLAlchemy transport passes its options to create_engine).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": BROKER_VISIBILITY_TIMEOUT_SECONDS}
CELERY_BEAT_SCHEDULE["requeue-stuck-jobs"] = {
    "task": "voice.tasks.requeue_stuck_jobs",
    "schedule": JOB_RECONCILE_INTERVAL_SECONDS,
}

# --- After the call (the followup app): email, outgoing webhooks, reminders and the morning digest.
# EMAIL_URL is django-environ's URL form: smtp://user:pass@host:587, smtp+tls://..., consolemail://,
# filemail:///path (one file per message), memorymail:// (tests).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Agentlocator <noreply@localhost>")
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)  # retried with capped exponential back-off
# Webhooks to loopback or private addresses are refused (an owner must not reach our own network through
# them); true lifts that for a trial with a receiver on the same machine.
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)
FOLLOWUP_REMINDER_INTERVAL_SECONDS = env.int("FOLLOWUP_REMINDER_INTERVAL_SECONDS", default=60)
FOLLOWUP_DIGEST_HOUR = env.int("FOLLOWUP_DIGEST_HOUR", default=7)  # local time of each business
if WEBHOOK_TIMEOUT_SECONDS <= 0 or WEBHOOK_MAX_ATTEMPTS < 1 or FOLLOWUP_REMINDER_INTERVAL_SECONDS <= 0:
    raise ImproperlyConfigured(
        "WEBHOOK_TIMEOUT_SECONDS and FOLLOWUP_REMINDER_INTERVAL_SECONDS must be positive, WEBHOOK_MAX_ATTEMPTS >= 1"
    )
if not 0 <= FOLLOWUP_DIGEST_HOUR <= 23:
    raise ImproperlyConfigured("FOLLOWUP_DIGEST_HOUR must be an hour of the day, 0-23")
CELERY_BEAT_SCHEDULE["follow-up-reminders"] = {
    "task": "followup.reminder_tasks.send_due_reminders",
    "schedule": FOLLOWUP_REMINDER_INTERVAL_SECONDS,
}
CELERY_BEAT_SCHEDULE["follow-up-digests"] = {
    "task": "followup.reminder_tasks.send_morning_digests",
    "schedule": 300,  # each business's digest goes once a day, after its FOLLOWUP_DIGEST_HOUR
}

# --- Auth, i18n.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)

LANGUAGE_CODE = "he"
LANGUAGES = [("he", "עברית"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Jerusalem")
USE_I18N = True
USE_TZ = True
# Dates as Israelis type them, day first (Hebrew's locale defines no input formats, so Django would read
# 02/01/2030 as February 1st); ISO is accepted too.
DATE_INPUT_FORMATS = ["%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y", "%d.%m.%y", "%Y-%m-%d"]
DATETIME_INPUT_FORMATS = [
    *(f"{date} {time}" for date in ("%d/%m/%Y", "%d.%m.%Y", "%Y-%m-%d") for time in ("%H:%M:%S", "%H:%M")),
    *DATE_INPUT_FORMATS,
]
LOGIN_URL = "admin:login"

# --- Static and media files. Recordings live in default storage and are served only by a checked view.
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default="") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default="") or BASE_DIR / "media")
MEDIA_URL = "/media-not-public/"  # never routed: files are streamed through access-checked views
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
STORAGES = {
    "default": (
        {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": AWS_STORAGE_BUCKET_NAME,
                "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
                "default_acl": "private",
                "querystring_auth": True,
            },
        }
        if AWS_STORAGE_BUCKET_NAME
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Twilio, providers (used by the voice app).
# Every URL we hand Twilio starts with it (never with a request's host); checked here, required without DEBUG
# when the server starts (agentlocator/public_base.py).
PUBLIC_BASE_URL = clean_public_base_url(env.str("PUBLIC_BASE_URL", default="")) or (DEBUG_DEFAULT if DEBUG else "")
# Twilio's webhook connection overrides, appended as a URL fragment to the status, stream and recording
# callbacks so Twilio retries them through a short outage ("" = none).
TWILIO_CALLBACK_OVERRIDES = env.str("TWILIO_CALLBACK_OVERRIDES", default="rc=3&rp=all")
# How long the socket token in the TwiML stays valid (it is used once, seconds after the TwiML is served).
CALL_TOKEN_MAX_AGE_SECONDS = env.int("CALL_TOKEN_MAX_AGE_SECONDS", default=120)
# A media socket that has not sent a valid `start` within this many seconds is closed.
MEDIA_START_TIMEOUT_SECONDS = env.float("MEDIA_START_TIMEOUT_SECONDS", default=5.0)
# Request bodies above these sizes get 413 before the app reads them (Twilio's webhooks are a few KB; the
# admin uploads voicemail audio up to 5 MB).
REQUEST_BODY_MAX_BYTES = env.int("REQUEST_BODY_MAX_BYTES", default=64 * 1024)
ADMIN_REQUEST_BODY_MAX_BYTES = env.int("ADMIN_REQUEST_BODY_MAX_BYTES", default=8 * 1024 * 1024)
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="")  # tests point the REST client at a stand-in
TWILIO_VALIDATE_SIGNATURES = env.bool("TWILIO_VALIDATE_SIGNATURES", default=True)
if not TWILIO_VALIDATE_SIGNATURES and not DEBUG:
    raise ImproperlyConfigured("TWILIO_VALIDATE_SIGNATURES=false is only allowed with DEBUG=true")
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="") or None
OPENAI_CHAT_MODEL = env.str("OPENAI_CHAT_MODEL", default="gpt-4o-mini")
OPENAI_TRANSCRIBE_MODEL = env.str("OPENAI_TRANSCRIBE_MODEL", default="whisper-1")
OPENAI_TTS_MODEL = env.str("OPENAI_TTS_MODEL", default="gpt-4o-mini-tts")
OPENAI_TTS_VOICE = env.str("OPENAI_TTS_VOICE", default="alloy")
GOOGLE_APPLICATION_CREDENTIALS = env.str("GOOGLE_APPLICATION_CREDENTIALS", default="")
GOOGLE_CREDENTIALS_JSON = env.str("GOOGLE_CREDENTIALS_JSON", default="")
GOOGLE_API_ENDPOINT = env.str("GOOGLE_API_ENDPOINT", default="")  # e.g. a regional endpoint
GOOGLE_API_PLAINTEXT = env.bool("GOOGLE_API_PLAINTEXT", default=False)  # local stand-ins only
VOICE_ASR = env.str("VOICE_ASR", default="openai")
VOICE_LLM = env.str("VOICE_LLM", default="openai")
VOICE_TTS = env.str("VOICE_TTS", default="openai")
FAKE_REPLY_TEXT = env.str("FAKE_REPLY_TEXT", default="")  # what VOICE_LLM=fake answers (demos, benchmarks)
FAKE_TTS_WAV = env.str("FAKE_TTS_WAV", default="")  # a WAV that VOICE_TTS=fake says instead of its tone (benchmarks)
# Never silent while the caller waits (voice.agent.waiting): a filler after this much silence, the apology
# when no answer came within the total; keys pressed are one input until "#" or this pause (media time).
VOICE_FIRST_RESPONSE_DEADLINE_MS = env.int("VOICE_FIRST_RESPONSE_DEADLINE_MS", default=1200)
VOICE_TOTAL_RESPONSE_DEADLINE_MS = env.int("VOICE_TOTAL_RESPONSE_DEADLINE_MS", default=7000)
VOICE_DTMF_PAUSE_MS = env.int("VOICE_DTMF_PAUSE_MS", default=2000)
VOICE_READY_AUDIO_VOICE = env.str("VOICE_READY_AUDIO_VOICE", default="offline")  # offline (espeak) | main
# Play the greeting and fixed lines from storage (made once per text and voice, voice.speech_cache).
VOICE_SPEECH_CACHE = env.bool("VOICE_SPEECH_CACHE", default=True)
# Who decides that the caller speaks (voice.agent.voicing): silero (the Silero network, batched across the
# process's calls every VOICE_VAD_TICK_MS, gated by webrtcvad) or webrtc (webrtcvad alone: no model loaded,
# but on a noisy line an utterance may not end for seconds).
VOICE_VAD = env.str("VOICE_VAD", default="silero")
VOICE_VAD_TICK_MS = env.int("VOICE_VAD_TICK_MS", default=20)
# The echo guard (voice.agent.echo_guard): our own voice coming back on the caller's line (speakerphones, poor
# echo cancellation) does not interrupt the agent, and it tells the listener when we speak, so that a caller
# talking over us is heard at once. Off only to measure what it costs (bench.budget): both go.
VOICE_ECHO_GUARD = env.bool("VOICE_ECHO_GUARD", default=True)
if not 0 < VOICE_FIRST_RESPONSE_DEADLINE_MS < VOICE_TOTAL_RESPONSE_DEADLINE_MS:
    raise ImproperlyConfigured(
        "VOICE_FIRST_RESPONSE_DEADLINE_MS must be above 0 and below VOICE_TOTAL_RESPONSE_DEADLINE_MS"
    )
if VOICE_DTMF_PAUSE_MS <= 0:
    raise ImproperlyConfigured("VOICE_DTMF_PAUSE_MS must be above 0")
if VOICE_READY_AUDIO_VOICE not in ("offline", "main"):
    raise ImproperlyConfigured("VOICE_READY_AUDIO_VOICE must be offline or main")
if VOICE_VAD not in ("silero", "webrtc"):
    raise ImproperlyConfigured("VOICE_VAD must be silero or webrtc")
if not 1 <= VOICE_VAD_TICK_MS <= 100:
    raise ImproperlyConfigured("VOICE_VAD_TICK_MS must be between 1 and 100")

# --- Logging: stdout, one line per event; voice code adds the CallSid through a context variable.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"call": {"()": "agentlocator.logging.CallContextFilter"}},
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s %(name)s [%(call_sid)s] %(message)s"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "filters": ["call"],
            "formatter": "line",
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # Twilio's client logs full request headers (with Basic auth) at DEBUG; keep it quiet.
        "twilio.http_client": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}

GIT_COMMIT = env.str("GIT_COMMIT", default="")

# --- Operating: /metrics answers only `Authorization: Bearer <METRICS_TOKEN>` (empty: off, 404); /readyz gives
# each of its checks (database, channel layer, Celery broker) this many seconds.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
READINESS_TIMEOUT_SECONDS = env.float("READINESS_TIMEOUT_SECONDS", default=2.0)
if READINESS_TIMEOUT_SECONDS <= 0:
    raise ImproperlyConfigured("READINESS_TIMEOUT_SECONDS must be positive")
