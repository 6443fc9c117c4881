"""What happens after a call or a voicemail, hearing ``crm.signals``. Each step only queues durable jobs
(``voice.jobs.enqueue``): nothing here sends anything, so a failing mail server or webhook never touches the
call's own work, and a retried digest queues nothing twice.

The signals come inside the digest's transaction. Each step runs in its own savepoint and a step that
fails is logged, not raised: the call's summary and lead are never lost to the follow-up work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.dispatch import receiver

from crm.models import Call, Recording
from crm.signals import call_digested, call_unheard, voicemail_digested
from followup import caller_message, follow_ups, notify, unheard

log = logging.getLogger(__name__)


def _step(work: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        with transaction.atomic():
            work(*args, **kwargs)
    except Exception:
        log.exception("after-call step %s.%s failed", work.__module__, work.__name__)


@receiver(call_digested)
def after_call(sender: type[Call], *, call: Call, lead_created: bool, **_: Any) -> None:
    _step(follow_ups.after_call, call)  # a callback request becomes a task (before the notification names it)
    _step(notify.after_call, call, lead_created=lead_created)
    _step(caller_message.after_call, call)


@receiver(voicemail_digested)
def after_voicemail(sender: type[Recording], *, recording: Recording, lead_created: bool, **_: Any) -> None:
    _step(follow_ups.after_voicemail, recording)
    _step(notify.after_voicemail, recording, lead_created=lead_created)


@receiver(call_unheard)
def after_unheard_call(sender: type[Call], *, call: Call, **_: Any) -> None:
    _step(unheard.after_unheard_call, call)
