"""``python -m agentlocator.web``: one daphne process, on uvloop unless ``WEB_EVENT_LOOP=asyncio``.

Every test that starts a server starts this module (``tests.support.live.run_daphne``), so the whole live suite
runs on the loop production runs; here, what it is asked, what it says it runs on, and what it refuses."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
import pytest

from agentlocator.serve import ConfigurationError, daphne_argv, options_from
from agentlocator.web import DEFAULT_EVENT_LOOP, event_loop_from, use_event_loop
from tests.support.live import ROOT, run_daphne, server_environment
from tests.support.services import free_port


def test_uvloop_unless_asked_for_asyncio():
    assert DEFAULT_EVENT_LOOP == "uvloop"
    assert event_loop_from({}) == "uvloop"
    assert event_loop_from({"WEB_EVENT_LOOP": ""}) == "uvloop"
    assert event_loop_from({"WEB_EVENT_LOOP": " Asyncio "}) == "asyncio"


@pytest.mark.parametrize("value", ["tokio", "uv", "trio"])
def test_an_unknown_loop_is_refused_by_the_launcher_before_anything_listens(value):
    with pytest.raises(ConfigurationError, match=re.escape(f"WEB_EVENT_LOOP={value!r}: the web process runs on")):
        options_from({"WEB_EVENT_LOOP": value}, redis_url="")


def test_without_uvloop_installed_the_default_is_refused_with_the_way_out(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # what an interpreter without the package finds
    with pytest.raises(ConfigurationError, match=re.escape("needs uvloop, which is not installed here")):
        options_from({}, redis_url="")
    assert options_from({"WEB_EVENT_LOOP": "asyncio"}, redis_url="").processes == 1


def test_the_loop_cannot_be_chosen_once_daphne_has_made_its_own():
    # This test process has loaded Django, whose installed "daphne" app imports daphne.server.
    assert "daphne.server" in sys.modules
    with pytest.raises(RuntimeError, match="its event loop exists"):
        use_event_loop("asyncio")


def test_the_launcher_starts_every_process_through_this_module():
    assert daphne_argv(3)[1:3] == ["-m", "agentlocator.web"]


def start_up_line(log: str) -> str:
    return next(line for line in log.splitlines() if line.startswith("agentlocator.web: event loop "))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_web_process_serves_on_uvloop_and_says_so(tmp_path):
    with run_daphne(tmp_path, WEB_EVENT_LOOP="uvloop") as server:  # the default; said, against a shell's export
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
        # The loop daphne made and runs, named from its class: the policy was set before daphne.server made it.
        assert start_up_line(server.log_path.read_text()) == "agentlocator.web: event loop uvloop.Loop"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_asyncio_s_own_loop_on_request(tmp_path):
    with run_daphne(tmp_path, WEB_EVENT_LOOP="asyncio") as server:
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
        assert "uvloop" not in start_up_line(server.log_path.read_text())


def start_web_process(entry: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """A web process started as the launcher starts one (``entry`` in place of ``-m agentlocator.web``), to
    its end: these are refused before they serve."""
    return subprocess.run(
        [sys.executable, *entry, "-b", "127.0.0.1", "-p", str(free_port()), "agentlocator.asgi:application"],
        cwd=ROOT,
        env=server_environment(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_unknown_loop_stops_the_process_with_what_to_change():
    done = start_web_process(["-m", "agentlocator.web"], WEB_EVENT_LOOP="tokio")
    assert done.returncode == 2
    assert "WEB_EVENT_LOOP='tokio': the web process runs on uvloop or asyncio" in done.stderr
    assert "agentlocator.web: event loop" not in done.stderr  # daphne was never imported, let alone started


def test_a_process_without_uvloop_stops_with_what_to_change():
    hide_uvloop = "import sys; sys.modules['uvloop'] = None; from agentlocator import web; sys.exit(web.main())"
    done = start_web_process(["-c", hide_uvloop], WEB_EVENT_LOOP="")
    assert done.returncode == 2
    assert "needs uvloop, which is not installed here (requirements.txt); WEB_EVENT_LOOP=asyncio" in done.stderr
    assert "Traceback" not in done.stderr
