"""python -m console: runs the web console (default http://127.0.0.1:8100).

    python -m console                  serve (settings: env CONSOLE_*, AUTH_SECRET, ENV, KAFKA_*)
    python -m console hash-password    print a password hash for CONSOLE_USERS (asks for the password)
"""

from __future__ import annotations

import getpass
import logging
import sys

import uvicorn

from console.app import build_app
from console.settings import ConsoleSettings
from console.users import hash_password
from shared.logs import configure_logging


def main(argv: list[str]) -> int:
    if argv[:1] == ["hash-password"]:
        if sys.stdin.isatty():
            password = getpass.getpass("Password: ")
            if getpass.getpass("Again: ") != password:
                print("The two passwords differ.", file=sys.stderr)
                return 1
        else:
            password = sys.stdin.readline().rstrip("\n")
        if len(password) < 12:
            print("Use at least 12 characters.", file=sys.stderr)
            return 1
        print(hash_password(password))
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        settings = ConsoleSettings()
        configure_logging("console", settings.log_level, json_lines=True)
        app = build_app(settings)
    except (RuntimeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        print(f"console: cannot start: {exc}", file=sys.stderr)
        return 2
    logging.getLogger(__name__).info("console listening on http://%s:%d", settings.host, settings.http_port)
    uvicorn.run(app, host=settings.host, port=settings.http_port, log_level="warning", timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
