"""Run a real Apache Kafka broker (KRaft mode) on this machine, without Docker.

The broker jars come from Maven (deploy/kafka/pom.xml) into var/kafka-libs/,
and each broker is a plain `java kafka.Kafka server.properties` subprocess.

CLI:
    python -m deploy.localkafka start  [--port 9092] [--brokers 1|3] [--dir var/kafka]
    python -m deploy.localkafka status [--dir var/kafka]
    python -m deploy.localkafka stop   [--dir var/kafka]

API (for pytest fixtures):
    with start(port=None, brokers=1, base_dir=tmp_path) as cluster:
        cluster.bootstrap_servers   # "127.0.0.1:40123"

Secure mode (opt-in; docs/security.md):
    start(..., sasl_users={"admin": "...", "platform": "...", "orders": "..."}, acls=True, tls=False)
    python -m deploy.localkafka start --sasl-user admin=secret --sasl-user platform=pw [--tls] [--no-acls]

The client listener then speaks SASL_PLAINTEXT (SASL_SSL with tls=True, on a self-signed
certificate made with `openssl`) and accepts SCRAM-SHA-256 and SCRAM-SHA-512; the users' SCRAM
credentials are written into the cluster metadata when the storage is formatted. With acls=True
(the default) the StandardAuthorizer refuses everything no ACL allows, except to the super user
`admin`, which the brokers use between themselves. The controller listener uses SASL/PLAIN with
the admin user (KRaft controllers cannot use SCRAM: its credentials live in the metadata they
serve). ACLs are created with deploy/kafka_acls.py (kafka-python). `cluster.client_settings(user)`
gives the KAFKA_* environment a service needs to connect as `user`.

Only the standard library is used so that this works before the project's
Python dependencies are installed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

# Must match <kafka.version> in deploy/kafka/pom.xml; it is also passed to mvn
# explicitly so the lib directory name can never disagree with its contents.
KAFKA_VERSION = "4.4.0"

REPO_ROOT = Path(__file__).resolve().parent.parent
POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
LIBS_ROOT = REPO_ROOT / "var" / "kafka-libs"
DEFAULT_DIR = REPO_ROOT / "var" / "kafka"
DEFAULT_PORT = 9092

HOST = "127.0.0.1"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
STATE_FILE = "cluster.json"
JARS_MARKER = ".complete"

JVM_OPTS = [
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    # C1 only: on a 2-core machine C2's compiler threads took more of the broker's CPU during a
    # 30,000-order burst (5.0 s) than serving it did (2.9 s); C1's code served it as fast.
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
    # slf4j-simple is the only SLF4J binding on the classpath: these flags
    # replace the log4j config file a Kafka distribution would ship.
    "-Dorg.slf4j.simpleLogger.logFile=System.err",
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
    "-Dorg.slf4j.simpleLogger.showDateTime=true",
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS",
    # Config dumps and per-client chatter drown the useful lines.
    "-Dorg.slf4j.simpleLogger.log.org.apache.kafka.common.config.AbstractConfig=warn",
    "-Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients=warn",
]


class LocalKafkaError(RuntimeError):
    """Anything that keeps the local cluster from starting or stopping."""


class AlreadyRunning(LocalKafkaError):
    """start() was asked for a data dir whose brokers are still running."""


# --------------------------------------------------------------------------
# Jars
# --------------------------------------------------------------------------

def ensure_jars() -> Path:
    """Return the directory holding the broker's runtime jars, fetching them once."""
    libs = LIBS_ROOT / KAFKA_VERSION
    if _jars_complete(libs):
        print(f"localkafka: using Kafka {KAFKA_VERSION} jars in {libs}", file=sys.stderr)
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalKafkaError("mvn not found on PATH: Maven is needed to fetch the Kafka jars")
    # Download into a private dir and rename at the end, so an interrupted or
    # concurrent fetch never leaves a half-filled classpath behind.
    tmp = libs.with_name(f"{libs.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"localkafka: fetching Kafka {KAFKA_VERSION} jars with Maven into {libs} ...",
          file=sys.stderr)
    started = time.monotonic()
    cmd = [mvn, "-B", "-q", "-f", str(POM), "dependency:copy-dependencies",
           f"-Dkafka.version={KAFKA_VERSION}", f"-DoutputDirectory={tmp}"]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise LocalKafkaError(f"mvn failed ({done.returncode}):\n{done.stdout[-4000:]}")
    jars = sorted(p.name for p in tmp.glob("*.jar"))
    (tmp / JARS_MARKER).write_text("\n".join(jars) + "\n")
    _install_dir(tmp, libs)
    print(f"localkafka: fetched {len(jars)} jars in {time.monotonic() - started:.1f}s",
          file=sys.stderr)
    return libs


