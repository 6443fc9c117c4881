"""Log context: every line that concerns a call carries its CallSid.

The voice code sets ``voice.log_context.call_sid_var`` when it starts work on a call (webhook, socket,
task); the filter copies it onto every record so the formatter can print it.
"""

import logging

from voice.log_context import call_sid_var


class CallContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "call_sid"):
            record.call_sid = call_sid_var.get()
        return True
