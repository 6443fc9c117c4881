"""The caller's voice told from our own echo while we speak: which frames count, and where an onset began.

The listener hears each frame through the ``EchoGuard`` (was it only our own voice coming back?) and its
``Voicing`` (the detector's vote, and the cheap gate's). These rules turn that into the vote the detector
decides on, frame by frame. They matter while we speak: a caller who talks over us must stop the agent within
the business's barge-in setting + 100 ms, while our echo, a cough or a back-channel must not.

- **A masked frame can still be the caller's.** The guard masks by loudness where the canceller cannot prove
  itself (an echo near the line's noise, or a room): the quiet end of a caller's word under our loud syllables
  looks like echo to it. Such a frame counts as the detector votes when it comes within ``BRIDGE_FRAMES`` of
  the caller's voice heard unmasked, and the detector does not take our echo alone for a voice on this line:
  of the frames masked while the caller was quiet, the share in which Silero's own state was "speech"
  (followed at ``ECHO_VOICED_RATE`` a frame) is below ``ECHO_VOICED_MAX``. A room's echo is a voice to Silero
  (~1.0), a faint echo mostly is not; webrtcvad alone never bridges. While the caller talks over us the gate's
  vote counts there too (as it does unmasked), and the caller's voice goes on, for the bridge, through the
  masked frames Silero's own state keeps calling speech. On the corpus, interruptions over a -35 dB echo stop
  the agent 612 -> 372 and 470 -> 290 ms after they begin; on 126 more drawn like them, 31 -> 24 over 400 ms;
  back-channels over echo as before.
- **A steady voice Silero flickers on.** While we speak, a voice the gate has heard for ``ONSET_RUN_FRAMES``
  (120 ms) starts an utterance when the detector voted it voice on at least ``ONSET_VOTES`` of the latest
  ``ONSET_RUN_FRAMES`` frames: "רגע, רגע" in one voice over a -30 or -35 dB echo scores 0.03-0.64, voted voice
  two frames at a time but never the three in a row that start an utterance, and was missed on 2 of a
  review's draws. A cough or a door rarely holds the gate and the votes that long (1 of 60 over our echo
  paused the agent; bench/README.md).
- **An onset is timed from the gate's first frame.** Silero is slow to be sure of some onsets ("רגע" scores
  0.1-0.4), so while we speak a caller's speech is timed from the first frame of the gate's run (gaps of up
  to ``GATE_GAP_FRAMES`` bridged: the guard takes a caller's quietest frames under our loudest for echo), and
  once the detector heard them start, the gate follows them: the barge-in rule counts the caller's voice from
  its start to now. For words Silero is sure of only 300-400 ms in ("תעצור" over a -35 dB echo, whose quiet
  middle the guard masks under our loud syllables):
  - the run that times the onset also bridges a gap of up to ``BRIDGE_FRAMES`` in which the gate heard voice
    the guard masked, on a line where Silero does not hear our echo alone as a voice (on a room's echo, or
    with webrtcvad alone, the gate hears our echo in every masked frame, and an utterance was dated up to
    300 ms before the caller spoke); the strict run still decides the flicker rule (bridged there, our room
    echo started utterances: 26 -> 32 of 324);
  - Silero's own state "speech" on a frame the gate has heard unmasked for ``ONSET_RUN_FRAMES`` in a row
    starts the utterance on that frame rather than two frames later.

  With the bridge's two changes above, bench.interrupt_echo: 18 -> 8 of 216 interruptions stopped the agent
  later than 400 ms (p95 465 -> 382 ms; short ones over a -35 dB echo 3 -> 0); bench.backchannel_echo and the
  webrtcvad fallback the same scenario for scenario; the corpus's one slow -35 dB case 488 -> 368 ms.

Framework-free and audio-free: it sees only the votes, so the rules can be specified frame by frame.
"""

from __future__ import annotations

GATE_GAP_FRAMES = 2
BRIDGE_FRAMES = 8
ECHO_VOICED_RATE = 0.05
ECHO_VOICED_MAX = 0.2
ONSET_RUN_FRAMES = 6
ONSET_VOTES = 3
VOTES_MASK = (1 << ONSET_RUN_FRAMES) - 1


