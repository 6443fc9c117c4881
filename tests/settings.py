"""Settings for the test suite: the real settings, fed a test environment.

With ``TEST_SERVICES=1`` the session first starts a throwaway PostgreSQL cluster and redis-server on free
loopback ports (tests/support/services.py) and points DATABASE_URL / REDIS_URL at them, so the same suite
runs against the production topology. When their binaries are missing, every test is skipped with the reason.
"""

import os
import tempfile

os.environ["READ_DOT_ENV"] = "0"
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("DEBUG", "false")
# Required without DEBUG: the test client's host, so in-process TwiML URLs match the requests.
os.environ.setdefault("PUBLIC_BASE_URL", "http://testserver")
os.environ.setdefault("VOICE_SPEECH_CACHE", "false")  # the speech-cache tests turn it on, with their own media
os.environ.setdefault("WEBHOOK_ALLOW_PRIVATE", "true")  # the tests' webhook receivers listen on 127.0.0.1
os.environ.setdefault("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef")
os.environ.setdefault("TWILIO_AUTH_TOKEN", "test-twilio-auth-token")
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="agentlocator-media-"))
os.environ.setdefault("AXES_ENABLED", "true")
for _name in ("DATABASE_URL", "REDIS_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY", "AWS_STORAGE_BUCKET_NAME"):
    if os.environ.get("TEST_SERVICES") != "1" or _name not in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(_name, None)

SERVICES_SKIP_REASON = ""
if os.environ.get("TEST_SERVICES") == "1":
    from tests.support.services import start_services

    SERVICES_SKIP_REASON = start_services()  # sets DATABASE_URL and REDIS_URL, or says why it could not

if not os.environ.get("REDIS_URL"):
    # Never the project's own broker file: a developer's running worker must not see test messages.
    os.environ["CELERY_BROKER_URL"] = "sqla+sqlite:///" + os.path.join(
        tempfile.mkdtemp(prefix="agentlocator-broker-"), "broker.sqlite3"
    )

if not os.environ.get("DATABASE_URL"):
    os.environ["DATABASE_URL"] = "sqlite:///" + os.path.join(tempfile.mkdtemp(prefix="agentlocator-db-"), "t.sqlite3")

from agentlocator.settings import *  # noqa: E402, F403

STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Servers started by tests (daphne, a Celery worker) are other processes: they must see the test database,
# so SQLite's test database is a file, not ":memory:".
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.mkdtemp(prefix="agentlocator-testdb-"), "test.sqlite3")
    }
WHITENOISE_AUTOREFRESH = True  # no collectstatic in tests
WHITENOISE_USE_FINDERS = True
# The servers tests start run the production settings, PostgreSQL's connection pool included. This process
# runs without one: its threads' pooled connections would outlive the test database's teardown.
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)  # noqa: F405
