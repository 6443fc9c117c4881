"""Twilio, played against this server over HTTP and WebSocket, for tests, benchmarks and deployment checks.

- ``playout``: Twilio's outbound buffer, the one model of what the caller hears (marks, clear);
- ``twilio_side``: Twilio's end of a Media Stream socket, built on it (the one emulator of Twilio);
- ``webhook_client``: signed webhook POSTs and the checks Twilio makes on TwiML;
- ``speakerphone``: a caller on speaker, whose line carries the agent's voice back;
- ``client``: a whole call (``simulate_call``, used by ``manage.py simulate_call``);
- ``server``: a local daphne to call, started and stopped (tests, benchmarks).

Framework-free: nothing here imports Django; the project runs in the server process.
"""
