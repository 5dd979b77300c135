"""Tokens for machines and people (issue 33).

    python -m tools.token --role platform --subject checkout [--ttl 30d] [--key var/keys/service-accounts.pem]
    python -m tools.token keygen [--kid service-accounts] [--roles platform] [--dir var/keys]

The first prints a bearer token. With a private key (`--key`, or AUTH_SIGNING_KEY_PATH) it is
signed with that key (EdDSA), carries `iss`, `aud` and the key's `kid`, and services accept it
only for the roles their JWKS lists for that key. Without one it falls back to HS256 with
AUTH_SECRET, the development path (`make run`, the test suite): whoever holds that secret can
mint any role, so production services should not be given it (docs/security.md).

`keygen` makes an Ed25519 key pair: `<dir>/<kid>.pem` (the private key, mode 0600, for the one
place that issues these tokens) and its public entry, scoped to `--roles`, merged into
`<dir>/jwks.json` (what every service gets as AUTH_PUBLIC_KEYS_PATH).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from shared.auth import ROLES, AuthSettings, issue_token
from shared.auth_keys import load_signing_key, new_ed25519_pem, public_jwk

MAX_TTL_S = 366 * 24 * 3600  # a machine token lives long, but not forever
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int:
    match = re.fullmatch(r"(\d{1,9})([smhd]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: a number of seconds, or with s, m, h or d (e.g. 30d)")
    seconds = int(match.group(1)) * UNITS[match.group(2) or "s"]
    if not 0 < seconds <= MAX_TTL_S:
        raise argparse.ArgumentTypeError(f"{text!r}: between 1 second and {MAX_TTL_S // 86400} days")
    return seconds


def mint(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.token", description="Print a bearer token.")
    parser.add_argument("--role", action="append", required=True, choices=ROLES,
                        help="a role the token grants (repeat for several)")
    parser.add_argument("--subject", required=True, help="who holds it: a service account or a person")
    parser.add_argument("--ttl", type=parse_ttl, help="lifetime, e.g. 3600, 15m, 8h, 30d (default AUTH_TOKEN_TTL_S)")
    parser.add_argument("--key", help="PEM private key to sign with (default AUTH_SIGNING_KEY_PATH); "
                                      "none: HS256 with AUTH_SECRET (development)")
    args = parser.parse_args(argv)
    subject = args.subject.strip()
    if not subject or len(subject) > 100:
        parser.error("--subject: 1 to 100 characters")
    overrides: dict[str, object] = {}
    if args.ttl:
        overrides["auth_token_ttl_s"] = args.ttl
    if args.key:
        overrides["auth_signing_key_path"] = args.key
    settings = AuthSettings(**overrides)  # type: ignore[arg-type]
    if not settings.auth_signing_key_path:
        print("(HS256 with AUTH_SECRET: the development path; give --key for a key-signed token)", file=sys.stderr)
    print(issue_token(settings, subject, args.role))
    return 0


def keygen(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.token keygen", description="Make an Ed25519 key pair.")
    parser.add_argument("--kid", default="service-accounts", help="key id, also the .pem file's name")
    parser.add_argument("--roles", default="platform", help="comma-separated roles its tokens may claim")
    parser.add_argument("--dir", default="var/keys", help="where the .pem and jwks.json go")
    args = parser.parse_args(argv)
    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    if not roles or set(roles) - set(ROLES):
        parser.error(f"--roles: one or more of {', '.join(ROLES)}")
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,100}", args.kid):
        parser.error("--kid: letters, digits, '.', '_' and '-' only")
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    pem = folder / f"{args.kid}.pem"
    if pem.exists():
        parser.error(f"{pem} exists: remove it first to replace the key (tokens it signed stop working)")
    fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(new_ed25519_pem())
    jwks_path = folder / "jwks.json"
    document = json.loads(jwks_path.read_text()) if jwks_path.exists() else {"keys": []}
    entry = public_jwk(load_signing_key(pem, args.kid), roles)
    document["keys"] = [k for k in document["keys"] if k.get("kid") != args.kid] + [entry]
    jwks_path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"private key: {pem} (keep it where tokens are issued)\npublic keys: {jwks_path} "
          f"(give it to every service as AUTH_PUBLIC_KEYS_PATH); kid {args.kid!r} may grant {', '.join(roles)}")
    return 0


def ensure_dev_keys(folder: Path) -> Path:
    """`make run`'s service-account key pair, made once (var/keys is not in git): the JWKS path to
    give the services. The quick-start signs the checkout's token with `<folder>/service-accounts.pem`."""
    if not (folder / "service-accounts.pem").exists() or not (folder / "jwks.json").exists():
        (folder / "service-accounts.pem").unlink(missing_ok=True)
        keygen(["--dir", str(folder)])
    return folder / "jwks.json"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["keygen"]:
        return keygen(argv[1:])
    return mint(argv)


if __name__ == "__main__":
    raise SystemExit(main())