def _jars_complete(libs: Path) -> bool:
    marker = libs / JARS_MARKER
    if not marker.is_file():
        return False
    names = marker.read_text().split()
    return bool(names) and all((libs / n).is_file() for n in names)


def _install_dir(tmp: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        # Incomplete leftover, or another process just won the race.
        if _jars_complete(final):
            shutil.rmtree(tmp, ignore_errors=True)
            return
        shutil.rmtree(final)
    try:
        os.rename(tmp, final)
    except OSError:
        if not _jars_complete(final):
            raise
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# Kafka wire protocol probe (just enough to prove a broker really serves requests)
# --------------------------------------------------------------------------

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
    with _connect(host, port, timeout, tls) as sock:
        if security is not None:
            _scram_authenticate(sock, security.admin_user, security.admin_password, security.mechanism)
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
    with _connect(host, port, timeout, tls) as sock:
        return _roundtrip(sock, api_key, version, body)


def _connect(host: str, port: int, timeout: float, tls: ssl.SSLContext | None = None) -> socket.socket:
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


def _scram_authenticate(sock: socket.socket, user: str, password: str,
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


# --------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------

def _free_ports(count: int) -> list[int]:
    # Hold every socket until all are bound so the OS cannot hand out a port twice.
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _port_is_free(port: int) -> bool:
    # SO_REUSEADDR like the JVM uses, so a port in TIME_WAIT counts as free.
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


# --------------------------------------------------------------------------
# Secure mode
# --------------------------------------------------------------------------

SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
TLS_CERT = "broker-cert.pem"     # self-signed, SAN IP:127.0.0.1 + DNS:localhost; clients trust it
TLS_KEYSTORE = "broker-keystore.pem"  # private key (PKCS#8) + certificate, Kafka's PEM keystore


@dataclass
class Security:
    """Secure mode of a local cluster: SCRAM users, the authorizer, optional TLS."""

    users: dict[str, str]
    acls: bool = True
    tls: bool = False
    admin_user: str = "admin"
    mechanism: str = "SCRAM-SHA-256"  # what the brokers and the probe use between themselves
    cafile: str | None = None         # set once the certificate exists (tls=True)

    def __post_init__(self) -> None:
        if self.admin_user not in self.users:
            raise ValueError(f"sasl_users must include the super user {self.admin_user!r}")
        for name, password in self.users.items():
            if not name or any(c in name for c in ",=[]\"") or not password or any(c in password for c in ",[]\""):
                raise ValueError(f"SCRAM user {name!r}: names and passwords must be non-empty and "
                                 "free of , = [ ] and quotes")

    @property
    def protocol(self) -> str:
        return "SASL_SSL" if self.tls else "SASL_PLAINTEXT"

    @property
    def admin_password(self) -> str:
        return self.users[self.admin_user]

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=self.cafile)

    def client_settings(self, user: str | None = None, mechanism: str = "SCRAM-SHA-256") -> dict[str, str]:
        """The KAFKA_* environment (shared/settings.KafkaSettings) of a client signing in as `user`."""
        user = user or self.admin_user
        env = {"KAFKA_SECURITY_PROTOCOL": self.protocol, "KAFKA_SASL_MECHANISM": mechanism,
               "KAFKA_SASL_USERNAME": user, "KAFKA_SASL_PASSWORD": self.users[user]}
        if self.tls and self.cafile:
            env["KAFKA_SSL_CAFILE"] = self.cafile
        return env

    def to_state(self) -> dict:
        return {"users": self.users, "acls": self.acls, "tls": self.tls, "admin_user": self.admin_user,
                "mechanism": self.mechanism, "cafile": self.cafile}

    @classmethod
    def from_state(cls, state: dict | None) -> "Security | None":
        return cls(**state) if state else None


def _make_certificate(base: Path) -> Path:
    """A self-signed broker certificate (once per data dir) with the `openssl` binary."""
    cert, keystore = base / TLS_CERT, base / TLS_KEYSTORE
    if cert.is_file() and keystore.is_file():
        return cert
    openssl = shutil.which("openssl")
    if openssl is None:
        raise LocalKafkaError("tls=True needs the openssl binary on PATH")
    key = base / "broker-key.pem"
    cmd = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
           "-subj", "/CN=localkafka", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
           "-keyout", str(key), "-out", str(cert)]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        raise LocalKafkaError(f"openssl failed:\n{done.stdout[-2000:]}")
    # Kafka's PEM keystore wants the PKCS#8 key and the certificate chain in one file.
    pkcs8 = subprocess.run([openssl, "pkcs8", "-topk8", "-nocrypt", "-in", str(key)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True).stdout
    keystore.write_text(pkcs8 + cert.read_text())
    os.chmod(keystore, 0o600)
    key.unlink()
    return cert


def _jaas(module: str, user: str, password: str, **extra: str) -> str:
    options = " ".join(f'{k}="{v}"' for k, v in {"username": user, "password": password, **extra}.items())
    return f"{module} required {options};"


def _security_properties(security: Security, base: Path) -> dict[str, object]:
    listener = "client"
    admin, password = security.admin_user, security.admin_password
    props: dict[str, object] = {
        "sasl.enabled.mechanisms": ",".join(SCRAM_MECHANISMS),
        "sasl.mechanism.inter.broker.protocol": security.mechanism,
        # KRaft controllers cannot check SCRAM (the credentials are in the metadata they
        # serve), so the controller listener uses PLAIN with a static admin entry.
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": _jaas(
            "org.apache.kafka.common.security.plain.PlainLoginModule", admin, password,
            **{f"user_{admin}": password}),
    }
    for mechanism in SCRAM_MECHANISMS:
        props[f"listener.name.{listener}.{mechanism.lower()}.sasl.jaas.config"] = _jaas(
            "org.apache.kafka.common.security.scram.ScramLoginModule", admin, password)
    if security.acls:
        props.update({
            "authorizer.class.name": AUTHORIZER,
            "super.users": f"User:{admin}",
            "allow.everyone.if.no.acl.found": "false",
        })
    if security.tls:
        props.update({
            f"listener.name.{listener}.ssl.keystore.type": "PEM",
            f"listener.name.{listener}.ssl.keystore.location": base / TLS_KEYSTORE,
            f"listener.name.{listener}.ssl.truststore.type": "PEM",
            f"listener.name.{listener}.ssl.truststore.location": base / TLS_CERT,
        })
    return props


