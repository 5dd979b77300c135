"""How a local broker is configured: its JVM flags and its server.properties.

Every node is a combined broker+controller with a static quorum on loopback; secure mode adds a
SCRAM client listener, a PLAIN controller listener, the authorizer and TLS. The file is written
anew on every start, so a changed setting here reaches a resumed data dir too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from deploy.local_process import HOST
from deploy.localkafka_security import AUTHORIZER, SCRAM_MECHANISMS, TLS_CERT, TLS_KEYSTORE, Security

if TYPE_CHECKING:
    from deploy.localkafka_cluster import Node

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

def server_properties(node: Node, nodes: list[Node], security: Security | None = None,
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

