"""Who may call what (R28): every HTTP endpoint except health, readiness, metrics and the API
documents needs a bearer token, a JWT signed with the deployment's secret (HS256), whose
`roles` claim names one or more of the roles below. Each service declares, per route, which
roles may call it; a route it forgot to declare is admin-only, so forgetting fails closed.

The development secret is public (it is in this file) and is refused when ENV=production.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

import jwt
from fastapi import HTTPException, Request
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROLES = ("platform", "warehouse", "support", "admin")
DEV_SECRET = "dev-secret-not-for-production-0123456789abcdef"
ALGORITHM = "HS256"

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/brokerz", "/metrics", "/docs", "/openapi.json", "/asyncapi.json",
                          "/docs/oauth2-redirect", "/redoc"})

AccessTable = Mapping[tuple[str, str], frozenset[str]]
"""(HTTP method, route path template) -> roles allowed, e.g. ("POST", "/orders"): {"platform"}."""


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    env: str = Field(default="development", description="`production` refuses the development secret.")
    auth_secret: str = Field(default=DEV_SECRET, description="HMAC key that signs and verifies tokens.")
    auth_token_ttl_s: int = Field(default=8 * 3600, gt=0)
    # Asymmetric tokens (issue 33, shared/auth_keys.py, docs/security.md "Service accounts").
    auth_public_keys_path: str = Field(default="", description="JWKS of the keys whose tokens this "
                                       "service accepts, each scoped by `peak_roles`; empty: none.")
    auth_signing_key_path: str = Field(default="", description="PEM private key that issue_token signs "
                                       "with (the console, tools.token); empty: HS256 with AUTH_SECRET.")
    auth_signing_key_id: str = Field(default="", description="kid of that key; default: the file's stem.")
    auth_issuer: str = Field(default="peak-fulfilment", description="`iss` of asymmetric tokens, checked.")
    auth_audience: str = Field(default="peak-fulfilment-services", description="`aud` of asymmetric tokens, checked.")

    def checked(self) -> "AuthSettings":
        # An empty AUTH_SECRET turns HS256 off: the services then hold public keys only.
        if self.env == "production" and self.auth_secret and (self.auth_secret == DEV_SECRET
                                                               or len(self.auth_secret) < 32):
            raise RuntimeError("ENV=production needs AUTH_SECRET set to a private value of at least 32 "
                               "characters (or empty, with AUTH_PUBLIC_KEYS_PATH); the development secret is public")
        if not self.auth_secret and not self.auth_public_keys_path:
            raise RuntimeError("AUTH_SECRET is empty and AUTH_PUBLIC_KEYS_PATH unset: no token could be verified")
        if self.auth_public_keys_path:
            from shared.token_verify import public_keys

            public_keys(self)  # a bad key set stops the start-up, not the first request
        return self


def issue_token(settings: AuthSettings, subject: str, roles: Iterable[str], *,
                now: datetime | None = None) -> str:
    roles = sorted(set(roles))
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s) {sorted(unknown)}; roles are {', '.join(ROLES)}")
    issued = now or datetime.now(UTC)
    claims = {"sub": subject, "roles": roles, "iat": issued,
              "exp": issued + timedelta(seconds=settings.auth_token_ttl_s)}
    if settings.auth_signing_key_path:
        from shared.token_verify import sign

        return sign(settings, claims)
    return jwt.encode(claims, settings.auth_secret, algorithm=ALGORITHM)


class Principal:
    def __init__(self, subject: str, roles: frozenset[str]) -> None:
        self.subject = subject
        self.roles = roles

    def __repr__(self) -> str:
        return f"{self.subject}({','.join(sorted(self.roles))})"


def verify_token(settings: AuthSettings, token: str) -> Principal:
    from shared.token_verify import verify_asymmetric

    asymmetric = verify_asymmetric(settings, token)  # None: an HS256 token, checked below
    if asymmetric is not None:
        return asymmetric
    try:
        claims = jwt.decode(token, settings.auth_secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise HTTPException(401, "token expired; sign in again", headers={"WWW-Authenticate": "Bearer"}) from exc
    except jwt.InvalidTokenError as exc:
        raise HTTPException(401, f"invalid token: {_token_problem(exc)}", headers={"WWW-Authenticate": "Bearer"}) from exc
    roles = claims.get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise HTTPException(401, "invalid token: `roles` must be a list of role names")
    return Principal(str(claims["sub"]), frozenset(roles))


def _token_problem(exc: jwt.InvalidTokenError) -> str:
    """What is wrong with a token, in words for the caller: never the decoder's internals (a
    malformed token used to answer with a codec error quoting its bytes)."""
    if isinstance(exc, jwt.InvalidSignatureError):
        return "the signature does not match"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the `{exc.claim}` claim is missing"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "not valid yet (`nbf` or `iat` in the future)"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return f"signed with an algorithm other than {ALGORITHM}"
    if isinstance(exc, jwt.DecodeError):
        return "not a well-formed JWT (three base64url parts: header, claims, signature)"
    return "its claims are not valid"


def authorizer(settings: AuthSettings, access: AccessTable):
    """A FastAPI dependency for the whole app: authenticates, then checks the route's roles."""

    def authorize(request: Request) -> Principal | None:
        route = request.scope.get("route")
        path = getattr(route, "path", request.url.path)
        if path in PUBLIC_PATHS:
            return None
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(401, "sign-in required: send `Authorization: Bearer <token>`",
                                headers={"WWW-Authenticate": "Bearer"})
        principal = verify_token(settings, token.strip())
        allowed = access.get((request.method, path), frozenset({"admin"}))
        if not principal.roles & allowed:
            raise HTTPException(403, f"role(s) {', '.join(sorted(principal.roles)) or 'none'} may not "
                                     f"{request.method} {path}; allowed: {', '.join(sorted(allowed))}")
        request.state.principal = principal
        return principal

    return authorize


def actor(request: Request) -> str:
    """Who is acting, for audit trails: the token's subject and roles."""
    principal = getattr(request.state, "principal", None)
    return repr(principal) if principal else "anonymous"
