"""docker-compose.yml's Kafka, run for real without Docker: TLS + SCRAM on every listener.

No Docker engine runs here, so this does by hand what compose and the apache/kafka image would:

1. runs the `kafka-certs` command of docker-compose.yml (deploy/compose_certs.py), with each named
   volume it mounts replaced by a temporary directory;
2. turns the KAFKA_* environment of kafka-1..3 into server.properties with the image's own rule
   (kafka.docker.KafkaDockerWrapper: drop "KAFKA_", lower-case, "_" -> ".", then "..." -> "-" and
   ".." -> "_"; KAFKA_OPTS and the other JVM variables are not properties), after compose's
   ${VAR:-default} interpolation (with the defaults: the dev-only passwords);
3. changes only what a single machine needs: each node's container ports become free loopback
   ports, the hosts kafka-1..3 become 127.0.0.1, and volume paths become the temporary
   directories. Everything else, the security settings above all, is used as written;
4. formats each node with the SCRAM users of PEAK_SCRAM_USERS, as deploy/kafka/compose-broker.sh
   does, and starts three `java kafka.Kafka` nodes with the jars of deploy/localkafka.py.

Then it checks what compose promises: every listener, the controllers' included, answers only
over TLS with the generated certificate (checked against the names dialled); the `kafka-setup`
command, with kafka-setup's environment, creates the topics and ACLs over SASL_SSL; a service
with its compose environment (shared/kafka_security.py) produces and consumes; a client without
TLS, or without the compose CA, cannot connect.

What it cannot show: the certificate's DNS names kafka-1..3 in use (the nodes are reached at
127.0.0.1 and localhost here; the names are checked in the certificate instead), the image's
scripts themselves, and the volume permissions Docker applies.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import ssl
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from deploy import localkafka

# Three TLS + SCRAM broker nodes started for the module: `make test-slow`.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
BROKERS = ["kafka-1", "kafka-2", "kafka-3"]
LOOPBACK = "127.0.0.1"
# Environment variables of the image that are JVM or logging options, not broker properties
# (KafkaDockerWrapper's exclusion list).
NOT_PROPERTIES = {"KAFKA_VERSION", "KAFKA_HEAP_OPT", "KAFKA_LOG4J_OPTS", "KAFKA_OPTS", "KAFKA_JMX_OPTS",
                  "KAFKA_JVM_PERFORMANCE_OPTS", "KAFKA_GC_LOG_OPTS", "KAFKA_LOG4J_ROOT_LOGLEVEL",
                  "KAFKA_LOG4J_LOGGERS", "KAFKA_TOOLS_LOG4J_LOGLEVEL", "KAFKA_JMX_HOSTNAME"}


# -- compose and image rules ---------------------------------------------------------------------

def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} / ${VAR-default} / ${VAR} and $$, always with the default (the
    host's environment is left out, so the run does not depend on who starts it)."""
    value = re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", lambda m: m.group(2) or "", str(value))
    return value.replace("$$", "$")


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: interpolate(v) for k, v in env.items()}


def image_properties(env: dict[str, str]) -> dict[str, str]:
    """server.properties of the apache/kafka image from a container's environment."""
    props = {}
    for key, value in env.items():
        if not key.startswith("KAFKA_") or key in NOT_PROPERTIES:
            continue
        name = key.replace("KAFKA_", "").lower().replace("_", ".").replace("...", "-").replace("..", "_")
        props[name] = value
    return props


def test_the_image_rule_is_implemented_as_the_image_does():
    assert image_properties({
        "KAFKA_LISTENER_NAME_INTERNAL_SCRAM___SHA___256_SASL_JAAS_CONFIG": "x",
        "KAFKA_LOG_DIRS": "/d", "KAFKA_OPTS": "-D", "CLUSTER_ID": "c", "PEAK_SCRAM_USERS": "a=b",
        "KAFKA_SSL_KEYSTORE_TYPE": "PEM",
    }) == {"listener.name.internal.scram-sha-256.sasl.jaas.config": "x", "log.dirs": "/d",
           "ssl.keystore.type": "PEM"}
    assert interpolate('p="${KAFKA_ADMIN_PASSWORD:-dev-only-admin-password}" $$x') == \
        'p="dev-only-admin-password" $x'


