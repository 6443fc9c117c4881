"""From raw traces and the rows the server stored to the figures of the benchmark.

Definitions (all in milliseconds):

- **server first frame**: ``Utterance.latency["first_frame"]`` of each agent reply, as the server measured
  it: from its end-of-utterance decision to the reply's first frame written to the socket.
- **client first frame**: the same interval seen from the caller. The server decides end of utterance on
  the frame that completes ``eou_silence_ms`` of silence after the speech (media time
  ``eos_ms + eou_silence_ms``, ``eos_ms`` stored with the reply); the client knows when it sent that frame
  and when the first reply frame arrived. Includes both socket hops and the server's inbound queue.
- **outbound gap excess**: within one agent utterance, inter-arrival time of consecutive media messages
  minus the audio the earlier one carried (20 ms per frame: the pacing), floored at 0. The pacer's opening
  burst (its lead) counts as 0. Utterances are separated where the caller started a turn or a ``clear``
  arrived.
- **underrun**: a frame that arrived after Twilio's buffer had run dry within an utterance (the caller
  heard a gap); the pacer's lead should absorb small jitter.
- **barge-in reaction**: media time (frames sent x 20) from the first frame of the caller talking over
  the agent to the arrival of ``clear`` (the pause; the caller's 1.2 s make it a barge-in). The configured
  ``barge_in_min_ms`` is the floor; the client also reports the wall time from the frame on which the
  server's listener (replayed locally, ``bench.audio.barge_in_frame``) pauses the agent.
"""

from __future__ import annotations

import json
import sqlite3
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.caller import CallTrace

FRAME_MS = 20


