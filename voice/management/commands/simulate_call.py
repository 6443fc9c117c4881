"""``manage.py simulate_call``: one phone call as Twilio would make it, against this or a remote server."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from voice.simulator.client import CallOptions, SimulationError, Speakerphone, load_caller_audio, simulate_call
from voice.simulator.webhook_client import DEFAULT_ACCOUNT_SID

# Fictional numbers: possible Israeli mobiles in a block the numbering plan has not allocated (054-000-xxxx,
# which `phonenumbers` finds possible but not valid), so a simulated call never names a real person's line.
# The called number is seed_demo's demo line; with no business claiming it, the default business answers.
DEFAULT_FROM = "+972540000199"
DEFAULT_TO = "+972540000100"


class Command(BaseCommand):
    help = (
        "Simulate an inbound Twilio call: signed webhooks, the media socket with paced audio from a WAV, "
        "Twilio's playback buffer (marks, clear); prints a summary and can save what the agent said."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL (http or https)")
        parser.add_argument("--wav", help="what the caller says (any WAV; converted to 8 kHz mu-law)")
        parser.add_argument("--from", dest="from_number", default=DEFAULT_FROM, help="caller number")
        parser.add_argument("--to", dest="to_number", default=DEFAULT_TO, help="called (business) number")
        parser.add_argument("--speed", type=float, default=1.0, help="media time per wall-clock second")
        parser.add_argument("--silence", type=float, default=3.0, help="seconds of silence before hanging up")
        parser.add_argument("--dtmf", default="", help="digits to press after speaking")
        parser.add_argument(
            "--echo-db",
            type=float,
            help="the caller is on a speakerphone: the agent's voice comes back on their line this many dB quieter "
            "(e.g. -20)",
        )
        parser.add_argument(
            "--echo-delay-ms", type=int, default=120, help="how late the speakerphone's echo comes back (ms)"
        )
        parser.add_argument(
            "--line-noise-dbfs",
            type=float,
            help="the speakerphone's line carries a hiss this loud (e.g. -55; default: silent between words)",
        )
        parser.add_argument("--out", help="write the agent's audio (as heard) to this WAV file")
        parser.add_argument("--no-subprotocol", action="store_true", help="do not offer audio.twilio.com")
        parser.add_argument(
            "--wait-for-hangup",
            action="store_true",
            help="after the silence, stay on the line until the server ends the call",
        )
        parser.add_argument(
            "--auth-token",
            default="",
            help="Twilio auth token used to sign (default: TWILIO_AUTH_TOKEN from the environment/settings)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        token = opts["auth_token"] or os.environ.get("TWILIO_AUTH_TOKEN") or settings.TWILIO_AUTH_TOKEN
        if not token:
            raise CommandError(
                "no Twilio auth token: set TWILIO_AUTH_TOKEN in .env or pass --auth-token (a first `make run` "
                "writes a local-trial token into a new .env; delete .env to have it written again)"
            )
        if opts["speed"] <= 0:
            raise CommandError("--speed must be positive")
        speakerphone = None
        if opts["echo_db"] is not None:
            try:
                speakerphone = Speakerphone(opts["echo_db"], opts["echo_delay_ms"], noise_dbfs=opts["line_noise_dbfs"])
            except ValueError as exc:
                raise CommandError(f"--echo-db / --echo-delay-ms / --line-noise-dbfs: {exc}") from None
        elif opts["line_noise_dbfs"] is not None:
            raise CommandError("--line-noise-dbfs is the speakerphone's hiss: give --echo-db too")
        options = CallOptions(
            base_url=opts["url"],
            auth_token=token,
            caller_audio=load_caller_audio(opts["wav"]) if opts["wav"] else b"",
            from_number=opts["from_number"],
            to_number=opts["to_number"],
            account_sid=settings.TWILIO_ACCOUNT_SID or DEFAULT_ACCOUNT_SID,
            speed=opts["speed"],
            silence_s=opts["silence"],
            subprotocol=not opts["no_subprotocol"],
            dtmf=opts["dtmf"],
            wait_for_server_close=opts["wait_for_hangup"],
            speakerphone=speakerphone,
        )
        try:
            summary = asyncio.run(simulate_call(options))
        except SimulationError as exc:
            raise CommandError(f"the call failed as it would on Twilio: {exc}") from None
        except OSError as exc:
            raise CommandError(f"cannot reach {opts['url']}: {exc}") from None
        self.stdout.write("\n".join(summary.lines()) + "\n")
        if speakerphone is not None:
            self.stdout.write(
                f"speakerphone       the agent's voice came back {-speakerphone.level_db:g} dB down, "
                f"{speakerphone.delay_ms} ms late\n"
            )
        if not summary.connected:
            self.stdout.write("TwiML (no media stream):\n" + summary.twiml + "\n")
        if summary.stream_ended_twiml:
            self.stdout.write("after the stream: " + summary.stream_ended_twiml + "\n")
        if opts["out"]:
            with open(opts["out"], "wb") as f:
                f.write(summary.agent_wav())
            self.stdout.write(f"agent audio written to {opts['out']}\n")
