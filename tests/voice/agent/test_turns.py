import pytest

from voice.agent.turns import InvalidTransition, TurnEvent, Turns, TurnState, next_state

L, T, S = TurnState.LISTENING, TurnState.THINKING, TurnState.SPEAKING


def test_a_normal_turn_goes_round_the_circle():
    turns = Turns()
    assert turns.state is L
    assert turns.on(TurnEvent.END_OF_UTTERANCE) is T
    assert turns.on(TurnEvent.AUDIO) is S
    assert turns.on(TurnEvent.DONE) is L


@pytest.mark.parametrize("state", [T, S])
def test_barge_in_returns_the_floor_to_the_caller(state):
    assert next_state(state, TurnEvent.BARGE_IN) is L


def test_prompts_speak_straight_from_listening():
    assert next_state(L, TurnEvent.AUDIO) is S


def test_nothing_to_say_goes_back_to_listening():
    assert next_state(T, TurnEvent.DONE) is L


@pytest.mark.parametrize(
    ("state", "event"),
    [(T, TurnEvent.END_OF_UTTERANCE), (S, TurnEvent.END_OF_UTTERANCE), (L, TurnEvent.BARGE_IN)],
)
def test_impossible_transitions_are_refused(state, event):
    with pytest.raises(InvalidTransition):
        next_state(state, event)
