"""Phone-call scenarios with a known answer, for measuring turn-taking (``bench.turn_taking``).

Turn-taking is judged on what a phone line really carries, so every scenario is built the way a line
would build it: Hebrew speech (espeak-ng, several voices and speeds) and noise (sox) at 8 kHz, mixed at
known levels and passed once through G.711 mu-law. Because we place every sound ourselves, the truth is
exact: where the caller's speech starts and ends, and whether it is an utterance to answer, a real
interruption of the agent, a back-channel ("כן") or a noise (cough, click, door). Nothing is downloaded
and nothing is recorded: the corpus is made on the spot from the two command-line tools, and the
individual sounds are cached on disk (keyed by every parameter that shapes them), so the tests and the
benchmark build the whole corpus in a second or two after the first run.

Levels: every sound goes through a telephone band (``LINE_BAND_HZ``) first, then all speech (caller and
agent alike) is normalised to ``SPEECH_DBFS`` RMS over the trimmed clip, so "SNR 10 dB" puts the noise 10 dB
under the caller's speech in the band the line carries, and "echo at -25 dB" puts the agent's voice coming
back on the caller's line 25 dB under the agent's voice as sent.

The agent's echo is not baked into ``Scenario.inbound``: the agent stops talking when the caller barges
in, so the harness switches from ``inbound_echoed`` (echo of the whole reply mixed in) to ``inbound``
(no echo) at that moment. Both were mixed from the same samples and quantised once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voice.audio import mulaw
from voice.audio.frames import FRAME_BYTES, SAMPLE_RATE
from voice.audio.wav import read_wav_file_8k_mono

CORPUS_VERSION = 2  # bump when a change to the generation should invalidate the cache
SPEECH_DBFS = -20.0  # RMS of every speech clip (caller and agent)
# The telephone channel: a handset and the network's codecs pass roughly 200-3400 Hz (G.712 asks for 300-3400;
# mobile codecs high-pass lower). Every sound from the caller's side goes through it *before* its level is set,
# so levels and SNRs are what the line carries: "brown noise at SNR 10" is 10 dB under the speech in the band
# a detector hears, not a rumble under 100 Hz that the channel would mostly remove.
LINE_BAND_HZ = (200.0, 3400.0)
LINE_NOISE_DBFS = -55.0  # the light hiss of an ordinary line, under scenarios that are not about noise

# Kinds of truth segments.
UTTERANCE = "utterance"  # the caller speaks to a silent agent: answer after it ends
INTERRUPTION = "interruption"  # the caller talks over the agent and means it: barge in
BACKCHANNEL = "backchannel"  # "כן", "אהה" while the agent talks: let the agent go on
NOISE = "noise"  # cough, click, door: nothing to hear
SPEECH_KINDS = (UTTERANCE, INTERRUPTION)


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice: ``variant`` is ``-v`` (``he`` or ``he+f3`` ...), ``speed`` words per minute
    (``-s``), ``pitch`` 0..99 (``-p``)."""

    variant: str = "he"
    speed: int = 150
    pitch: int = 50


CALLER_VOICES = (Voice("he", 150, 50), Voice("he+f3", 170, 70), Voice("he+m3", 140, 35))
AGENT_VOICE = Voice("he+f2", 175, 60)  # replies of 4.7-6 s

