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

Only the standard library is used so that this works before the project's
Python dependencies are installed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
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
API_VERSIONS = 18
UNSUPPORTED_VERSION = 35


def api_versions(host: str, port: int, timeout: float = 2.0) -> dict[int, tuple[int, int]]:
    """Send ApiVersions v0; return {api_key: (min_version, max_version)}.

    v0 is used because every broker answers it: even one that has dropped v0
    replies in v0 layout with UNSUPPORTED_VERSION and its full version list.
    Raises OSError / LocalKafkaError when the broker does not answer properly.
    """
    body = _request(host, port, API_VERSIONS, 0, b"", timeout)
    error, count = struct.unpack_from(">hi", body, 0)
    if error not in (0, UNSUPPORTED_VERSION):
        raise LocalKafkaError(f"ApiVersions error code {error} from {host}:{port}")
    versions = {}
    for i in range(count):
        key, lo, hi = struct.unpack_from(">hhh", body, 6 + 6 * i)
        versions[key] = (lo, hi)
    return versions


def live_brokers(host: str, port: int, timeout: float = 2.0) -> dict[int, str]:
    """Ask one broker for cluster metadata; return {node_id: "host:port"} of live brokers.

    Only unfenced brokers are listed, so this tells whether the whole cluster
    (not just the one socket) is up.
    """
    version = _metadata_version(api_versions(host, port, timeout))
    # Empty topic array (not null) = no topic metadata; auto-create off.
    req = struct.pack(">i?", 0, False)
    if version >= 8:
        req += struct.pack(">??", False, False)  # authorized-operations flags
    body = _request(host, port, API_METADATA, version, req, timeout)
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


def broker_answers(host: str, port: int, timeout: float = 2.0) -> bool:
    """True if a Kafka broker serves an ApiVersions request on host:port."""
    try:
        return API_METADATA in api_versions(host, port, timeout)
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
             timeout: float) -> bytes:
    """One request/response round trip; returns the response after its header."""
    correlation_id = int(time.monotonic_ns() & 0x7FFFFFFF)
    client_id = b"localkafka-probe"
    # Request header v1 (non-flexible): key, version, correlation id, client id.
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    message = header + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(message)) + message)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        response = _recv_exact(sock, size)
    (got_id,) = struct.unpack_from(">i", response, 0)
    if got_id != correlation_id:
        raise LocalKafkaError(f"correlation id mismatch from {host}:{port}")
    return response[4:]


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

    def __init__(self, base_dir: Path, cluster_id: str, nodes: list[Node], libs: Path | None):
        self.base_dir = base_dir
        self.cluster_id = cluster_id
        self.nodes = nodes
        self.libs = libs

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
        node.config.write_text(_server_properties(node, self.nodes))

    def _format_if_needed(self, node: Node) -> None:
        self._write_config(node)
        if (node.data_dir / "meta.properties").exists():
            return  # Already formatted: reformatting would wipe the cluster's metadata.
        # No --standalone/--initial-controllers: the quorum is static
        # (controller.quorum.voters), which Kafka 4 still accepts and which needs
        # no per-node directory ids to be known up front.
        cmd = [_java(), "-cp", self._classpath(), "kafka.tools.StorageTool", "format",
               "--config", str(node.config), "--cluster-id", self.cluster_id]
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
            if self._all_ready(waiting, expected):
                return
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- node {n.node_id} ({n.log}) ---\n{_tail(n.log)}"
                                  for n in waiting)
                raise LocalKafkaError(f"Kafka not ready after {timeout:.0f}s:\n{tails}")
            time.sleep(0.5)

    @staticmethod
    def _all_ready(waiting: list[Node], expected: set[int]) -> bool:
        try:
            if not all(broker_answers(HOST, n.port) for n in waiting):
                return False
            return expected <= set(live_brokers(HOST, waiting[0].port))
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
        }
        path = self.base_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
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
        return cls(base, state["cluster_id"], nodes, None)


def _server_properties(node: Node, nodes: list[Node]) -> str:
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


def _plan(base: Path, port: int | None, brokers: int) -> Cluster:
    """Build the Cluster for base: reuse its recorded identity and ports when it exists."""
    state_path = base / STATE_FILE
    saved_ports = saved_ctrl = None
    cluster_id = None
    if state_path.is_file():
        old = Cluster.load(base)
        if any(old.running()):
            raise AlreadyRunning(f"Kafka in {base} is already running at {old.bootstrap_servers}")
        if len(old.nodes) != brokers:
            raise LocalKafkaError(f"{base} holds a {len(old.nodes)}-broker cluster, not {brokers}; "
                                  f"use another --dir or delete it")
        cluster_id = old.cluster_id
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
    return Cluster(base, cluster_id or _new_cluster_id(), nodes, None)


# --------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------

def start(port: int | None = None, brokers: int = 1,
          base_dir: str | os.PathLike | None = None,
          timeout: float = START_TIMEOUT) -> Cluster:
    """Start (or resume) a local KRaft cluster and wait until it serves requests.

    port: client port of node 0 (others get port+1, port+2); None/0 = OS-chosen.
    brokers: 1 or 3 combined broker+controller nodes.
    base_dir: data dir (default var/kafka); an existing one is resumed, not reformatted.
    """
    if brokers not in (1, 3):
        raise ValueError("brokers must be 1 or 3")
    base = _resolve_dir(base_dir)
    base.mkdir(parents=True, exist_ok=True)
    libs = ensure_jars()
    cluster = _plan(base, port, brokers)
    cluster.libs = libs
    began = time.monotonic()
    cluster._start_all(timeout)
    print(f"localkafka: {brokers} broker(s) up at {cluster.bootstrap_servers} "
          f"in {time.monotonic() - began:.1f}s (data {base})", file=sys.stderr)
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
        answers = alive and broker_answers(HOST, node.port)
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
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            cluster = start(args.port or None, args.brokers, args.dir)
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
