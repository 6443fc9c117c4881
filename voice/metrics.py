"""Every Prometheus metric of ours, defined once, with the small functions that record them.

Recording happens at points that already measure or report something (the media socket's start and end,
``CallStore`` receiving the core's utterances and events, the pacer finding Twilio's buffer dry), so each of
them is one call into this module. prometheus-client's counters and histograms are an in-memory increment under
a lock: cheap enough for the audio path, and nothing here touches the database or the network.

No Django here: the conversation core (``voice.audio.pacer``) records into it too. What needs the ORM (the Celery
jobs' states, read from ``voice.models.Job`` at scrape time) is handed in by ``voice.metrics_view`` through
``JobCollector``.

The numbers are this process's (prometheus-client's default registry, with its process and GC collectors):
each daphne process is a target of its own (see README, "Operating").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PREFIX = "agentlocator"

# Turn latencies run from tens of ms (a stored greeting, a fast model) to the 7 s give-up deadline.
TURN_BUCKETS_S = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0)
# A healthy loop oversleeps by well under a millisecond; 20 ms is a whole audio frame late.
LAG_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

# One Silero run scores the due windows of all the process's calls: ~0.1 ms for one window, ~1-2 ms for 40.
VAD_RUN_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.0025, 0.005, 0.01, 0.025, 0.05)

# UtteranceRecord.latency keys (ms from the end-of-utterance decision) -> the stage label.
TURN_STAGES = {
    "asr": "asr",
    "llm_first_token": "llm_first_token",
    "tts_first_audio": "tts_first_audio",
    "first_frame": "first_frame",
}

# Twilio plays our audio a network's round trip and its jitter buffer after we send it: tens to hundreds of ms.
PLAYED_LATE_BUCKETS_S = (0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0)

# multiprocess_mode: how the gauges add up when several processes share one registry directory
# (PROMETHEUS_MULTIPROC_DIR, see voice.metrics_view); ignored otherwise.
CALLS_IN_PROGRESS = Gauge(
    f"{PREFIX}_calls_in_progress", "Media streams this process is serving now.", multiprocess_mode="liveall"
)
CALLS_STARTED = Counter(f"{PREFIX}_calls_started", "Media streams started (a valid start), by agent mode.", ["mode"])
CALLS_ENDED = Counter(
    f"{PREFIX}_calls_ended",
    "Media streams ended, by who ended them: agent (its goodbye or voicemail), twilio (stop), disconnect "
    "(the socket dropped). Every call's own outcome: calls_last_day.",
    ["ended_by"],
)
TURN_LATENCY = Histogram(
    f"{PREFIX}_turn_latency_seconds",
    "Per-turn latency from the end-of-utterance decision to each stage's first result.",
    ["stage"],
    buckets=TURN_BUCKETS_S,
)
BARGE_INS = Counter(f"{PREFIX}_barge_ins", "The caller interrupted the agent, by cause (speech, dtmf).", ["cause"])
CALLERS_WENT_ON = Counter(
    f"{PREFIX}_callers_went_on",
    "A caller went on after a pause taken for the end of their utterance, before the answer was heard: it was "
    "dropped and the whole utterance answered once (many: a silence setting may be short; went_on events say whose).",
)
LINES_ECHOING = Counter(
    f"{PREFIX}_lines_echoing",
    "Calls whose caller's line was found to bring the agent's own voice back (a speakerphone, or poor echo "
    "cancellation on the line): the echo guard keeps it from interrupting the agent (line_echoes events say which).",
)
PAUSES_RESUMED = Counter(
    f"{PREFIX}_pauses_resumed",
    "The agent paused for a caller talking over it and went on, by what it was: a back-channel ('כן'), a noise, or "
    "the agent's own voice coming back on the line (echo).",
    ["cause"],
)
PROVIDER_ERRORS = Counter(
    f"{PREFIX}_provider_errors",
    "Provider failures and timeouts on calls, by role (asr, llm, tts, fallback_tts, vad, agent) and provider.",
    ["role", "provider"],
)
OUTBOUND_UNDERRUNS = Counter(
    f"{PREFIX}_outbound_underruns",
    "Twilio's playout buffer ran dry in the middle of a sentence (audio came too late: slow TTS or a late sender).",
)
PLAYED_LATE = Histogram(
    f"{PREFIX}_twilio_played_late_seconds",
    "Per call that spoke, how much later than sent Twilio played the agent's audio, by its marks (both ways on "
    "the network and Twilio's buffer; the echo guard lines the caller's audio up with ours by it).",
    buckets=PLAYED_LATE_BUCKETS_S,
)
VAD_RUN_SECONDS = Histogram(
    f"{PREFIX}_vad_run_seconds",
    "CPU time of each Silero run (one ONNX run scores the due windows of all this process's calls): its count "
    "is the runs, its sum the CPU the VAD network took (against the processes' CPU: its share).",
    buckets=VAD_RUN_BUCKETS_S,
)
VAD_WINDOWS = Counter(
    f"{PREFIX}_vad_windows",
    "32 ms windows of caller audio Silero scored (the webrtcvad gate skips the rest: a call-second has 31.25); "
    "per run: the batch's size.",
)
EVENT_LOOP_LAG = Histogram(
    f"{PREFIX}_event_loop_lag_seconds",
    "How late the event loop woke a sleeping task (sampled every half second once a call has started).",
    buckets=LAG_BUCKETS_S,
)
EVENT_LOOP_LAG_LAST = Gauge(
    f"{PREFIX}_event_loop_lag_last_seconds", "The latest event loop lag sample.", multiprocess_mode="livemax"
)

# Which provider serves each role, named by the Django side once its providers are built (settings.VOICE_*).
_provider_names: dict[str, str] = {}


# -- calls -------------------------------------------------------------------------------------------------
def call_started(mode: str) -> None:
    CALLS_STARTED.labels(mode=mode).inc()
    CALLS_IN_PROGRESS.inc()
    watch_event_loop()


def call_ended(ended_by: str) -> None:
    CALLS_ENDED.labels(ended_by=ended_by).inc()
    CALLS_IN_PROGRESS.dec()


def name_providers(**names: str) -> None:
    """The configured provider of each role (asr=..., llm=..., tts=...), for the error counter's label."""
    _provider_names.update(names)


