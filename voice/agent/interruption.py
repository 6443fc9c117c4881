"""A caller talking over the agent: pause at once, then let their words say whether they took the floor.

People say "כן", "אהה", "אוקיי" while somebody talks to them, and it means "go on". Such a word lasts as
long as a short "תעצור" (both about half a second on the corpus), so no length of voice tells them apart;
only the words can, and the recogniser has them only after the caller stopped. Waiting for the words
before stopping would make every real interruption late; stopping for good at the first half second cut
the agent off at every "כן". So the agent does what a person does, and pauses:

- once the caller has talked over it for the business's barge-in setting (``Listener.talks_over_us``) it
  **pauses**: Twilio's buffer is cleared at once and what the caller did not hear is kept;
- the voice ends as a noise (shorter than an utterance): **resume** where it paused;
- the caller goes on past ``BACKCHANNEL_MAX_MS``: no back-channel is that long, **stop** for good;
- the utterance ends: its **words** decide: back-channel words only, no words at all, or only words we
  were saying ourselves (our echo) → resume; anything else (or no answer from the recogniser within
  ``WORDS_WAIT_S``) → stop for good and answer it.

This module is the rule and nothing else: the session (a call) and ``bench.turn_taking`` (the corpus) both
follow it. A stop is a barge-in as before; a pause that resumed is not one.
"""

from __future__ import annotations

import enum
import re

from voice.agent.vad import NoiseDropped, SpeechEnded, VadEvent

# "כן כן", "אוקיי, נכון" fit, and a drawn-out "אהה" with our echo running on after it (a speakerphone): at 1000 ms
# that stopped the agent for good on 6 of 324 back-channels over echo (bench.backchannel_echo), 0 at 1500. A
# real interruption is paused at once either way; its words stop the agent when it is shorter than this.
BACKCHANNEL_MAX_MS = 1500
WORDS_WAIT_S = 1.0  # how long a paused agent waits for the recogniser before taking it as an interruption

# Words that only say "I'm listening, go on" when said over somebody (and nothing else is said with them).
BACKCHANNEL_WORDS = frozenset(
    {
        "כן",
        "אהה",
        "אה",
        "אהא",
        "אההה",
        "אהם",
        "מממ",
        "ממ",
        "הממ",
        "אממ",
        "אוקיי",
        "אוקי",
        "נכון",
        "ברור",
        "בסדר",
        "יופי",
        "סבבה",
        "טוב",
        "ok",
        "okay",
        "mhm",
        "uh-huh",
    }
)
_NOT_A_LETTER = re.compile(r"[^\w]+")
_POINTS = re.compile(r"[\u0591-\u05C7]")  # Hebrew vowel points and cantillation: "אָהָה" is "אהה"


def words_of(text: str) -> list[str]:
    """Lower-case words without points or punctuation."""
    plain = _POINTS.sub("", text).lower()
    return [w for w in _NOT_A_LETTER.split(plain) if w]


def callers_part(text: str) -> str:
    """What the caller said of ``text`` when it says "go on": all of it when it is back-channel words only,
    else (our echo around it) its back-channel words; "" when it was only our echo or nothing."""
    if is_backchannel(text):
        return text.strip()
    return " ".join(w for w in words_of(text) if w in BACKCHANNEL_WORDS)


def says_go_on(text: str, ours: str = "") -> bool:
    """No words at all (a cough, a door), back-channel words only, our own words coming back, or a
    back-channel among our own echoed words (a streaming recogniser also writes what it heard of our
    echo while we spoke)."""
    found = words_of(text)
    rest = [w for w in found if w not in BACKCHANNEL_WORDS]
    return not rest or (len(rest) >= 2 and set(rest) <= set(words_of(ours)))


def is_backchannel(text: str) -> bool:
    """True when ``text`` has words and all of them are back-channel words ("כן, כן", "אוקיי נכון")."""
    found = words_of(text)
    return bool(found) and all(w in BACKCHANNEL_WORDS for w in found)


class Verdict(enum.Enum):
    PAUSE = "pause"  # stop sending, keep the rest
    STOP = "stop"  # a barge-in: cut the agent's words there for good
    RESUME = "resume"  # go on from where it paused
    WORDS = "words"  # the utterance ended: transcribe it and call ``TalkOver.words``


class TalkOver:
    """The state of one call's caller talking over its agent, frame by frame."""

    def __init__(self, *, backchannel_max_ms: int = BACKCHANNEL_MAX_MS) -> None:
        self._max_ms = backchannel_max_ms
        self.paused = False  # we paused for the caller and have not decided yet
        self.awaiting_words = False  # the caller stopped; their words will decide

    def heard(self, event: VadEvent | None, *, talks_over_us: bool, speech_ms: int, speaking: bool) -> Verdict | None:
        """After each inbound frame. ``talks_over_us``: the listener's barge-in rule holds now;
        ``speech_ms``: how long the caller has been talking; ``speaking``: our audio is playing (or
        held by a pause) and may be interrupted."""
        if not self.paused:
            if speaking and talks_over_us and not isinstance(event, SpeechEnded | NoiseDropped):
                self.paused = True
                return Verdict.PAUSE
            return None
        if self.awaiting_words:
            return None
        if isinstance(event, NoiseDropped):
            self.paused = False
            return Verdict.RESUME
        if isinstance(event, SpeechEnded):
            if event.end_ms - event.start_ms >= self._max_ms:
                self.paused = False
                return Verdict.STOP
            self.awaiting_words = True
            return Verdict.WORDS
        if speech_ms >= self._max_ms:
            self.paused = False
            return Verdict.STOP
        return None

    def words(self, text: str | None, *, ours: str = "") -> Verdict:
        """What the caller said decides (``ours``: what we were saying). No words at all (a cough or a
        door long enough to pause us), or only words of ours (our echo), also resume: there is nothing
        to answer. None (the recogniser failed or did not answer in time) stops: the caller may have
        said something, and the turn that answers it will wait for it."""
        self.paused = self.awaiting_words = False
        return Verdict.RESUME if text is not None and says_go_on(text, ours) else Verdict.STOP

    def hold(self) -> None:
        """The words said "go on", but the caller is talking again: stay paused, and judge the speech under
        way as a talk-over of its own (its length, then its words)."""
        self.paused, self.awaiting_words = True, False

    def reset(self) -> None:
        """The agent stopped for another reason (keys, a goodbye, the end of the call)."""
        self.paused = self.awaiting_words = False