CALLER_SENTENCES = (
    "שלום, אני רוצה לקבוע תור לשבוע הבא",
    "אפשר לדעת כמה עולה השירות אצלכם?",
    "אני מתקשר בקשר להצעת המחיר ששלחתם",
)
AGENT_SENTENCES = (
    "תודה שפניתם אלינו. אנחנו פתוחים מיום ראשון עד חמישי, משמונה בבוקר עד שש בערב.",
    "בשמחה. כדי לקבוע תור אני צריך את השם המלא שלכם ומספר טלפון לחזרה.",
    "המחיר תלוי בסוג השירות, אבל בדרך כלל הוא מתחיל ממאתיים שקלים לביקור.",
)
SHORT_AGENT_SENTENCE = "בטח, אני בודק את זה בשבילכם עכשיו."  # about 2.5 s
_HE, _F3, _M3 = CALLER_VOICES
INTERRUPTIONS = (  # 1.6-2.4 s
    ("רגע, זה לא מה ששאלתי", _HE),
    ("סליחה, אני רוצה לדבר עם נציג", _F3),
    ("לא לא, משהו אחר", _M3),
)
SHORT_INTERRUPTIONS = (("חכה רגע", _F3), ("תעצור", _M3), ("רגע, רגע", _HE))  # 0.5-0.65 s
# Back-channels: label -> what espeak is given (unpointed "אהה" comes out silent; the pointed form does not).
BACKCHANNELS = {"כן": "כן", "אהה": "אָהָה", "אוקיי": "אוקיי"}
BABBLE_SENTENCES = (
    "מה השעה עכשיו בבקשה",
    "הילדים הלכו לבית הספר מוקדם",
    "אני חושב שירד גשם מחר בערב",
    "בוא נלך לאכול משהו טעים",
    "המכונית חונה ליד הבית של אמא",
    "היא קנתה לחם וחלב בסופר השכונתי",
)
TWO_UTTERANCES = (("אני רוצה לקבוע תור", "ביום שלישי בבוקר"), ("כמה זה עולה", "ומתי אתם פתוחים"))
PAUSY_UTTERANCES = (("אני רוצה", "לקבוע תור", "ליום שלישי"), ("המספר שלי", "אפס חמש ארבע", "שלוש שתיים"))

NOISE_COLOURS = ("white", "pink", "brown")
NOISE_SNRS_DB = (20, 10, 5)
ECHO_GAINS_DB = (-15, -25, -35)
ECHO_DELAYS_MS = (60, 120, 200)
INTERRUPT_ECHO_DELAY_MS = 120
# A speakerphone in a room: our voice comes back through a path, not a wire. Its response is the direct
# sound and then reflections that die away (energy down by e^-8, ~35 dB, over ``ROOM_MS``), normalised so
# the echo's level is still ``gain`` dB under what we sent. Beyond the corpus (pure delays): it is
# what a short echo canceller cannot cover.
ROOM_MS = 30
ROOM_ECHO_GAINS_DB = (-15, -25)
BARGE_IN_GRACE_MS = 1000  # a barge-in this long after an interruption ended still answers it (the harness)
REPLY_START_MS = 1000  # our reply starts this far into a burst, back-channel or interruption scenario

_NOISE_SECONDS = 40  # one long sox noise per colour; scenarios take slices at random offsets


def missing_tools() -> list[str]:
    """The command-line tools the corpus needs that are not installed."""
    return [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]


def default_cache_dir() -> Path:
    return Path(os.environ.get("TURN_CORPUS_CACHE") or Path(tempfile.gettempdir()) / "agentlocator-turn-corpus")


@dataclass(frozen=True)
class Segment:
    """One sound the caller's side made, in media ms from the scenario's start."""

    start_ms: int
    end_ms: int
    kind: str  # UTTERANCE | INTERRUPTION | BACKCHANNEL | NOISE
    label: str  # the words, or the kind of noise

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True)
class Scenario:
    name: str
    group: str
    inbound: bytes  # the caller's line (speech + noise), mu-law, with no echo of the agent
    inbound_echoed: bytes  # the same with the echo of the agent's whole reply mixed in (== inbound without one)
    agent: bytes | None  # the agent's reply as sent, mu-law (whole frames); None: the agent is silent
    agent_start_ms: int  # where the agent's reply starts playing, in the caller's media time
    echo_delay_ms: int | None  # None: no echo comes back
    echo_gain_db: float | None
    truth: tuple[Segment, ...]
    notes: dict[str, float | str] = field(default_factory=dict, compare=False)
    echo_room_ms: int = 0  # the echo's path: 0 a pure delay, else a room's reverberation this long

    @property
    def duration_ms(self) -> int:
        return len(self.inbound) * 1000 // SAMPLE_RATE

    @property
    def agent_ms(self) -> int:
        return 0 if self.agent is None else len(self.agent) * 1000 // SAMPLE_RATE

    def speech(self) -> list[Segment]:
        """The segments that must be heard as speech (answered, or barged in on)."""
        return [s for s in self.truth if s.kind in SPEECH_KINDS]


