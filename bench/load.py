"""Load benchmark: N simultaneous simulated calls against ONE daphne process with zero-latency fakes.

    python -m bench.load --calls 100 [--duration 60] [--turns 0] [--out bench/results/latest.json]

Sets up a throwaway SQLite database (``manage.py migrate``) and a business in AI mode, starts daphne with
VOICE_ASR/LLM/TTS=fake (FAKE_REPLY_TEXT makes every reply a few seconds long), runs the calls from this one
asyncio process (real-time paced: each caller waits for the greeting, then takes turns; in its first turn
it talks over the reply), and reports what the server adds: see ``bench.metrics`` for the definitions.
Prints a table and writes the JSON results. The figures include whatever else runs on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench import method_timing, metrics, report
from bench.audio import CallerAudio, hebrew_speech
from bench.caller import BenchCall, CallTrace, Script
from bench.server import ServeServer, prepare_database, private_postgres, private_redis, sample_all, server_env
from voice.audio.wav import write_wav
from voice.simulator.server import ROOT, DaphneServer
from voice.simulator.speakerphone import Speakerphone
from voice.simulator.webhook_client import TwilioLikeClient

DEFAULT_REPLY = (
    "תודה על הפנייה, אשמח לספר לכם על השירות שלנו ועל המחירים. נציג מהצוות יחזור אליכם עוד היום עם כל הפרטים שביקשתם."
)
BUSINESS = {
    "greeting": "שלום, במה אפשר לעזור?",
    "eou_silence_ms": 600,  # the product's default
    "barge_in_min_ms": 300,  # the product's default
    "record_calls": True,  # the socket keeps both tracks for the recording, as in production
    "twilio_recording": False,  # would call Twilio's REST API
}
LATENCY_STAGES = ("asr", "llm_first_token", "tts_first_audio", "first_frame")  # cumulative, from the decision
SPEECH_MS = 1200  # what the caller says each turn
BARGE_MS = 1000  # what the caller says over the agent's reply


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=10, help="simultaneous calls")
    p.add_argument(
        "--duration", type=float, default=60.0, help="longest call in seconds (calls last 75-100%%; no new turn after)"
    )
    p.add_argument("--turns", type=int, default=0, help="at most this many turns per call (0: as time allows)")
    p.add_argument("--ramp", type=float, default=None, help="seconds over which calls start (N x 0.1, max 10)")
    p.add_argument("--reply", default=DEFAULT_REPLY, help="what the fake agent answers every turn")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (database, daphne log)")
    p.add_argument(
        "--redis", action="store_true", help="production topology: Redis for the channel layer and the broker"
    )
    p.add_argument(
        "--postgres",
        action="store_true",
        help="a throwaway PostgreSQL cluster instead of SQLite (DB_POOL=false in the environment: no pool)",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=0,
        help="run the server as production does (python -m agentlocator.serve) with this many daphne processes "
        "on one port (implies --redis when more than 1)",
    )
    p.add_argument(
        "--vad",
        choices=("silero", "webrtc"),
        default="silero",
        help="who hears the caller (VOICE_VAD): webrtc leaves Silero out, to read its cost in whole calls",
    )
    p.add_argument(
        "--no-echo-guard",
        action="store_true",
        help="leave the echo guard out (VOICE_ECHO_GUARD=false), to read its cost in whole calls",
    )
    p.add_argument(
        "--tts",
        choices=("fake", "espeak", "recorded"),
        default="fake",
        help="the agent's voice (VOICE_TTS): fake is a tone; espeak is Hebrew speech, whose echo is a voice; "
        "recorded is the fake voice saying the reply as espeak-ng said it once, here (Hebrew speech with no "
        "synthesis on the server's cores: FAKE_TTS_WAV)",
    )
    p.add_argument(
        "--echo-db",
        type=float,
        default=None,
        help="every caller is on a speakerphone: the agent's voice comes back on the line this many dB down "
        "(needs --tts espeak or recorded)",
    )
    p.add_argument("--echo-delay-ms", type=int, default=120, help="how late the speakerphone's echo comes back")
    p.add_argument(
        "--line-noise-dbfs",
        type=float,
        default=None,
        help="the speakerphones' lines carry a hiss this loud (e.g. -55; default: silent between words)",
    )
    p.add_argument(
        "--playout-delay-ms",
        type=int,
        default=0,
        help="Twilio plays the agent's audio this much after it arrives to an empty buffer (a slow network, a deep "
        "jitter buffer; 0 to 2000)",
    )
    p.add_argument(
        "--time-methods",
        nargs="+",
        default=[],
        metavar="MODULE:CLASS.METHOD",
        help="time these methods inside the server (wall time a call, bench.method_timing), e.g. "
        "voice.agent.echo_guard:EchoGuard.hear",
    )
    args = p.parse_args(argv)
    for spec in args.time_methods:  # refused before anything starts
        try:
            module, _, _ = method_timing.parse(spec)
            found = importlib.util.find_spec(module)
        except ValueError as exc:
            p.error(f"--time-methods: {exc}")
        except ImportError as exc:
            p.error(f"--time-methods {spec}: {exc}")
        if found is None:
            p.error(f"--time-methods {spec}: no module {module}")
    if not 0 <= args.playout_delay_ms <= 2000:
        p.error(f"--playout-delay-ms {args.playout_delay_ms}: give 0 to 2000 ms")
    args.speakerphone = None  # every caller's, made here so that a bad one is refused before anything starts
    if args.echo_db is None:
        if args.line_noise_dbfs is not None:
            p.error("--line-noise-dbfs is the speakerphones' hiss: give --echo-db too")
        return args
    if args.tts == "fake":
        p.error(
            "--echo-db needs --tts espeak or recorded: a tone's echo says nothing about the agent's voice coming back"
        )
    try:
        args.speakerphone = Speakerphone(args.echo_db, args.echo_delay_ms, noise_dbfs=args.line_noise_dbfs)
    except ValueError as exc:
        p.error(f"--echo-db / --echo-delay-ms / --line-noise-dbfs: {exc}")
    return args


class Sampler:
    """Samples the server process and this one twice a second while the calls run."""

    def __init__(self, server: DaphneServer) -> None:
        self.server = server
        # (time, server cpu, server rss, client cpu, server main-thread cpu, main-thread run-queue wait)
        self.rows: list[tuple[float, ...]] = []

    def take(self) -> None:
        pids = self.server.pids() if isinstance(self.server, ServeServer) else [self.server.pid]
        s = sample_all(pids)
        self.rows.append((time.monotonic(), s.cpu_s, s.rss_mb, client_cpu(), s.main_thread_cpu_s, s.main_thread_wait_s))

    async def run(self) -> None:
        while True:
            self.take()
            await asyncio.sleep(0.5)

    def cpu_percent(self, start: float, end: float) -> float:
        rows = [r for r in self.rows if start <= r[0] <= end]
        if len(rows) < 2 or rows[-1][0] <= rows[0][0]:
            return float("nan")
        return 100 * (rows[-1][1] - rows[0][1]) / (rows[-1][0] - rows[0][0])


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def vad_counts(http: httpx.AsyncClient, server: DaphneServer, token: str) -> dict[str, float]:
    """The server's own counts (``/metrics``, all its processes'): Silero's runs, the CPU they took and the
    windows, and the garbage collector's passes per generation (``gc_collections_<generation>``)."""
    response = await http.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name.startswith("agentlocator_vad_") or sample.name == "agentlocator_lines_echoing_total":
                samples[sample.name] = samples.get(sample.name, 0.0) + sample.value
            elif sample.name == "python_gc_collections_total":  # prometheus-client's own, per generation
                key = f"gc_collections_{sample.labels.get('generation', '')}"
                samples[key] = samples.get(key, 0.0) + sample.value
    return {
        "runs": samples.get("agentlocator_vad_run_seconds_count", 0.0),
        "cpu_s": samples.get("agentlocator_vad_run_seconds_sum", 0.0),
        "windows": samples.get("agentlocator_vad_windows_total", 0.0),
        "lines_echoing": samples.get("agentlocator_lines_echoing_total", 0.0),
        **{key: value for key, value in samples.items() if key.startswith("gc_collections_")},
    }


