"""Daphne's WebSocket layer must not format, on every frame, debug lines that nobody logs."""

import pytest
import txaio
from autobahn import util
from autobahn.twisted import websocket as twisted_websocket
from autobahn.websocket import protocol

from agentlocator.autobahn_logging import skip_debug_formatting, unformatted

PER_FRAME = [(module, name) for module in (protocol, twisted_websocket) for name in ("hltype", "hlval")]


@pytest.fixture
def formatters(monkeypatch):
    """Autobahn's own formatters in place before the test, and again after it."""
    for module, name in PER_FRAME:
        monkeypatch.setattr(module, name, getattr(util, name))
    level = txaio.get_global_log_level()
    yield
    txaio.set_global_log_level(level)


def test_the_server_skips_them(formatters):
    assert txaio.get_global_log_level() == "info"  # daphne leaves autobahn at its default
    assert skip_debug_formatting() is True
    for module, name in PER_FRAME:
        assert getattr(module, name) is unformatted
    assert unformatted("peer") == "peer"


@pytest.mark.parametrize("level", ["debug", "trace"])
def test_debug_logging_keeps_them(formatters, level):
    txaio.set_global_log_level(level)
    assert skip_debug_formatting() is False
    for module, name in PER_FRAME:
        assert getattr(module, name) is getattr(util, name)


def test_the_asgi_application_applies_it():
    import agentlocator.asgi  # noqa: F401  (daphne imports it the same way)

    assert twisted_websocket.hltype is unformatted and protocol.hlval is unformatted
