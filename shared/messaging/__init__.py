"""Messaging guarantees every service uses: transactional outbox, inbox dedupe, dead letters, retries.

- Outbox: a handler's or an HTTP route's state changes and the events they cause are written in
  one database transaction (`OutboxMessage` rows). `OutboxRelay` publishes them with an
  idempotent producer (acks=all) and marks them published. A crash between commit and publish
  loses nothing: the rows are still pending when the service comes back.
- Inbox: `InboxEntry` records each processed event id in the same transaction as its effects,
  so a redelivered event changes nothing.
- Offsets are committed by FastStream only after `EventConsumer` returns, i.e. after the
  handler's transaction committed (ack policy NACK_ON_ERROR: an infrastructure failure seeks
  back and the message is delivered again).
- Dead letters: bytes that are not an event, an event that fails its contract, or one whose
  handler keeps failing after bounded retries goes to `<topic>.dlq` with the original bytes as
  the value and the reason and source topic/partition/offset as headers. They are written
  through the outbox too, so a dead letter is never lost either.

The package: tables.py (outbox and inbox rows), outbox.py (writing to the outbox in the caller's
transaction), relay.py (outbox -> Kafka), consumer.py (Kafka -> handlers, a batch per
transaction), dead_letters.py, records.py (the record and handler types). The unit of work a
handler gets is shared/unit_of_work.py.
"""

from shared.messaging.consumer import EventConsumer
from shared.messaging.dead_letters import DeadLetters, dead_letter_headers
from shared.messaging.outbox import Outbox
from shared.messaging.records import (Handler, InvalidEvent, InvalidHandler, Record, content_digest, reused_id_reason,
                                      undecodable_reason)
from shared.messaging.relay import FATAL_PRODUCER_ERRORS, REFUSED_FOR_GOOD, OutboxRelay, refused_for_good
from shared.messaging.tables import (LEASE, MARK_EVERY_S, MAX_BATCH_BYTES, MESSAGING_TABLES, UNPUBLISHED, InboxEntry,
                                     OutboxMessage)
from shared.unit_of_work import EventHandler, UnitOfWork

__all__ = [
    "DeadLetters", "EventConsumer", "EventHandler", "FATAL_PRODUCER_ERRORS", "Handler", "InboxEntry",
    "InvalidEvent", "InvalidHandler", "LEASE", "MARK_EVERY_S", "MAX_BATCH_BYTES", "MESSAGING_TABLES", "Outbox",
    "OutboxMessage", "OutboxRelay", "REFUSED_FOR_GOOD", "Record", "UNPUBLISHED", "UnitOfWork", "content_digest",
    "dead_letter_headers", "refused_for_good", "reused_id_reason", "undecodable_reason",
]
