"""Who holds the floor. Tiny and pure: the session asks for a transition, this says where it lands."""

from __future__ import annotations

from enum import Enum


class TurnState(Enum):
    LISTENING = "listening"  # the caller may speak; nothing of ours is playing
    THINKING = "thinking"  # the caller finished; transcribing / generating, no audio yet
    SPEAKING = "speaking"  # our audio is queued or playing


class TurnEvent(Enum):
    END_OF_UTTERANCE = "end_of_utterance"  # the caller finished (or pressed a key)
    AUDIO = "audio"  # the first audio of a reply or prompt was queued
    DONE = "done"  # the reply played out, or there was nothing to say
    BARGE_IN = "barge_in"  # the caller interrupted


_TRANSITIONS: dict[tuple[TurnState, TurnEvent], TurnState] = {
    (TurnState.LISTENING, TurnEvent.END_OF_UTTERANCE): TurnState.THINKING,
    (TurnState.LISTENING, TurnEvent.AUDIO): TurnState.SPEAKING,  # greeting, idle prompt, goodbye
    (TurnState.LISTENING, TurnEvent.DONE): TurnState.LISTENING,
    (TurnState.THINKING, TurnEvent.AUDIO): TurnState.SPEAKING,
    (TurnState.THINKING, TurnEvent.DONE): TurnState.LISTENING,
    (TurnState.THINKING, TurnEvent.BARGE_IN): TurnState.LISTENING,
    (TurnState.SPEAKING, TurnEvent.AUDIO): TurnState.SPEAKING,
    (TurnState.SPEAKING, TurnEvent.DONE): TurnState.LISTENING,
    (TurnState.SPEAKING, TurnEvent.BARGE_IN): TurnState.LISTENING,
}


class InvalidTransition(ValueError):
    pass


def next_state(state: TurnState, event: TurnEvent) -> TurnState:
    try:
        return _TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(f"{event.value} is not possible while {state.value}") from None


class Turns:
    """The current state plus the transition rule."""

    def __init__(self) -> None:
        self.state = TurnState.LISTENING

    def on(self, event: TurnEvent) -> TurnState:
        self.state = next_state(self.state, event)
        return self.state