async def run_calls(
    server: DaphneServer, auth_token: str, metrics_token: str, args: argparse.Namespace
) -> dict[str, Any]:
    audio = CallerAudio.build(
        speech_ms=SPEECH_MS,
        barge_ms=BARGE_MS,
        barge_in_min_ms=BUSINESS["barge_in_min_ms"],
        eou_silence_ms=BUSINESS["eou_silence_ms"],
    )
    http = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=20, max_keepalive_connections=20))
    client = TwilioLikeClient(server.url, auth_token, http=http)
    try:
        # Warm-up (not measured): the first call imports the conversation core and builds the fakes.
        warm = await BenchCall(client, audio, Script(duration_s=0, turns=1), "+972500000000").run()
        if warm.errors:
            raise RuntimeError(f"warm-up call failed: {warm.errors}\n{server.log_tail()}")
        await asyncio.sleep(1)

        vad_before = await vad_counts(http, server, metrics_token)
        sampler = Sampler(server)
        sampler.take()
        before = sampler.rows[-1]
        sampling = asyncio.create_task(sampler.run())
        ramp = args.ramp if args.ramp is not None else min(10.0, args.calls * 0.1)
        tasks = []
        t_start = time.monotonic()
        for i in range(args.calls):
            # Calls last between 75% and 100% of --duration, so they do not all hang up at the same
            # instant (a burst of call ends is a stall of its own; see worst_gaps in the results).
            spread = 1 - 0.25 * ((i * 7) % args.calls) / max(1, args.calls)
            script = Script(duration_s=args.duration * spread, turns=args.turns or 10_000)
            call = BenchCall(
                client, audio, script, f"+97250{1000000 + i}", args.speakerphone, playout_delay_ms=args.playout_delay_ms
            )
            tasks.append(asyncio.create_task(call.run()))
            if i + 1 < args.calls:
                await asyncio.sleep(ramp / max(1, args.calls - 1))
        t_all_up = time.monotonic()
        traces: list[CallTrace] = await asyncio.gather(*tasks)
        t_end = time.monotonic()
        await asyncio.sleep(2)  # the last utterances and stream_stopped rows are written from threads
        sampler.take()
        sampling.cancel()
        after = sampler.rows[-1]
        vad_after = await vad_counts(http, server, metrics_token)
        # "All calls up": after the ramp, until the first call hung up.
        first_end = t_start + min((t.ended - t.started) for t in traces) if traces else t_end
        steady = sampler.cpu_percent(t_all_up + 1, first_end)
        wall = time.time() - time.monotonic()  # replies are stamped by the server's wall clock
        steady_client = client_cpu_percent(sampler.rows, t_all_up + 1, first_end) if traces else float("nan")
        return {
            "traces": traces,
            "audio": audio,
            "ramp_s": ramp,
            "wall_s": t_end - t_start,
            "server_before": before,
            "server_after": after,
            "rss_peak_mb": max(r[2] for r in sampler.rows),
            "steady_cpu_percent": steady,
            "all_up_wall": (t_all_up + 1 + wall, first_end + wall),
            "steady_client_cpu_percent": steady_client,
            "vad": {key: vad_after[key] - vad_before[key] for key in vad_after},
        }
    finally:
        await http.aclose()


