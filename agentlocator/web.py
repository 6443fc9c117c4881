"""One web process: daphne on uvloop's event loop. ``python -m agentlocator.web`` takes daphne's own arguments.

Daphne makes Twisted's event loop when ``daphne.server`` is imported, with ``asyncio.new_event_loop()``, so the
event-loop policy set here, before that import, decides which loop every call runs on. uvloop (libuv) runs the
same calls for ~5 % less CPU than asyncio's own loop (bench/README.md: 40 calls, alternating runs); every web
process runs on it: ``agentlocator.serve`` starts this module, and so do the tests and benchmarks that start a
server. Its clock, ``loop.time()``, counts whole milliseconds, fine for 20 ms frames and for the pacer.

``WEB_EVENT_LOOP=asyncio`` keeps asyncio's own loop: the operator's way back should a platform lack uvloop or
a problem be traced to it, and one side of the benchmark's comparison. Read from the environment only (it is
chosen before the settings load; ``agentlocator.serve`` hands on what ``.env`` sets).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence

EVENT_LOOPS = ("uvloop", "asyncio")
DEFAULT_EVENT_LOOP = "uvloop"


def event_loop_from(environ: Mapping[str, str]) -> str:
    """``WEB_EVENT_LOOP``, or the default; raises ValueError with a message for people on a name it does not
    know, or on uvloop where it is not installed."""
    name = (environ.get("WEB_EVENT_LOOP") or DEFAULT_EVENT_LOOP).strip().lower()
    if name not in EVENT_LOOPS:
        raise ValueError(f"WEB_EVENT_LOOP={name!r}: the web process runs on {' or '.join(EVENT_LOOPS)}.")
    if name == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise ValueError(
            "WEB_EVENT_LOOP=uvloop (the default) needs uvloop, which is not installed here (requirements.txt); "
            "WEB_EVENT_LOOP=asyncio runs without it."
        )
    return name


def use_event_loop(name: str) -> None:
    """Make ``name`` the loop ``asyncio.new_event_loop()`` returns from now on (daphne has not made its own yet)."""
    if "daphne.server" in sys.modules:
        raise RuntimeError("daphne.server is imported already: its event loop exists; choose the loop before")
    if name == "uvloop":
        import uvloop

        # The policy is the one hook daphne leaves: it calls asyncio.new_event_loop() itself, at import.
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: Sequence[str] | None = None) -> int:
    try:
        name = event_loop_from(os.environ)
    except ValueError as exc:
        print(f"agentlocator.web: {exc}", file=sys.stderr)
        return 2
    use_event_loop(name)
    from daphne import server  # makes Twisted's event loop, from the policy just set
    from daphne.cli import CommandLineInterface

    print(f"agentlocator.web: event loop {loop_name(server.twisted_loop)}", file=sys.stderr, flush=True)
    CommandLineInterface().run(list(sys.argv[1:] if argv is None else argv))
    return 0


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """What the start-up line says the process runs on: the loop's own class, not the choice that was asked."""
    return f"{type(loop).__module__}.{type(loop).__qualname__}"


if __name__ == "__main__":
    sys.exit(main())
