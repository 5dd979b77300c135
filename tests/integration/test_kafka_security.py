"""Kafka security on a real broker: SASL/SCRAM authentication and ACLs (issue 9, R3/R28).

The module starts its own local Apache Kafka broker in secure mode (deploy/localkafka.py:
SASL_PLAINTEXT with SCRAM, StandardAuthorizer, deny when no ACL matches), creates the topics as
the super user and grants the ACLs of deploy/kafka_acls.py for `platform` and `orders`. Then:
the platform's credentials can write `platform.orders`; a wrong password is refused at
authentication; an authenticated user without the ACL (`intruder`), or the platform writing a
topic it has no right to, is refused with TopicAuthorizationFailed; and the orders service,
configured only through KAFKA_* settings, accepts an order end to end over SASL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from aiokafka.errors import TopicAuthorizationFailedError as AioTopicAuthorizationFailed
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaTimeoutError, TopicAuthorizationFailedError

from deploy import kafka_acls, localkafka
from shared.kafka_security import aiokafka_kwargs, kafka_python_kwargs
from shared.settings import KafkaSettings
from shared.topics import create_topics
from tests.support.kafka import cloud_event
from tests.support.services import ServiceProcess

# Its own broker in secure mode for the module: `make test-slow`.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

PREFIX = "sec."
USERS = {"admin": "admin-test-secret", "platform": "platform-test-secret",
         "orders": "orders-test-secret", "intruder": "intruder-test-secret"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[localkafka.Cluster]:
    base = Path(tempfile.mkdtemp(prefix="peak-kafka-sasl-"))
    secure = localkafka.start(port=None, brokers=1, base_dir=base, sasl_users=USERS, acls=True)
    try:
        admin = kafka_python_kwargs(settings(secure, "admin"))
        create_topics(secure.bootstrap_servers, PREFIX, partitions=1, replication_factor=1,
                      timeout_s=60, client_kwargs=admin)
        grants = kafka_acls.platform_grants(PREFIX) + kafka_acls.service_grants("orders", PREFIX)
        kafka_acls.apply(secure.bootstrap_servers, grants, **admin)
        yield secure
    finally:
        secure.stop()
        shutil.rmtree(base, ignore_errors=True)


def settings(cluster: localkafka.Cluster, user: str, *, password: str | None = None,
             mechanism: str = "SCRAM-SHA-256") -> KafkaSettings:
    """What a service would read from its KAFKA_* environment to sign in as `user`."""
    env = cluster.client_settings(user, mechanism)
    return KafkaSettings(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
                         security_protocol=env["KAFKA_SECURITY_PROTOCOL"], sasl_mechanism=mechanism,
                         sasl_username=user, sasl_password=password or env["KAFKA_SASL_PASSWORD"],
                         topic_prefix=PREFIX)


def producer(kafka: KafkaSettings, **extra) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all", retries=0,
                         **kafka_python_kwargs(kafka), **extra)


def read_back(cluster: localkafka.Cluster, topic: str, offset: int) -> bytes:
    """The record at `offset` of partition 0, read as the super user."""
    env = cluster.client_settings("admin")
    admin = KafkaSettings(**{k.removeprefix("KAFKA_").lower(): v for k, v in env.items()})
    consumer = KafkaConsumer(bootstrap_servers=cluster.bootstrap_servers, group_id=None,
                             enable_auto_commit=False, consumer_timeout_ms=10000,
                             **kafka_python_kwargs(admin))
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        for record in consumer:
            return record.value
        raise AssertionError(f"nothing at {topic}@{offset}")
    finally:
        consumer.close()


def order_event(order_id: str) -> bytes:
    data = {
        "order_id": order_id, "customer_id": "C-SEC", "order_type": "standard",
        "lines": [{"sku": "SKU-TEA-01", "quantity": 1, "unit_price": "49.90", "gift": False}],
        "discount": "0.00", "paid_amount": "49.90", "paid_at": "2026-11-11T00:00:03Z",
        "region": "Shanghai", "currency": "CNY",
    }
    return json.dumps(cloud_event("order.placed", data, subject=order_id, source="platform")).encode()


# -- (a) the platform's credentials ------------------------------------------------------------

@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_platform_user_can_write_platform_orders(cluster, mechanism) -> None:
    kafka = settings(cluster, "platform", mechanism=mechanism)
    client = producer(kafka)
    try:
        value = f"hello from the platform over {mechanism}".encode()
        meta = client.send(kafka.topic("platform.orders"), value, key=b"k").get(timeout=30)
    finally:
        client.close()
    assert read_back(cluster, kafka.topic("platform.orders"), meta.offset) == value


# -- (b) wrong credentials: no connection at all -----------------------------------------------

def test_wrong_password_is_refused_at_authentication(cluster, caplog) -> None:
    kafka = settings(cluster, "platform", password="not-the-platform-password")
    caplog.set_level(logging.WARNING)
    with pytest.raises(KafkaTimeoutError, match="Unable to bootstrap"):
        producer(kafka, bootstrap_timeout_ms=3000)  # kafka-python (admin, tools) never gets in

    async def relay_producer() -> None:  # the outbox relay's client (aiokafka)
        client = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, **aiokafka_kwargs(kafka))
        try:
            await client.start()
        finally:
            await client.stop()

    with pytest.raises(KafkaConnectionError):
        asyncio.run(relay_producer())
    assert "Authentication failed" in caplog.text  # the clients log the broker's SASL error 58
    # The same refusal seen on the wire: SaslAuthenticate answers SASL_AUTHENTICATION_FAILED (58).
    with localkafka._connect("127.0.0.1", cluster.nodes[0].port, 5.0) as sock:
        with pytest.raises(localkafka.LocalKafkaError, match=r"error 58"):
            localkafka._scram_authenticate(sock, "platform", "not-the-platform-password")


def test_a_client_without_credentials_cannot_connect(cluster) -> None:
    kafka = KafkaSettings(bootstrap_servers=cluster.bootstrap_servers)  # PLAINTEXT, no user
    with pytest.raises(KafkaTimeoutError, match="Unable to bootstrap"):
        producer(kafka, bootstrap_timeout_ms=3000)
    # On the wire: ApiVersions is answered before authentication, Metadata is not (the broker
    # closes the connection instead).
    assert localkafka.broker_answers("127.0.0.1", cluster.nodes[0].port)
    with pytest.raises(ConnectionError):
        localkafka.live_brokers("127.0.0.1", cluster.nodes[0].port)


# -- (c) authenticated, but no ACL -------------------------------------------------------------

def test_user_without_the_acl_cannot_write_platform_orders(cluster) -> None:
    kafka = settings(cluster, "intruder")
    client = producer(kafka)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            client.send(kafka.topic("platform.orders"), b'{"forged": true}', key=b"O-FORGED").get(timeout=30)
    finally:
        client.close()

    async def relay_producer() -> None:
        client = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, **aiokafka_kwargs(kafka))
        await client.start()
        try:
            await client.send_and_wait(kafka.topic("platform.orders"), b'{"forged": true}')
        finally:
            await client.stop()

    with pytest.raises(AioTopicAuthorizationFailed):
        asyncio.run(relay_producer())


def test_platform_user_cannot_write_the_services_topics(cluster) -> None:
    kafka = settings(cluster, "platform")
    client = producer(kafka)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            client.send(kafka.topic("orders.events"), b'{"type": "order.accepted"}').get(timeout=30)
    finally:
        client.close()


# -- (d) a real service over SASL --------------------------------------------------------------

def test_orders_service_accepts_an_order_over_sasl(cluster, tmp_path) -> None:
    env = {k: v for k, v in cluster.client_settings("orders").items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    service = ServiceProcess("orders", bootstrap=cluster.bootstrap_servers, topic_prefix=PREFIX,
                             db_dir=tmp_path, settings=env)
    try:
        service.start(timeout_s=90)  # waits for /brokerz: 200 only once its broker client is connected
        order_id = f"O-{uuid.uuid4().hex[:8]}"
        platform = settings(cluster, "platform")
        client = producer(platform)
        try:
            client.send(platform.topic("platform.orders"), order_event(order_id), key=order_id.encode()).get(30)
        finally:
            client.close()

        # Read as the super user: the acceptance went out through the relay, signed in as `orders`.
        consumer = KafkaConsumer(platform.topic("orders.events"), bootstrap_servers=cluster.bootstrap_servers,
                                 group_id=None, auto_offset_reset="earliest", enable_auto_commit=False,
                                 consumer_timeout_ms=45000, **kafka_python_kwargs(settings(cluster, "admin")))
        try:
            accepted = None
            for record in consumer:
                event = json.loads(record.value)
                if event["type"] == "order.accepted" and event["data"]["order_id"] == order_id:
                    accepted = event
                    break
        finally:
            consumer.close()
        assert accepted is not None, f"no order.accepted for {order_id}; see {service.log_path}"
        assert accepted["source"] == "orders"
        with service.client() as http:
            assert http.get(f"/orders/{order_id}").json()["status"] == "accepted"
        log = service.log_path.read_text(errors="replace")
        assert "SASL_PLAINTEXT SCRAM-SHA-256 as orders" in log
    finally:
        service.stop()


# -- TLS: SASL_SSL on the local broker's self-signed certificate ----------------------------------

@pytest.mark.slow
def test_sasl_ssl_round_trip_with_every_client() -> None:
    """kafka-python, aiokafka (the relay) and FastStream (the services' consumers) over SASL_SSL,
    verifying the broker's certificate against KAFKA_SSL_CAFILE."""
    from faststream.kafka import KafkaBroker

    from shared.kafka_security import faststream_security

    base = Path(tempfile.mkdtemp(prefix="peak-kafka-tls-"))
    secure = localkafka.start(port=None, brokers=1, base_dir=base, tls=True,
                              sasl_users={"admin": "admin-tls-secret", "platform": "platform-tls-secret"})
    try:
        env = secure.client_settings("admin")
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and Path(env["KAFKA_SSL_CAFILE"]).is_file()
        admin = KafkaSettings(**{k.removeprefix("KAFKA_").lower(): v for k, v in env.items()})
        create_topics(admin.bootstrap_servers, PREFIX, partitions=1, timeout_s=60,
                      client_kwargs=kafka_python_kwargs(admin))
        kafka_acls.apply(admin.bootstrap_servers, kafka_acls.platform_grants(PREFIX), **kafka_python_kwargs(admin))
        platform = KafkaSettings(**{k.removeprefix("KAFKA_").lower(): v
                                    for k, v in secure.client_settings("platform").items()})
        topic = PREFIX + "platform.orders"

        client = producer(platform)
        try:
            first = client.send(topic, b"over TLS, kafka-python").get(timeout=30)
        finally:
            client.close()
        assert read_back(secure, topic, first.offset) == b"over TLS, kafka-python"

        async def async_clients() -> None:
            relay = AIOKafkaProducer(bootstrap_servers=platform.bootstrap_servers, **aiokafka_kwargs(platform))
            await relay.start()
            try:
                await relay.send_and_wait(topic, b"over TLS, aiokafka")
            finally:
                await relay.stop()
            broker = KafkaBroker(admin.bootstrap_servers, security=faststream_security(admin))
            await broker.start()
            try:
                assert await broker.ping(timeout=10)
                await broker.publish(b"over TLS, faststream", topic)
            finally:
                await broker.stop()

        asyncio.run(async_clients())
        assert read_back(secure, topic, first.offset + 2) == b"over TLS, faststream"
    finally:
        secure.stop()
        shutil.rmtree(base, ignore_errors=True)
