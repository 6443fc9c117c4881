"""The benchmark's results: one JSON document, and a table for people."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TARGETS = {
    "server_first_frame_p95_ms": 20.0,
    "outbound_gap_excess_max_ms": 60.0,
    "server_cpu_s_per_call_minute": 1.0,
}


def check_targets(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    measured = {
        "server_first_frame_p95_ms": results["latency_ms"]["server_first_frame"]["p95"],
        "outbound_gap_excess_max_ms": results["outbound"]["gap_excess_ms"]["max"],
        "server_cpu_s_per_call_minute": results["server"]["cpu_s_per_call_minute"],
    }
    return {
        name: {"target": limit, "measured": value, "met": value is not None and value < limit}
        for name, limit in TARGETS.items()
        for value in [measured[name]]
    }


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n")


def _method_timing(methods: dict[str, dict[str, Any]]) -> list[str]:
    """``--time-methods``: what each method took inside the server (``bench.method_timing``)."""
    lines = ["  inside the server (wall time a call; calls over 200 µs apart: they lost the CPU, or are that long):"]
    for spec, entry in methods.items():
        if "error" in entry:
            lines.append(f"    {spec}: not timed: {entry['error']}")
            continue
        parts = []
        if entry["calls"]:
            parts.append(f"{entry['us_per_call']:.2f} µs x {entry['calls']} calls = {entry['seconds']:.2f} s")
        if entry["long"]:
            parts.append(f"over 200 µs: {entry['us_per_long_call']:.0f} µs x {entry['long']}")
        lines.append(f"    {spec}: {'; '.join(parts) or 'never called'}")
    return lines


def _row(name: str, s: dict[str, Any], unit: str = "ms") -> str:
    def f(v: Any) -> str:
        return "-" if v is None else f"{v:.1f}"

    return f"  {name:<44} {s['n']:>6} {f(s['p50']):>8} {f(s['p95']):>8} {f(s['p99']):>8} {f(s['max']):>8}  {unit}"


def table(results: dict[str, Any]) -> str:
    run, calls, lat = results["run"], results["calls"], results["latency_ms"]
    out, srv, cli, barge = results["outbound"], results["server"], results["client"], results["barge_in"]
    lines = [
        f"bench.load: {run['calls']} simultaneous calls, {run['duration_s']:.0f} s each "
        f"(ramp {run['ramp_s']:.1f} s), {run.get('topology', 'one daphne')}, zero-latency fake providers, "
        f"{run['cpus']} CPUs",
        f"  load average before/after: {run['loadavg_before']} / {run['loadavg_after']}"
        "  (other work on the machine adds noise)",
        f"  calls completed {calls['completed']}/{calls['started']}, failed {calls['failed']}; "
        f"turns {calls['turns']}, agent replies stored {calls['replies_stored']}, "
        f"call-minutes {calls['call_minutes']:.1f}",
        "",
        f"  {'':<44} {'n':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}",
        _row("end of utterance -> first reply frame (server)", lat["server_first_frame"]),
        _row("  same, while every call was up (no churn)", lat["server_first_frame_all_calls_up"]),
        _row("end of utterance -> first reply frame (client)", lat["client_first_frame"]),
        _row("stream start -> first greeting frame (client)", lat["greeting"]) if "greeting" in lat else "",
        *(_row(f"  server stage: {k} (cumulative)", v) for k, v in lat["server_stages"].items() if k != "first_frame"),
        _row("outbound gap beyond pacing (client)", out["gap_excess_ms"]),
        _row("  same, client not stalled during the gap", out["gap_excess_client_not_stalled_ms"]),
        _row("barge-in reaction, media time", barge["reaction_media_ms"]),
        _row("barge-in: server pause decision -> clear (wall)", barge["decision_to_clear_ms"]),
        _row("client sender tick lateness", cli["tick_lateness_ms"]),
        "",
        f"  outbound underruns (buffer ran dry mid-utterance): {out['underruns']} "
        f"({out['underrun_ms']:.0f} ms in total) over {out['frames']} frames",
        f"  barge-ins: {barge['attempted']} attempted, {barge['cleared']} answered with clear, "
        f"{barge['server_events']} stored; unexpected clears {barge['unexpected_clears']} "
        f"({barge.get('unexpected_on_their_own', '?')} on their own, "
        f"{barge.get('unexpected_after_the_caller_talked_over_us', '?')} after the caller talked over our audio); "
        f"lines found to echo {barge.get('lines_echoing', 0)}"
        f"  (floor: barge_in_min_ms = {run['business']['barge_in_min_ms']} ms)",
        f"  server CPU {srv['cpu_s']:.1f} s = {srv['cpu_s_per_call_minute']:.3f} CPU-s per call-minute; "
        f"{srv['steady_cpu_percent']:.0f}% of one core with all calls up",
        f"    (event loop thread {srv['event_loop_thread_cpu_s']:.1f} s, worker threads (ORM, webhooks) "
        f"{srv['worker_threads_cpu_s']:.1f} s); the event loop waited for a CPU "
        f"{srv['event_loop_runqueue_wait_s']:.1f} s ({srv['event_loop_runqueue_wait_percent']:.0f}% of the run)",
        f"    Silero's runs {srv['vad_cpu_s']:.2f} s = {srv['vad_cpu_s_per_call_minute']:.3f} CPU-s per call-minute "
        f"({srv['vad_runs']} runs of {srv['vad_windows_per_run'] or 0:.1f} windows)",
        f"  server RSS {srv['rss_baseline_mb']:.0f} MB idle, {srv['rss_peak_mb']:.0f} MB peak "
        f"= {srv['rss_per_call_mb']:.2f} MB per call",
        f"  client CPU {cli['cpu_s']:.1f} s ({cli['cpu_percent']:.0f}% of one core over the run)",
        "",
    ]
    for name, t in results["targets"].items():
        verdict = "MET" if t["met"] else "MISSED"
        lines.append(f"  target {name:<32} < {t['target']:<5} measured {t['measured']}  {verdict}")
    if calls["errors"]:
        lines += ["", "  errors (first few):", *(f"    {e}" for e in calls["errors"][:5])]
    if results.get("method_timing"):
        lines += ["", *_method_timing(results["method_timing"])]
    if srv.get("log_errors"):
        lines += ["", "  daphne log (errors and warnings, first lines):", *(f"    {e}" for e in srv["log_errors"][:8])]
    return "\n".join(lines)
