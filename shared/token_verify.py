"""Verifying (and signing) the asymmetric tokens of shared/auth_keys.py for shared/auth.py.

The path a token takes is chosen from its header, but what it must satisfy is not: an `HS256`
header goes to the shared-secret check (refused when this service holds no secret), anything
else must name a `kid` from the service's JWKS and be signed with that key's own algorithm,
carry `iss`, `aud`, `exp`, `iat` and `sub`, and claim only roles the key is scoped to.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import jwt
from fastapi import HTTPException

from shared.auth_keys import PublicKey, SigningKey, load_public_keys, load_signing_key

if TYPE_CHECKING:
    from shared.auth import AuthSettings, Principal

# A JWT with a few claims is under 1 KB; the cap keeps a 1 MB header from being parsed at all.
MAX_TOKEN_CHARS = 8 * 1024
LEEWAY_S = 30  # clocks of signer and verifier disagree a little


def _refuse(detail: str) -> HTTPException:
    return HTTPException(401, f"invalid token: {detail}", headers={"WWW-Authenticate": "Bearer"})


@lru_cache(maxsize=8)
def _keys(path: str, roles: tuple[str, ...]) -> dict[str, PublicKey]:
    return load_public_keys(path, roles)


def public_keys(settings: "AuthSettings") -> dict[str, PublicKey]:
    from shared.auth import ROLES

    return _keys(settings.auth_public_keys_path, ROLES) if settings.auth_public_keys_path else {}


@lru_cache(maxsize=8)
def _signing_key(path: str, kid: str) -> SigningKey:
    return load_signing_key(path, kid)


def sign(settings: "AuthSettings", claims: dict[str, object]) -> str:
    key = _signing_key(settings.auth_signing_key_path, settings.auth_signing_key_id)
    claims = {**claims, "iss": settings.auth_issuer, "aud": settings.auth_audience}
    return jwt.encode(claims, key.key, algorithm=key.algorithm, headers={"kid": key.kid})


def verify_asymmetric(settings: "AuthSettings", token: str) -> "Principal | None":
    """The principal of an asymmetric token, None for an HS256 one this service may check with its
    secret; a 401 for everything else."""
    from shared.auth import Principal

    if len(token) > MAX_TOKEN_CHARS:
        raise _refuse(f"over {MAX_TOKEN_CHARS} characters")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise _refuse("not a well-formed JWT (three base64url parts: header, claims, signature)") from exc
    alg = header.get("alg")
    if alg == "HS256":
        if not settings.auth_secret:
            raise _refuse("HS256 tokens are not accepted here (no shared secret): use a key-signed token")
        return None
    kid = header.get("kid")
    keys = public_keys(settings)
    if not isinstance(kid, str) or kid not in keys:
        raise _refuse(f"no key {str(kid)[:40]!r} among this service's public keys" if keys
                      else f"signed with {str(alg)[:20]!r}; this service accepts HS256 only")
    key = keys[kid]
    if alg != key.algorithm:
        raise _refuse(f"key {kid!r} signs with {key.algorithm}, the token says {str(alg)[:20]!r}")
    try:
        claims = jwt.decode(token, key.key, algorithms=[key.algorithm], audience=settings.auth_audience,
                            issuer=settings.auth_issuer, leeway=LEEWAY_S,
                            options={"require": ["exp", "iat", "sub", "iss", "aud"]})
    except jwt.ExpiredSignatureError as exc:
        raise HTTPException(401, "token expired; ask for a new one", headers={"WWW-Authenticate": "Bearer"}) from exc
    except jwt.InvalidAudienceError as exc:
        raise _refuse(f"`aud` is not {settings.auth_audience!r}") from exc
    except jwt.InvalidIssuerError as exc:
        raise _refuse(f"`iss` is not {settings.auth_issuer!r}") from exc
    except jwt.InvalidTokenError as exc:
        from shared.auth import _token_problem

        raise _refuse(_token_problem(exc)) from exc
    roles = claims.get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise _refuse("`roles` must be a list of role names")
    beyond = set(roles) - key.roles
    if beyond:
        # Refused whole, not trimmed: a token claiming more than its key may grant is forged or misissued.
        raise _refuse(f"key {kid!r} may grant only {', '.join(sorted(key.roles))}; the token claims "
                      f"{', '.join(sorted(beyond))}")
    return Principal(str(claims["sub"]), frozenset(roles))

