"""Asymmetric tokens (issue 33): services verify with public keys and cannot mint.

A deployment gives every service a JWKS document (`AUTH_PUBLIC_KEYS_PATH`). Each key in it
carries, beside the standard members, `peak_roles`: the only roles a token signed by that key
may claim. The service-account key (`python -m tools.token`) is listed with `["platform"]`, so
a machine token claiming `admin` is refused whatever its signer wrote: a platform token cannot
act as admin by construction, not by convention. The console's key (people) may list every role.

Why the scope lives in the JWKS and not in the token: whoever holds a private key writes the
claims, so a claim cannot limit its own signer; the document the verifier was given can.

Only two key kinds are accepted, each bound to one algorithm: Ed25519 (`OKP`, EdDSA) and RSA of
at least 2048 bits (RS256). The algorithm a token must use comes from the key, never from the
token's header, which closes the algorithm-confusion attacks (HS256 keyed with the public key,
`alg: none`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

SCOPE_MEMBER = "peak_roles"
MIN_RSA_BITS = 2048
MAX_JWKS_BYTES = 256 * 1024
ALGORITHM_FOR = {"OKP": "EdDSA", "RSA": "RS256"}


class KeySetError(ValueError):
    """A key or key set that cannot be used; the message says why."""


@dataclass(frozen=True)
class PublicKey:
    kid: str
    algorithm: str
    key: Ed25519PublicKey | RSAPublicKey
    roles: frozenset[str]


def load_public_keys(path: str | Path, known_roles: tuple[str, ...]) -> dict[str, PublicKey]:
    """The verifying keys by `kid`. Anything doubtful fails the start-up rather than being skipped:
    a key silently dropped would turn into 401s nobody can explain, one silently kept into a hole."""
    raw = Path(path).read_bytes()
    if len(raw) > MAX_JWKS_BYTES:
        raise KeySetError(f"{path}: a key set over {MAX_JWKS_BYTES} bytes is not a key set")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeySetError(f"{path}: not a JSON document ({exc})") from exc
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise KeySetError(f"{path}: a JWKS needs a non-empty `keys` list")
    keys: dict[str, PublicKey] = {}
    for entry in entries:
        key = _public_key(entry, known_roles)
        if key.kid in keys:
            raise KeySetError(f"{path}: kid {key.kid!r} is listed twice")
        keys[key.kid] = key
    return keys


def _public_key(entry: object, known_roles: tuple[str, ...]) -> PublicKey:
    if not isinstance(entry, dict):
        raise KeySetError("every JWKS entry must be an object")
    kid = entry.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 100:
        raise KeySetError("every key needs a `kid` (1-100 characters): tokens name the key that signed them")
    kty = entry.get("kty")
    algorithm = ALGORITHM_FOR.get(kty) if isinstance(kty, str) else None
    if algorithm is None:
        raise KeySetError(f"key {kid!r}: kty {kty!r} is not accepted (OKP Ed25519 or RSA)")
    if "d" in entry or "p" in entry:
        raise KeySetError(f"key {kid!r} holds private parts: give services the public key only")
    if entry.get("alg") not in (None, algorithm):
        raise KeySetError(f"key {kid!r}: alg {entry.get('alg')!r} does not go with kty {kty} ({algorithm})")
    roles = entry.get(SCOPE_MEMBER)
    if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
        raise KeySetError(f"key {kid!r}: `{SCOPE_MEMBER}` must list the roles its tokens may claim")
    unknown = set(roles) - set(known_roles)
    if unknown:
        raise KeySetError(f"key {kid!r}: unknown role(s) {sorted(unknown)} in `{SCOPE_MEMBER}`")
    try:
        key = jwt.PyJWK({k: v for k, v in entry.items() if k != SCOPE_MEMBER}, algorithm=algorithm).key
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise KeySetError(f"key {kid!r}: not a usable {kty} key ({exc})") from exc
    if isinstance(key, RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise KeySetError(f"key {kid!r}: an RSA key of {key.key_size} bits is too weak (at least {MIN_RSA_BITS})")
    if not isinstance(key, (Ed25519PublicKey, RSAPublicKey)):
        raise KeySetError(f"key {kid!r}: only Ed25519 and RSA public keys are accepted")
    return PublicKey(kid, algorithm, key, frozenset(roles))


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    key: Ed25519PrivateKey | RSAPrivateKey


def load_signing_key(path: str | Path, kid: str = "") -> SigningKey:
    """A PEM private key (PKCS#8, unencrypted; keep the file 0600). `kid` defaults to the file's
    stem, the name `tools.token keygen` gives both the key file and its JWKS entry."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if isinstance(key, Ed25519PrivateKey):
        algorithm = "EdDSA"
    elif isinstance(key, RSAPrivateKey) and key.key_size >= MIN_RSA_BITS:
        algorithm = "RS256"
    else:
        raise KeySetError(f"{path}: an Ed25519 key (or RSA of at least {MIN_RSA_BITS} bits) is needed")
    return SigningKey(kid or Path(path).stem, algorithm, key)


def public_jwk(key: SigningKey, roles: list[str]) -> dict[str, object]:
    """The JWKS entry services need to verify `key`'s tokens, scoped to `roles`."""
    algorithm = jwt.get_algorithm_by_name(key.algorithm)
    entry = json.loads(algorithm.to_jwk(key.key.public_key()))
    return {**entry, "kid": key.kid, "use": "sig", "alg": key.algorithm, SCOPE_MEMBER: sorted(roles)}


def new_ed25519_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption())
