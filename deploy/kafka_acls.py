"""Kafka ACLs of the platform: who may read and write which topic (docs/security.md).

The table is derived from shared/topics.py (each topic's producers and consumers), so a new
topic or subscriber shows up here without a second list to keep in step:

- each service (`orders`, `inventory`, `logistics`, `aftersales`) may READ the topics it consumes,
  WRITE the topics it produces and the dead-letter twin of every topic it consumes (dead
  letters are written by the consumer), and READ its own consumer groups, whose names start
  with `<prefix><service>.` (shared/service.py); DESCRIBE comes with each, for metadata.
- `platform` (the platform services placing orders) may WRITE `platform.orders` and nothing else.
- `traffic` (the platform's visitor counter) may WRITE `platform.traffic` and nothing else.
- `console` (the web console) may DESCRIBE the dead-letter topics (it counts their offsets).
- `monitor` (kafka-exporter) may DESCRIBE every topic, group and the cluster, and read nothing.
- the super user (`admin`) is no ACL: the brokers' `super.users`. It creates topics and ACLs.

Idempotent producers need no cluster ACL: since Kafka 3.0 WRITE on a topic implies IDEMPOTENT_WRITE.

CLI (runs as the admin, with the KAFKA_* settings of shared/settings.py):
    python -m deploy.kafka_acls show  [--prefix P]
    python -m deploy.kafka_acls apply [--prefix P] [--topics]   # --topics: create the topics first
    python -m deploy.kafka_acls strimzi > deploy/k8s/base/kafka-users.yaml   # the same, as KafkaUsers
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any

from shared.topics import ALL_TOPICS, dlq_name

SERVICES = ("orders", "inventory", "logistics", "aftersales")
PLATFORM_USER = "platform"
MONITOR_USER = "monitor"
CONSOLE_USER = "console"
TRAFFIC_USER = "traffic"


@dataclass(frozen=True)
class Grant:
    """ALLOW `operation` on a resource to User:`user` (from any host)."""

    user: str
    operation: str      # READ, WRITE, DESCRIBE, ...
    resource: str       # TOPIC, GROUP, CLUSTER
    name: str           # topic or group name (or prefix); "kafka-cluster" for CLUSTER; "*" = all
    prefixed: bool = False

    def __str__(self) -> str:
        kind = "prefix" if self.prefixed else "literal"
        return f"User:{self.user:<10} {self.operation:<8} {self.resource:<7} {self.name} ({kind})"


def _role(party: str, service: str) -> bool:
    # shared/topics.py names parties like "orders" or "orders (POST /orders)".
    return party == service or party.startswith(service + " ")


def service_grants(service: str, prefix: str = "") -> list[Grant]:
    grants: list[Grant] = []
    for spec in ALL_TOPICS:
        topic = prefix + spec.name
        if any(_role(p, service) for p in spec.producers):
            grants += [Grant(service, "WRITE", "TOPIC", topic), Grant(service, "DESCRIBE", "TOPIC", topic)]
        if any(_role(c, service) for c in spec.consumers):
            dlq = prefix + dlq_name(spec.name)
            grants += [Grant(service, "READ", "TOPIC", topic), Grant(service, "DESCRIBE", "TOPIC", topic),
                       Grant(service, "WRITE", "TOPIC", dlq), Grant(service, "DESCRIBE", "TOPIC", dlq)]
    # Consumer groups are `<prefix><service>.<topic>` (shared/service.py ServiceRuntime.subscribe).
    grants.append(Grant(service, "READ", "GROUP", f"{prefix}{service}.", prefixed=True))
    return _unique(grants)


def platform_grants(prefix: str = "", user: str = PLATFORM_USER) -> list[Grant]:
    topic = prefix + "platform.orders"
    return [Grant(user, "WRITE", "TOPIC", topic), Grant(user, "DESCRIBE", "TOPIC", topic)]


def traffic_grants(prefix: str = "", user: str = TRAFFIC_USER) -> list[Grant]:
    """The platform's visitor counter publishes `traffic.counted` (issue 30): its own user, so it
    can report traffic without being able to place orders."""
    topic = prefix + "platform.traffic"
    return [Grant(user, "WRITE", "TOPIC", topic), Grant(user, "DESCRIBE", "TOPIC", topic)]


def console_grants(prefix: str = "", user: str = CONSOLE_USER) -> list[Grant]:
    """The web console counts dead letters (offsets of every `.dlq` topic): DESCRIBE, no READ."""
    return [Grant(user, "DESCRIBE", "TOPIC", prefix + dlq_name(spec.name)) for spec in ALL_TOPICS]


def monitor_grants(user: str = MONITOR_USER) -> list[Grant]:
    return [Grant(user, "DESCRIBE", "TOPIC", "*"), Grant(user, "DESCRIBE", "GROUP", "*"),
            Grant(user, "DESCRIBE", "CLUSTER", "kafka-cluster")]


def platform_table(prefix: str = "") -> list[Grant]:
    """Every grant of the platform: the four services, the platform's order intake, monitoring."""
    grants: list[Grant] = []
    for service in SERVICES:
        grants += service_grants(service, prefix)
    return grants + platform_grants(prefix) + traffic_grants(prefix) + console_grants(prefix) + monitor_grants()


def _unique(grants: list[Grant]) -> list[Grant]:
    return list(dict.fromkeys(grants))


