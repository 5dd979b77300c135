"""Kafka security settings -> client arguments (shared/kafka_security.py), the ACL table
(deploy/kafka_acls.py) and the secure broker configuration of deploy/localkafka.py. No broker:
tests/integration/test_kafka_security.py runs them against a real one."""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

import pytest
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLScram256, SASLScram512
from pydantic import ValidationError

from deploy import kafka_acls, localkafka
from shared.kafka_security import aiokafka_kwargs, describe, faststream_security, kafka_python_kwargs, ssl_context
from shared.settings import KafkaSettings
from shared.topics import ALL_TOPICS, dlq_name

def kafka(**values) -> KafkaSettings:
    # _env_file=None and explicit values: the test does not depend on the caller's environment.
    return KafkaSettings(_env_file=None, bootstrap_servers="b:9092", **values)


def test_plaintext_default_changes_nothing(monkeypatch) -> None:
    for name in ("SECURITY_PROTOCOL", "SASL_USERNAME", "SASL_PASSWORD", "SSL_CAFILE"):
        monkeypatch.delenv(f"KAFKA_{name}", raising=False)
    settings = KafkaSettings()
    assert settings.security_protocol == "PLAINTEXT"
    assert faststream_security(settings) is None
    assert aiokafka_kwargs(settings) == {} and kafka_python_kwargs(settings) == {}
    assert ssl_context(settings) is None


def test_settings_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "orders")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    settings = KafkaSettings()
    assert (settings.security_protocol, settings.sasl_mechanism, settings.sasl_username) == \
        ("SASL_PLAINTEXT", "SCRAM-SHA-512", "orders")
    assert "s3cret" not in repr(settings) and "s3cret" not in describe(settings)


@pytest.mark.parametrize("mechanism, cls", [("SCRAM-SHA-256", SASLScram256), ("SCRAM-SHA-512", SASLScram512)])
def test_sasl_plaintext_maps_to_every_client(mechanism, cls) -> None:
    settings = kafka(security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism,
                     sasl_username="orders", sasl_password="pw")
    expected = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": mechanism,
                "sasl_plain_username": "orders", "sasl_plain_password": "pw"}
    assert aiokafka_kwargs(settings) == expected
    assert kafka_python_kwargs(settings) == expected
    security = faststream_security(settings)
    assert isinstance(security, cls) and not security.use_ssl
    # What FastStream 0.7.8 hands to aiokafka for its consumers and producer.
    assert parse_security(security) == {**expected, "ssl_context": None}
    assert describe(settings) == f"SASL_PLAINTEXT {mechanism} as orders"


def test_sasl_ssl_uses_one_verifying_tls_context() -> None:
    settings = kafka(security_protocol="SASL_SSL", sasl_username="orders", sasl_password="pw")
    kwargs = kafka_python_kwargs(settings)
    assert kwargs["security_protocol"] == "SASL_SSL"
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert aiokafka_kwargs(settings)["security_protocol"] == "SASL_SSL"
    parsed = parse_security(faststream_security(settings))
    assert parsed["security_protocol"] == "SASL_SSL" and isinstance(parsed["ssl_context"], ssl.SSLContext)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")
def test_ssl_without_sasl_and_a_custom_ca(tmp_path) -> None:
    cert = localkafka._make_certificate(tmp_path)  # self-signed, as the local broker's TLS mode uses
    settings = kafka(security_protocol="SSL", ssl_cafile=str(cert), ssl_check_hostname=False)
    security = faststream_security(settings)
    assert type(security) is BaseSecurity and security.use_ssl
    assert parse_security(security)["security_protocol"] == "SSL"
    kwargs = aiokafka_kwargs(settings)
    assert kwargs["security_protocol"] == "SSL" and "sasl_mechanism" not in kwargs
    assert not kwargs["ssl_context"].check_hostname
    assert len(kwargs["ssl_context"].get_ca_certs()) == 1


@pytest.mark.parametrize("values", [
    {"security_protocol": "SASL_PLAINTEXT"},
    {"security_protocol": "SASL_SSL", "sasl_username": "orders"},
    {"security_protocol": "SSL", "ssl_certfile": "client.pem"},
    {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "sasl_username": "u", "sasl_password": "p"},
    {"security_protocol": "KERBEROS"},
])
def test_incomplete_or_unknown_settings_are_refused(values) -> None:
    with pytest.raises(ValidationError):
        kafka(**values)


# -- the ACL table -----------------------------------------------------------------------------

def _ops(grants, user, resource="TOPIC"):
    return {(g.operation, g.name) for g in grants if g.user == user and g.resource == resource}


