"""A container's own health probe: ``python -m agentlocator.probe [/readyz]``, exit 0 when this machine's web
server answers 200 (docker-compose's healthcheck; any exec probe).

It asks 127.0.0.1 on ``$PORT`` (8000) with the Host of ``PUBLIC_BASE_URL``: the server only answers host
names in ALLOWED_HOSTS, which in production holds the public name, not 127.0.0.1. Only the standard library:
it runs every few seconds and must not start Django.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from urllib.parse import urlsplit

TIMEOUT_S = 5.0


def probe_request(path: str, environ: dict[str, str] | os._Environ[str]) -> urllib.request.Request:
    port = (environ.get("PORT") or "8000").strip()
    host = urlsplit(environ.get("PUBLIC_BASE_URL", "")).hostname or "localhost"
    return urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    path = args[0] if args else "/readyz"
    try:
        with urllib.request.urlopen(probe_request(path, os.environ), timeout=TIMEOUT_S) as response:
            ok = response.status == 200
    except (urllib.error.URLError, OSError) as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