# --------------------------------------------------------------------------
# Cluster
# --------------------------------------------------------------------------

@dataclass
class Node:
    """One combined broker+controller process and its on-disk home."""

    node_id: int
    port: int
    controller_port: int
    home: Path
    pid: int | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def config(self) -> Path:
        return self.home / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log(self) -> Path:
        return self.home / "broker.log"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def is_alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self.pid is not None and _is_broker_process(self.pid, self.config)


class Cluster:
    """A set of local KRaft nodes sharing one data dir; usable as a context manager."""

    def __init__(self, base_dir: Path, cluster_id: str, nodes: list[Node], libs: Path | None,
                 security: Security | None = None):
        self.base_dir = base_dir
        self.cluster_id = cluster_id
        self.nodes = nodes
        self.libs = libs
        self.security = security

    def client_settings(self, user: str | None = None, mechanism: str = "SCRAM-SHA-256") -> dict[str, str]:
        """KAFKA_BOOTSTRAP_SERVERS and, in secure mode, the credentials of `user` (admin by default)."""
        env = {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers}
        if self.security is not None:
            env.update(self.security.client_settings(user, mechanism))
        return env

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(n.address for n in self.nodes)

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Cluster({self.bootstrap_servers!r}, base_dir={str(self.base_dir)!r})"

    # -- lifecycle -------------------------------------------------------

    def start_broker(self, i: int, timeout: float = START_TIMEOUT) -> None:
        """(Re)start node i on its existing storage and ports; wait until the cluster sees it."""
        node = self.nodes[i]
        if node.is_alive():
            return
        if not _port_is_free(node.port) or not _port_is_free(node.controller_port):
            raise LocalKafkaError(f"ports {node.port}/{node.controller_port} of node {i} are busy")
        self._launch(node)
        self._save_state()
        self._wait_until_ready([node], timeout)

    def stop_broker(self, i: int, timeout: float = STOP_TIMEOUT, hard: bool = False) -> None:
        """Stop node i (SIGTERM, then SIGKILL after `timeout`); its storage stays.

        hard=True sends SIGKILL at once to simulate a crash: no controlled
        shutdown, so the others only notice after the broker session timeout.
        """
        _terminate([self.nodes[i]], 0.0 if hard else timeout)
        self._save_state()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop every node; storage stays, so start() on the same dir resumes it."""
        _terminate(self.nodes, timeout)
        self._save_state()

    def running(self) -> list[bool]:
        return [n.is_alive() for n in self.nodes]

    # -- internals -------------------------------------------------------

    def _start_all(self, timeout: float) -> None:
        for node in self.nodes:
            self._format_if_needed(node)
        try:
            for node in self.nodes:
                self._launch(node)
            self._save_state()
            self._wait_until_ready(self.nodes, timeout)
        except BaseException:
            _terminate(self.nodes, STOP_TIMEOUT)
            self._save_state()
            raise

    def _write_config(self, node: Node) -> None:
        node.home.mkdir(parents=True, exist_ok=True)
        node.config.write_text(_server_properties(node, self.nodes, self.security, self.base_dir))
        if self.security is not None:
            os.chmod(node.config, 0o600)  # it holds the admin password

    def _format_if_needed(self, node: Node) -> None:
        self._write_config(node)
        if (node.data_dir / "meta.properties").exists():
            return  # Already formatted: reformatting would wipe the cluster's metadata.
        # No --standalone/--initial-controllers: the quorum is static
        # (controller.quorum.voters), which Kafka 4 still accepts and which needs
        # no per-node directory ids to be known up front.
        cmd = [_java(), "-cp", self._classpath(), "kafka.tools.StorageTool", "format",
               "--config", str(node.config), "--cluster-id", self.cluster_id]
        if self.security is not None:
            # SCRAM credentials go into the bootstrap metadata: the brokers need the admin's
            # before any client could create it, and every user exists from the first start.
            for name, password in self.security.users.items():
                for mechanism in SCRAM_MECHANISMS:
                    cmd += ["--add-scram", f"{mechanism}=[name={name},password={password}]"]
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if done.returncode != 0:
            raise LocalKafkaError(f"formatting node {node.node_id} failed:\n{done.stdout[-4000:]}")

    def _launch(self, node: Node) -> None:
        self._write_config(node)
        cmd = [_java(), *JVM_OPTS, "-cp", self._classpath(), "kafka.Kafka", str(node.config)]
        with open(node.log, "ab") as log:
            log.write(f"\n=== localkafka: starting node {node.node_id} at {time.ctime()} ===\n".encode())
            log.flush()
            # Own session/process group: a Ctrl-C in the caller's terminal must
            # not kill the brokers, and stop() can signal the whole group.
            node.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=node.home,
                                         start_new_session=True)
        node.pid = node.proc.pid

    def _classpath(self) -> str:
        if self.libs is None:
            self.libs = ensure_jars()
        return f"{self.libs}/*"

    def _wait_until_ready(self, waiting: list[Node], timeout: float) -> None:
        """Wait until each node serves requests and the metadata lists all of them."""
        deadline = time.monotonic() + timeout
        expected = {n.node_id for n in self.nodes if n.is_alive()}
        while True:
            for node in waiting:
                if not node.is_alive():
                    raise LocalKafkaError(f"node {node.node_id} exited during startup "
                                          f"(log {node.log}):\n{_tail(node.log)}")
            if self._all_ready(waiting, expected, self.security):
                return
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- node {n.node_id} ({n.log}) ---\n{_tail(n.log)}"
                                  for n in waiting)
                raise LocalKafkaError(f"Kafka not ready after {timeout:.0f}s:\n{tails}")
            time.sleep(0.5)

    @staticmethod
    def _all_ready(waiting: list[Node], expected: set[int], security: Security | None = None) -> bool:
        tls = security.tls_context() if security is not None else None
        try:
            if not all(broker_answers(HOST, n.port, tls=tls) for n in waiting):
                return False
            return expected <= set(live_brokers(HOST, waiting[0].port, security=security))
        except (OSError, LocalKafkaError, struct.error):
            return False

    def _save_state(self) -> None:
        state = {
            "kafka_version": KAFKA_VERSION,
            "cluster_id": self.cluster_id,
            "bootstrap_servers": self.bootstrap_servers,
            "nodes": [{"node_id": n.node_id, "port": n.port,
                       "controller_port": n.controller_port,
                       "pid": n.pid if n.is_alive() else None,
                       "config": str(n.config), "log": str(n.log)} for n in self.nodes],
            # Secure mode: users and passwords, so `status` and a resumed start can sign in.
            # A local dev cluster's file, kept owner-only.
            "security": self.security.to_state() if self.security is not None else None,
        }
        path = self.base_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        if self.security is not None:
            os.chmod(tmp, 0o600)
        tmp.replace(path)

    @classmethod
    def load(cls, base_dir: str | os.PathLike | None = None) -> "Cluster":
        """The cluster recorded in base_dir's state file (possibly started elsewhere)."""
        base = _resolve_dir(base_dir)
        path = base / STATE_FILE
        if not path.is_file():
            raise LocalKafkaError(f"no local Kafka in {base} (missing {STATE_FILE})")
        state = json.loads(path.read_text())
        nodes = [Node(n["node_id"], n["port"], n["controller_port"],
                      Path(n["config"]).parent, n["pid"]) for n in state["nodes"]]
        return cls(base, state["cluster_id"], nodes, None, Security.from_state(state.get("security")))


