"""Keys the caller presses, gathered into one input before the agent reacts.

A caller typing a phone number presses ten keys in two seconds; answering each key would start (and clear)
ten replies. Keys are collected until ``#``, a pause of ``pause_ms`` of media time, or ``max_keys`` keys
(a bound on what one input can carry), and only then handed to the model as one message. One input is
not for the model: "0" on its own ("0", or "0#") asks for a person, as on every phone menu.
"""

from __future__ import annotations

END_KEY = "#"  # ends an input; on its own it is the input
PERSON_KEY = "0"  # on its own: the caller asks for a person


def asks_for_a_person(keys: str) -> bool:
    """This whole input asks for a person ("0" then a pause, or "0#": the keypad hands over "0")."""
    return keys == PERSON_KEY


class Keypad:
    def __init__(self, *, pause_ms: int, max_keys: int) -> None:
        if pause_ms <= 0 or max_keys <= 0:
            raise ValueError(f"keypad needs pause_ms > 0 and max_keys > 0 (got {pause_ms}, {max_keys})")
        self.pause_ms = pause_ms
        self.max_keys = max_keys
        self._keys: list[str] = []
        self._last_ms = 0

    @property
    def collecting(self) -> bool:
        """Some keys were pressed and are not handed over yet."""
        return bool(self._keys)

    def press(self, key: str, now_ms: int) -> str | None:
        """One key at media time ``now_ms``; returns the whole input when this key completes it."""
        if key == END_KEY:
            return self._take() or END_KEY
        self._keys.append(key)
        self._last_ms = now_ms
        return self._take() if len(self._keys) >= self.max_keys else None

    def due(self, now_ms: int) -> str | None:
        """The input, once the caller has paused long enough after its last key (checked every frame)."""
        if self._keys and now_ms - self._last_ms >= self.pause_ms:
            return self._take()
        return None

    def clear(self) -> None:
        self._keys.clear()

    def _take(self) -> str:
        keys, self._keys = "".join(self._keys), []
        return keys
