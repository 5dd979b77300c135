"""Kafka wire protocol probe: just enough to prove a local broker really serves requests.

An open port is not a working broker (the socket listens long before the broker joins its
cluster), and kafka-python is not installed yet when the broker first starts, so the few requests
the readiness check needs (ApiVersions, Metadata, and SASL/SCRAM to sign in on a secure listener)
are spoken here with the standard library.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import ssl
import struct
import time
from typing import TYPE_CHECKING

from deploy.localkafka_base import LocalKafkaError

if TYPE_CHECKING:
    from deploy.localkafka_security import Security

API_METADATA = 3
API_SASL_HANDSHAKE = 17
API_VERSIONS = 18
API_SASL_AUTHENTICATE = 36
UNSUPPORTED_VERSION = 35


def api_versions(host: str, port: int, timeout: float = 2.0,
                 tls: ssl.SSLContext | None = None) -> dict[int, tuple[int, int]]:
    """Send ApiVersions v0; return {api_key: (min_version, max_version)}.

    v0 is used because every broker answers it: even one that has dropped v0
    replies in v0 layout with UNSUPPORTED_VERSION and its full version list.
    Raises OSError / LocalKafkaError when the broker does not answer properly.
    """
    body = _request(host, port, API_VERSIONS, 0, b"", timeout, tls)
    error, count = struct.unpack_from(">hi", body, 0)
    if error not in (0, UNSUPPORTED_VERSION):
        raise LocalKafkaError(f"ApiVersions error code {error} from {host}:{port}")
    versions = {}
    for i in range(count):
        key, lo, hi = struct.unpack_from(">hhh", body, 6 + 6 * i)
        versions[key] = (lo, hi)
    return versions


def live_brokers(host: str, port: int, timeout: float = 2.0,
                 security: "Security | None" = None) -> dict[int, str]:
    """Ask one broker for cluster metadata; return {node_id: "host:port"} of live brokers.

    Only unfenced brokers are listed, so this tells whether the whole cluster
    (not just the one socket) is up. A secure cluster answers Metadata only after
    SASL authentication, so with `security` the probe signs in as its admin first.
    """
    tls = security.tls_context() if security is not None else None
    version = _metadata_version(api_versions(host, port, timeout, tls))
    # Empty topic array (not null) = no topic metadata; auto-create off.
    req = struct.pack(">i?", 0, False)
    if version >= 8:
        req += struct.pack(">??", False, False)  # authorized-operations flags
    with connect(host, port, timeout, tls) as sock:
        if security is not None:
            scram_authenticate(sock, security.admin_user, security.admin_password, security.mechanism)
        body = _roundtrip(sock, API_METADATA, version, req)
    # v3+: throttle_time_ms, then the brokers array.
    (count,) = struct.unpack_from(">i", body, 4)
    pos, brokers = 8, {}
    for _ in range(count):
        (node_id,) = struct.unpack_from(">i", body, pos)
        broker_host, pos = _read_string(body, pos + 4)
        (broker_port,) = struct.unpack_from(">i", body, pos)
        _rack, pos = _read_string(body, pos + 4)
        brokers[node_id] = f"{broker_host}:{broker_port}"
    return brokers


def broker_answers(host: str, port: int, timeout: float = 2.0,
                   tls: ssl.SSLContext | None = None) -> bool:
    """True if a Kafka broker serves an ApiVersions request on host:port.

    ApiVersions is answered before SASL authentication, so this works on a secure
    listener too (with `tls` for SASL_SSL)."""
    try:
        return API_METADATA in api_versions(host, port, timeout, tls)
    except (OSError, LocalKafkaError, struct.error):
        return False


def _metadata_version(versions: dict[int, tuple[int, int]]) -> int:
    # Versions 4..8 share the non-flexible layout parsed above; Kafka 4 dropped 0..3.
    lo, hi = versions.get(API_METADATA, (0, -1))
    version = max(lo, 4)
    if version > min(hi, 8):
        raise LocalKafkaError(f"broker supports Metadata v{lo}..v{hi}, probe needs v4..v8")
    return version


def _request(host: str, port: int, api_key: int, version: int, body: bytes,
             timeout: float, tls: ssl.SSLContext | None = None) -> bytes:
    """One request/response round trip on a new connection; returns the response after its header."""
    with connect(host, port, timeout, tls) as sock:
        return _roundtrip(sock, api_key, version, body)


def connect(host: str, port: int, timeout: float, tls: ssl.SSLContext | None = None) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout)
    if tls is None:
        return sock
    try:
        return tls.wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise


def _roundtrip(sock: socket.socket, api_key: int, version: int, body: bytes) -> bytes:
    """One request/response on an open connection; returns the response after its header."""
    correlation_id = int(time.monotonic_ns() & 0x7FFFFFFF)
    client_id = b"localkafka-probe"
    # Request header v1 (non-flexible): key, version, correlation id, client id.
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    message = header + body
    sock.sendall(struct.pack(">i", len(message)) + message)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    response = _recv_exact(sock, size)
    (got_id,) = struct.unpack_from(">i", response, 0)
    if got_id != correlation_id:
        raise LocalKafkaError("correlation id mismatch from the broker")
    return response[4:]


def scram_authenticate(sock: socket.socket, user: str, password: str,
                        mechanism: str = "SCRAM-SHA-256") -> None:
    """SASL/SCRAM (RFC 5802/7677) over SaslHandshake v1 + SaslAuthenticate v1, standard library only.

    Raises LocalKafkaError when the broker refuses the mechanism or the credentials, or its
    own proof (the server signature) does not check out."""
    digest = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}[mechanism]
    name = mechanism.encode()
    body = _roundtrip(sock, API_SASL_HANDSHAKE, 1, struct.pack(">h", len(name)) + name)
    (error,) = struct.unpack_from(">h", body, 0)
    if error:
        raise LocalKafkaError(f"broker refused SASL mechanism {mechanism} (error {error})")

    def exchange(token: bytes) -> bytes:
        reply = _roundtrip(sock, API_SASL_AUTHENTICATE, 1, struct.pack(">i", len(token)) + token)
        (code,) = struct.unpack_from(">h", reply, 0)
        message, pos = _read_string(reply, 2)
        if code:
            raise LocalKafkaError(f"SASL authentication of {user!r} failed (error {code}: {message})")
        (length,) = struct.unpack_from(">i", reply, pos)
        return reply[pos + 4:pos + 4 + max(length, 0)]

    safe_user = user.replace("=", "=3D").replace(",", "=2C")
    nonce = base64.b64encode(os.urandom(18)).decode()
    client_first_bare = f"n={safe_user},r={nonce}"
    server_first = exchange(f"n,,{client_first_bare}".encode()).decode()
    fields = dict(item.split("=", 1) for item in server_first.split(","))
    if not fields.get("r", "").startswith(nonce):
        raise LocalKafkaError("SCRAM: the broker's nonce does not extend ours")
    salted = hashlib.pbkdf2_hmac(digest, password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
    client_key = hmac.new(salted, b"Client Key", digest).digest()
    stored_key = hashlib.new(digest, client_key).digest()
    final_bare = f"c=biws,r={fields['r']}"  # biws = base64("n,,"): no channel binding
    auth_message = f"{client_first_bare},{server_first},{final_bare}".encode()
    signature = hmac.new(stored_key, auth_message, digest).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    server_final = exchange(f"{final_bare},p={base64.b64encode(proof).decode()}".encode()).decode()
    server_key = hmac.new(salted, b"Server Key", digest).digest()
    expected = base64.b64encode(hmac.new(server_key, auth_message, digest).digest()).decode()
    if server_final != f"v={expected}":
        raise LocalKafkaError(f"SCRAM: the broker's signature does not verify ({server_final[:40]!r})")


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(left)
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_string(buf: bytes, pos: int) -> tuple[str | None, int]:
    (length,) = struct.unpack_from(">h", buf, pos)
    pos += 2
    if length < 0:
        return None, pos
    return buf[pos:pos + length].decode(), pos + length