class OverEcho:
    """One call's votes, frame by frame (``vote``)."""

    def __init__(self) -> None:
        # The gate's latest run of voice, our echo not counted, gaps of up to GATE_GAP_FRAMES bridged.
        self._gate_run = 0  # frames since the run started
        self._gate_gap = GATE_GAP_FRAMES + 1  # frames since the gate last heard voice
        # The run that times a caller's onset: as ``_gate_run``, but a gap in which the gate heard voice the
        # guard masked goes on the run for up to BRIDGE_FRAMES.
        self._onset_run = 0
        self._masked_in_gap = False  # the gate heard masked voice since it last heard voice unmasked
        self._heard_run = 0  # the gate's unmasked votes on the latest ONSET_RUN_FRAMES frames, newest in bit 0
        self._since_caller = BRIDGE_FRAMES  # frames since the caller's voice was heard unmasked
        self._echo_voiced = 1.0  # until the detector is seen not to hear our echo, its word does not unmask
        self._votes = 0  # the detector's votes on the latest ONSET_RUN_FRAMES frames, newest in bit 0

    def vote(
        self, voiced: bool, heard: bool, *, echo: bool, eager: bool, sure: bool | None, in_speech: bool
    ) -> tuple[bool, int, bool]:
        """One frame: the detector's vote (``voiced``) and the gate's (``heard``), whether the guard took the
        frame for our echo (``echo``), whether we are speaking (``eager``), the detector's own state (``sure``:
        None for webrtcvad, which has none) and whether speech is under way (``in_speech``, before this
        frame). Returns the vote to decide on, how many frames before this one the speech it may start began
        (``VoiceActivityDetector.decide``'s ``onset_frames``) and whether it starts on this frame
        (``start_now``)."""
        masked = False  # the gate heard voice the guard masked, where the detector does not hear our echo
        if echo:
            self._hear_how_our_echo_sounds(sure, in_speech)
            if not self._still_the_caller(voiced or (eager and heard), in_speech):
                masked = heard and self._echo_is_not_a_voice_here
                voiced = heard = False
        self._since_caller = 0 if voiced and (not echo or sure is True) else self._since_caller + 1
        self._follow_the_gate(heard, heard and not echo, masked)
        onset = self._onset_run if eager and heard else 0
        self._votes = ((self._votes << 1) | voiced) & VOTES_MASK
        if eager and heard and (in_speech or self._flickering_over_a_steady_voice()):
            voiced = True
        # The detector sure of a voice the gate has heard unmasked for ONSET_RUN_FRAMES: the caller, from here.
        start_now = eager and voiced and sure is True and self._heard_run == VOTES_MASK
        return voiced, onset, start_now

    def _follow_the_gate(self, heard: bool, unmasked: bool, masked: bool) -> None:
        """The gate's runs of voice after the frame it just voted on (``heard``: our echo not counted, a frame
        bridged to the caller's voice counted; ``unmasked``: heard in a frame the guard did not take for our
        echo; ``masked``: voice the guard took for our echo where the detector does not hear our echo as a
        voice)."""
        self._heard_run = ((self._heard_run << 1) | unmasked) & VOTES_MASK
        if heard:
            new_run = self._gate_gap > GATE_GAP_FRAMES
            bridged = self._masked_in_gap and self._gate_gap <= BRIDGE_FRAMES
            self._gate_run = 1 if new_run else self._gate_run + 1
            self._onset_run = 1 if new_run and not bridged else self._onset_run + 1
            self._gate_gap = 0
            self._masked_in_gap = False
        else:
            self._gate_gap += 1
            self._gate_run += 1
            self._onset_run += 1
            self._masked_in_gap |= masked

    def _hear_how_our_echo_sounds(self, sure: bool | None, in_speech: bool) -> None:
        """A frame the guard took for our echo: while the caller is quiet it is our echo alone, and whether the
        detector's own state calls it a voice says whether its word can be trusted over our echo on this line."""
        if sure is None:  # no state of its own (webrtcvad hears our echo as a voice 30-40 % of the time)
            self._echo_voiced = 1.0
        elif not in_speech:
            self._echo_voiced += ECHO_VOICED_RATE * (sure - self._echo_voiced)

    def _still_the_caller(self, voiced: bool, in_speech: bool) -> bool:
        """A frame the guard took for our echo, voted voice (by the detector, or while the caller talks over us
        by the gate), is the caller's all the same (see the module's first rule)."""
        recent = self._since_caller < BRIDGE_FRAMES
        return voiced and recent and in_speech and self._echo_is_not_a_voice_here

    @property
    def _echo_is_not_a_voice_here(self) -> bool:
        """On this line the detector does not take our echo alone for a voice (``ECHO_VOICED_MAX``): a voice it
        hears in a frame the guard masked may be the caller's."""
        return self._echo_voiced < ECHO_VOICED_MAX

    def _flickering_over_a_steady_voice(self) -> bool:
        """The gate has heard a voice for ``ONSET_RUN_FRAMES`` and the detector voted it voice on at least
        ``ONSET_VOTES`` of the latest ``ONSET_RUN_FRAMES`` frames (three in a row would have started an
        utterance already)."""
        return self._gate_run >= ONSET_RUN_FRAMES and self._votes.bit_count() >= ONSET_VOTES
