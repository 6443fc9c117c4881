"""What the caller heard of an utterance cut short, from the pacer position they heard up to."""

from voice.agent.utterance import Sentence, Utterance


def utterance() -> Utterance:
    utt = Utterance(number=1, kind="reply", start_pos=0)
    utt.sentences = [Sentence("זה המשפט הראשון.", "t1-s1", 0, 1000), Sentence("ויש גם שני.", "t1-s2", 1000, 2000)]
    return utt


def test_sentences_heard_fully_count_fully():
    assert utterance().heard_text(1000) == "זה המשפט הראשון."
    assert utterance().heard_text(2000) == utterance().text


def test_a_sentence_cut_off_counts_up_to_its_last_whole_word():
    assert utterance().heard_text(1500) == "זה המשפט הראשון. ויש"  # "ויש ג" cut back to a word
    assert utterance().heard_text(1100) == "זה המשפט הראשון."


def test_nothing_heard():
    assert utterance().heard_text(0) == ""
    assert not Utterance(number=2, kind="greeting").has_audio
