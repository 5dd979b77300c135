"""Who may sign in: users from configuration, with PBKDF2-SHA256 password hashes (hashlib).

No password is stored in this repository in plain text. The development users below carry only
hashes; their passwords are documented in docs/console.md, and both the users and their
passwords are refused when ENV=production.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from console.settings import CONSOLE_ROLES, ConfiguredUser

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 600_000  # OWASP's 2023 figure for PBKDF2-HMAC-SHA256

DEV_USERS: dict[str, ConfiguredUser] = {
    # Passwords: docs/console.md ("Development users"). Hashes only, on purpose.
    "warehouse": ConfiguredUser(roles=["warehouse"], password_hash=(
        "pbkdf2_sha256$600000$ecEOtZWl1bUwzl9aOCw9TA$4pdJZa/G+qT6gklVTPxxgu5ZUSB+nyRaXqVfmB75TXg")),
    "support": ConfiguredUser(roles=["support"], password_hash=(
        "pbkdf2_sha256$600000$1vztlqO8QKFnt/uiAL61Lw$k8H39xVJBJSYDTSl+RLjBN5xW5dhLnG312O6aYJEFyc")),
    "admin": ConfiguredUser(roles=["admin"], password_hash=(
        "pbkdf2_sha256$600000$Z9n+fkHYFlVze0DbYF41/w$yA5NpkNf2Pr20402MF6zJbpQ6H45jP+clD51PpnQNAA")),
}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{ALGORITHM}${iterations}${_b64(salt)}${_b64(digest)}"


def check_hash_format(encoded: str) -> None:
    parts = encoded.split("$")
    if len(parts) != 4 or parts[0] != ALGORITHM or not parts[1].isdigit() or int(parts[1]) < 1:
        raise ValueError(f"a password hash must look like {ALGORITHM}$<iterations>$<salt>$<hash> "
                         "(make one with `python -m console hash-password`)")


def verify_password(password: str, encoded: str) -> bool:
    try:
        check_hash_format(encoded)
        _, iterations, salt, expected = encoded.split("$")
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), _unb64(salt), int(iterations))
        return hmac.compare_digest(digest, _unb64(expected))
    except (ValueError, TypeError):
        return False


@dataclass(frozen=True)
class User:
    username: str
    roles: frozenset[str]


class UserDirectory:
    def __init__(self, users: dict[str, ConfiguredUser], *, production: bool) -> None:
        self.production = production
        if not users:
            if production:
                raise RuntimeError("ENV=production needs CONSOLE_USERS (JSON: username -> {roles, password_hash}); "
                                   "the development users are refused")
            users = DEV_USERS
        dev_hashes = {u.password_hash for u in DEV_USERS.values()}
        for name, user in users.items():
            check_hash_format(user.password_hash)
            unknown = set(user.roles) - set(CONSOLE_ROLES)
            if unknown:
                raise ValueError(f"user {name!r}: unknown role(s) {sorted(unknown)}; roles are {', '.join(CONSOLE_ROLES)}")
            if production and user.password_hash in dev_hashes:
                raise RuntimeError(f"user {name!r} has a development password hash; ENV=production refuses it")
        self.users = users
        # Timing: an unknown name costs a hash like a known one, so names cannot be probed.
        self._dummy = hash_password(secrets.token_hex(8), iterations=ITERATIONS)

    @property
    def using_dev_users(self) -> bool:
        return self.users is DEV_USERS

    def authenticate(self, username: str, password: str) -> User | None:
        user = self.users.get(username)
        if user is None:
            verify_password(password, self._dummy)
            return None
        if not verify_password(password, user.password_hash):
            return None
        if self.production and is_dev_password(password):
            return None
        return User(username, frozenset(user.roles))


def is_dev_password(password: str) -> bool:
    """True for a documented development password, whatever hash it was configured with."""
    return any(verify_password(password, u.password_hash) for u in DEV_USERS.values())
