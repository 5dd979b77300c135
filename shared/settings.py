"""Settings shared by every service. Kafka settings keep Kafka's own names; service settings carry
the service's prefix (ORDERS_, INVENTORY_, ...), so one environment can configure all four."""

from __future__ import annotations

from pathlib import Path

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class KafkaSettings(BaseSettings):
    """Env prefix KAFKA_: KAFKA_BOOTSTRAP_SERVERS, KAFKA_TOPIC_PREFIX, ..."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_")

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = Field(default="", description="Prepended to every topic and consumer group name.")
    partitions: int = Field(default=3, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    min_insync_replicas: int | None = Field(default=None, description="Kafka's min.insync.replicas for created topics.")
    create_topics: bool = Field(default=True, description="Create missing topics at start-up.")
    # Security (docs/security.md): every Kafka client of a service is built from these, in
    # shared/kafka_security.py. PLAINTEXT keeps the unauthenticated development setup.
    security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-256"
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    ssl_cafile: str | None = Field(default=None, description="CA bundle (PEM) that signed the brokers' certificates; "
                                                             "the system CAs when unset.")
    ssl_certfile: str | None = Field(default=None, description="Client certificate (PEM), for brokers asking for one.")
    ssl_keyfile: str | None = Field(default=None, description="Private key (PEM) of ssl_certfile.")
    ssl_check_hostname: bool = True

    @model_validator(mode="after")
    def _credentials_given(self) -> "KafkaSettings":
        if self.security_protocol.startswith("SASL_") and not (self.sasl_username and self.sasl_password.get_secret_value()):
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs KAFKA_SASL_USERNAME "
                             "and KAFKA_SASL_PASSWORD")
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError("KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together")
        return self

    @property
    def uses_ssl(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    def topic(self, name: str) -> str:
        return self.topic_prefix + name


class ServiceSettings(BaseSettings):
    """Each service subclasses this with its own env prefix and defaults."""

    service_name: str = "service"
    host: str = "127.0.0.1"
    http_port: int = 8000
    http_threads: int = Field(default=40, ge=1, le=400,
                              description="HTTP routes running at once; more requests wait on the event loop "
                                          "(shared/threads.py).")
    database_url: str = ""
    clock: str = Field(default="system", description="`system`, or `settable` for tests and the simulator.")
    relay_interval_s: float = Field(default=0.2, gt=0, description="How often the outbox relay looks for work when idle.")
    relay_enabled: bool = Field(default=True, description="False holds events in the outbox (crash drills, draining).")
    consumer_batch_size: int = Field(default=500, ge=1, description="Most records handled in one transaction.")
    # A poll returns as soon as records arrive, so this only sets how often an idle consumer wakes
    # (see shared.consumer_health.poll_without_sleeping).
    consumer_poll_wait_ms: int = Field(default=500, ge=1, description="Longest a poll waits for records; it returns as soon as any arrive.")
    consumer_fetch_min_bytes: int = Field(default=1, ge=1, description="Bytes the broker waits for before answering a fetch.")
    consumer_fetch_max_wait_ms: int = Field(default=500, ge=0, description="Longest the broker holds a fetch for `consumer_fetch_min_bytes`.")
    relay_linger_ms: int = Field(default=1, ge=0, description="How long the relay's producer waits to fill a batch.")
    handler_retries: int = Field(default=3, ge=0, description="Retries of a failing handler before dead-lettering.")
    consumer_stall_s: float = Field(default=120.0, ge=1.0, description="Seconds a consumed partition may have lag "
                                    "and no committed progress before /healthz answers 503 (not live).")
    log_level: str = "INFO"
    log_json: bool = Field(default=True, description="One JSON object per log line (event id and subject included).")
    access_log: bool = Field(default=True, description="A log line per HTTP request (probes and scrapes at DEBUG).")

    def resolved_database_url(self) -> str:
        """Default: a SQLite file per service under var/, so nothing needs installing."""
        if self.database_url:
            return self.database_url
        path = REPO_ROOT / "var" / "db" / f"{self.service_name}.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
