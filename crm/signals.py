"""What the CRM announces, for the layers above it to act on (the followup app tells people).

The CRM and the call code sit below the follow-up work in the layers, so they announce and never call it.
Signals are sent inside the writing transaction, once its rows are written: a receiver queues durable jobs
(``voice.jobs.enqueue``), whose rows commit or roll back with the rest and whose messages go out on commit.
"""

from __future__ import annotations

from django.dispatch import Signal

# The after-call summary of a call is written (sender: Call). Arguments: call, lead_created (bool: the
# lead was made by this call).
call_digested = Signal()

# A voicemail is transcribed and summarised (sender: Recording). Arguments: recording, lead_created.
voicemail_digested = Signal()

# A call's after-call work will not tell staff about it (sender: Call): nothing was said, or its summary or
# its voicemail's transcript could not be made. Argument: call. Words or a voicemail may still arrive late;
# the receiver decides when to tell staff.
call_unheard = Signal()