def client_cpu_percent(rows: list[tuple[float, ...]], start: float, end: float) -> float:
    rows = [r for r in rows if start <= r[0] <= end]
    if len(rows) < 2:
        return float("nan")
    return 100 * (rows[-1][3] - rows[0][3]) / (rows[-1][0] - rows[0][0])


def analyse(raw: dict[str, Any], stored: metrics.Stored, args: argparse.Namespace) -> dict[str, Any]:
    traces: list[CallTrace] = raw["traces"]
    audio: CallerAudio = raw["audio"]
    vad: dict[str, float] = raw["vad"]
    eou = BUSINESS["eou_silence_ms"]
    server_ff_all_up: list[float] = []
    lo, hi = raw["all_up_wall"]
    server_ff, client_ff, excess, clean, react_media, react_wall, lateness = [], [], [], [], [], [], []
    stages: dict[str, list[float]] = {k: [] for k in LATENCY_STAGES}
    stalls = metrics.merge_stalls(traces)
    worst: list[tuple[float, float]] = []
    t_first = min((t.started for t in traces), default=0.0)
    underruns, underrun_ms, frames = 0, 0.0, 0
    errors: list[str] = []
    barge_events = 0
    over_caller = on_its_own = 0
    for trace in traces:
        replies = stored.replies.get(trace.call_sid, [])
        server_ff += [r["first_frame"] for r in replies]
        server_ff_all_up += [r["first_frame"] for r in replies if lo <= r["stored_at"] <= hi]
        for key, values in stages.items():
            values += [r[key] for r in replies if key in r]
        client_ff += metrics.client_latencies(trace, replies, eou)
        gaps = metrics.outbound_gaps(trace, stalls)
        excess += gaps.excess_ms
        clean += gaps.clean_excess_ms
        worst += gaps.worst
        underruns += gaps.underruns
        underrun_ms += gaps.underrun_ms
        frames += sum(trace.media_frames)
        media, wall = metrics.barge_ins(trace, audio.barge_decision_frame)
        react_media += media
        react_wall += wall
        after, alone = metrics.unexpected_clears(trace)
        over_caller, on_its_own = over_caller + after, on_its_own + alone
        lateness += [x * 1000 for x in trace.tick_lateness]
        barge_events += stored.events.get(trace.call_sid, {}).get("barge_in", 0)
        errors += [f"{trace.call_sid[:10]}: {e}" for e in trace.errors]

    call_minutes = sum(t.media_s for t in traces) / 60
    (_, cpu0, rss0, ccpu0, main0, wait0), (_, cpu1, _, ccpu1, main1, wait1) = raw["server_before"], raw["server_after"]
    server_cpu = cpu1 - cpu0
    n = max(1, len(traces))
    clears = sum(len(t.clear_times) for t in traces)
    attempted = sum(len(t.barge_starts) for t in traces)
    results: dict[str, Any] = {
        "run": {
            "calls": args.calls,
            "duration_s": args.duration,
            "turns_max": args.turns or None,
            "ramp_s": raw["ramp_s"],
            "wall_s": round(raw["wall_s"], 1),
            "cpus": os.cpu_count(),
            "loadavg_before": raw["loadavg_before"],
            "loadavg_after": raw["loadavg_after"],
            "started_at": raw["started_at"],
            "topology": raw["topology"],
            "git_commit": git_commit(),
            "business": BUSINESS,
            "caller": {"speech_ms": SPEECH_MS, "barge_ms": BARGE_MS, "answers_after_ms": 300},
            "reply_text_chars": len(args.reply),
            "providers": "VOICE_ASR/LLM/TTS=fake, zero delays",
        },
        "calls": {
            "started": len(traces),
            "completed": sum(1 for t in traces if not t.errors),
            "failed": sum(1 for t in traces if t.errors),
            "turns": sum(t.turns_spoken for t in traces),
            "replies_heard": sum(t.replies_heard for t in traces),
            "replies_stored": sum(len(v) for v in stored.replies.values()),
            "caller_utterances_stored": sum(stored.caller_utterances.values()),
            "call_minutes": round(call_minutes, 2),
            "errors": errors[:20],
        },
        "latency_ms": {
            "server_first_frame": metrics.summary(server_ff),
            "server_first_frame_all_calls_up": metrics.summary(server_ff_all_up),
            "client_first_frame": metrics.summary(client_ff),
            "greeting": metrics.summary([t.greeting_ms for t in traces if t.greeting_ms is not None]),
            "server_stages": {key: metrics.summary(values) for key, values in stages.items()},
            "definitions": {
                "server_first_frame": "Utterance.latency['first_frame'] of agent replies: the server's "
                "end-of-utterance decision -> first reply frame written to the socket",
                "server_first_frame_all_calls_up": "the same, for replies stored while every call was up "
                "(after the ramp, before the first hang-up): no call starting or ending",
                "client_first_frame": "arrival of the first reply frame - send time of the frame that "
                "completed eou_silence_ms of silence after the caller's speech (eos_ms + eou_silence_ms)",
                "greeting": "arrival of the first greeting frame - the moment the media socket's start was sent",
            },
        },
        "outbound": {
            "gap_excess_ms": metrics.summary(excess),
            "gap_excess_client_not_stalled_ms": metrics.summary(clean),
            "client_stalls": len(stalls[0]),
            # When the worst gaps happened, in seconds since the first call started (ramp, call ends, ...).
            "worst_gaps": worst_gap_episodes(worst, t_first),
            "call_end_s": sorted(round(t.ended - t_first, 1) for t in traces)[:3],
            "underruns": underruns,
            "underrun_ms": round(underrun_ms, 1),
            "frames": frames,
            "definition": "inter-arrival of consecutive media messages within one agent utterance, minus "
            "the audio the earlier message carried (20 ms per frame), floored at 0 (client clock)",
        },
        "barge_in": {
            "attempted": attempted,
            "cleared": len(react_media),
            "server_events": barge_events,
            "unexpected_clears": clears - len(react_media),
            "unexpected_after_the_caller_talked_over_us": over_caller,
            "unexpected_on_their_own": on_its_own,
            "lines_echoing": int(vad["lines_echoing"]),
            "reaction_media_ms": metrics.summary(react_media),
            "decision_to_clear_ms": metrics.summary(react_wall),
            "definition": "frames sent from the start of talking over the agent until `clear` arrived, "
            "x 20 ms; the floor is barge_in_min_ms. decision_to_clear: wall ms from sending the frame on "
            "which the server's listener (replayed locally) pauses the agent to the arrival of clear. "
            "unexpected: clears that answered no barge-in; on their own: with less than 200 ms of the caller's "
            "speech sent over our audio in the 3 s before (bench.metrics.unexpected_clears)",
        },
        "server": {
            "pid_cpu_s_before": round(cpu0, 2),
            "cpu_s": round(server_cpu, 2),
            "cpu_s_per_call_minute": round(server_cpu / call_minutes, 3) if call_minutes else None,
            "cpu_s_per_call": round(server_cpu / n, 3),
            "event_loop_thread_cpu_s": round(main1 - main0, 2),
            "worker_threads_cpu_s": round(server_cpu - (main1 - main0), 2),
            # Time the event loop was ready to run but the machine had no free CPU for it.
            "event_loop_runqueue_wait_s": round(wait1 - wait0, 2),
            "event_loop_runqueue_wait_percent": round(100 * (wait1 - wait0) / max(raw["wall_s"], 1e-9), 1),
            "steady_cpu_percent": round(raw["steady_cpu_percent"], 1),
            "rss_baseline_mb": round(rss0, 1),
            "rss_peak_mb": round(raw["rss_peak_mb"], 1),
            "rss_per_call_mb": round((raw["rss_peak_mb"] - rss0) / n, 3),
            # Silero's runs by the server's own count (its ONNX runs' CPU: the rest of the stack is not in it).
            "vad_runs": int(vad["runs"]),
            "vad_windows_per_run": round(vad["windows"] / vad["runs"], 1) if vad["runs"] else None,
            "vad_cpu_s": round(vad["cpu_s"], 3),
            "vad_cpu_s_per_call_minute": round(vad["cpu_s"] / call_minutes, 3) if call_minutes else None,
            # The garbage collector's passes over the calls, per generation (the server's own count).
            "gc_collections": {
                key.removeprefix("gc_collections_"): int(vad[key]) for key in sorted(vad) if key.startswith("gc_")
            },
        },
        "client": {
            "cpu_s": round(ccpu1 - ccpu0, 2),
            # The 20 ms frames it sent and received, each a JSON message on a socket: its work, the same for a
            # server with or without the turn-taking stack (bench.budget gauges the machine's speed by it).
            "frames": sum(len(t.send_times) for t in traces) + frames,
            "cpu_percent": round(100 * (ccpu1 - ccpu0) / max(raw["wall_s"], 1e-9), 1),
            "steady_cpu_percent": round(raw["steady_client_cpu_percent"], 1),
            "tick_lateness_ms": metrics.summary(lateness),
        },
    }
    results["targets"] = report.check_targets(results)
    return results


