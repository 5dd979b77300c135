"""A test world: its own topic prefix on the shared broker, its own databases, its own services."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from shared.topics import create_topics, dlq_name
from tests.support.kafka import Publisher, TopicReader
from tests.support.services import ServiceProcess


DatabaseFactory = Callable[[str], str]
"""Given a database name, creates it if needed and returns its URL (PostgreSQL runs)."""


class World:
    def __init__(self, bootstrap: str, base_dir: Path, partitions: int = 3,
                 databases: DatabaseFactory | None = None) -> None:
        self.bootstrap = bootstrap
        self.databases = databases
        self.prefix = f"t{uuid.uuid4().hex[:10]}."
        self.base_dir = base_dir
        create_topics(bootstrap, self.prefix, partitions=partitions, replication_factor=1)
        self.publisher = Publisher(bootstrap)
        self.services: list[ServiceProcess] = []
        self.readers: list[TopicReader] = []

    def topic(self, name: str) -> str:
        return self.prefix + name

    def dlq(self, name: str) -> str:
        return self.prefix + dlq_name(name)

    def start(self, name: str, *, instance: str = "1", settings: dict[str, str] | None = None,
              db_dir: Path | None = None) -> ServiceProcess:
        """Start a service; instances sharing `db_dir` share a database (scaling out)."""
        db = db_dir or (self.base_dir / "db")
        db.mkdir(parents=True, exist_ok=True)
        url = None
        if self.databases is not None:
            # Instances given the same db_dir share one database, as they would share a file.
            digest = hashlib.sha1(str(db).encode()).hexdigest()[:10]
            url = self.databases(f"{self.prefix.rstrip('.')}_{digest}_{name}")
        service = ServiceProcess(name, bootstrap=self.bootstrap, topic_prefix=self.prefix, db_dir=db,
                                 instance=instance, settings=settings, database_url=url)
        self.services.append(service)
        return service.start()

    def start_at(self, name: str, now: datetime, settings: dict[str, str] | None = None) -> ServiceProcess:
        """Start a service on a settable clock (CLOCK=settable) that reads `now`."""
        service = self.start(name, settings={"CLOCK": "settable"} | (settings or {}))
        with service.client() as http:
            http.put("/clock", json={"now": now.isoformat()}).raise_for_status()
        return service

    def reader(self, name: str) -> TopicReader:
        """Reads the (prefixed) topic `name`, e.g. 'orders.events' or 'orders.events.dlq'."""
        reader = TopicReader(self.bootstrap, self.topic(name))
        self.readers.append(reader)
        return reader

    def publish(self, name: str, type_: str, data: dict, *, key: str, event_id: str | None = None) -> str:
        return self.publisher.send_event(self.topic(name), type_, data, key=key, event_id=event_id)

    def publish_raw(self, name: str, value: bytes, key: str | None = None,
                    headers: dict[str, str] | None = None) -> None:
        self.publisher.send_raw(self.topic(name), value, key=key, headers=headers)

    def close(self) -> None:
        for service in self.services:
            service.stop()
        for reader in self.readers:
            reader.close()
        self.publisher.close()
