"""Keys pressed are gathered into one input: until "#", a pause of media time, or a bound."""

from __future__ import annotations

import pytest

from voice.agent.keypad import Keypad


def test_keys_are_one_input_after_a_pause():
    keypad = Keypad(pause_ms=2000, max_keys=32)
    for i, key in enumerate("0501234567"):
        assert keypad.press(key, i * 300) is None
    assert keypad.collecting
    assert keypad.due(2700 + 1999) is None  # the last key was at 2700 ms
    assert keypad.due(2700 + 2000) == "0501234567"
    assert not keypad.collecting and keypad.due(10_000) is None


def test_hash_ends_the_input_and_alone_is_the_input():
    keypad = Keypad(pause_ms=2000, max_keys=32)
    keypad.press("1", 0)
    keypad.press("2", 100)
    assert keypad.press("#", 200) == "12"
    assert keypad.press("#", 300) == "#"


def test_an_input_holds_at_most_max_keys():
    keypad = Keypad(pause_ms=2000, max_keys=4)
    taken = [keypad.press(key, 0) for key in "1234567"]
    assert taken == [None, None, None, "1234", None, None, None]
    assert keypad.due(2000) == "567"


@pytest.mark.parametrize(("pause_ms", "max_keys"), [(0, 4), (2000, 0), (-1, 4)])
def test_a_keypad_without_a_pause_or_room_is_refused(pause_ms, max_keys):
    with pytest.raises(ValueError, match="pause_ms > 0 and max_keys > 0"):
        Keypad(pause_ms=pause_ms, max_keys=max_keys)
