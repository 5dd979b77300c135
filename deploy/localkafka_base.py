"""What every part of the local Kafka broker (deploy/localkafka*.py) agrees on: the version, the
default places and ports, the timeouts, and the errors.

It sits below the other localkafka_* modules so each can raise LocalKafkaError without importing
deploy/localkafka.py, which imports them all; deploy/localkafka.py re-exports every name here.
"""

from __future__ import annotations

from pathlib import Path

# Must match <kafka.version> in deploy/kafka/pom.xml; it is also passed to mvn
# explicitly so the lib directory name can never disagree with its contents.
KAFKA_VERSION = "4.4.0"

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = REPO_ROOT / "var" / "kafka"
DEFAULT_PORT = 9092

START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
STATE_FILE = "cluster.json"


class LocalKafkaError(RuntimeError):
    """Anything that keeps the local cluster from starting or stopping."""


class AlreadyRunning(LocalKafkaError):
    """start() was asked for a data dir whose brokers are still running."""
