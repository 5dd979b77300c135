"""The local broker's processes: a Node per `java kafka.Kafka`, a Cluster of them in one data dir.

Starting formats each node's storage once and waits until every node answers and the cluster's
metadata lists them all; stopping signals each node's process group (SIGTERM for a controlled
shutdown, SIGKILL after the timeout). The cluster.json state file records pids and ports so
another process (`python -m deploy.localkafka stop|status`) can find the brokers again.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from deploy.local_process import (HOST, live_cmdline, port_is_free, read_state, resolve_dir,
                                  run_captured, signal_process, spawn_logged, tail, wait_for,
                                  write_state)
from deploy.localkafka_base import (DEFAULT_DIR, KAFKA_VERSION, START_TIMEOUT, STATE_FILE,
                                    STOP_TIMEOUT, LocalKafkaError)
from deploy.localkafka_config import JVM_OPTS, server_properties
from deploy.localkafka_jars import ensure_jars, find_java
from deploy.localkafka_probe import broker_answers, live_brokers
from deploy.localkafka_security import SCRAM_MECHANISMS, Security

# A failed start quotes this many of each node's last log lines.
LOG_TAIL_LINES = 40


@dataclass
class Node:
    """One combined broker+controller process and its on-disk home."""

    node_id: int
    port: int
    controller_port: int
    home: Path
    pid: int | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)
    # Where the node keeps things, all under `home`; fixed once the node is made.
    config: Path = field(init=False)
    data_dir: Path = field(init=False)
    log: Path = field(init=False)
    address: str = field(init=False)

    def __post_init__(self) -> None:
        self.config, self.data_dir = self.home / "server.properties", self.home / "data"
        self.log, self.address = self.home / "broker.log", f"{HOST}:{self.port}"

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
        if not port_is_free(node.port) or not port_is_free(node.controller_port):
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
        node.config.write_text(server_properties(node, self.nodes, self.security, self.base_dir))
        if self.security is not None:
            os.chmod(node.config, 0o600)  # it holds the admin password

    def _format_if_needed(self, node: Node) -> None:
        self._write_config(node)
        if (node.data_dir / "meta.properties").exists():
            return  # Already formatted: reformatting would wipe the cluster's metadata.
        # No --standalone/--initial-controllers: the quorum is static
        # (controller.quorum.voters), which Kafka 4 still accepts and which needs
        # no per-node directory ids to be known up front.
        cmd = [find_java(), "-cp", self._classpath(), "kafka.tools.StorageTool", "format",
               "--config", str(node.config), "--cluster-id", self.cluster_id]
        if self.security is not None:
            # SCRAM credentials go into the bootstrap metadata: the brokers need the admin's
            # before any client could create it, and every user exists from the first start.
            for name, password in self.security.users.items():
                for mechanism in SCRAM_MECHANISMS:
                    cmd += ["--add-scram", f"{mechanism}=[name={name},password={password}]"]
        done = run_captured(cmd)
        if done.returncode != 0:
            raise LocalKafkaError(f"formatting node {node.node_id} failed:\n{done.stdout[-4000:]}")

    def _launch(self, node: Node) -> None:
        self._write_config(node)
        cmd = [find_java(), *JVM_OPTS, "-cp", self._classpath(), "kafka.Kafka", str(node.config)]
        # Its own process group (spawn_logged): _terminate signals the JVM and anything it forks.
        node.proc = spawn_logged(cmd, node.log, f"localkafka: starting node {node.node_id}", node.home)
        node.pid = node.proc.pid

    def _classpath(self) -> str:
        if self.libs is None:
            self.libs = ensure_jars()
        return f"{self.libs}/*"

    def _wait_until_ready(self, waiting: list[Node], timeout: float) -> None:
        """Wait until each node serves requests and the metadata lists all of them."""
        expected = {n.node_id for n in self.nodes if n.is_alive()}

        def ready() -> bool:
            # A node that exited will never answer: say why now rather than at the deadline.
            for node in waiting:
                if not node.is_alive():
                    raise LocalKafkaError(f"node {node.node_id} exited during startup "
                                          f"(log {node.log}):\n{tail(node.log, LOG_TAIL_LINES)}")
            return self._all_ready(waiting, expected, self.security)

        if not wait_for(ready, timeout, 0.5):
            tails = "\n".join(f"--- node {n.node_id} ({n.log}) ---\n{tail(n.log, LOG_TAIL_LINES)}"
                              for n in waiting)
            raise LocalKafkaError(f"Kafka not ready after {timeout:.0f}s:\n{tails}")

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
        write_state(self.base_dir / STATE_FILE, state, private=self.security is not None)

    @classmethod
    def load(cls, base_dir: str | os.PathLike | None = None) -> "Cluster":
        """The cluster recorded in base_dir's state file (possibly started elsewhere)."""
        base = resolve_dir(base_dir, DEFAULT_DIR)
        state = read_state(base / STATE_FILE)
        if state is None:
            raise LocalKafkaError(f"no local Kafka in {base} (missing {STATE_FILE})")
        nodes = [Node(n["node_id"], n["port"], n["controller_port"],
                      Path(n["config"]).parent, n["pid"]) for n in state["nodes"]]
        return cls(base, state["cluster_id"], nodes, None, Security.from_state(state.get("security")))


def _terminate(nodes: list[Node], timeout: float) -> None:
    """SIGTERM all, wait up to `timeout` for a clean (controlled) shutdown, then SIGKILL.

    timeout=0 skips SIGTERM entirely (crash simulation).
    """
    live = [n for n in nodes if n.is_alive()]
    # All nodes at once, then one wait: three controlled shutdowns overlap instead of queueing.
    # The group (pid == pgid thanks to spawn_logged's new session) so nothing the JVM forked survives.
    if timeout > 0:
        for node in live:
            signal_process(node.pid, signal.SIGTERM, group=True)
    wait_for(lambda: not any(n.is_alive() for n in live), timeout, 0.2)
    for node in live:
        if node.is_alive():
            if timeout > 0:
                print(f"localkafka: node {node.node_id} ignored SIGTERM for {timeout:.0f}s, "
                      f"killing", file=sys.stderr)
            signal_process(node.pid, signal.SIGKILL, group=True)
            wait_for(lambda: not node.is_alive(), 10.0, 0.1)
        if node.proc is not None:
            node.proc.wait()  # reap, so the pid is not left as a zombie
        node.pid = None
        node.proc = None


def _is_broker_process(pid: int, config: Path) -> bool:
    # This node's broker only: the java command line must name kafka.Kafka and this node's config.
    cmdline = live_cmdline(pid)
    return cmdline is not None and b"kafka.Kafka" in cmdline and str(config).encode() in cmdline