# -- levels and shapes ----------------------------------------------------------------------------------
def dbfs(samples: np.ndarray) -> float:
    """RMS level of int16-scaled samples in dB relative to full scale (a full-scale square wave is 0)."""
    rms = float(np.sqrt(np.mean(np.asarray(samples, dtype=np.float64) ** 2))) if len(samples) else 0.0
    return 20 * np.log10(max(rms, 1e-9) / 32768.0)


def _at_level(samples: np.ndarray, level_dbfs: float) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float64)
    return x * (10 ** ((level_dbfs - dbfs(x)) / 20))


def _trim(samples: np.ndarray, floor_db: float = 50.0) -> np.ndarray:
    """Cut the leading and trailing silence: 5 ms blocks more than ``floor_db`` under the loudest."""
    block = SAMPLE_RATE // 200
    n = len(samples) // block
    rms = np.sqrt(np.mean(samples[: n * block].astype(np.float64).reshape(n, block) ** 2, axis=1))
    loud = np.nonzero(rms > rms.max() * 10 ** (-floor_db / 20))[0]
    if not len(loud):
        raise ValueError("the clip is silent")
    return samples[loud[0] * block : (loud[-1] + 1) * block]


def _band(samples: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
    """Band-limit a short signal in the frequency domain (cosine edges an octave wide, no ringing to speak of)."""
    spectrum = np.fft.rfft(samples)
    freqs = np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE)
    with np.errstate(divide="ignore"):
        octave = np.log2(np.maximum(freqs, 1e-3))
    gain = np.ones_like(freqs)
    if low_hz > 0:
        gain *= np.clip(octave - np.log2(low_hz) + 1, 0, 1)
    if high_hz < SAMPLE_RATE / 2:
        gain *= np.clip(np.log2(high_hz) - octave + 1, 0, 1)
    return np.fft.irfft(spectrum * np.sin(gain * np.pi / 2) ** 2, len(samples))


def line(samples: np.ndarray) -> np.ndarray:
    """Through the telephone channel (``LINE_BAND_HZ``)."""
    return _band(np.asarray(samples, dtype=np.float64), *LINE_BAND_HZ)


def _ms(n_samples: int) -> int:
    return n_samples * 1000 // SAMPLE_RATE


def _samples(ms: int) -> int:
    return ms * SAMPLE_RATE // 1000