def _server_properties(node: Node, nodes: list[Node], security: Security | None = None,
                       base: Path | None = None) -> str:
    n = len(nodes)
    replicas = min(3, n)
    min_isr = min(2, n)
    voters = ",".join(f"{x.node_id}@{HOST}:{x.controller_port}" for x in nodes)
    props = {
        # Every node is broker and controller: the smallest KRaft layout that
        # still survives losing one of three nodes.
        "process.roles": "broker,controller",
        "node.id": node.node_id,
        "controller.quorum.voters": voters,
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listeners": f"PLAINTEXT://{HOST}:{node.port},CONTROLLER://{HOST}:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{node.port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": node.data_dir,
        # Topics must be created on purpose, as in production.
        "auto.create.topics.enable": "false",
        "num.partitions": 1,
        "default.replication.factor": replicas,
        # Internal topics default to RF 3, which a 1-node cluster cannot host.
        "offsets.topic.replication.factor": replicas,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": min_isr,
        # Fewer internal partitions make the first group join / transaction fast.
        "offsets.topic.num.partitions": 10,
        "transaction.state.log.num.partitions": 10,
        # Tests should not wait 3 s for every first consumer group join.
        "group.initial.rebalance.delay.ms": 0,
        # Keep disk and heap small on a dev machine.
        "log.segment.bytes": 16 * 1024 * 1024,
        "log.retention.hours": 24,
        "log.cleaner.dedupe.buffer.size": 16 * 1024 * 1024,
        "num.io.threads": 4,
        "num.network.threads": 2,
    }
    if security is not None:
        # One client listener, also used between brokers, authenticated with SCRAM.
        props.update({
            "inter.broker.listener.name": "CLIENT",
            "listeners": f"CLIENT://{HOST}:{node.port},CONTROLLER://{HOST}:{node.controller_port}",
            "advertised.listeners": f"CLIENT://{HOST}:{node.port}",
            "listener.security.protocol.map": f"CLIENT:{security.protocol},CONTROLLER:SASL_PLAINTEXT",
        })
        props.update(_security_properties(security, base or node.home.parent))
    lines = ["# Written by deploy/localkafka.py on every start; edits are overwritten."]
    lines += [f"{k}={v}" for k, v in props.items()]
    return "\n".join(lines) + "\n"