def summary(values: Iterable[float]) -> dict[str, float | int | None]:
    """n, p50, p95, p99, max (nearest rank)."""
    data = sorted(values)
    if not data:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}

    def rank(p: float) -> float:
        return round(data[min(len(data) - 1, max(0, int(-(-p * len(data) // 100)) - 1))], 1)

    return {"n": len(data), "p50": rank(50), "p95": rank(95), "p99": rank(99), "max": round(data[-1], 1)}


@dataclass
class Stored:
    """What the server wrote, per CallSid."""

    replies: dict[str, list[dict]]  # agent utterances with latencies, in order
    caller_utterances: dict[str, int]
    events: dict[str, dict[str, int]]  # kind -> count


def _epoch(created_at: str | datetime) -> float:
    """PostgreSQL gives an aware datetime; Django keeps UTC in SQLite as 'YYYY-MM-DD HH:MM:SS[.ffffff]'."""
    if isinstance(created_at, datetime):
        return created_at.timestamp()
    return datetime.fromisoformat(created_at).replace(tzinfo=UTC).timestamp()


def read_database(url: str) -> Stored:
    """What the server stored, read straight from its database (``sqlite:///path`` or ``postgres://...``)."""
    db: Any
    if url.startswith("sqlite:///"):
        db = sqlite3.connect(f"file:{url.removeprefix('sqlite:///')}?mode=ro", uri=True)
    else:
        import psycopg  # only for a --postgres run

        db = psycopg.connect(url)
    try:
        replies: dict[str, list[dict]] = defaultdict(list)
        callers: dict[str, int] = defaultdict(int)
        for sid, speaker, latency, interrupted, created_at in db.execute(
            "SELECT c.call_sid, u.speaker, u.latency, u.interrupted, u.created_at FROM crm_utterance u "
            "JOIN crm_call c ON c.id = u.call_id ORDER BY u.id"
        ):
            data = json.loads(latency) if isinstance(latency, str) else (latency or {})
            if speaker == "agent" and "first_frame" in data:
                replies[sid].append({**data, "interrupted": bool(interrupted), "stored_at": _epoch(created_at)})
            elif speaker == "caller":
                callers[sid] += 1
        events: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for sid, kind, count in db.execute(
            "SELECT c.call_sid, e.kind, COUNT(*) FROM crm_callevent e JOIN crm_call c ON c.id = e.call_id "
            "GROUP BY c.call_sid, e.kind"
        ):
            events[sid][kind] = count
        return Stored(dict(replies), dict(callers), {k: dict(v) for k, v in events.items()})
    finally:
        db.close()


def client_latencies(trace: CallTrace, replies: Sequence[dict], eou_silence_ms: int) -> list[float]:
    out = []
    for reply in replies:
        if "eos_ms" not in reply:
            continue  # a DTMF turn: no speech end to measure from
        decision = (reply["eos_ms"] + eou_silence_ms) // FRAME_MS - 1  # index of the frame that decided
        if decision >= len(trace.send_times):
            continue
        sent = trace.send_times[decision]
        i = bisect_right(trace.media_arrivals, sent)
        if i < len(trace.media_arrivals):
            out.append((trace.media_arrivals[i] - sent) * 1000)
    return out


@dataclass
class Gaps:
    excess_ms: list[float]
    clean_excess_ms: list[float]  # the gaps during which the client itself was never stalled
    worst: list[tuple[float, float]] = field(default_factory=list)  # (excess ms, loop time the gap ended)
    underruns: int = 0
    underrun_ms: float = 0.0


def merge_stalls(traces: Iterable[CallTrace]) -> tuple[list[float], list[float]]:
    """Every interval in which some sender of this (single-threaded) client woke late: while one caller's
    tick is late the whole client process was busy or descheduled, so arrivals were timestamped late too."""
    intervals = sorted(i for t in traces for i in t.stalls)
    starts: list[float] = []
    ends: list[float] = []
    for a, b in intervals:
        if starts and a <= ends[-1]:
            ends[-1] = max(ends[-1], b)
        else:
            starts.append(a)
            ends.append(b)
    return starts, ends


def _overlaps(stalls: tuple[list[float], list[float]], a: float, b: float) -> bool:
    starts, ends = stalls
    i = bisect_right(starts, b)  # intervals starting before b; the last of them may reach past a
    return i > 0 and ends[i - 1] >= a


def outbound_gaps(trace: CallTrace, stalls: tuple[list[float], list[float]] = ([], [])) -> Gaps:
    gaps = Gaps([], [])
    arrivals, sizes, bounds = trace.media_arrivals, trace.media_frames, sorted(trace.boundaries)
    prev: float | None = None
    prev_ms = FRAME_MS
    play_end = 0.0
    for t, frames in zip(arrivals, sizes, strict=True):
        if prev is not None and bisect_right(bounds, t) == bisect_right(bounds, prev):
            excess = max(0.0, (t - prev) * 1000 - prev_ms)
            gaps.excess_ms.append(excess)
            if excess > 40:
                gaps.worst.append((excess, t))
            if not _overlaps(stalls, prev, t):
                gaps.clean_excess_ms.append(excess)
            if t > play_end:
                gaps.underruns += 1
                gaps.underrun_ms += (t - play_end) * 1000
            play_end = max(play_end, t) + frames * FRAME_MS / 1000
        else:
            play_end = t + frames * FRAME_MS / 1000  # a new utterance starts playing on arrival
        prev, prev_ms = t, frames * FRAME_MS
    return gaps


def _barge_in_clears(trace: CallTrace) -> list[tuple[int, int]]:
    """(barge start frame, index of the `clear` that answered it) per barge-in answered."""
    answered = []
    for start in trace.barge_starts:
        if start >= len(trace.send_times):
            continue
        k = bisect_right(trace.clear_times, trace.send_times[start])
        if k < len(trace.clear_times):
            answered.append((start, k))
    return answered


def unexpected_clears(trace: CallTrace, *, within_s: float = 3.0, min_frames: int = 10) -> tuple[int, int]:
    """The clears that answered no barge-in: (how many came after the caller talked over our audio, how
    many came on their own). "After": ``min_frames`` (200 ms) or more of the caller's speech went out while
    our audio played, within ``within_s`` before the clear (the server's pause decision, and its lag, come
    after the voice). On a busy server the agent's audio can stop long enough mid-reply for the caller's
    script to answer, and then goes on: that pause is the caller's doing. One on its own is the agent
    pausing on our echo or the line's noise."""
    answered = {k for _, k in _barge_in_clears(trace)}
    over_caller = on_its_own = 0
    for k, cleared in enumerate(trace.clear_times):
        if k in answered:
            continue
        talked = bisect_right(trace.over_agent, cleared) - bisect_left(trace.over_agent, cleared - within_s)
        if talked >= min_frames:
            over_caller += 1
        else:
            on_its_own += 1
    return over_caller, on_its_own


def barge_ins(trace: CallTrace, decision_frame: int) -> tuple[list[float], list[float]]:
    """(reaction in media ms, wall ms from the server VAD's decision frame to `clear`) per barge-in."""
    media, wall = [], []
    for start, k in _barge_in_clears(trace):
        cleared = trace.clear_times[k]
        frames = bisect_left(trace.send_times, cleared) - start
        media.append(frames * FRAME_MS)
        if start + decision_frame < len(trace.send_times):
            wall.append((cleared - trace.send_times[start + decision_frame]) * 1000)
    return media, wall
