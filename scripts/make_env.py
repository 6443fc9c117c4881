"""Write .env from .env.example on first start, with a fresh random SECRET_KEY. Never overwrites."""

import secrets
import sys
from pathlib import Path


def main(example: str, target: str) -> None:
    target_path = Path(target)
    if target_path.exists():
        return
    lines = []
    for line in Path(example).read_text(encoding="utf-8").splitlines():
        if line.startswith("SECRET_KEY="):
            line = f"SECRET_KEY={secrets.token_urlsafe(50)}"
        lines.append(line)
    target_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target_path.chmod(0o600)
    print(f"Wrote {target} with a new SECRET_KEY (edit it to add your Twilio and provider keys).")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
