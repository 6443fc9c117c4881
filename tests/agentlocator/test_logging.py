import logging

from agentlocator.logging import CallContextFilter
from voice.log_context import call_sid_var


def format_line(message: str) -> str:
    record = logging.LogRecord("voice", logging.INFO, __file__, 1, message, None, None)
    CallContextFilter().filter(record)
    return logging.Formatter("%(levelname)s [%(call_sid)s] %(message)s").format(record)


def test_lines_about_a_call_carry_its_call_sid():
    token = call_sid_var.set("CA0123456789abcdef0123456789abcdef")
    try:
        assert format_line("stream started") == "INFO [CA0123456789abcdef0123456789abcdef] stream started"
    finally:
        call_sid_var.reset(token)


def test_lines_outside_a_call_carry_a_dash():
    assert format_line("started") == "INFO [-] started"
