"""A whole call on a noisy line, end to end: how long the caller waits for the agent's reply.

One daphne process per VAD (``VOICE_VAD=webrtc``, the first round's detector, and ``silero``, today's),
fake zero-latency providers, and for each noise colour one call from the simulator (``simulate_call``'s
client, real time): 4 s of line noise (the greeting plays meanwhile), a Hebrew sentence (espeak-ng), then
the same noise for 8 s more, all at SNR 10 dB through G.711 mu-law. The server stores the caller's
utterance and the agent's reply in media time; the wait is the reply's first audio minus the true end of
the sentence (known from the mix).

    .venv/bin/python -m bench.noisy_line [--snr 10] [--noises white pink brown]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.audio import hebrew_speech
from bench.server import prepare_database, server_env
from voice.audio import mulaw
from voice.audio.frames import SAMPLE_RATE
from voice.audio.wav import read_wav_file_8k_mono
from voice.simulator.client import CallOptions, simulate_call
from voice.simulator.server import ROOT, DaphneServer

SENTENCE = "שלום, אני רוצה לקבוע תור לשבוע הבא, אפשר?"
LEAD_IN_S = 4.0
TAIL_S = 8.0
BUSINESS = {"greeting": "שלום, במה אפשר לעזור?", "eou_silence_ms": 600, "barge_in_min_ms": 300, "record_calls": False}


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def noisy_call_audio(tmp: Path, colour: str, snr_db: float) -> tuple[bytes, int]:
    """The caller's track (mu-law) and where the sentence ends in it (ms)."""
    noise_wav = tmp / f"{colour}.wav"
    seconds = LEAD_IN_S + TAIL_S + 10
    subprocess.run(
        ["sox", "-R", "-n", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(noise_wav), "synth", str(seconds),
         f"{colour}noise"],
        check=True,
        timeout=60,
    )  # fmt: skip
    speech = hebrew_speech(SENTENCE).astype(np.float64)
    loud = np.flatnonzero(np.abs(speech) > np.abs(speech).max() * 10 ** (-50 / 20))  # the corpus's trim floor
    speech = speech[loud[0] : loud[-1] + 1]
    speech *= 10 ** (-20 / 20) * 32768 / _rms(speech)  # -20 dBFS
    start = int(LEAD_IN_S * SAMPLE_RATE)
    total = start + len(speech) + int(TAIL_S * SAMPLE_RATE)
    noise = read_wav_file_8k_mono(str(noise_wav)).astype(np.float64)[:total]
    noise *= _rms(speech) * 10 ** (-snr_db / 20) / _rms(noise)
    mix = noise.copy()
    mix[start : start + len(speech)] += speech
    pcm = np.clip(mix, -32768, 32767).astype(np.int16)
    return mulaw.encode(pcm), (start + len(speech)) * 1000 // SAMPLE_RATE


def stored_turns(env: dict[str, str], call_sid: str) -> list[dict[str, object]]:
    code = (
        "import json; from crm.models import Utterance; "
        f"print(json.dumps(list(Utterance.objects.filter(call__call_sid='{call_sid}').order_by('start_ms')"
        ".values('speaker', 'start_ms', 'end_ms', 'text'))))"
    )
    command = [sys.executable, "manage.py", "shell", "-c", code]
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snr", type=float, default=10.0)
    parser.add_argument("--noises", nargs="+", default=["white", "pink", "brown"])
    parser.add_argument("--vads", nargs="+", default=["webrtc", "silero"])
    args = parser.parse_args(argv)
    rows = []
    for vad in args.vads:
        with tempfile.TemporaryDirectory() as name:
            tmp = Path(name)
            token = secrets.token_hex(16)
            env = server_env(tmp, fake_reply="בטח, יש לנו תור ביום שלישי בעשר.", auth_token=token)
            env["VOICE_VAD"] = vad
            prepare_database(env, BUSINESS)
            with DaphneServer(env, tmp / "daphne.log") as server:
                for colour in args.noises:
                    audio, speech_end_ms = noisy_call_audio(tmp, colour, args.snr)
                    options = CallOptions(server.url, token, caller_audio=audio, silence_s=0.5)
                    asyncio.run(simulate_call(options))
                    turns = stored_turns(env, options.call_sid)
                    caller = [t for t in turns if t["speaker"] == "caller"]
                    reply = [t for t in turns if t["speaker"] == "agent" and int(t["start_ms"]) > speech_end_ms - 2000]
                    wait = int(reply[0]["start_ms"]) - speech_end_ms if reply else None
                    seen_end = int(caller[0]["end_ms"]) if caller else None
                    rows.append((vad, colour, speech_end_ms, seen_end, wait))
    print(f"SNR {args.snr:g} dB; the sentence ends at the 'true end' column (media ms)")
    print("vad     noise  true end   end as the agent saw it   the caller waited for the reply")
    for vad, colour, true_end, seen, wait in rows:
        seen_text = "-" if seen is None else f"{seen} ms ({seen - true_end:+d})"
        wait_text = "no reply before the call ended" if wait is None else f"{wait} ms"
        print(f"{vad:<7} {colour:<6} {true_end:>6} ms   {seen_text:<25} {wait_text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
