"""The rule for a caller talking over the agent: pause at once, then the voice and its words decide."""

import pytest

from voice.agent.interruption import (
    BACKCHANNEL_MAX_MS,
    TalkOver,
    Verdict,
    callers_part,
    is_backchannel,
    says_go_on,
)
from voice.agent.vad import NoiseDropped, SpeechEnded


@pytest.mark.parametrize("text", ["כן", "כן, כן", "אָהָה", "אוקיי", "אוקיי נכון.", "מממ", "OK"])
def test_back_channel_words_alone_are_a_back_channel(text):
    assert is_backchannel(text)


@pytest.mark.parametrize("text", ["", "  ", "תעצור", "כן, אבל יש לי שאלה", "רגע, רגע", "לא", "אוקיי, ומה המחיר?"])
def test_anything_else_is_not(text):
    assert not is_backchannel(text)


def heard(talk: TalkOver, event=None, *, talks_over_us=False, speech_ms=0, speaking=True):
    return talk.heard(event, talks_over_us=talks_over_us, speech_ms=speech_ms, speaking=speaking)


def test_the_agent_pauses_once_the_caller_talked_over_it_for_the_barge_in_setting():
    talk = TalkOver()
    assert heard(talk, speech_ms=200) is None
    assert heard(talk, talks_over_us=True, speech_ms=300) is Verdict.PAUSE
    assert talk.paused
    assert heard(talk, talks_over_us=True, speech_ms=320) is None  # once


def test_nothing_pauses_an_agent_that_is_not_speaking():
    talk = TalkOver()
    assert heard(talk, talks_over_us=True, speech_ms=400, speaking=False) is None
    assert not talk.paused


def test_a_noise_resumes():
    talk = TalkOver()
    heard(talk, talks_over_us=True, speech_ms=300)
    assert heard(talk, NoiseDropped(0, 180)) is Verdict.RESUME
    assert not talk.paused


def test_speech_longer_than_any_back_channel_stops_without_waiting_for_words():
    talk = TalkOver()
    heard(talk, talks_over_us=True, speech_ms=300)
    assert heard(talk, talks_over_us=True, speech_ms=BACKCHANNEL_MAX_MS - 20) is None
    assert heard(talk, talks_over_us=True, speech_ms=BACKCHANNEL_MAX_MS) is Verdict.STOP
    assert not talk.paused


@pytest.mark.parametrize(
    ("text", "verdict"),
    [("כן", Verdict.RESUME), ("", Verdict.RESUME), ("תעצור", Verdict.STOP), (None, Verdict.STOP)],
)
def test_a_short_utterance_is_decided_by_its_words(text, verdict):
    talk = TalkOver()
    heard(talk, talks_over_us=True, speech_ms=300)
    assert heard(talk, SpeechEnded(1000, 1500)) is Verdict.WORDS
    assert talk.awaiting_words
    assert heard(talk, talks_over_us=True, speech_ms=2000) is None  # the words are awaited
    assert talk.words(text) is verdict
    assert not talk.paused and not talk.awaiting_words


def test_reset_forgets_a_pause():
    talk = TalkOver()
    heard(talk, talks_over_us=True, speech_ms=300)
    heard(talk, SpeechEnded(0, 500))
    talk.reset()
    assert not talk.paused and not talk.awaiting_words


def test_our_own_words_coming_back_resume():
    ours = "המחיר תלוי בסוג השירות, אבל בדרך כלל הוא מתחיל ממאתיים שקלים לביקור."
    talk = TalkOver()
    heard(talk, talks_over_us=True, speech_ms=300)
    heard(talk, SpeechEnded(0, 600))
    assert talk.words("בסוג השירות אבל", ours=ours) is Verdict.RESUME
    assert says_go_on("בדרך כלל", ours)
    assert not says_go_on("השירות", ours)  # one word: the caller may well say it
    assert not says_go_on("כמה עולה השירות", ours)


def test_a_back_channel_among_our_own_echoed_words_still_says_go_on():
    ours = "אנחנו פתוחים מיום ראשון עד חמישי, משמונה בבוקר עד שש בערב."
    assert says_go_on("מיום ראשון עד חמישי כן", ours)  # a streaming recogniser heard our echo, then "כן"
    assert says_go_on("", ours) and says_go_on("אהה", ours)
    assert not says_go_on("כן אבל ביום שישי", ours)  # "שישי" is not ours: the caller has something to say
    assert not says_go_on("כן חמישי", ours)  # one word of ours is the caller's as much as ours


def test_the_callers_part_of_words_that_say_go_on():
    assert callers_part("כן, כן") == "כן, כן"
    assert callers_part("מיום ראשון עד חמישי כן") == "כן"
    assert callers_part("מיום ראשון עד חמישי") == ""
    assert callers_part("") == ""