# -- the cluster ---------------------------------------------------------------------------------

@dataclass
class ComposeKafka:
    services: dict
    volumes: dict[str, Path]                       # named volume -> temporary directory
    ports: dict[tuple[str, int], int]              # (broker, container port) -> loopback port
    published: dict[int, tuple[str, int]]          # host port -> (broker, container port)
    procs: list[subprocess.Popen] = field(default_factory=list)

    def mounts(self, name: str) -> dict[str, Path]:
        """Container path -> local path of a service's named-volume and ./ bind mounts."""
        found = {}
        for entry in self.services[name].get("volumes", []):
            source, target = entry.split(":")[:2]
            found[target] = (REPO / source) if source.startswith(".") else self.volumes[source]
        return found

    def local_path(self, name: str, value: str) -> str:
        for target, local in sorted(self.mounts(name).items(), key=lambda kv: -len(kv[0])):
            if value == target or value.startswith(target + "/"):
                return str(local) + value[len(target):]
        return value

    def address(self, hostport: str, node: str | None = None) -> str:
        """A compose address as reachable here: kafka-N -> loopback, published ports -> the node's."""
        host, port = hostport.rsplit(":", 1)[0], int(hostport.rsplit(":", 1)[1])
        if host in BROKERS:
            return f"{LOOPBACK}:{self.ports[(host, port)]}"
        if host in ("localhost", LOOPBACK):
            return f"{host}:{self.ports[self.published[port]]}"
        assert host == "" and node is not None, f"unexpected address {host}:{port}"
        return f":{self.ports[(node, port)]}"

    def listeners(self, value: str, node: str | None = None) -> str:
        out = []
        for entry in value.split(","):
            name, hostport = entry.split("://")
            out.append(f"{name}://{self.address(hostport, node)}")
        return ",".join(out)

    def client_env(self, name: str) -> dict[str, str]:
        """The KAFKA_* environment of a compose client container, pointed at the local nodes."""
        env = {k: v for k, v in environment(self.services[name]).items() if k.startswith("KAFKA_")}
        env["KAFKA_BOOTSTRAP_SERVERS"] = ",".join(
            self.address(hp) for hp in env["KAFKA_BOOTSTRAP_SERVERS"].split(","))
        env["KAFKA_SSL_CAFILE"] = self.local_path(name, env["KAFKA_SSL_CAFILE"])
        return env

    def ca_file(self) -> str:
        return self.client_env("kafka-setup")["KAFKA_SSL_CAFILE"]

    def scram_users(self) -> dict[str, str]:
        env = environment(self.services["kafka-1"])
        return dict(pair.split("=", 1) for pair in env["PEAK_SCRAM_USERS"].split())

    def server_properties(self, node: str) -> dict[str, str]:
        props = image_properties(environment(self.services[node]))
        props["listeners"] = self.listeners(props["listeners"], node)
        props["advertised.listeners"] = self.listeners(props["advertised.listeners"], node)
        props["controller.quorum.voters"] = ",".join(
            f"{node_id}@{self.address(hostport)}"
            for node_id, hostport in (v.split("@") for v in props["controller.quorum.voters"].split(",")))
        for key in list(props):
            props[key] = self.local_path(node, props[key])
        return props


