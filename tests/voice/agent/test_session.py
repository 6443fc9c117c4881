"""The turn loop, driven the way the consumer drives it, with scripted providers and Twilio played
by ``FakeTwilio``. Caller audio is real Hebrew from espeak-ng when installed."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace

import pytest
from prometheus_client import REGISTRY

from tests.support.agent_doubles import ManualClock, until
from tests.support.caller_audio import caller_says, frames, silence, voiced
from tests.voice.agent.calls import CONFIG
from voice.agent.turns import TurnState
from voice.providers.base import ProviderError, ToolCall
from voice.providers.fake import FakeASR, FakeLLM, FakeReply, FakeTTS


async def test_greets_once_and_never_again(call):
    c = call()
    await c.greeted()
    await c.session.start()
    await c.quiet()
    assert c.crm.kinds().count("greeting") == 1
    assert c.tts.texts == ["שלום, הגעתם לנציג הדיגיטלי שלנו.", "איך אפשר לעזור?"]
    [greeting] = c.crm.utterances
    assert (greeting.speaker, greeting.text, greeting.interrupted) == ("agent", CONFIG.greeting, False)
    assert greeting.heard_text == CONFIG.greeting
    assert c.twilio.marks == ["t1-s1", "t1-s2"]
    assert c.twilio.kinds() == ["media", "mark", "media", "mark"]
    # The greeting is what the model sees the agent said first.
    assert c.session.history == [{"role": "assistant", "content": CONFIG.greeting}]


async def test_a_full_turn_from_caller_speech_to_paced_reply(call):
    reply = "תודה שפניתם. יש לנו שלושה מסלולים. מה מעניין אתכם?"
    c = call(asr=FakeASR(["אני רוצה לשמוע על המוצרים"]), llm=FakeLLM([reply], chunk_chars=6))
    await c.greeted()
    marks_before = len(c.twilio.marks)
    await c.feed(silence(400))
    await c.say("אני רוצה לשמוע על המוצרים שלכם")
    await until(lambda: len(c.crm.utterances) == 3)
    await c.quiet()

    _greeting, caller, agent = c.crm.utterances
    assert (caller.speaker, caller.text) == ("caller", "אני רוצה לשמוע על המוצרים")
    assert 400 <= caller.start_ms <= 500  # media time: inbound frames counted
    assert caller.end_ms > caller.start_ms + 500
    # The recogniser got the whole utterance, including a little audio from before the VAD decided.
    assert len(c.asr.utterances[0]) >= (caller.end_ms - caller.start_ms) * 8
    assert (agent.speaker, agent.text, agent.interrupted) == ("agent", reply, False)
    assert agent.start_ms >= caller.end_ms
    # Each sentence went to TTS on its own and was followed by a mark.
    assert c.tts.texts[-3:] == ["תודה שפניתם.", "יש לנו שלושה מסלולים.", "מה מעניין אתכם?"]
    assert c.twilio.marks[marks_before:] == ["t2-s1", "t2-s2", "t2-s3"]
    assert c.twilio.kinds()[-6:] == ["media", "mark", "media", "mark", "media", "mark"]
    # Latencies, measured from the end-of-utterance decision.
    assert set(agent.latency) == {"eos_ms", "asr", "llm_first_token", "tts_first_audio", "first_frame"}
    assert agent.latency["eos_ms"] == caller.end_ms
    assert agent.latency["asr"] <= agent.latency["llm_first_token"] <= agent.latency["tts_first_audio"]
    assert agent.latency["tts_first_audio"] <= agent.latency["first_frame"]
    [turn] = c.crm.payloads("turn")
    assert turn["first_frame"] == agent.latency["first_frame"] and turn["interrupted"] is False
    # The model saw the system prompt, the greeting and the caller's words.
    [messages] = c.llm.calls
    assert messages[0] == {"role": "system", "content": CONFIG.system_prompt}
    assert messages[1:] == [
        {"role": "assistant", "content": CONFIG.greeting},
        {"role": "user", "content": "אני רוצה לשמוע על המוצרים"},
    ]
    assert c.session.history[-1] == {"role": "assistant", "content": reply}


async def test_the_first_sentence_plays_while_the_rest_is_generated(call):
    reply = "כן. " + "זה משפט ארוך מאוד שנכתב לאט לאט, מילה אחרי מילה, עד שהוא נגמר."
    c = call(asr=FakeASR(["שאלה"]), llm=FakeLLM([reply], chunk_chars=4, delta_delay=0.05))
    await c.greeted()
    await c.feed(voiced(600) + silence(800))
    await until(lambda: len(c.agent()) == 2)
    agent = c.agent()[-1]
    generation_ms = (len(reply) // 4) * 50  # ~850 ms of streaming
    assert agent.latency["first_frame"] < generation_ms / 2


async def test_barge_in_clears_twilio_cancels_the_reply_and_keeps_only_what_was_heard(call):
    s1, s2, s3 = "זה המשפט הראשון שלי.", "וזה משפט שני ארוך יותר מהראשון.", "ויש גם משפט שלישי."
    clock = ManualClock()
    c = call(
        clock=clock,
        echo_marks=False,
        asr=FakeASR(["ספר לי על המוצרים", "רגע, יש לי שאלה"]),
        llm=FakeLLM([f"{s1} {s2} {s3}", "בטח, שאלו."]),
        lead_ms=400,  # with this lead, sentence 1's mark comes back before any of sentence 2 is sent
    )
    await c.session.start()
    await until(lambda: "t1-s2" in c.twilio.marks, clock=clock)
    await c.twilio.play_all()
    await c.quiet()

    await c.say("ספר לי על המוצרים")
    await until(lambda: "t2-s1" in c.twilio.marks, clock=clock)
    await c.twilio.play_mark("t2-s1")  # Twilio: sentence 1 has played
    # Nothing after sentence 1 had been sent yet, so Twilio's buffer is dry: sentence 2 starts playing
    # now, and after 0.8 s the caller has heard 0.8 s of it.
    await clock.advance(0.8)
    # The caller's line is quiet while sentence 2 plays (Twilio's inbound audio never stops): in a second
    # the echo guard learns that no echo comes back on it (half a second would not say: an echo may take
    # that long to come back). (The pacer's clock stands still meanwhile.)
    for frame in frames(silence(1000)):
        await c.session.media(frame)

    interruption = frames(caller_says("רגע, יש לי שאלה", c.tmp_path) + silence(800))
    fed = 0
    while c.twilio.clears == 0:
        await c.session.media(interruption[fed])
        fed += 1
    assert 300 <= fed * 20 <= 600  # barge_in_min_ms of speech, after the VAD's own start-up
    assert c.session.talk_over.paused  # stopped at once; the caller's words will say whether for good
    sent_at_clear = c.twilio.media_bytes
    await clock.advance(1.0)
    assert c.twilio.media_bytes == sent_at_clear  # nothing more while the caller talks

    # The caller's words are not a "כן": the pause becomes a barge-in, and the rest of the reply is gone.
    for frame in interruption[fed:]:
        await c.session.media(frame)
    await until(lambda: c.crm.payloads("barge_in"), clock=clock)
    assert c.twilio.clears == 1  # the pause's clear was the only one

    agent = c.agent()[-1]
    assert agent.interrupted and agent.text == f"{s1} {s2} {s3}"
    assert agent.heard_text.startswith(s1 + " ")  # sentence 1 fully
    assert s2.startswith(agent.heard_text[len(s1) + 1 :])  # sentence 2 in part, cut at a word
    assert len(s1) < len(agent.heard_text) < len(s1) + 1 + len(s2)
    [barge_in] = c.crm.payloads("barge_in")
    assert barge_in["heard_text"] == agent.heard_text
    # What the caller surely heard: the estimate less the 100 ms the pacer would have sent again.
    assert abs(barge_in["heard_ms"] - (len(s1) * 60 + 800 - 100)) <= 60

    # The caller's utterance is answered (transcribed once); the model sees what was actually heard.
    await until(lambda: len(c.llm.calls) == 2, clock=clock)
    assert c.llm.calls[1][-2:] == [
        {"role": "assistant", "content": agent.heard_text},
        {"role": "user", "content": "רגע, יש לי שאלה"},
    ]
    assert [u.text for u in c.crm.utterances if u.speaker == "caller"] == [
        "ספר לי על המוצרים",
        "רגע, יש לי שאלה",
    ]


async def test_a_short_backchannel_does_not_interrupt(call):
    c = call(asr=FakeASR(["שאלה"]), llm=FakeLLM(["תשובה ארוכה מאוד שלוקח זמן להשמיע אותה עד הסוף."]))
    c.clock.speed = 2  # play slowly enough to speak over
    await c.session.start()
    await until(lambda: c.twilio.frames > 0)
    await c.feed(voiced(120) + silence(700))  # "mm-hm" (webrtcvad's hangover makes it ~240 ms)
    await c.quiet()
    assert c.twilio.clears == 0
    assert c.crm.kinds().count("barge_in") == 0
    assert not c.agent()[0].interrupted
    assert c.llm.calls == []


async def greeted(c, clock: ManualClock) -> None:
    await c.session.start()
    await until(lambda: c.session.speaker.utterance is not None and c.twilio.frames > 0, clock=clock)
    await until(lambda: c.session.pacer.sent_ms == c.session.pacer.pushed_ms, clock=clock)
    await c.twilio.play_all()
    await c.quiet()


async def test_a_yes_said_over_the_agent_pauses_it_and_it_goes_on_from_where_it_stopped(call):
    reply = "תשובה ארוכה מאוד שלוקח זמן להשמיע אותה עד הסוף, עם עוד פרטים רבים בסופה."
    clock = ManualClock()
    c = call(clock=clock, echo_marks=False, asr=FakeASR(["שאלה", "כן, כן"]), llm=FakeLLM([reply]))
    await greeted(c, clock)
    await c.say("שאלה")
    await until(lambda: c.session.turns.state is TurnState.SPEAKING, clock=clock)
    await clock.advance(0.3)
    await clock.advance(0.6)  # 600 ms of the reply played
    yes = frames(voiced(600) + silence(800))
    fed = 0
    while c.twilio.clears == 0:
        await c.session.media(yes[fed])
        fed += 1
    assert 300 <= fed * 20 <= 400  # paused once the caller talked barge_in_min_ms over us
    sent_at_pause, heard_at_pause = c.twilio.media_bytes, c.session.pacer.sent_ms
    await clock.advance(0.5)
    assert c.twilio.media_bytes == sent_at_pause  # silent while the caller talks
    for frame in yes[fed:]:
        await c.session.media(frame)
    await until(lambda: c.crm.payloads("resumed"), clock=clock)
    [resumed] = c.crm.payloads("resumed")
    assert resumed["text"] == "כן, כן" and resumed["paused_ms"] >= 600
    await c.twilio.play_all()
    await c.quiet()

    [agent] = [u for u in c.agent() if u.text == reply]
    assert not agent.interrupted and agent.heard_text == reply  # all of it, once
    assert c.crm.payloads("barge_in") == []
    assert len(c.llm.calls) == 1  # the "כן" asked for no answer...
    assert "כן, כן" in c.crm.said("caller")  # ...but it is in the transcript
    # After the pause everything from the first unheard frame on went out again: nothing skipped.
    assert c.twilio.media_bytes - sent_at_pause == (c.session.pacer.pushed_ms - heard_at_pause) * 8


async def test_a_noise_that_pauses_the_agent_lets_it_go_on(call):
    clock = ManualClock()
    c = call(clock=clock, echo_marks=False, asr=FakeASR(["שאלה", ""]), llm=FakeLLM(["תשובה ארוכה שלוקח זמן להשמיע."]))
    await greeted(c, clock)
    await c.say("שאלה")
    await until(lambda: c.session.turns.state is TurnState.SPEAKING, clock=clock)
    await clock.advance(0.3)
    await c.feed(voiced(400) + silence(800))  # a door, long enough to pause us; no words in it
    await until(lambda: c.crm.payloads("resumed"), clock=clock)
    [resumed] = c.crm.payloads("resumed")
    assert resumed["text"] == ""
    assert c.crm.payloads("barge_in") == []


async def test_a_caller_who_goes_on_talking_stops_the_agent_before_their_words_are_known(call):
    clock = ManualClock()
    c = call(clock=clock, echo_marks=False, asr=FakeASR(["שאלה", "לא, אני רוצה משהו אחר לגמרי"]))
    await greeted(c, clock)
    await c.say("שאלה")
    await until(lambda: c.session.turns.state is TurnState.SPEAKING, clock=clock)
    await clock.advance(0.3)
    await c.feed(voiced(1600))  # longer than any back-channel: no need to wait for the recogniser
    assert c.crm.payloads("barge_in")
    assert c.session.turns.state is TurnState.LISTENING
    await c.feed(silence(800))
    await until(lambda: "לא, אני רוצה משהו אחר לגמרי" in c.crm.said("caller"), clock=clock)


async def test_a_yes_said_as_our_question_ends_is_its_answer(call):
    """The caller answers "כן" over the last syllable of our question: the pause's clear lets Twilio say
    the whole question played, so there is nothing left to go on with, and the "כן" is answered."""
    clock = ManualClock()
    c = call(clock=clock, echo_marks=False, asr=FakeASR(["שאלה", "כן"]), llm=FakeLLM(["לקבוע לך תור?", "מעולה."]))
    await greeted(c, clock)
    await c.say("שאלה")
    await until(lambda: c.session.turns.state is TurnState.SPEAKING, clock=clock)
    pacer = c.session.pacer
    await until(lambda: pacer.sent_ms == pacer.pushed_ms and pacer.marks_sent >= 3, clock=clock)
    await clock.advance(pacer.buffered_ms() / 1000)  # all of it has played by the estimate
    assert pacer.buffered_ms() == 0
    assert c.session.turns.state is TurnState.SPEAKING  # Twilio has not echoed the mark yet
    await c.feed(voiced(400) + silence(800))
    await until(lambda: len(c.llm.calls) == 2, clock=clock)
    assert c.llm.calls[1][-1] == {"role": "user", "content": "כן"}
    assert c.crm.payloads("resumed") == []
    await until(lambda: c.agent()[-1].text == "מעולה.", clock=clock)
    assert not pacer.paused


async def test_a_yes_then_more_words_keeps_the_agent_paused_and_the_more_is_answered(call):
    clock = ManualClock()
    asr = FakeASR(["שאלה", "כן", "ומה עם מחר בבוקר"], delay=0.3)
    c = call(clock=clock, echo_marks=False, asr=asr, llm=FakeLLM(["תשובה ארוכה שלוקח זמן להשמיע אותה.", "בסדר."]))
    await greeted(c, clock)
    await c.say("שאלה")
    await until(lambda: c.session.turns.state is TurnState.SPEAKING, clock=clock)
    await clock.advance(0.3)
    await c.feed(voiced(400) + silence(700))  # "כן": paused, its words on their way
    assert c.session.talk_over.awaiting_words
    await c.feed(voiced(1200))  # the caller goes on before the words come back
    await asyncio.sleep(0.5)
    assert c.session.pacer.paused and c.session.talk_over.paused  # "כן", but they are talking: we wait
    await c.feed(silence(800))
    await until(lambda: len(c.llm.calls) == 2, clock=clock)
    assert c.llm.calls[1][-1] == {"role": "user", "content": "ומה עם מחר בבוקר"}
    assert c.crm.payloads("resumed") == [] and len(c.crm.payloads("barge_in")) == 1
    assert c.crm.said("caller") == ["שאלה", "כן", "ומה עם מחר בבוקר"]


async def test_a_closing_decided_during_a_pause_is_not_cut_off(call):
    """The model ends the call while we are paused for the caller, who goes on talking: the goodbye plays
    and the call ends (a closing is never cut)."""
    bye = ToolCall("call_9", "end_call", {"reason": "caller_done"})
    reply = FakeReply(text="שמחתי לעזור לך היום. ויש לנו גם הרבה מבצעים אחרים בחודש הבא.", tool_calls=[bye])
    clock = ManualClock()
    c = call(
        clock=clock,
        echo_marks=False,
        asr=FakeASR(["שאלה", "רגע יש לי עוד שאלה"]),
        llm=FakeLLM([reply], delta_delay=0.02),
    )
    await greeted(c, clock)
    await c.say("שאלה")
    await until(lambda: c.session.turns.state is TurnState.SPEAKING, clock=clock)
    await clock.advance(0.3)
    await c.feed(voiced(400))
    assert c.session.talk_over.paused
    await until(lambda: c.session.thinker.end_reason is not None)
    await c.feed(voiced(800) + silence(800))  # past any back-channel: the caller takes the floor...
    await until(lambda: c.crm.ended != [], clock=clock)  # ...but the closing plays out and the call ends
    assert c.crm.ended == [("caller_done", False)]
    assert c.crm.payloads("barge_in") == []
    assert c.agent()[-1].text.endswith(CONFIG.goodbye)


async def test_idle_caller_is_prompted_then_hung_up_on(call):
    config = replace(CONFIG, idle_prompt_ms=1000, idle_hangup_prompts=2)
    c = call(config=config)
    await c.greeted()
    for _ in range(400):  # the caller says nothing at all
        if c.crm.ended:
            break
        await c.feed(silence(20))
        await c.quiet()
    assert c.crm.kinds().count("idle") == 3
    assert [p.get("hangup", False) for p in c.crm.payloads("idle")] == [False, False, True]
    assert c.crm.said("agent") == [config.greeting, config.idle_prompt, config.idle_prompt, config.goodbye]
    assert c.crm.ended == [("idle", False)]
    # Each prompt came after a full second of silence, counted in media time.
    prompts = [offset for kind, offset, _ in c.crm.events if kind == "idle"]
    assert prompts[0] >= 1000 and all(b - a >= 1000 for a, b in itertools.pairwise(prompts))


async def test_speaking_answers_an_idle_prompt(call):
    config = replace(CONFIG, idle_prompt_ms=1000, idle_hangup_prompts=1)
    c = call(config=config, asr=FakeASR(["כן, אני פה"]))
    await c.greeted()
    await c.feed(silence(1100))
    await c.quiet()
    await c.say("כן, אני פה")
    await c.quiet()
    await c.feed(silence(900))
    assert c.crm.ended == []
    assert c.crm.kinds().count("idle") == 1


async def test_a_call_is_ended_at_max_duration(call):
    config = replace(CONFIG, max_call_ms=3000)
    c = call(config=config)
    await c.greeted()
    await c.feed(silence(3000))
    await until(lambda: c.crm.ended != [])
    assert c.crm.ended == [("max_duration", False)]
    assert c.crm.said("agent")[-1] == config.goodbye


async def test_llm_failure_is_reported_and_apologised_for(call):
    c = call(asr=FakeASR(["שלום"]), llm=FakeLLM([FakeReply(fail="rate limited")]))
    await c.greeted()
    await c.feed(voiced(600) + silence(800))
    await until(lambda: len(c.agent()) == 2)
    [error] = c.crm.payloads("error")
    assert error == {"role": "llm", "message": "rate limited"}
    assert c.agent()[-1].text == CONFIG.apology
    assert c.tts.texts[-2:] == ["סליחה, הייתה לי תקלה קטנה.", "אפשר לחזור על זה?"]
    assert c.crm.ended == []


async def test_a_slow_provider_times_out_into_an_apology(call):
    c = call(asr=FakeASR(["שלום"]), llm=FakeLLM(first_token_delay=5.0), llm_timeout_s=0.05)
    await c.greeted()
    await c.feed(voiced(600) + silence(800))
    await until(lambda: len(c.agent()) == 2)
    assert c.crm.payloads("error")[0]["role"] == "llm"
    assert c.agent()[-1].text == CONFIG.apology


async def test_broken_tts_falls_back_to_the_second_voice(call):
    espeak = FakeTTS(name="espeak")
    c = call(
        asr=FakeASR(["שלום"]),
        llm=FakeLLM(["תשובה."]),
        tts=FakeTTS(fail_times=1, fail_after_chunks=2),
        fallback=espeak,
    )
    await c.greeted()
    # The greeting broke after two chunks; the fallback voice finished it.
    assert c.crm.payloads("error")[0]["role"] == "tts"
    assert "fallback" in c.crm.kinds()
    assert espeak.texts == ["שלום, הגעתם לנציג הדיגיטלי שלנו.", "איך אפשר לעזור?"]
    assert c.agent()[0].text.endswith("איך אפשר לעזור?")

    c.tts.fail_times = 5
    await c.feed(voiced(600) + silence(800))
    await until(lambda: len(c.agent()) == 2)
    assert [e["role"] for e in c.crm.payloads("error")] == ["tts", "tts"]
    assert espeak.texts[-2:] == ["סליחה, הייתה לי תקלה קטנה.", "אפשר לחזור על זה?"]
    assert c.agent()[-1].text.endswith(CONFIG.apology)


async def test_repeated_failures_send_the_caller_to_voicemail(call):
    failures = [ProviderError("asr down")] * 3
    c = call(asr=FakeASR(failures))
    await c.greeted()
    for _ in range(2):
        await c.feed(voiced(600) + silence(800))
        await c.quiet()
        assert c.agent()[-1].text == CONFIG.apology  # never dead air
    await c.feed(voiced(600) + silence(800))
    await until(lambda: c.crm.ended != [])
    assert [e["role"] for e in c.crm.payloads("error")] == ["asr", "asr", "asr"]
    assert c.crm.ended == [("provider_failure", True)]
    assert len(c.agent()) == 3  # greeting + two apologies


async def test_no_voice_at_all_goes_to_voicemail(call):
    c = call(tts=FakeTTS(fail_times=10))
    await c.session.start()
    await until(lambda: c.crm.ended != [])
    assert c.crm.ended == [("provider_failure", True)]
    assert c.crm.payloads("error")[0]["role"] == "tts"


async def test_dtmf_reaches_the_model_as_a_user_message(call):
    c = call(llm=FakeLLM(["בחרתם באפשרות אחת."]))
    await c.greeted()
    await c.session.dtmf("1")
    await c.feed(silence(CONFIG.dtmf_pause_ms))  # the caller pauses: the key is the whole input
    await until(lambda: len(c.agent()) == 2)
    assert ("dtmf", 0, {"digit": "1"}) in c.crm.events
    assert c.llm.calls[0][-1] == {"role": "user", "content": "[DTMF: 1]"}
    assert c.agent()[-1].text == "בחרתם באפשרות אחת."


async def test_media_time_does_not_depend_on_how_fast_frames_arrive(call, tmp_path):
    audio = silence(500) + caller_says("שלום, אני רוצה לקבוע פגישה", tmp_path) + silence(800)
    results = []
    for pause in (0.0, 0.001):
        c = call(asr=FakeASR(["שלום"]))
        for frame in frames(audio):
            await c.session.media(frame)
            if pause:
                await asyncio.sleep(pause)
        await until(lambda c=c: len(c.crm.utterances) >= 2)
        caller = c.crm.utterances[0]
        results.append((caller.start_ms, caller.end_ms, c.agent()[0].latency["eos_ms"]))
    assert results[0] == results[1]
    assert 450 <= results[0][0] <= 600


async def test_stop_is_idempotent_and_accounts_for_the_unfinished_utterance(call):
    c = call(echo_marks=False)
    c.clock.speed = 1
    await c.session.start()
    await until(lambda: c.twilio.frames >= 15)
    await asyncio.sleep(0.1)
    await c.session.stop()
    await c.session.stop()
    [greeting] = c.agent()
    assert greeting.interrupted
    assert CONFIG.greeting.startswith(greeting.heard_text) and greeting.heard_text != CONFIG.greeting
    assert c.twilio.clears == 0  # the socket is gone; nothing more is sent
    frames_at_stop = c.twilio.frames
    await c.session.media(b"\xff" * 160)
    await asyncio.sleep(0.05)
    assert c.twilio.frames == frames_at_stop


async def test_marks_echoed_after_clear_do_not_count_as_heard(call):
    c = call(echo_marks=False, asr=FakeASR(["רגע"]))
    c.clock.speed = 1
    await c.session.start()
    await until(lambda: c.twilio.frames >= 15)
    await c.feed(voiced(500) + silence(800))
    await until(lambda: c.agent())
    [greeting] = c.agent()
    assert greeting.interrupted and greeting.heard_text != CONFIG.greeting
    assert c.session.pacer.echoed_ms == 0


async def test_what_the_caller_says_while_the_agent_thinks_is_answered_next(call):
    """Once the words of the first are in, what the caller adds is an utterance of its own, answered
    right after the first."""
    c = call(asr=FakeASR(["ראשון", "שני"]), llm=FakeLLM(["תשובה אחת.", "תשובה שתיים."], delta_delay=0.3))
    await c.greeted()
    await c.feed(voiced(600) + silence(800))
    await until(lambda: c.crm.said("caller") == ["ראשון"])  # the words are in; the model is slow
    assert c.session.turns.state is TurnState.THINKING
    await c.feed(voiced(600) + silence(800))  # ...while the caller goes on
    await until(lambda: len(c.llm.calls) == 2)
    await c.quiet()
    assert c.crm.said("caller") == ["ראשון", "שני"]
    assert c.llm.calls[1][-3:] == [
        {"role": "user", "content": "ראשון"},
        {"role": "assistant", "content": "תשובה אחת."},
        {"role": "user", "content": "שני"},
    ]
    assert c.crm.kinds().count("barge_in") == 0


async def test_a_caller_who_goes_on_before_their_words_are_in_is_answered_once_for_all_of_it(call):
    """A pause that only looked like the end (a slow onset, a noisy line): the answer being made for the
    first part had said nothing yet, so it is dropped, and the whole utterance is heard and answered once."""
    c = call(asr=FakeASR(["ראשון ושני", "לא בשימוש"], delay=0.2), llm=FakeLLM(["תשובה אחת.", "תשובה שתיים."]))
    await c.greeted()
    greeted_at = c.session.media_ms
    await c.feed(voiced(600) + silence(800))
    await asyncio.sleep(0.05)  # transcribing the first part...
    assert c.session.turns.state is TurnState.THINKING
    await c.feed(voiced(600, f0=180.0) + silence(800))  # ...when the caller goes on
    await until(lambda: len(c.crm.said("agent")) == 2)
    await c.quiet()
    assert c.crm.said("caller") == ["ראשון ושני"]
    [caller] = [u for u in c.crm.utterances if u.speaker == "caller"]
    assert caller.start_ms <= greeted_at + 100 and caller.end_ms >= greeted_at + 600 + 800 + 500
    first, whole = c.asr.utterances  # the first part's transcription was dropped unfinished
    assert whole.startswith(first) and len(whole) >= (600 + 800 + 600) * 8
    assert len(c.llm.calls) == 1 and c.llm.calls[0][-1] == {"role": "user", "content": "ראשון ושני"}
    assert c.crm.said("agent")[-1] == "תשובה אחת."
    assert c.crm.kinds().count("barge_in") == 0
    [went_on] = c.crm.payloads("went_on")  # on the timeline, with the pause as the VAD heard it
    assert 500 <= went_on["pause_ms"] <= 900


async def test_a_cough_after_the_callers_sentence_before_the_words_are_in_loses_nothing(call):
    c = call(asr=FakeASR(["אני רוצה לקבוע תור"], delay=0.2), llm=FakeLLM(["בשמחה."]))
    await c.greeted()
    await c.feed(voiced(600) + silence(800))
    await asyncio.sleep(0.05)  # transcribing...
    await c.feed(voiced(80, f0=220.0) + silence(800))  # a cough: too short to be an utterance of its own
    await until(lambda: len(c.crm.said("agent")) == 2)
    await c.quiet()
    assert c.crm.said("caller") == ["אני רוצה לקבוע תור"]
    assert len(c.asr.utterances) == 1  # the answer under way was left alone: transcribed once
    assert c.crm.payloads("went_on") == []
    assert [call[-1] for call in c.llm.calls] == [{"role": "user", "content": "אני רוצה לקבוע תור"}]


async def test_speech_after_an_utterance_cut_at_the_longest_is_an_utterance_of_its_own(call):
    config = replace(CONFIG, max_utterance_ms=1000)
    c = call(config=config, asr=FakeASR(["חלק ראשון", "חלק שני"], delay=0.2), llm=FakeLLM(["א.", "ב."]))
    await c.greeted()
    await c.feed(voiced(1100))  # cut at 1 s...
    await asyncio.sleep(0.05)  # ...and transcribed, while the caller goes on
    await c.feed(voiced(500) + silence(800))
    await until(lambda: len(c.llm.calls) == 2)
    await c.quiet()
    assert c.crm.said("caller") == ["חלק ראשון", "חלק שני"]
    assert len(c.asr.utterances) == 2 and not c.asr.utterances[1].startswith(c.asr.utterances[0])


async def test_a_recogniser_failure_is_recovered_from_even_when_the_caller_goes_on(call):
    """The apology is being made (its words are not in: there are none), and the caller talks: the failure
    is reported and apologised for all the same, not dropped as an answer the caller went on from."""
    c = call(asr=FakeASR([ProviderError("recogniser down"), "שוב"]), tts=FakeTTS(first_chunk_delay=0.3))
    await c.greeted()
    await c.feed(voiced(600) + silence(800))
    await until(lambda: c.crm.payloads("error"))
    assert c.session.turns.state is TurnState.THINKING and not c.session.speaker.playing  # the apology's TTS
    await c.feed(voiced(600, f0=180.0))  # the caller goes on meanwhile
    await c.feed(silence(800))
    await until(lambda: CONFIG.apology in c.crm.said("agent"))
    [error] = c.crm.payloads("error")
    assert error["role"] == "asr"


@pytest.mark.parametrize("in_real_time", [True, False])
async def test_frames_handled_late_in_a_burst_are_compared_with_what_played_as_each_was_captured(call, in_real_time):
    """Twilio's frames come 20 ms apart as the caller's phone captures them; a busy server handles them
    later, all at once. The echo in each is of what played when it was captured, so that is what the guard
    compares it with: our position steps 20 ms a frame through the burst. (A harness feeding frames at its
    own pace has no such timing: each is taken as captured when handled.)"""
    clock = ManualClock()
    c = call(clock=clock, echo_marks=False, frames_in_real_time=in_real_time)
    guard = c.session._echo
    await c.session.start()
    await until(lambda: c.session.pacer.sent_ms > 0, clock=clock)
    for frame in frames(silence(1000)):  # a second handled as it comes
        await clock.advance(0.02)
        await c.session.media(frame)
    on_time = guard.compared_with_ms
    await clock.advance(0.3)  # the loop is busy for 300 ms: 15 frames wait in the socket
    compared = []
    for frame in frames(silence(300)):  # then handled at once
        await c.session.media(frame)
        compared.append(guard.compared_with_ms)
    if in_real_time:
        assert compared == [on_time + 20 * (i + 1) for i in range(15)]
    else:
        assert compared == [on_time + 300] * 15


async def test_the_guard_compares_each_frame_with_what_played_as_late_as_twilios_marks_say(call):
    """The greeting's first frame goes out alone with a mark of the pacer's own; Twilio sends it back over a
    second after the estimate said that frame ended (the network, its buffer). From then on each frame of the
    caller's is compared with what played that much before it was captured; what the guard learned from the
    frames lined up the old way is forgotten; and when the call ends the reading is counted for the operators."""
    clock = ManualClock()
    c = call(clock=clock, echo_marks=False, frames_in_real_time=True)
    guard, pacer = c.session._echo, c.session.pacer
    await c.session.start()
    await until(lambda: pacer.sent_ms > 0, clock=clock)
    assert c.twilio.marks[:1] == ["~1"] and pacer.echoed_ms == 0
    for frame in frames(silence(1200)):  # handled as they come, while the greeting plays
        await clock.advance(0.02)
        await c.session.media(frame)
    assert guard.compared_with_ms == pacer.playing_ms()  # as estimated, until a mark says otherwise
    assert guard.line_echoes is False  # a silent line: judged clean on frames lined up as estimated
    await c.session.mark("~1")  # sent by Twilio after the latest frame: 1,180 ms after its audio ended
    assert pacer.played_late.seconds == pytest.approx(1.18, abs=0.021)
    assert guard.line_echoes is None  # that judgement is forgotten: it judges the line anew
    await clock.advance(0.02)
    await c.session.media(frames(silence(20))[0])
    assert guard.compared_with_ms == pytest.approx(pacer.playing_ms() - 1180, abs=20)
    counted = "agentlocator_twilio_played_late_seconds_count"
    before = REGISTRY.get_sample_value(counted) or 0.0
    await c.session.stop()
    assert REGISTRY.get_sample_value(counted) == before + 1


async def test_small_moves_of_twilios_delay_add_up_until_the_guard_judges_the_line_anew(call):
    """A reading of how late Twilio plays that moves by no more than the estimate's slack (60 ms) leaves what the
    guard learned; the moves are counted from the reading it last started over from, not from the previous one,
    so a delay that creeps 40 ms and then 30 ms more lines the frames up anew all the same."""
    clock = ManualClock()
    c = call(clock=clock, echo_marks=False, frames_in_real_time=True)
    guard, pacer = c.session._echo, c.session.pacer
    silent = frames(silence(20))[0]

    async def played_late_by(mark: str, seconds: float) -> None:
        """The caller's frames go on until Twilio sends ``mark`` back ``seconds`` after its audio ended."""
        while (ended := pacer._played_at(pacer._pending_marks[mark])) is None or clock.now() < ended + seconds - 0.001:
            await clock.advance(0.02)  # (None: its audio is not all sent yet)
            await c.session.media(silent)
        await c.session.mark(mark)

    await c.session.start()
    await until(lambda: pacer.sent_ms > 0, clock=clock)
    await played_late_by("~1", 0.04)  # the probe's frame
    assert pacer.played_late.seconds == pytest.approx(0.04, abs=0.021)
    while guard.line_echoes is None:  # the rest of the greeting: a silent line, judged clean
        await clock.advance(0.02)
        await c.session.media(silent)
    assert guard.line_echoes is False
    (sentence,) = [mark for mark in pacer._pending_marks if mark != "~1"][:1]
    await played_late_by(sentence, 0.1)  # the median of 40 and 100 ms: 30 ms on, 70 ms from where it started
    assert pacer.played_late.seconds == pytest.approx(0.07, abs=0.021)
    assert guard.line_echoes is None  # judged anew


async def test_a_call_without_the_echo_guard_still_answers(call):
    """VOICE_ECHO_GUARD=false (to measure what the guard costs, bench.budget): our audio is kept for nobody and
    the caller's frames go to the VAD as they come; the turn loop is the same."""
    c = call(asr=FakeASR(["שלום"]), llm=FakeLLM(["שלום לך."]), echo_guard=False)
    assert c.session.listener._echo is None and c.session.pacer._on_queued is None
    await c.greeted()
    await c.say("שלום, אני רוצה לשאול משהו")
    await until(lambda: len(c.crm.utterances) == 3)
    await c.quiet()
    assert [u.speaker for u in c.crm.utterances] == ["agent", "caller", "agent"]
    assert c.crm.utterances[-1].text == "שלום לך."
