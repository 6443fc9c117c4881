"""Per-call agent configuration: plain data, built by the Django edge from the Business row.

Every text the caller hears or the model reads comes from here; the defaults are the only Hebrew the core
knows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voice.agent.prompt import BusinessContext


@dataclass(frozen=True)
class AgentConfig:
    greeting: str = "שלום, הגעתם לנציג הדיגיטלי שלנו. איך אפשר לעזור?"
    system_prompt: str = "אתה נציג שירות ומכירות אדיב שמדבר עברית. ענה בקצרה, במשפט או שניים."
    language: str = "he-IL"
    voice: str = "he-IL-Wavenet-B"
    apology: str = "סליחה, הייתה לי תקלה קטנה. אפשר לחזור על זה?"
    idle_prompt: str = "אתם עדיין על הקו?"
    goodbye: str = "תודה רבה ויום טוב."
    # Short holding phrases played while the caller waits for a slow answer (never the same twice in a row).
    fillers: tuple[str, ...] = ("רגע, אני בודק.", "שנייה, אני בודק את זה.", "רק רגע, בבקשה.", "עוד רגע איתך.")
    # Said instead of the greeting when the business is closed (the edge fills in when it opens again).
    after_hours_line: str = "שלום, אנחנו סגורים כרגע. אפשר להשאיר לי הודעה או לבקש שנחזור אליכם."
    # Said before the call is handed to a person.
    transfer_line: str = "אני מעביר אתכם לנציג, רק רגע."
    transfer_available: bool = False  # a person can take this call (the business has a transfer number)
    known_facts_heading: str = "מה שכבר ידוע על המתקשר:"  # heads the known lead facts in the system prompt
    # Who the agent answers for (name, hours, knowledge, how it speaks), for the system prompt
    # (``voice.agent.prompt``). None: the system prompt is ``system_prompt`` and the known facts only.
    business: BusinessContext | None = None
    open_now: bool = True  # False: the call came after hours (the greeting is then the after-hours line)
    # Turn-taking, all in media-time milliseconds.
    eou_silence_ms: int = 600  # silence that ends an utterance
    barge_in_min_ms: int = 300  # caller speech this long while the agent speaks interrupts it
    min_utterance_ms: int = 200  # shorter speech is noise and ignored
    max_utterance_ms: int = 15_000  # force end of utterance after this
    vad_aggressiveness: int = 2  # webrtcvad 0..3
    idle_prompt_ms: int = 8_000  # silence before asking "are you still there?"
    idle_hangup_prompts: int = 2  # hang up after this many unanswered idle prompts
    max_call_ms: int = 15 * 60_000
    dtmf_pause_ms: int = 2_000  # keys pressed are one input until "#", this pause, or dtmf_max_keys keys
    dtmf_max_keys: int = 32
    # What the CRM already knows about the caller (name, interest, ...), given to the LLM.
    lead_facts: dict[str, str] = field(default_factory=dict)
