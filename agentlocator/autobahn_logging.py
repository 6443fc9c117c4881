"""Autobahn (daphne's WebSocket layer) formats the arguments of its debug lines on every frame, debug or not.

``dataReceived`` and ``sendData`` log each frame with ``self.log.debug("...", func=hltype(...),
peer=hlval(...))``: the disabled logger drops the line, but only after ``hltype`` and ``hlval`` have run
(``inspect`` and, because Celery installs click, ``click.style`` colouring), three to five string builds per
frame. A call is 50 inbound and 25 outbound frames a second, and under load this was ~5 % of the server's
CPU (cProfile at 40 calls, bench/README.md). While autobahn logs above debug, the two names in the modules
that call them per frame are swapped for a function that hands its argument back unformatted, which the
dropped line never shows. With ``txaio``'s level at debug (or trace) nothing is touched.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

_FORMATTERS = ("hltype", "hlval")
_DEBUG_LEVELS = frozenset({"debug", "trace"})


def unformatted(value: object, *_: object, **__: object) -> object:
    """What the skipped formatters become: the value itself."""
    return value


def skip_debug_formatting() -> bool:
    """Swap the per-frame formatters out unless autobahn logs at debug; whether it did. Never stops the
    server from starting: an autobahn it cannot import the Twisted way (txaio already set to asyncio) is
    left as it is."""
    try:
        import txaio
        from autobahn.twisted import websocket as twisted_websocket
        from autobahn.websocket import protocol
    except (ImportError, RuntimeError) as exc:
        log.warning("autobahn's debug formatting left on: %s", exc)
        return False
    if txaio.get_global_log_level() in _DEBUG_LEVELS:  # type: ignore[attr-defined]  # txaio fills its API in at import
        return False
    for module in (protocol, twisted_websocket):
        for name in _FORMATTERS:
            setattr(module, name, unformatted)
    return True