def to_acl(grant: Grant) -> Any:
    """The kafka-python ACL object of a grant."""
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern, ResourceType

    pattern = ResourcePattern(ResourceType[grant.resource], grant.name,
                              ACLResourcePatternType.PREFIXED if grant.prefixed else ACLResourcePatternType.LITERAL)
    return ACL(principal=f"User:{grant.user}", host="*", operation=ACLOperation[grant.operation],
               permission_type=ACLPermissionType.ALLOW, resource_pattern=pattern)


def apply(bootstrap_servers: str, grants: list[Grant], *, wait_s: float = 15.0, **client_kwargs: Any) -> int:
    """Create the ACLs (as a user allowed to, i.e. the super user); existing ones are kept.
    `client_kwargs`: shared/kafka_security.kafka_python_kwargs. Returns how many were sent.

    The brokers' authorizers learn new ACLs from the metadata log a moment after CreateAcls
    answers; this waits (up to `wait_s`) until the broker lists them all, so a client started
    next is judged by them."""
    from kafka.admin import ACLFilter, ACLOperation, ACLPermissionType, KafkaAdminClient, ResourcePatternFilter
    from kafka.admin import ACLResourcePatternType, ResourceType

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="acl-setup",
                             request_timeout_ms=15000, **client_kwargs)
    try:
        result = admin.create_acls([to_acl(g) for g in grants])
        failed = result.get("failed", []) if isinstance(result, dict) else []
        if failed:
            raise RuntimeError(f"{len(failed)} ACL(s) not created: {failed[:3]}")
        everything = ACLFilter(principal=None, host="*", operation=ACLOperation.ANY,
                               permission_type=ACLPermissionType.ANY,
                               resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
        wanted = {(f"User:{g.user}", g.operation, g.resource, g.name, g.prefixed) for g in grants}
        deadline = time.monotonic() + wait_s
        while True:
            listed, _error = admin.describe_acls(everything)
            seen = {(a.principal, a.operation.name, a.resource_pattern.resource_type.name,
                     a.resource_pattern.resource_name,
                     a.resource_pattern.pattern_type == ACLResourcePatternType.PREFIXED) for a in listed}
            if wanted <= seen or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        admin.close()
    return len(grants)


STRIMZI_OPERATIONS = {"READ": "Read", "WRITE": "Write", "DESCRIBE": "Describe"}


def strimzi_users(cluster: str = "fulfilment", prefix: str = "") -> str:
    """deploy/k8s/base/kafka-users.yaml: one Strimzi KafkaUser (SCRAM-SHA-512, simple ACLs) per
    user of the table; the user operator keeps each password in a Secret of the user's name."""
    import yaml

    users: dict[str, list[Grant]] = {}
    for grant in platform_table(prefix):
        if grant.user != MONITOR_USER:  # Strimzi's Kafka Exporter brings its own identity
            users.setdefault(grant.user, []).append(grant)
    docs = []
    for user, grants in users.items():
        acls: dict[tuple[str, str, str], list[str]] = {}
        for g in grants:
            key = (g.resource.lower(), g.name, "prefix" if g.prefixed else "literal")
            acls.setdefault(key, []).append(STRIMZI_OPERATIONS[g.operation])
        docs.append({
            "apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaUser",
            "metadata": {"name": user, "labels": {"strimzi.io/cluster": cluster}},
            "spec": {"authentication": {"type": "scram-sha-512"},
                     "authorization": {"type": "simple", "acls": [
                         {"resource": ({"type": kind} if kind == "cluster" else
                                       {"type": kind, "name": name, "patternType": pattern}),
                          "operations": ops}
                         for (kind, name, pattern), ops in acls.items()]}},
        })
    header = ("# Generated by `python -m deploy.kafka_acls strimzi > deploy/k8s/base/kafka-users.yaml`\n"
              "# from deploy/kafka_acls.py (tests/unit/test_kafka_security.py checks it is current).\n")
    return header + "".join("---\n" + yaml.safe_dump(doc, sort_keys=False) for doc in docs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.kafka_acls", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["show", "apply", "strimzi"])
    parser.add_argument("--prefix", default=None, help="topic prefix (default KAFKA_TOPIC_PREFIX)")
    parser.add_argument("--topics", action="store_true", help="create the topics first (apply)")
    args = parser.parse_args(argv)
    from shared.kafka_security import kafka_python_kwargs
    from shared.settings import KafkaSettings

    kafka = KafkaSettings()
    prefix = kafka.topic_prefix if args.prefix is None else args.prefix
    grants = platform_table(prefix)
    if args.command == "strimzi":
        print(strimzi_users(prefix=prefix), end="")
        return 0
    if args.command == "show":
        for grant in grants:
            print(grant)
        return 0
    security = kafka_python_kwargs(kafka)
    if args.topics:
        from shared.topics import create_topics

        created = create_topics(kafka.bootstrap_servers, prefix, partitions=kafka.partitions,
                                replication_factor=kafka.replication_factor,
                                min_insync_replicas=kafka.min_insync_replicas, timeout_s=120,
                                client_kwargs=security)
        print(f"{len(created)} topic(s) created", file=sys.stderr)
    count = apply(kafka.bootstrap_servers, grants, **security)
    print(f"{count} ACL(s) in place", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