def reported(kind: str, payload: Mapping[str, Any] | None = None, latency: Mapping[str, int] | None = None) -> None:
    """What the core reported (``CallReporter.event``, or an utterance's ``latency``): turn latencies, barge-ins,
    resumed pauses, callers who went on, lines that echo and provider errors are counted; every other kind costs
    a comparison or two."""
    if latency:
        for key, stage in TURN_STAGES.items():
            if (ms := latency.get(key)) is not None:
                TURN_LATENCY.labels(stage=stage).observe(ms / 1000)
    if kind == "barge_in":
        BARGE_INS.labels(cause=str((payload or {}).get("cause", "speech"))).inc()
    elif kind == "resumed":
        PAUSES_RESUMED.labels(cause=_resumed_on(payload or {})).inc()
    elif kind == "went_on":
        CALLERS_WENT_ON.inc()
    elif kind == "line_echoes":
        LINES_ECHOING.inc()
    elif kind == "error":
        role = str((payload or {}).get("role", "unknown"))
        PROVIDER_ERRORS.labels(role=role, provider=_provider_names.get(role, role)).inc()


def _resumed_on(payload: Mapping[str, Any]) -> str:
    """What a ``resumed`` event's pause was: its payload says ``noise`` or ``echo``; otherwise words."""
    return "noise" if payload.get("noise") else "echo" if payload.get("echo") else "back_channel"


def outbound_underrun() -> None:
    OUTBOUND_UNDERRUNS.inc()


def played_late(seconds: float) -> None:
    PLAYED_LATE.observe(seconds)


def vad_run(windows: int, cpu_s: float) -> None:
    """One Silero run: ``windows`` scored in ``cpu_s`` of this thread's CPU."""
    VAD_RUN_SECONDS.observe(cpu_s)
    VAD_WINDOWS.inc(windows)


# -- the event loop --------------------------------------------------------------------------------------
LAG_INTERVAL_S = 0.5
_lag_watchers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}


def watch_event_loop() -> None:
    """Start the lag sampler on the running loop, once (daphne runs no ASGI lifespan, so the first call starts
    it). Outside a running loop it does nothing."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    task = _lag_watchers.get(loop)
    if task is None or task.done():
        for closed in [other for other in _lag_watchers if other.is_closed()]:
            del _lag_watchers[closed]
        _lag_watchers[loop] = loop.create_task(_sample_lag(loop), name="event-loop-lag")


async def _sample_lag(loop: asyncio.AbstractEventLoop) -> None:
    while True:
        asked = loop.time()
        await asyncio.sleep(LAG_INTERVAL_S)
        lag = max(0.0, loop.time() - asked - LAG_INTERVAL_S)
        EVENT_LOOP_LAG.observe(lag)
        EVENT_LOOP_LAG_LAST.set(lag)


# -- the Celery jobs ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobStates:
    """A snapshot of voice.models.Job: how many jobs per (task, status), and the oldest due pending job's age."""

    counts: Mapping[tuple[str, str], int] = field(default_factory=dict)
    oldest_pending_age_s: float = 0.0


class JobCollector(Collector):
    """Reads the jobs' states when Prometheus scrapes (``read`` is one query), never in between."""

    def __init__(self, read: Callable[[], JobStates]) -> None:
        self._read = read

    def describe(self) -> Iterable[Metric]:
        return []  # nothing to check at registration: the families are made at scrape time

    def collect(self) -> Iterable[Metric]:
        states = self._read()
        jobs = GaugeMetricFamily(
            f"{PREFIX}_jobs", "Durable Celery jobs (voice.models.Job) by task and status.", labels=["task", "status"]
        )
        for (task, status), count in sorted(states.counts.items()):
            jobs.add_metric([task, status], count)
        yield jobs
        yield GaugeMetricFamily(
            f"{PREFIX}_job_oldest_pending_age_seconds",
            "Seconds the oldest pending job has been due (0 when none is waiting).",
            value=states.oldest_pending_age_s,
        )


# -- every call, streamed or not ------------------------------------------------------------------------------
class CallCollector(Collector):
    """Reads the calls of the last day by Twilio status and outcome when Prometheus scrapes (``read`` is one
    query): calls that never reached a media stream (straight to voicemail, after hours, refused) count too,
    and so does an outcome settled later by a worker (a voicemail stored)."""

    def __init__(self, read: Callable[[], Mapping[tuple[str, str], int]]) -> None:
        self._read = read

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        calls = GaugeMetricFamily(
            f"{PREFIX}_calls_last_day",
            "Calls that came in during the last 24 hours, by Twilio status and outcome (conversation, voicemail, "
            "no_message, failed; none while not known yet). The whole deployment's: every process reports the "
            "same figure (max across targets, not sum).",
            labels=["status", "outcome"],
        )
        for (status, outcome), count in sorted(self._read().items()):
            calls.add_metric([status, outcome or "none"], count)
        yield calls
