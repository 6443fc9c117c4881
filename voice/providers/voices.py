"""Which Hebrew voice speaks as a woman and which as a man, so the voice matches how the agent speaks of
itself in its prompt and fixed lines ("אני בודק" needs a male voice, "אני בודקת" a female one).

Google Cloud Text-to-Speech he-IL voices (its voice list, ``ssml_gender``): A and C are female, B and D
male, in every family (Standard, Wavenet). OpenAI's voices are not Hebrew voices and take no part here.
"""

from __future__ import annotations

FEMALE = "female"
MALE = "male"

GOOGLE_HE_VOICES: dict[str, str] = {
    f"he-IL-{family}-{letter}": gender
    for family in ("Standard", "Wavenet")
    for letter, gender in (("A", FEMALE), ("B", MALE), ("C", FEMALE), ("D", MALE))
}

# The default prompt and lines speak of the agent in the masculine ("אתה הנציג", "אני בודק").
DEFAULT_MALE_VOICE = "he-IL-Wavenet-B"
DEFAULT_FEMALE_VOICE = "he-IL-Wavenet-A"


def voice_gender(name: str) -> str | None:
    """``"female"`` / ``"male"`` for a known he-IL Google voice, None for any other name."""
    return GOOGLE_HE_VOICES.get(name)


def voice_for(speaks_as: str) -> str:
    """The default voice for an agent that speaks of itself as ``"masculine"`` or ``"feminine"``."""
    return DEFAULT_FEMALE_VOICE if speaks_as == "feminine" else DEFAULT_MALE_VOICE
