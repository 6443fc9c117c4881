from voice.agent.sentences import SentenceSplitter, split_sentences


def test_sentences_come_out_as_soon_as_they_are_complete():
    splitter = SentenceSplitter()
    assert splitter.feed("שלום") == []
    assert splitter.feed("! מה ") == ["שלום!"]
    assert splitter.feed("שלומך? המחיר ") == ["מה שלומך?"]
    assert splitter.feed("הוא 3.5 שקלים.") == []  # the end is only certain at the next space
    assert splitter.feed(" תודה\nלהתראות") == ["המחיר הוא 3.5 שקלים.", "תודה"]
    assert splitter.flush() == ["להתראות"]
    assert splitter.flush() == []


def test_numbers_and_addresses_are_not_split():
    assert split_sentences("בקרו ב-www.example.co.il או התקשרו 03.555. תודה.") == [
        "בקרו ב-www.example.co.il או התקשרו 03.555.",
        "תודה.",
    ]


def test_runs_of_punctuation_and_quotes_stay_with_the_sentence():
    assert split_sentences('באמת?! הוא אמר "כן." ואז הלך...') == ["באמת?!", 'הוא אמר "כן."', "ואז הלך..."]


def test_blank_text_gives_nothing():
    assert split_sentences("  \n \n") == []
