"""``GET /metrics``: this process's Prometheus metrics (voice/metrics.py), the jobs' states and the last day's calls.

Off (404) unless METRICS_TOKEN is set; then only ``Authorization: Bearer <METRICS_TOKEN>`` gets the numbers
(401 without credentials, 403 with wrong ones). The jobs' states and the last day's calls are read from the
database when scraped: one grouped query each, so a scrape costs the same however many jobs there are.
"""

from __future__ import annotations

import hmac
import os
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from crm.models import Call
from voice.metrics import CallCollector, JobCollector, JobStates
from voice.models import Job


def job_states() -> JobStates:
    """Jobs per (task, status) and how long the oldest pending job has been due (a retry waiting for its
    back-off is not due yet, so it does not count as waiting)."""
    now = timezone.now()
    rows = Job.objects.values_list("task", "status").annotate(
        count=Count("pk"), oldest_due=Min("due_at", filter=Q(status=Job.Status.PENDING, due_at__lte=now))
    )
    counts: dict[tuple[str, str], int] = {}
    oldest = None
    for task, status, count, oldest_due in rows.order_by():
        counts[(task, status)] = count
        if oldest_due is not None and (oldest is None or oldest_due < oldest):
            oldest = oldest_due
    return JobStates(counts, (now - oldest).total_seconds() if oldest is not None else 0.0)


def calls_last_day() -> dict[tuple[str, str], int]:
    """Calls started in the last 24 hours per (status, outcome): one grouped query on the start-time index."""
    since = timezone.now() - timedelta(days=1)
    rows = Call.objects.filter(started_at__gte=since).values_list("status", "outcome").annotate(count=Count("pk"))
    return {(status, outcome): count for status, outcome, count in rows.order_by()}


# A registry of its own: the jobs and the calls are the whole deployment's, read per scrape; the default registry
# holds this process's own numbers.
DEPLOYMENT_REGISTRY = CollectorRegistry(auto_describe=False)
DEPLOYMENT_REGISTRY.register(JobCollector(job_states))
DEPLOYMENT_REGISTRY.register(CallCollector(calls_last_day))


def _process_registry() -> CollectorRegistry:
    """This process's registry; with PROMETHEUS_MULTIPROC_DIR set (several processes behind one port), the sum of
    every process's files in that directory, so any process answers for all of them."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


def _authorised(request: HttpRequest) -> bool | None:
    """None without credentials, else whether the bearer token is METRICS_TOKEN (compared in constant time)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return hmac.compare_digest(token.strip().encode(), settings.METRICS_TOKEN.encode())


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_TOKEN:
        raise Http404("metrics are off")
    authorised = _authorised(request)
    if authorised is None:
        response = HttpResponse("bearer token required", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not authorised:
        return HttpResponse("wrong token", status=403, content_type="text/plain")
    body = generate_latest(_process_registry()) + generate_latest(DEPLOYMENT_REGISTRY)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