# -- the tools, cached ----------------------------------------------------------------------------------
class _Sounds:
    """espeak-ng and sox output at 8 kHz (float, int16 scale), cached as .npy by parameters."""

    def __init__(self, cache_dir: Path) -> None:
        self.dir = cache_dir
        self.dir.mkdir(parents=True, exist_ok=True)

    def _cached(self, key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
        digest = hashlib.sha1(f"v{CORPUS_VERSION}:{key}".encode()).hexdigest()[:20]
        path = self.dir / f"{digest}.npy"
        if path.is_file():
            return np.load(path)
        samples = np.asarray(make(), dtype=np.float32)
        handle, tmp = tempfile.mkstemp(dir=self.dir, suffix=".npy")
        with os.fdopen(handle, "wb") as f:
            np.save(f, samples)
        os.replace(tmp, path)  # atomic: a concurrent run reads a whole file or none
        return samples

    def speech(self, text: str, voice: Voice = CALLER_VOICES[0]) -> np.ndarray:
        """``text`` spoken by ``voice``, trimmed, through the line, at ``SPEECH_DBFS``."""

        def make() -> np.ndarray:
            with tempfile.TemporaryDirectory(dir=self.dir) as tmp:
                wav = Path(tmp) / "speech.wav"
                subprocess.run(
                    [
                        "espeak-ng",
                        "-v",
                        voice.variant,
                        "-s",
                        str(voice.speed),
                        "-p",
                        str(voice.pitch),
                        "-w",
                        str(wav),
                        text,
                    ],
                    check=True,
                    timeout=60,
                    capture_output=True,
                )
                return _at_level(line(_trim(read_wav_file_8k_mono(str(wav)))), SPEECH_DBFS)

        return self._cached(f"speech:{voice}:{text}", make)

    def noise(self, colour: str) -> np.ndarray:
        """``_NOISE_SECONDS`` of sox's white/pink/brown noise (repeatable) through the line, at 0 dBFS RMS."""

        def make() -> np.ndarray:
            with tempfile.TemporaryDirectory(dir=self.dir) as tmp:
                wav = Path(tmp) / "noise.wav"
                synth = ["synth", str(_NOISE_SECONDS), f"{colour}noise"]
                subprocess.run(
                    ["sox", "-R", "-n", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(wav), *synth],
                    check=True,
                    timeout=60,
                    capture_output=True,
                )
                x = read_wav_file_8k_mono(str(wav)).astype(np.float64)
                return _at_level(line(x), 0.0)

        return self._cached(f"noise:{colour}:{_NOISE_SECONDS}", make)


# -- building blocks ------------------------------------------------------------------------------------
class _Mix:
    """A scenario's near end (caller + noise) and the echo of the agent, in float samples."""

    def __init__(self, ms: int) -> None:
        n = _samples(ms)
        n += -n % FRAME_BYTES  # whole frames
        self.near = np.zeros(n)
        self.echo = np.zeros(n)
        self.truth: list[Segment] = []

    @property
    def ms(self) -> int:
        return _ms(len(self.near))

    def add(self, samples: np.ndarray, at_ms: int, *, kind: str | None = None, label: str = "") -> Segment | None:
        start = _samples(at_ms)
        end = min(len(self.near), start + len(samples))
        self.near[start:end] += samples[: end - start]
        if kind is None:
            return None
        segment = Segment(at_ms, _ms(end), kind, label)
        self.truth.append(segment)
        return segment

    def bed(self, noise: np.ndarray, level_dbfs: float, rng: np.random.Generator) -> None:
        """Noise under everything, from a random offset of a long noise (looped if need be)."""
        offset = int(rng.integers(0, len(noise)))
        index = (offset + np.arange(len(self.near))) % len(noise)
        self.near += noise[index] * (10 ** (level_dbfs / 20))  # the source noise is at 0 dBFS

    def agent(
        self, reply: np.ndarray, start_ms: int, delay_ms: int | None, gain_db: float | None, room: np.ndarray | None
    ) -> bytes:
        """The agent's reply as sent (mu-law, whole frames); its echo, if any, goes on the line (through
        ``room``, a path's impulse response, if given)."""
        sent = mulaw.encode(_clip(reply))
        sent += b"\xff" * (-len(sent) % FRAME_BYTES)
        if delay_ms is not None and gain_db is not None:
            heard = mulaw.decode(sent).astype(np.float64)  # what the caller's phone plays
            if room is not None:
                heard = np.convolve(heard, room)[: len(heard)]
                heard *= np.sqrt(np.mean(mulaw.decode(sent).astype(np.float64) ** 2) / np.mean(heard**2))
            heard *= 10 ** (gain_db / 20)
            start = _samples(start_ms + delay_ms)
            end = min(len(self.echo), start + len(heard))
            self.echo[start:end] += heard[: end - start]
        return sent

    def scenario(self, name: str, group: str, **kwargs: object) -> Scenario:
        inbound = mulaw.encode(_clip(self.near))
        echoed = mulaw.encode(_clip(self.near + self.echo)) if self.echo.any() else inbound
        truth = tuple(sorted(self.truth, key=lambda s: s.start_ms))
        return Scenario(name=name, group=group, inbound=inbound, inbound_echoed=echoed, truth=truth, **kwargs)  # type: ignore[arg-type]


def _clip(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(samples), -32768, 32767).astype(np.int16)


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def _agent_fields(
    mix: _Mix,
    reply: np.ndarray,
    start_ms: int,
    delay_ms: int | None,
    gain_db: float | None,
    room_ms: int = 0,
    rng: np.random.Generator | None = None,
) -> dict[str, object]:
    room = room_response(room_ms, rng or np.random.default_rng(0)) if room_ms else None
    sent = mix.agent(reply, start_ms, delay_ms, gain_db, room)
    return {
        "agent": sent,
        "agent_start_ms": start_ms,
        "echo_delay_ms": delay_ms if gain_db is not None else None,
        "echo_gain_db": gain_db if delay_ms is not None else None,
        "echo_room_ms": room_ms,
    }


def room_response(ms: int, rng: np.random.Generator) -> np.ndarray:
    """A room's impulse response ``ms`` long: the direct sound, then reflections dying away (the unit tests of
    the guard and the canceller use it too)."""
    n = _samples(ms)
    response = rng.standard_normal(n) * np.exp(-4 * np.arange(n) / n)  # amplitude: energy falls e^-8
    response[0] += 2.0
    return response / np.sqrt(np.sum(response**2))


_NO_AGENT: dict[str, object] = {"agent": None, "agent_start_ms": 0, "echo_delay_ms": None, "echo_gain_db": None}


def cough(duration_ms: int, rng: np.random.Generator) -> np.ndarray:
    """A cough: shaped noise (a broad low-mid hump, the throat's resonances) with a 5 ms attack, a short
    hold and an exponential decay, over ``duration_ms`` (200-300 ms), through the line, at 0 dBFS RMS."""
    n = _samples(duration_ms)
    burst = _band(rng.standard_normal(n), 250, 2500) + 0.5 * _band(rng.standard_normal(n), 400, 900)
    t = np.arange(n) / SAMPLE_RATE
    attack = np.minimum(t / 0.005, 1.0)
    decay = np.where(t < 0.04, 1.0, np.exp(-(t - 0.04) / (duration_ms / 1000 / 3.5)))
    return _at_level(line(burst * attack * decay), 0.0)


def click(duration_ms: int, rng: np.random.Generator) -> np.ndarray:
    """A click: a 5-20 ms impulse that rings out (the start of a broadband burst), through the line, peak at
    0 dBFS."""
    n = max(8, _samples(duration_ms))
    burst = rng.standard_normal(n) * np.exp(-np.arange(n) / (n / 4))
    burst[0] = 4.0  # the impulse
    heard = line(np.concatenate((burst, np.zeros(_samples(20)))))  # room for the channel's ringing
    return heard / np.abs(heard).max() * 32767


def door(duration_ms: int, rng: np.random.Generator) -> np.ndarray:
    """A door's thud: low-passed brown noise (under ~500 Hz) with a fast attack and a ringing decay, through
    the line (which keeps its upper part), at 0 dBFS RMS."""
    n = _samples(duration_ms)
    brown = np.cumsum(rng.standard_normal(n))
    brown -= np.linspace(brown[0], brown[-1], n)  # no drift
    thud = _band(brown, 40, 500)
    t = np.arange(n) / SAMPLE_RATE
    envelope = np.minimum(t / 0.003, 1.0) * np.exp(-t / (duration_ms / 1000 / 4))
    return _at_level(line(thud * envelope), 0.0)


# -- the groups -----------------------------------------------------------------------------------------
def _noise_scenarios(sounds: _Sounds) -> Iterable[Scenario]:
    for colour in NOISE_COLOURS:
        for snr in NOISE_SNRS_DB:
            for i, text in enumerate(CALLER_SENTENCES[:2]):
                name = f"{colour}-{snr}dB-{i}"
                rng = _rng(name)
                speech = sounds.speech(text, CALLER_VOICES[i % len(CALLER_VOICES)])
                lead, tail = 1500, 8000
                mix = _Mix(lead + _ms(len(speech)) + tail)
                mix.bed(sounds.noise(colour), SPEECH_DBFS - snr, rng)
                mix.add(speech, lead, kind=UTTERANCE, label=text)
                yield mix.scenario(name, f"{colour} noise {snr} dB", **_NO_AGENT, notes={"snr_db": snr})


def _babble(sounds: _Sounds, ms: int, talkers: int, rng: np.random.Generator) -> np.ndarray:
    """``talkers`` voices each reading the babble sentences one after another with short gaps, over ``ms``,
    summed and at 0 dBFS RMS."""
    n = _samples(ms)
    total = np.zeros(n)
    for k in range(talkers):
        voice = Voice(
            CALLER_VOICES[k % len(CALLER_VOICES)].variant, int(rng.integers(130, 190)), int(rng.integers(20, 80))
        )
        track = np.zeros(n)
        pos = -int(rng.integers(0, _samples(2000)))  # start mid-sentence
        order = rng.permutation(len(BABBLE_SENTENCES))
        j = 0
        while pos < n:
            clip = sounds.speech(BABBLE_SENTENCES[order[j % len(order)]], voice)
            j += 1
            lo, hi = max(pos, 0), min(pos + len(clip), n)
            if hi > lo:
                track[lo:hi] += clip[lo - pos : hi - pos]
            pos += len(clip) + int(rng.integers(_samples(100), _samples(600)))
        total += track
    return _at_level(total, 0.0)


def _babble_scenarios(sounds: _Sounds) -> Iterable[Scenario]:
    for i, (text, talkers) in enumerate(zip(CALLER_SENTENCES, (4, 5, 6), strict=True)):
        name = f"babble-{talkers}talkers-{i}"
        rng = _rng(name)
        speech = sounds.speech(text, CALLER_VOICES[i % len(CALLER_VOICES)])
        lead, tail = 1500, 8000
        mix = _Mix(lead + _ms(len(speech)) + tail)
        mix.near += _babble(sounds, mix.ms, talkers, rng)[: len(mix.near)] * 10 ** ((SPEECH_DBFS - 10) / 20)
        mix.add(speech, lead, kind=UTTERANCE, label=text)
        yield mix.scenario(name, "babble 10 dB", **_NO_AGENT, notes={"snr_db": 10, "talkers": talkers})


def _our_reply_on_a_quiet_line(
    sounds: _Sounds, name: str, reply_index: int
) -> tuple[np.random.Generator, np.ndarray, _Mix]:
    """A scenario's random source (seeded by its name), our reply, and a mix that holds it from
    ``REPLY_START_MS`` plus 1.5 s, on an ordinary line's light hiss."""
    rng = _rng(name)
    reply = _agent_reply(sounds, reply_index)
    mix = _Mix(REPLY_START_MS + _ms(len(reply)) + 1500)
    mix.bed(sounds.noise("pink"), LINE_NOISE_DBFS, rng)
    return rng, reply, mix


def _agent_reply(sounds: _Sounds, i: int) -> np.ndarray:
    """One of the long replies (4.7-6 s: room for something to happen while the agent talks)."""
    return sounds.speech(AGENT_SENTENCES[i % len(AGENT_SENTENCES)], AGENT_VOICE)


def _echo_alone(
    sounds: _Sounds, name: str, group: str, reply: np.ndarray, delay_ms: int, gain_db: float, room_ms: int = 0
) -> Scenario:
    """The agent's reply coming back on a silent caller's line (its light hiss under it)."""
    rng = _rng(name)
    start = 1000
    mix = _Mix(start + _ms(len(reply)) + 1500)
    mix.bed(sounds.noise("pink"), LINE_NOISE_DBFS, rng)
    fields = _agent_fields(mix, reply, start, delay_ms, gain_db, room_ms, rng)
    return mix.scenario(name, group, **fields)


def _echo_scenarios(sounds: _Sounds) -> Iterable[Scenario]:
    for gain in ECHO_GAINS_DB:
        for d, delay in enumerate(ECHO_DELAYS_MS):
            for r in range(2):
                # Echo of replies short and long: the short one on the first of each pair.
                reply = sounds.speech(SHORT_AGENT_SENTENCE, AGENT_VOICE) if r == 0 else _agent_reply(sounds, d)
                yield _echo_alone(sounds, f"echo{gain}dB-{delay}ms-{r}", f"echo {gain} dB", reply, delay, gain)


def _room_echo_scenarios(sounds: _Sounds) -> Iterable[Scenario]:
    for gain in ROOM_ECHO_GAINS_DB:
        for r in range(3):
            reply = sounds.speech(SHORT_AGENT_SENTENCE, AGENT_VOICE) if r == 0 else _agent_reply(sounds, r)
            name, group = f"room-echo{gain}dB-{r}", f"room echo {gain} dB"
            yield _echo_alone(sounds, name, group, reply, INTERRUPT_ECHO_DELAY_MS, gain, ROOM_MS)


def _burst_scenarios(sounds: _Sounds) -> Iterable[Scenario]:
    kinds = {
        "cough": (cough, ((200, -20.0), (250, -16.0), (280, -12.0))),  # (duration ms, RMS dBFS)
        "click": (click, ((5, -12.0), (10, -6.0), (20, -3.0))),  # (duration ms, peak dBFS)
        "door": (door, ((250, -22.0), (400, -16.0), (350, -12.0))),
    }
    for label, (make, variants) in kinds.items():
        for v, (duration, level) in enumerate(variants):
            name = f"{label}-{duration}ms-{level:.0f}dB"
            rng, reply, mix = _our_reply_on_a_quiet_line(sounds, name, v)
            sound = make(duration, rng) * 10 ** (level / 20)
            mix.add(sound, REPLY_START_MS + 1200 + int(rng.integers(0, 800)), kind=NOISE, label=label)
            yield mix.scenario(name, label, **_agent_fields(mix, reply, REPLY_START_MS, None, None))


def _backchannel_scenarios(sounds: _Sounds) -> Iterable[Scenario]:
    # On a clean line, and (a speakerphone caller says "כן" too) over our echo, a pure delay or a room.
    variants = ((None, 0), (-15, 0), (-25, 0), (-15, ROOM_MS))
    for gain, room_ms in variants:
        echo = "" if gain is None else f" {'room ' if room_ms else ''}echo {gain} dB"
        line = "" if gain is None else f"-{'room-' if room_ms else ''}echo{gain}dB"
        for label in BACKCHANNELS:
            for v, voice in enumerate(CALLER_VOICES[:2]):
                name = f"backchannel-{label}{line}-{v}"
                yield backchannel(sounds, name, f"back-channel{echo}", label, voice, v, gain=gain, room_ms=room_ms)


def backchannel(
    sounds: _Sounds,
    name: str,
    group: str,
    label: str,
    voice: Voice,
    reply_index: int,
    *,
    gain: float | None = None,
    room_ms: int = 0,
    delay_ms: int = INTERRUPT_ECHO_DELAY_MS,
) -> Scenario:
    """The back-channel ``label`` (a key of ``BACKCHANNELS``) said over our reply, our echo coming back at
    ``gain`` dB (None: a clean line) ``delay_ms`` late, through a room ``room_ms`` long."""
    rng, reply, mix = _our_reply_on_a_quiet_line(sounds, name, reply_index)
    word = sounds.speech(BACKCHANNELS[label], voice)
    segment = mix.add(word, REPLY_START_MS + 1500 + int(rng.integers(0, 800)), kind=BACKCHANNEL, label=label)
    assert segment is not None
    delay = delay_ms if gain is not None else None
    fields = _agent_fields(mix, reply, REPLY_START_MS, delay, gain, room_ms, rng)
    return mix.scenario(name, group, **fields, notes={"word_ms": segment.duration_ms})


def interruption(
    sounds: _Sounds,
    name: str,
    group: str,
    text: str,
    voice: Voice,
    reply_index: int,
    *,
    gain: float | None = None,
    room_ms: int = 0,
    delay_ms: int = INTERRUPT_ECHO_DELAY_MS,
) -> Scenario:
    """The caller saying ``text`` over our reply (1.2-2 s into it), our echo coming back at ``gain`` dB (None:
    a clean line) ``delay_ms`` late, through a room ``room_ms`` long."""
    rng = _rng(name)
    reply = _agent_reply(sounds, reply_index)
    words = sounds.speech(text, voice)
    at = REPLY_START_MS + 1200 + int(rng.integers(0, 800))
    mix = _Mix(max(REPLY_START_MS + _ms(len(reply)), at + _ms(len(words))) + 2500)
    mix.bed(sounds.noise("pink"), LINE_NOISE_DBFS, rng)
    segment = mix.add(words, at, kind=INTERRUPTION, label=text)
    assert segment is not None
    fields = _agent_fields(mix, reply, REPLY_START_MS, delay_ms if gain is not None else None, gain, room_ms, rng)
    return mix.scenario(name, group, **fields, notes={"speech_ms": segment.duration_ms})


def _interruption_scenarios(sounds: _Sounds) -> Iterable[Scenario]:
    sets = (("interrupt", INTERRUPTIONS), ("short interrupt", SHORT_INTERRUPTIONS))
    variants = ((None, 0), (-15, 0), (-25, 0), (-35, 0), (-15, ROOM_MS), (-25, ROOM_MS))
    for group, texts in sets:
        for gain, room_ms in variants:
            if room_ms and group != "interrupt":
                continue
            echo = "" if gain is None else f"{'room ' if room_ms else ''}echo {gain} dB"
            for i, (text, voice) in enumerate(texts):
                line = "no-echo" if gain is None else f"{'room-' if room_ms else ''}echo{gain}dB"
                name = f"{group.replace(' ', '-')}-{line}-{i}"
                label = f"{group} {echo}".strip()
                yield interruption(sounds, name, label, text, voice, i, gain=gain, room_ms=room_ms)


def _segmentation_scenarios(sounds: _Sounds) -> Iterable[Scenario]:
    for i, (first, second) in enumerate(TWO_UTTERANCES):
        name = f"two-utterances-{i}"
        voice = CALLER_VOICES[i % len(CALLER_VOICES)]
        a, b = sounds.speech(first, voice), sounds.speech(second, voice)
        lead, pause = 1000, 1200
        mix = _Mix(lead + _ms(len(a)) + pause + _ms(len(b)) + 2500)
        mix.bed(sounds.noise("pink"), LINE_NOISE_DBFS, _rng(name))
        mix.add(a, lead, kind=UTTERANCE, label=first)
        mix.add(b, lead + _ms(len(a)) + pause, kind=UTTERANCE, label=second)
        yield mix.scenario(name, "two utterances", **_NO_AGENT, notes={"pause_ms": pause})
    for i, pieces in enumerate(PAUSY_UTTERANCES):
        name = f"pausy-utterance-{i}"
        voice = CALLER_VOICES[(i + 1) % len(CALLER_VOICES)]
        clips = [sounds.speech(piece, voice) for piece in pieces]
        lead, pause = 1000, 300
        body = sum(_ms(len(c)) for c in clips) + pause * (len(clips) - 1)
        mix = _Mix(lead + body + 2500)
        mix.bed(sounds.noise("pink"), LINE_NOISE_DBFS, _rng(name))
        at = lead
        for clip in clips:
            mix.add(clip, at)
            at += _ms(len(clip)) + pause
        mix.truth.append(Segment(lead, at - pause, UTTERANCE, " ... ".join(pieces)))
        yield mix.scenario(name, "pausy utterance", **_NO_AGENT, notes={"pause_ms": pause})


GROUP_BUILDERS = (
    _noise_scenarios,
    _babble_scenarios,
    _echo_scenarios,
    _room_echo_scenarios,
    _burst_scenarios,
    _backchannel_scenarios,
    _interruption_scenarios,
    _segmentation_scenarios,
)


def corpus_sounds(cache_dir: Path | None = None) -> _Sounds:
    """The corpus's speech and noises, made once and kept in ``cache_dir`` (default: ``default_cache_dir()``)."""
    return _Sounds(cache_dir or default_cache_dir())


def build_corpus(cache_dir: Path | None = None, *, groups: Sequence[str] | None = None) -> list[Scenario]:
    """Every scenario (or those whose group is in ``groups``). Raises ``RuntimeError`` when espeak-ng or
    sox is missing."""
    missing = missing_tools()
    if missing:
        raise RuntimeError(f"the turn-taking corpus needs {' and '.join(missing)} (apt-get install espeak-ng sox)")
    sounds = corpus_sounds(cache_dir)
    scenarios = [s for build in GROUP_BUILDERS for s in build(sounds)]
    if groups is not None:
        scenarios = [s for s in scenarios if s.group in groups]
    return scenarios


def frames(audio: bytes) -> list[bytes]:
    """Whole 160-byte frames of a scenario's audio (built to whole frames)."""
    return [audio[i : i + FRAME_BYTES] for i in range(0, len(audio) - FRAME_BYTES + 1, FRAME_BYTES)]