def worst_gap_episodes(worst: list[tuple[float, float]], t0: float, limit: int = 10) -> list[dict[str, float]]:
    """Gaps over 40 ms grouped into episodes (within 100 ms of each other: one server stall seen by many
    calls), the worst first, each with how many calls saw it and when (s since the first call started)."""
    episodes: list[dict[str, float]] = []
    for excess, t in sorted(worst, key=lambda w: w[1]):
        if episodes and t - episodes[-1]["last"] <= 0.1:
            e = episodes[-1]
            e["calls"] += 1
            e["max_excess_ms"] = max(e["max_excess_ms"], round(excess, 1))
            e["last"] = t
        else:
            episodes.append({"at_s": round(t - t0, 2), "calls": 1, "max_excess_ms": round(excess, 1), "last": t})
    for e in episodes:
        del e["last"]
    return sorted(episodes, key=lambda e: -e["max_excess_ms"])[:limit]


def log_errors(path: Path, limit: int = 40) -> list[str]:
    """Error lines and tracebacks from daphne's log (the full log is copied next to the results)."""
    out: list[str] = []
    in_traceback = False
    for line in path.read_text(errors="replace").splitlines():
        if " ERROR " in line or " WARNING " in line or line.startswith("Traceback"):
            in_traceback = line.startswith("Traceback") or in_traceback
            out.append(line[:300])
        elif in_traceback:
            out.append(line[:300])
            in_traceback = line.startswith((" ", "\t"))
        if len(out) >= limit:
            break
    return out


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except OSError:
        return ""


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def recorded_voice(text: str, tmp: Path) -> Path:
    """``text`` as espeak-ng says it, in a WAV the server's fake voice says instead of its tone."""
    path = tmp / "voice.wav"
    path.write_bytes(write_wav(hebrew_speech(text)))
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    auth_token = secrets.token_hex(16)
    try:
        env = server_env(tmp, fake_reply=args.reply, auth_token=auth_token) | {
            "VOICE_VAD": args.vad,
            "VOICE_ECHO_GUARD": "false" if args.no_echo_guard else "true",
            "VOICE_TTS": "fake" if args.tts == "recorded" else args.tts,
            "METRICS_TOKEN": secrets.token_hex(16),  # the server's own VAD figures are read from /metrics
        }
        if args.tts == "recorded":
            env["FAKE_TTS_WAV"] = str(recorded_voice(args.reply, tmp))
        timing_out = tmp / "method_timing.json"
        if args.time_methods:
            # The site directory's sitecustomize wraps them as the server imports their modules.
            paths = [str(method_timing.SITE), str(ROOT), env.get("PYTHONPATH", "")]
            env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
            env[method_timing.ENV_METHODS] = " ".join(args.time_methods)
            env[method_timing.ENV_OUT] = str(timing_out)
        with ExitStack() as stack:
            if args.postgres:
                env["DATABASE_URL"] = stack.enter_context(private_postgres(tmp))
            print(f"preparing a throwaway database in {tmp} ...", flush=True)
            prepare_database(env, BUSINESS)
            if args.redis or args.processes > 1:
                env |= {"REDIS_URL": stack.enter_context(private_redis(tmp))}
                env.pop("CELERY_BROKER_URL", None)
            if args.processes:
                server: DaphneServer = ServeServer(env, tmp / "daphne.log", processes=args.processes)
            else:
                server = DaphneServer(env, tmp / "daphne.log")
            stack.enter_context(server)
            topology = (
                f"agentlocator.serve with {args.processes} daphne process(es)" if args.processes else "one daphne"
            ) + (" + Redis" if "REDIS_URL" in env else " (embedded channel layer, SQLite broker)")
            if args.postgres:
                topology += ", PostgreSQL " + (
                    "without a pool" if env.get("DB_POOL", "").lower() in ("false", "0", "no", "off") else "with a pool"
                )
            if args.vad != "silero":
                topology += f", VAD {args.vad} (no Silero)"
            if args.no_echo_guard:
                topology += ", no echo guard"
            if args.tts != "fake":
                topology += f", TTS {args.tts}"
            if args.echo_db is not None:
                topology += f", callers on speakerphones ({args.echo_db:g} dB, {args.echo_delay_ms} ms)"
                if args.line_noise_dbfs is not None:
                    topology += f" over a {args.line_noise_dbfs:g} dBFS hiss"
            if args.playout_delay_ms:
                topology += f", Twilio playing {args.playout_delay_ms} ms late"
            print(
                f"{topology}, pid {server.pid} on {server.url}; {args.calls} calls x {args.duration:.0f} s", flush=True
            )
            started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            load_before = loadavg()
            raw = asyncio.run(run_calls(server, auth_token, env["METRICS_TOKEN"], args))
            raw |= {
                "loadavg_before": load_before,
                "loadavg_after": loadavg(),
                "started_at": started_at,
                "topology": topology,
            }
            stored = metrics.read_database(env["DATABASE_URL"])
        results = analyse(raw, stored, args)
        if args.time_methods:
            results["method_timing"] = method_timing.read(timing_out, args.time_methods)
        results["server"]["log_errors"] = log_errors(tmp / "daphne.log")
        shutil.copyfile(tmp / "daphne.log", args.out.with_suffix(".daphne.log"))
        report.write_json(results, args.out)
        print(report.table(results))
        print(f"\nresults: {args.out}")
        if results["calls"]["failed"]:  # its figures describe a load the server did not carry
            print(f"{results['calls']['failed']} of {results['calls']['started']} calls failed", file=sys.stderr)
            return 1
        return 0
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
