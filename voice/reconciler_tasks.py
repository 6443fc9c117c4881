"""The call reconciler as a Celery task: run by beat every ``CALL_RECONCILE_INTERVAL_SECONDS``
(``CELERY_BEAT_SCHEDULE`` in the settings) and once whenever a worker starts, so calls left open by a process
that died are closed even when beat is not running. Loaded through ``app.autodiscover_tasks`` (see
agentlocator/celery.py); the work itself is in voice/reconciler.py.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_ready

from voice import reconciler

log = logging.getLogger(__name__)


# No retries and no acks_late: the next round is the retry, and a round is cheap when nothing is stale.
@shared_task(ignore_result=True, soft_time_limit=120, time_limit=150)
def reconcile_calls() -> int:
    """Reconcile every call whose stream is gone; returns how many calls were looked at."""
    return len(reconciler.reconcile_calls())


@worker_ready.connect
def reconcile_at_start_up(sender: Any = None, **kwargs: Any) -> None:
    """A worker (re)started, maybe after the whole host went down: look at once, not only on beat's next tick."""
    reconcile_calls.delay()
    log.info("call reconciler queued at worker start-up")
