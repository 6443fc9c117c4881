"""The first ten minutes: a fresh copy of the project, `make run`'s set-up steps, the Procfile's web process, and
the README's `simulate_call` line complete a call with exit 0, without anyone editing .env.

The copy is what `git clone` would give (tracked files, plus new files not ignored yet), in a temporary folder
with its own .env and SQLite database; the children get a bare environment (no test settings, no keys), like a
new developer's shell. The project's virtualenv runs it (creating another one is `make`'s business, not this test's).
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from voice import startup_report
from voice.simulator.server import ROOT, free_port, stop_process

SCRIPT = ROOT / "scripts" / "make_env.py"
README_WAV_LINE = 'espeak-ng -v he -w some-hebrew.wav "שלום, אני מתעניין בדירה"'


def make_env_module():
    spec = importlib.util.spec_from_file_location("make_env", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def env_values(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return dict(pairs)


# -- scripts/make_env.py ------------------------------------------------------------------------------------
def test_a_first_env_without_keys_is_a_marked_local_trial():
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    text, chosen = make_env_module().render_env(example, {}, espeak=True)
    values = env_values(text)
    assert len(values["SECRET_KEY"]) > 40
    assert (values["VOICE_ASR"], values["VOICE_LLM"], values["VOICE_TTS"]) == ("fake", "fake", "espeak")
    assert startup_report.is_local_trial_twilio(values["TWILIO_ACCOUNT_SID"], values["TWILIO_AUTH_TOKEN"])
    assert "NOT your Twilio credentials" in text and "does not understand" in text
    assert set(env_values(example)) == set(values)  # every variable still there, none added
    assert any("NOT Twilio's" in item for item in chosen)
    assert make_env_module().render_env(example, {}, espeak=False)[0].count("VOICE_TTS=fake") == 1
    assert values["PUBLIC_BASE_URL"] == "http://localhost:8000"
    port_text = make_env_module().render_env(example, {"WEB_PORT": "8050"}, espeak=True)[0]
    assert env_values(port_text)["PUBLIC_BASE_URL"] == "http://localhost:8050"  # `make run WEB_PORT=8050`


def test_keys_in_the_environment_are_kept():
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    environ = {"OPENAI_API_KEY": "sk-x", "TWILIO_AUTH_TOKEN": "real"}
    text, chosen = make_env_module().render_env(example, environ, espeak=True)
    values = env_values(text)
    assert (values["VOICE_ASR"], values["VOICE_LLM"], values["VOICE_TTS"]) == ("openai", "openai", "openai")
    assert values["TWILIO_AUTH_TOKEN"] == "" and chosen == []  # the environment's token wins over .env
    assert "sk-x" not in text  # keys are never copied into the file


def test_an_existing_env_is_never_touched(tmp_path):
    target = tmp_path / ".env"
    target.write_text("MINE=1\n")
    make_env_module().main(str(ROOT / ".env.example"), str(target), environ={})
    assert target.read_text() == "MINE=1\n"


def test_the_markers_agree_with_the_start_up_report():
    module = make_env_module()
    assert module.LOCAL_TRIAL_TOKEN_PREFIX == startup_report.LOCAL_TRIAL_TOKEN_PREFIX
    assert module.LOCAL_TRIAL_SID_PREFIX == startup_report.LOCAL_TRIAL_SID_PREFIX


# -- the whole first run ------------------------------------------------------------------------------------
def fresh_clone(target: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not in a clone either
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def bare_environment() -> dict[str, str]:
    """A new developer's shell: the virtualenv first on PATH (as `make run` puts it), nothing of the tests."""
    return {
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
    }


def run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{shlex.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the web process exited:\n{log.read_text(errors='replace')[-3000:]}"
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the web process never became healthy:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.mark.slow
def test_make_run_then_the_readme_simulate_call_on_a_fresh_clone(tmp_path):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: the README's simulate_call line makes its WAV with it")
    clone = tmp_path / "clone"
    fresh_clone(clone)
    assert not (clone / ".env").exists() and not (clone / "db.sqlite3").exists()
    env = bare_environment()
    python = sys.executable

    # `make run`: the .env target, then `migrate` (collectstatic is left out: the admin is not looked at here).
    # A free port rather than 8000 (another server may have it): `make run WEB_PORT=…`, which make_env hears.
    port = free_port()
    wrote = run([python, "scripts/make_env.py", ".env.example", ".env"], clone, {**env, "WEB_PORT": str(port)})
    assert "LOCAL TRIAL" in wrote.stdout
    run([python, "manage.py", "migrate", "--noinput"], clone, env, timeout=180)
    run([python, "manage.py", "ensure_default_business"], clone, env)
    report = run([python, "manage.py", "show_urls", "--port", str(port), "--probe-timeout", "10"], clone, env)
    assert "LOCAL TRIAL" in report.stdout and "[ FAIL  ]" not in report.stdout.split("fallback voice")[0]

    web = next(line for line in (clone / "Procfile").read_text().splitlines() if line.startswith("web:"))
    log = tmp_path / "web.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["sh", "-c", "exec " + web.removeprefix("web:").strip()],
            cwd=clone,
            env={**env, "WEB_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process, log)
        run(shlex.split(README_WAV_LINE), clone, env)
        started = time.monotonic()
        call = run(
            [python, "manage.py", "simulate_call", "--url", url, "--wav", "some-hebrew.wav", "--out", "agent.wav"],
            clone,
            env,
            timeout=90,
        )
        elapsed = time.monotonic() - started
    finally:
        stop_process(process)
    received = next(line for line in call.stdout.splitlines() if line.startswith("frames received"))
    assert int(received.split()[2]) > 50, call.stdout  # more than a second of the agent talking
    assert "protocol errors    none" in call.stdout
    assert (clone / "agent.wav").stat().st_size > 16000
    assert elapsed < 60, elapsed