def _free_ports(count: int) -> list[int]:
    return localkafka._free_ports(count)


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def compose_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeKafka]:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    base = tmp_path_factory.mktemp("compose-kafka")
    volumes = {name: base / "volumes" / name for name in yaml.safe_load(COMPOSE.read_text())["volumes"]}
    for path in volumes.values():
        path.mkdir(parents=True)
    container_ports = sorted({int(e.split("://")[1].rsplit(":", 1)[1])
                              for e in environment(services["kafka-1"])["KAFKA_LISTENERS"].split(",")})
    free = iter(_free_ports(len(BROKERS) * len(container_ports)))
    ports = {(b, p): next(free) for b in BROKERS for p in container_ports}
    published = {}
    for b in BROKERS:
        for entry in services[b]["ports"]:
            host, container = map(int, str(entry).split(":")[-2:])
            published[host] = (b, container)
    cluster = ComposeKafka(services, volumes, ports, published)

    # 1. kafka-certs, as compose runs it (its container paths mapped to the volume directories).
    certs = services["kafka-certs"]
    command = [cluster.local_path("kafka-certs", arg) for arg in certs["command"]]
    assert command[:3] == ["python", "-m", "deploy.compose_certs"]
    done = subprocess.run([sys.executable, *command[1:]], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    # 2.-4. format and start the three nodes.
    libs = localkafka.ensure_jars()
    java = localkafka._java()
    cluster_id = environment(services["kafka-1"])["CLUSTER_ID"]
    scram = []
    for name, password in cluster.scram_users().items():
        for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
            scram += ["--add-scram", f"{mechanism}=[name={name},password={password}]"]
    try:
        for node in BROKERS:
            home = base / node
            home.mkdir()
            config = home / "server.properties"
            config.write_text("".join(f"{k}={v}\n" for k, v in cluster.server_properties(node).items()))
            fmt = subprocess.run([java, "-cp", f"{libs}/*", "kafka.tools.StorageTool", "format",
                                  "--config", str(config), "--cluster-id", cluster_id, *scram],
                                 capture_output=True, text=True)
            assert fmt.returncode == 0, fmt.stdout + fmt.stderr
            with open(home / "broker.log", "ab") as log:
                cluster.procs.append(subprocess.Popen(
                    [java, *localkafka.JVM_OPTS, "-cp", f"{libs}/*", "kafka.Kafka", str(config)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=home,
                    start_new_session=True))
        # Ready when the INTERNAL listener of kafka-1, signed in as admin over TLS, lists all three.
        security = localkafka.Security(cluster.scram_users(), tls=True, cafile=cluster.ca_file())
        deadline = time.monotonic() + 120
        while True:
            dead = [n for n, p in zip(BROKERS, cluster.procs) if p.poll() is not None]
            assert not dead, f"{dead} exited:\n" + "\n".join(
                localkafka._tail(base / n / "broker.log") for n in dead)
            try:
                if len(localkafka.live_brokers(LOOPBACK, ports[("kafka-1", 19092)], security=security)) == 3:
                    break
            except (OSError, localkafka.LocalKafkaError, struct.error):
                pass  # not up yet
            assert time.monotonic() < deadline, "\n".join(
                f"--- {n} ---\n{localkafka._tail(base / n / 'broker.log')}" for n in BROKERS)
            time.sleep(0.5)
        yield cluster
    finally:
        _stop(cluster.procs)


def _tls(cafile: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile)


# -- what compose promises ------------------------------------------------------------------------

def test_the_certificate_names_every_address_clients_dial(compose_kafka):
    keystore = compose_kafka.volumes["kafka-broker-tls"] / "broker-keystore.pem"
    text = keystore.read_text()
    assert text.index("PRIVATE KEY") < text.index("CERTIFICATE"), "Kafka's PEM keystore: key first"
    names = ssl._ssl._test_decode_cert(str(keystore))["subjectAltName"]
    assert set(names) >= {("DNS", b) for b in BROKERS} | {("DNS", "localhost"), ("IP Address", LOOPBACK)}
    # The CA volume holds no private key: it is mounted into every client container.
    for path in compose_kafka.volumes["kafka-ca"].iterdir():
        assert "PRIVATE KEY" not in path.read_text(), path


def _answers(host: str, port: int, tls: ssl.SSLContext | None = None) -> bool:
    """True if Kafka answers ApiVersions (before any SASL step) on host:port. Not
    localkafka.broker_answers: that one also wants the Metadata API, which controllers lack."""
    try:
        return bool(localkafka.api_versions(host, port, timeout=5.0, tls=tls))
    except (OSError, localkafka.LocalKafkaError, struct.error):
        return False


def test_every_listener_speaks_only_tls_with_the_compose_certificate(compose_kafka):
    ca = compose_kafka.ca_file()
    for (node, container_port), port in compose_kafka.ports.items():
        for host in (LOOPBACK, "localhost"):  # IP and DNS names of the certificate, hostname checked
            assert _answers(host, port, _tls(ca)), (node, container_port, host)
        assert not _answers(LOOPBACK, port), f"{node}:{container_port} answers plaintext"
        # A client that does not trust the compose CA is turned away by its own TLS check.
        with pytest.raises(ssl.SSLCertVerificationError):
            localkafka.api_versions(LOOPBACK, port, tls=_tls(None))


@pytest.fixture(scope="module")
def kafka_setup(compose_kafka) -> subprocess.CompletedProcess:
    """The `kafka-setup` one-shot: its command with its compose environment (admin over SASL_SSL)."""
    setup = compose_kafka.services["kafka-setup"]
    assert setup["command"][:2] == ["python", "-m"]
    env = {**os.environ, **compose_kafka.client_env("kafka-setup")}
    return subprocess.run([sys.executable, *setup["command"][1:]], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)


def test_kafka_setup_creates_topics_and_acls_over_sasl_ssl(compose_kafka, kafka_setup):
    assert compose_kafka.client_env("kafka-setup")["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert kafka_setup.returncode == 0, kafka_setup.stdout + kafka_setup.stderr
    assert "ACL(s) in place" in kafka_setup.stderr


def _settings(env: dict[str, str]):
    from shared.settings import KafkaSettings

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return KafkaSettings()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _once_the_acls_arrived(action, timeout_s: float = 30.0) -> None:
    """`kafka-setup` has just written the ACLs; each broker learns them from the metadata log a
    moment later, and until then an idempotent producer's InitProducerId is refused with
    ClusterAuthorizationFailed on the broker that had not caught up (seen once in CI). The
    services' relays retry the same way; ACLs that never arrive still fail here after 30 s."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return action()
        except Exception as exc:
            if "AuthorizationFailed" not in repr(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_a_service_with_its_compose_environment_produces_and_consumes(compose_kafka, kafka_setup):
    from aiokafka import AIOKafkaProducer
    from kafka import KafkaConsumer, KafkaProducer

    from shared.kafka_security import aiokafka_kwargs, kafka_python_kwargs
    from shared.topics import PLATFORM_ORDERS

    assert kafka_setup.returncode == 0, kafka_setup.stderr  # the topics and the orders ACLs
    kafka = _settings(compose_kafka.client_env("orders"))
    assert kafka.security_protocol == "SASL_SSL" and kafka.sasl_username == "orders"
    topic = PLATFORM_ORDERS.name  # orders may write it (POST /orders) and read it
    marker = uuid.uuid4().hex.encode()

    def send() -> None:
        producer = KafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all",
                                 **kafka_python_kwargs(kafka))
        try:
            producer.send(topic, key=b"compose-check", value=marker).get(timeout=30)
        finally:
            producer.close()

    async def relay_send() -> None:  # the outbox relay's client
        aio = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all",
                               enable_idempotence=True, **aiokafka_kwargs(kafka))
        await aio.start()
        try:
            await aio.send_and_wait(topic, key=b"compose-check", value=marker + b"-aio")
        finally:
            await aio.stop()

    _once_the_acls_arrived(send)
    _once_the_acls_arrived(lambda: asyncio.run(relay_send()))

    consumer = KafkaConsumer(topic, bootstrap_servers=kafka.bootstrap_servers,
                             group_id=f"orders.compose-check-{uuid.uuid4().hex[:8]}",
                             auto_offset_reset="earliest", consumer_timeout_ms=30000,
                             **kafka_python_kwargs(kafka))
    try:
        seen = set()
        for record in consumer:
            seen.add(record.value)
            if {marker, marker + b"-aio"} <= seen:
                break
    finally:
        consumer.close()
    assert {marker, marker + b"-aio"} <= seen


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SASL_PLAINTEXT"])
def test_clients_without_tls_cannot_connect(compose_kafka, protocol):
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    from shared.kafka_security import kafka_python_kwargs

    env = compose_kafka.client_env("orders")
    env["KAFKA_SECURITY_PROTOCOL"] = protocol  # the old compose setting, credentials and all
    kafka = _settings(env)
    with pytest.raises(KafkaError, match="Unable to bootstrap"):
        producer = KafkaProducer(bootstrap_servers=kafka.bootstrap_servers, bootstrap_timeout_ms=3000,
                                 **kafka_python_kwargs(kafka))
        producer.close()
