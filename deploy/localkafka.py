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

The parts: localkafka_base (version, paths, errors), localkafka_jars (Maven, java),
localkafka_probe (the wire-protocol readiness probe), localkafka_security and localkafka_config
(secure mode, server.properties, JVM flags), localkafka_cluster (the processes), and
deploy/local_process.py, which deploy/localpostgres.py shares. This module plans and starts a
cluster, holds the CLI, and re-exports the names callers import from `deploy.localkafka`.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
import uuid
from pathlib import Path

from deploy.local_process import HOST, choose_ports, free_ports, port_is_free, resolve_dir, tail
from deploy.localkafka_base import (DEFAULT_DIR, DEFAULT_PORT, KAFKA_VERSION, REPO_ROOT, START_TIMEOUT,
                                    STATE_FILE, STOP_TIMEOUT, AlreadyRunning, LocalKafkaError)
from deploy.localkafka_cluster import LOG_TAIL_LINES, Cluster, Node
from deploy.localkafka_config import JVM_OPTS, server_properties
from deploy.localkafka_jars import JARS_MARKER, LIBS_ROOT, POM, ensure_jars, find_java
from deploy.localkafka_probe import (API_METADATA, API_SASL_AUTHENTICATE, API_SASL_HANDSHAKE, API_VERSIONS,
                                     UNSUPPORTED_VERSION, api_versions, broker_answers, connect,
                                     live_brokers, scram_authenticate)
from deploy.localkafka_security import (AUTHORIZER, SCRAM_MECHANISMS, TLS_CERT, TLS_KEYSTORE, Security,
                                        make_certificate)

# This module's API as it was before the split: tests, tools/ and the Makefile import these names
# from here, wherever they are defined now.
__all__ = [
    "KAFKA_VERSION", "REPO_ROOT", "POM", "LIBS_ROOT", "DEFAULT_DIR", "DEFAULT_PORT", "HOST",
    "START_TIMEOUT", "STOP_TIMEOUT", "STATE_FILE", "JARS_MARKER", "JVM_OPTS",
    "LocalKafkaError", "AlreadyRunning", "ensure_jars",
    "API_METADATA", "API_SASL_HANDSHAKE", "API_VERSIONS", "API_SASL_AUTHENTICATE", "UNSUPPORTED_VERSION",
    "api_versions", "live_brokers", "broker_answers",
    "SCRAM_MECHANISMS", "AUTHORIZER", "TLS_CERT", "TLS_KEYSTORE", "Security",
    "Node", "Cluster", "start", "stop", "status", "main",
]
# Private names that tests reach for to build a broker or a sign-in by hand
# (test_compose_kafka_config.py, test_kafka_security.py), under the names they had before the split.
_server_properties, _make_certificate, _java = server_properties, make_certificate, find_java
_connect, _scram_authenticate = connect, scram_authenticate
_free_ports, _port_is_free = free_ports, port_is_free


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    return tail(path, lines)


def _resolve_dir(base_dir: str | os.PathLike | None) -> Path:
    return resolve_dir(base_dir, DEFAULT_DIR)


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
    return choose_ports(count, saved)


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
        ctrl = free_ports(brokers)  # only possible if a fixed port collided with a saved one
    busy = [p for p in ports + ctrl if not port_is_free(p)]
    if busy:
        raise LocalKafkaError(f"port(s) {busy} already in use on {HOST}")
    nodes = [Node(i, ports[i], ctrl[i], base / f"node-{i}") for i in range(brokers)]
    # Users are fixed at format time: a resumed secure cluster keeps the ones it was made with.
    security = saved_security if saved_security is not None else security
    if security is not None and security.tls:
        security.cafile = str(make_certificate(base))
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