def _terminate(nodes: list[Node], timeout: float) -> None:
    """SIGTERM all, wait up to `timeout` for a clean (controlled) shutdown, then SIGKILL.

    timeout=0 skips SIGTERM entirely (crash simulation).
    """
    live = [n for n in nodes if n.is_alive()]
    if timeout > 0:
        for node in live:
            _signal_group(node.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(n.is_alive() for n in live) and time.monotonic() < deadline:
        time.sleep(0.2)
    for node in live:
        if node.is_alive():
            if timeout > 0:
                print(f"localkafka: node {node.node_id} ignored SIGTERM for {timeout:.0f}s, "
                      f"killing", file=sys.stderr)
            _signal_group(node.pid, signal.SIGKILL)
            _wait_gone(node, 10.0)
        if node.proc is not None:
            node.proc.wait()  # reap, so the pid is not left as a zombie
        node.pid = None
        node.proc = None


def _wait_gone(node: Node, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while node.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # pid == pgid thanks to start_new_session
    except ProcessLookupError:
        pass


def _is_broker_process(pid: int, config: Path) -> bool:
    # Check the command line too: after a reboot the recorded pid may belong to
    # an unrelated process, which must never be signalled.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    zombie = stat.rsplit(")", 1)[-1].split()[0] == "Z"
    return not zombie and b"kafka.Kafka" in cmdline and str(config).encode() in cmdline


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = Path(home, "bin", "java") if home else None
    if java is not None and java.is_file():
        return str(java)
    found = shutil.which("java")
    if found is None:
        raise LocalKafkaError("java not found (set JAVA_HOME or put java on PATH); Kafka 4 needs Java 17+")
    return found


def _resolve_dir(base_dir: str | os.PathLike | None) -> Path:
    return Path(base_dir).resolve() if base_dir is not None else DEFAULT_DIR


def _new_cluster_id() -> str:
    # Same shape as `kafka-storage random-uuid`: 22 chars of url-safe base64,
    # never starting with '-', which Kafka's tools would read as an option.
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def _choose_ports(saved: list[int] | None, requested: int | None, count: int) -> list[int]:
    """Client or controller ports: requested (consecutive) > saved if still free > OS-chosen."""
    if requested:
        return [requested + i for i in range(count)]
    if saved and all(_port_is_free(p) for p in saved):
        return saved
    return _free_ports(count)


def _plan(base: Path, port: int | None, brokers: int, security: Security | None = None) -> Cluster:
    """Build the Cluster for base: reuse its recorded identity, ports and security when it exists."""
    state_path = base / STATE_FILE
    saved_ports = saved_ctrl = None
    cluster_id = None
    saved_security = None
    if state_path.is_file():
        old = Cluster.load(base)
        if any(old.running()):
            raise AlreadyRunning(f"Kafka in {base} is already running at {old.bootstrap_servers}")
        if len(old.nodes) != brokers:
            raise LocalKafkaError(f"{base} holds a {len(old.nodes)}-broker cluster, not {brokers}; "
                                  f"use another --dir or delete it")
        cluster_id = old.cluster_id
        saved_security = old.security
        if (security is None) != (saved_security is None) and (base / "node-0" / "data").exists():
            raise LocalKafkaError(f"{base} holds a {'secure' if saved_security else 'plaintext'} cluster; "
                                  f"use another --dir or delete it")
        saved_ports = [n.port for n in old.nodes]
        saved_ctrl = [n.controller_port for n in old.nodes]
    ports = _choose_ports(saved_ports, port, brokers)
    ctrl = _choose_ports(saved_ctrl, None, brokers)
    if set(ports) & set(ctrl):
        ctrl = _free_ports(brokers)  # only possible if a fixed port collided with a saved one
    busy = [p for p in ports + ctrl if not _port_is_free(p)]
    if busy:
        raise LocalKafkaError(f"port(s) {busy} already in use on {HOST}")
    nodes = [Node(i, ports[i], ctrl[i], base / f"node-{i}") for i in range(brokers)]
    # Users are fixed at format time: a resumed secure cluster keeps the ones it was made with.
    security = saved_security if saved_security is not None else security
    if security is not None and security.tls:
        security.cafile = str(_make_certificate(base))
    return Cluster(base, cluster_id or _new_cluster_id(), nodes, None, security)


# --------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------

def start(port: int | None = None, brokers: int = 1,
          base_dir: str | os.PathLike | None = None,
          timeout: float = START_TIMEOUT, *,
          sasl_users: dict[str, str] | None = None, acls: bool = True, tls: bool = False,
          admin_user: str = "admin") -> Cluster:
    """Start (or resume) a local KRaft cluster and wait until it serves requests.

    port: client port of node 0 (others get port+1, port+2); None/0 = OS-chosen.
    brokers: 1 or 3 combined broker+controller nodes.
    base_dir: data dir (default var/kafka); an existing one is resumed, not reformatted.
    sasl_users: {name: password} turns on secure mode (SASL/SCRAM client listener; must name
        `admin_user`, the super user); acls: enforce ACLs (StandardAuthorizer, deny by default);
        tls: SASL_SSL on a self-signed certificate instead of SASL_PLAINTEXT.
    """
    if brokers not in (1, 3):
        raise ValueError("brokers must be 1 or 3")
    security = None
    if sasl_users:
        security = Security(dict(sasl_users), acls=acls, tls=tls, admin_user=admin_user)
    base = _resolve_dir(base_dir)
    base.mkdir(parents=True, exist_ok=True)
    libs = ensure_jars()
    cluster = _plan(base, port, brokers, security)
    cluster.libs = libs
    began = time.monotonic()
    cluster._start_all(timeout)
    mode = "" if cluster.security is None else (
        f", {cluster.security.protocol} SCRAM, ACLs {'on' if cluster.security.acls else 'off'}")
    print(f"localkafka: {brokers} broker(s) up at {cluster.bootstrap_servers} "
          f"in {time.monotonic() - began:.1f}s (data {base}{mode})", file=sys.stderr)
    return cluster


def stop(base_dir: str | os.PathLike | None = None, timeout: float = STOP_TIMEOUT) -> None:
    """Stop the cluster recorded in base_dir, from any process."""
    cluster = Cluster.load(base_dir)
    alive = [n.node_id for n in cluster.nodes if n.is_alive()]
    if not alive:
        print(f"localkafka: nothing running in {cluster.base_dir}")
    cluster.stop(timeout)
    if alive:
        print(f"localkafka: stopped node(s) {alive} in {cluster.base_dir}")


def status(base_dir: str | os.PathLike | None = None) -> bool:
    """Print each node's state; True only if every node is alive and answers."""
    try:
        cluster = Cluster.load(base_dir)
    except LocalKafkaError as e:
        print(f"localkafka: {e}")
        return False
    print(f"bootstrap.servers={cluster.bootstrap_servers}")
    all_up = True
    for node in cluster.nodes:
        alive = node.is_alive()
        tls = cluster.security.tls_context() if cluster.security is not None else None
        answers = alive and broker_answers(HOST, node.port, tls=tls)
        all_up = all_up and answers
        print(f"node {node.node_id}: pid={node.pid} alive={alive} answers={answers} "
              f"port={node.port} controller_port={node.controller_port} log={node.log}")
    return all_up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.localkafka",
                                     description="Run a local Apache Kafka (KRaft) cluster.")
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="client port of node 0; 0 = any free port (default %(default)s)")
    parser.add_argument("--brokers", type=int, choices=[1, 3], default=1)
    parser.add_argument("--dir", default=None,
                        help=f"data dir (default {DEFAULT_DIR.relative_to(REPO_ROOT)})")
    parser.add_argument("--sasl-user", action="append", default=[], metavar="NAME=PASSWORD",
                        help="secure mode: a SCRAM user (repeat; `admin` is the super user and required)")
    parser.add_argument("--tls", action="store_true", help="secure mode over TLS (SASL_SSL, self-signed)")
    parser.add_argument("--no-acls", action="store_true", help="secure mode without the authorizer")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            users = dict(u.split("=", 1) for u in args.sasl_user)
            if (args.tls or args.no_acls) and not users:
                parser.error("--tls and --no-acls need --sasl-user admin=PASSWORD")
            cluster = start(args.port or None, args.brokers, args.dir,
                            sasl_users=users or None, acls=not args.no_acls, tls=args.tls)
            print(cluster.bootstrap_servers)
            return 0
        if args.command == "stop":
            stop(args.dir)
            return 0
        return 0 if status(args.dir) else 1
    except AlreadyRunning as e:
        print(f"localkafka: {e}")
        return 0
    except LocalKafkaError as e:
        print(f"localkafka: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
