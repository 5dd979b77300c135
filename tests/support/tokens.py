"""Hand-made tokens for the service-account tests (issue 33): what a forger would build."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta


def claims(**overrides) -> dict:
    now = datetime.now(UTC)
    return {"sub": "mallory", "roles": ["platform"], "iat": now, "exp": now + timedelta(hours=1),
            "iss": "peak-fulfilment", "aud": "peak-fulfilment-services", **overrides}


def hs256(payload: dict, secret: bytes, *, kid: str, alg_header: str = "HS256") -> str:
    """An HMAC-signed token built by hand: PyJWT itself refuses PEM-looking HMAC keys."""

    def part(obj: dict) -> str:
        raw = json.dumps(obj, default=lambda d: int(d.timestamp()), separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{part({'alg': alg_header, 'typ': 'JWT', 'kid': kid})}.{part(payload)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
