"""Kafka client security from settings, in one place.

`KafkaSettings` (env KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME,
KAFKA_SASL_PASSWORD, KAFKA_SSL_CAFILE, KAFKA_SSL_CERTFILE, KAFKA_SSL_KEYFILE) becomes:

- `faststream_security(kafka)`: the `security=` object of FastStream's `KafkaBroker`
  (None for PLAINTEXT, so the broker is built exactly as before);
- `aiokafka_kwargs(kafka)`: keyword arguments for `aiokafka.AIOKafkaProducer` / `AIOKafkaConsumer`;
- `kafka_python_kwargs(kafka)`: keyword arguments for kafka-python's `KafkaAdminClient`,
  `KafkaProducer` and `KafkaConsumer`.

All three are empty (or None) for PLAINTEXT. TLS uses one `ssl.SSLContext` built from the CA file
(and the client certificate when the brokers ask for one); aiokafka and kafka-python both take
a ready context, so the three clients verify brokers the same way. See docs/security.md.
"""

from __future__ import annotations

import ssl
from typing import Any

from faststream.security import BaseSecurity, SASLScram256, SASLScram512

from shared.settings import KafkaSettings


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL; None for plaintext protocols."""
    if not kafka.uses_ssl:
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=kafka.ssl_cafile or None)
    context.check_hostname = kafka.ssl_check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if kafka.ssl_certfile:
        context.load_cert_chain(kafka.ssl_certfile, kafka.ssl_keyfile or None)
    return context


def faststream_security(kafka: KafkaSettings) -> BaseSecurity | None:
    """`KafkaBroker(..., security=faststream_security(kafka))`."""
    context = ssl_context(kafka)
    if kafka.uses_sasl:
        scram = SASLScram512 if kafka.sasl_mechanism == "SCRAM-SHA-512" else SASLScram256
        # use_ssl decides SASL_SSL vs SASL_PLAINTEXT in faststream.kafka.security.
        return scram(kafka.sasl_username, kafka.sasl_password.get_secret_value(),
                     ssl_context=context, use_ssl=kafka.uses_ssl)
    if kafka.uses_ssl:
        return BaseSecurity(ssl_context=context, use_ssl=True)
    return None


def _common(kafka: KafkaSettings) -> dict[str, Any]:
    if kafka.security_protocol == "PLAINTEXT":
        return {}
    kwargs: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    if kafka.uses_ssl:
        kwargs["ssl_context"] = ssl_context(kafka)
    if kafka.uses_sasl:
        kwargs.update(sasl_mechanism=kafka.sasl_mechanism, sasl_plain_username=kafka.sasl_username,
                      sasl_plain_password=kafka.sasl_password.get_secret_value())
    return kwargs


def aiokafka_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """For `AIOKafkaProducer(**aiokafka_kwargs(kafka), ...)`; {} for PLAINTEXT."""
    return _common(kafka)


def kafka_python_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """For kafka-python's clients (admin, producer, consumer); {} for PLAINTEXT."""
    return _common(kafka)


def describe(kafka: KafkaSettings) -> str:
    """For logs: protocol, mechanism and user; never the password."""
    if not kafka.uses_sasl:
        return kafka.security_protocol
    return f"{kafka.security_protocol} {kafka.sasl_mechanism} as {kafka.sasl_username}"
