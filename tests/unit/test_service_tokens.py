"""Service-account tokens (issue 33): verify with a public key, never mint with it.

Every forgery an outsider (or a service holding only the JWKS) could try is refused with a 401:
another key under the same kid, the public key used as an HS256 secret (algorithm confusion),
`alg: none`, wrong `iss`, wrong `aud`, expired, a kid that is not there, a platform key claiming
admin, a 1 MB token, bytes that are not UTF-8. Key sets with weak or private keys stop the start.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import HTTPException

from shared.auth import ROLES, AuthSettings, issue_token, verify_token
from shared.auth_keys import KeySetError, load_public_keys, load_signing_key, public_jwk
from tests.support.tokens import claims, hs256
from tools import token as token_cli



@pytest.fixture
def keys(tmp_path: Path) -> Path:
    assert token_cli.main(["keygen", "--dir", str(tmp_path)]) == 0  # service-accounts: platform only
    assert token_cli.main(["keygen", "--dir", str(tmp_path), "--kid", "console", "--roles", ",".join(ROLES)]) == 0
    return tmp_path


def verifier(keys: Path, secret: str = "") -> AuthSettings:
    """A service given only the public keys (no shared secret: HS256 off)."""
    return AuthSettings(auth_secret=secret, auth_public_keys_path=str(keys / "jwks.json")).checked()


def signer(keys: Path, kid: str = "service-accounts", **overrides) -> AuthSettings:
    return AuthSettings(auth_signing_key_path=str(keys / f"{kid}.pem"), **overrides)


def refused(settings: AuthSettings, token: str) -> str:
    with pytest.raises(HTTPException) as caught:
        verify_token(settings, token)
    assert caught.value.status_code == 401
    return str(caught.value.detail)


def test_a_key_signed_platform_token_is_accepted_with_its_subject_and_role(keys: Path) -> None:
    principal = verify_token(verifier(keys), issue_token(signer(keys), "checkout", ["platform"]))
    assert (principal.subject, principal.roles) == ("checkout", frozenset({"platform"}))
    header = jwt.get_unverified_header(issue_token(signer(keys), "checkout", ["platform"]))
    assert header["alg"] == "EdDSA" and header["kid"] == "service-accounts"


def test_the_people_key_may_grant_admin_the_service_key_may_not(keys: Path) -> None:
    assert verify_token(verifier(keys), issue_token(signer(keys, "console"), "ann", ["admin"])).roles == {"admin"}
    detail = refused(verifier(keys), issue_token(signer(keys), "checkout", ["platform", "admin"]))
    assert "may grant only platform" in detail and "admin" in detail


def test_forgeries_by_a_holder_of_the_public_key_are_all_refused(keys: Path) -> None:
    service = verifier(keys)
    jwks = json.loads((keys / "jwks.json").read_text())
    public_pem = load_signing_key(keys / "service-accounts.pem").key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    fresh = keys / "fresh"
    token_cli.main(["keygen", "--dir", str(fresh), "--kid", "service-accounts"])
    attempts = {
        "a fresh key under the same kid": issue_token(signer(fresh), "mallory", ["platform"]),
        "HS256 keyed with the public PEM": hs256(claims(), public_pem, kid="service-accounts"),
        "HS256 keyed with the JWK's x": hs256(claims(), jwks["keys"][0]["x"].encode(), kid="service-accounts"),
        "alg none": jwt.encode(claims(), None, algorithm="none", headers={"kid": "service-accounts"}),
        "wrong iss": issue_token(signer(keys, auth_issuer="someone-else"), "mallory", ["platform"]),
        "wrong aud": issue_token(signer(keys, auth_audience="another-platform"), "mallory", ["platform"]),
        "expired": issue_token(signer(keys, auth_token_ttl_s=60), "mallory", ["platform"],
                               now=datetime.now(UTC) - timedelta(hours=2)),
        "a kid that is not there": issue_token(signer(keys, auth_signing_key_id="nobody"), "mallory", ["platform"]),
        "no kid": jwt.encode(claims(), load_signing_key(keys / "service-accounts.pem").key, algorithm="EdDSA"),
        "the dev HS256 secret": issue_token(AuthSettings(), "mallory", ["admin"]),
    }
    details = {what: refused(service, token) for what, token in attempts.items()}
    assert "signature does not match" in details["a fresh key under the same kid"]
    assert "HS256 tokens are not accepted here" in details["HS256 keyed with the public PEM"]
    assert "`iss` is not" in details["wrong iss"] and "`aud` is not" in details["wrong aud"]
    assert "no key 'nobody'" in details["a kid that is not there"]
    # Even a service that also holds a shared secret does not take the public key as one.
    both = verifier(keys, secret="a-private-secret-of-enough-length-0123456789")
    assert "signature does not match" in refused(both, attempts["HS256 keyed with the public PEM"])


def test_a_token_saying_eddsa_for_an_rsa_key_is_refused(tmp_path: Path) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "rsa.pem"
    pem.write_bytes(rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    entry = public_jwk(load_signing_key(pem), ["platform"])
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [entry]}))
    service = verifier(tmp_path)
    assert verify_token(service, issue_token(AuthSettings(auth_signing_key_path=str(pem)), "erp", ["platform"]))
    assert "signs with RS256" in refused(service, hs256(claims(), b"x" * 32, kid="rsa", alg_header="EdDSA"))


def test_huge_and_non_utf8_tokens_are_refused_without_being_parsed(keys: Path) -> None:
    service = verifier(keys)
    assert "over 8192 characters" in refused(service, "a" * 1_000_000)
    # Starlette hands header bytes over as latin-1 text: what a client's raw 0xff bytes become.
    assert "not a well-formed JWT" in refused(service, b"\xff\xfe.\xc3\x28.\x80".decode("latin-1"))
    assert "not a well-formed JWT" in refused(service, "eyJ.\x00.x")


@pytest.mark.parametrize("entry, why", [
    ({"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "peak_roles": ["platform"]}, "needs a `kid`"),
    ({"kty": "oct", "k": "c2VjcmV0", "kid": "k", "peak_roles": ["platform"]}, "kty 'oct' is not accepted"),
    ({"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "k"}, "must list the roles"),
    ({"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "k", "peak_roles": ["root"]}, "unknown role"),
    ({"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "d": "AAAA", "kid": "k", "peak_roles": ["platform"]},
     "private parts"),
    ({"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "k", "alg": "HS256", "peak_roles": ["platform"]},
     "does not go with"),
    ({"kty": "OKP", "crv": "Ed25519", "x": "!!", "kid": "k", "peak_roles": ["platform"]}, "not a usable"),
])
def test_a_doubtful_key_set_stops_the_start(tmp_path: Path, entry: dict, why: str) -> None:
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [entry]}))
    with pytest.raises(KeySetError, match=why):
        load_public_keys(tmp_path / "jwks.json", ROLES)


def test_an_rsa_key_of_512_bits_in_the_jwks_is_refused(tmp_path: Path) -> None:
    n, e = (1 << 511) + 111, 65537  # any odd 512-bit modulus: cryptography will not generate one that small

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()

    entry = {"kty": "RSA", "n": b64(n), "e": b64(e), "kid": "weak", "peak_roles": ["platform"]}
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [entry]}))
    with pytest.raises(KeySetError, match="512 bits is too weak"):
        load_public_keys(tmp_path / "jwks.json", ROLES)
    with pytest.raises(KeySetError):  # and a service given it does not start
        AuthSettings(auth_secret="", auth_public_keys_path=str(tmp_path / "jwks.json")).checked()


def test_no_secret_and_no_keys_is_refused_and_production_may_drop_the_secret(keys: Path) -> None:
    with pytest.raises(RuntimeError, match="no token could be verified"):
        AuthSettings(auth_secret="").checked()
    AuthSettings(env="production", auth_secret="", auth_public_keys_path=str(keys / "jwks.json")).checked()
    with pytest.raises(RuntimeError):
        AuthSettings(env="production").checked()


def test_the_cli_parses_lifetimes_and_refuses_nonsense() -> None:
    assert [token_cli.parse_ttl(t) for t in ("90", "15m", "8h", "30d")] == [90, 900, 28800, 2592000]
    for bad in ("0", "-5", "1y", "400d", "", "1.5h"):
        with pytest.raises(Exception):
            token_cli.parse_ttl(bad)