def test_platform_may_only_write_platform_orders() -> None:
    grants = kafka_acls.platform_table("p.")
    assert _ops(grants, "platform") == {("WRITE", "p.platform.orders"), ("DESCRIBE", "p.platform.orders")}
    assert not [g for g in grants if g.user == "platform" and g.resource != "TOPIC"]


def test_each_service_reads_what_it_consumes_and_writes_what_it_produces() -> None:
    orders = _ops(kafka_acls.service_grants("orders"), "orders")
    assert ("READ", "platform.orders") in orders
    assert ("WRITE", "orders.events") in orders
    assert ("WRITE", "platform.orders.dlq") in orders           # its dead letters
    assert ("WRITE", "platform.orders") in orders               # POST /orders goes through the topic
    assert ("WRITE", "inventory.reservations") not in orders    # another service's topic
    for service in kafka_acls.SERVICES:
        grants = kafka_acls.service_grants(service, "p.")
        ops = _ops(grants, service)
        for spec in ALL_TOPICS:
            consumes = any(kafka_acls._role(c, service) for c in spec.consumers)
            assert (("READ", "p." + spec.name) in ops) == consumes, (service, spec.name)
            assert (("WRITE", "p." + dlq_name(spec.name)) in ops) == consumes, (service, spec.name)
        [group] = [g for g in grants if g.resource == "GROUP"]
        assert (group.operation, group.name, group.prefixed) == ("READ", f"p.{service}.", True)


def test_monitor_only_describes() -> None:
    grants = [g for g in kafka_acls.platform_table() if g.user == "monitor"]
    assert grants and {g.operation for g in grants} == {"DESCRIBE"}


def test_grants_become_kafka_python_acls() -> None:
    from kafka.admin import ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourceType

    acl = kafka_acls.to_acl(kafka_acls.Grant("orders", "READ", "GROUP", "orders.", prefixed=True))
    assert acl.principal == "User:orders" and acl.host == "*"
    assert acl.operation == ACLOperation.READ and acl.permission_type == ACLPermissionType.ALLOW
    assert acl.resource_pattern.resource_type == ResourceType.GROUP
    assert acl.resource_pattern.pattern_type == ACLResourcePatternType.PREFIXED


def test_strimzi_kafka_users_are_generated_from_the_table() -> None:
    path = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "base" / "kafka-users.yaml"
    assert path.read_text() == kafka_acls.strimzi_users(), \
        "regenerate: python -m deploy.kafka_acls strimzi --prefix '' > deploy/k8s/base/kafka-users.yaml"


# -- the local broker's secure configuration ---------------------------------------------------

def _props(security: localkafka.Security, tmp_path: Path) -> dict[str, str]:
    node = localkafka.Node(0, 40000, 40001, tmp_path / "node-0")
    text = localkafka._server_properties(node, [node], security, tmp_path)
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_secure_broker_config(tmp_path) -> None:
    props = _props(localkafka.Security({"admin": "a-pw", "platform": "p-pw"}), tmp_path)
    assert props["listeners"] == "CLIENT://127.0.0.1:40000,CONTROLLER://127.0.0.1:40001"
    assert props["listener.security.protocol.map"] == "CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
    assert props["inter.broker.listener.name"] == "CLIENT"
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["super.users"] == "User:admin"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert set(props["sasl.enabled.mechanisms"].split(",")) == {"SCRAM-SHA-256", "SCRAM-SHA-512"}
    assert props["sasl.mechanism.controller.protocol"] == "PLAIN"
    assert "PLAINTEXT://" not in props["listeners"]


def test_tls_and_no_acl_variants(tmp_path) -> None:
    props = _props(localkafka.Security({"admin": "a"}, acls=False, tls=True), tmp_path)
    assert props["listener.security.protocol.map"].startswith("CLIENT:SASL_SSL,")
    assert props["listener.name.client.ssl.keystore.type"] == "PEM"
    assert "authorizer.class.name" not in props


def test_security_needs_the_super_user_and_safe_names() -> None:
    with pytest.raises(ValueError, match="super user"):
        localkafka.Security({"platform": "pw"})
    with pytest.raises(ValueError):
        localkafka.Security({"admin": "pw", "bad,name": "x"})
    env = localkafka.Security({"admin": "a", "orders": "o"}).client_settings("orders")
    assert KafkaSettings(_env_file=None, **{k.removeprefix("KAFKA_").lower(): v for k, v in env.items()}).uses_sasl


def test_plaintext_broker_config_is_unchanged(tmp_path) -> None:
    node = localkafka.Node(0, 40000, 40001, tmp_path / "node-0")
    text = localkafka._server_properties(node, [node])
    assert "listeners=PLAINTEXT://127.0.0.1:40000,CONTROLLER://127.0.0.1:40001" in text
    assert "sasl" not in text and "authorizer" not in text

