"""Fetched Kafka record batches that no record's header can make unreadable.

Kafka's protocol calls a header key a string, but nothing on the way checks that it is UTF-8,
and aiokafka decodes every key strictly while it reads a fetched batch: one record whose key is
not (a raw protocol client, a careless C producer) raised `UnicodeDecodeError` out of `getmany`,
stalled its partition for good and lost the records fetched with it (issue 27; found by the
record fuzz test). `install()` makes aiokafka's fetcher read batches through
`TolerantMemoryRecords`: each batch is still parsed by aiokafka's fast parser, and only a batch
that fails so is parsed again here, with header keys decoded leniently (U+FFFD for bad bytes).
Every record of it then reaches the consumer, whose headers are only ever hints.

This replaces one name in aiokafka's fetcher module (its `MemoryRecords`), so pyproject.toml
bounds aiokafka's version; `tests/unit/test_kafka_records.py` checks the parse against
aiokafka's own, record for record.
"""

from __future__ import annotations

import logging
from typing import Any

import aiokafka.consumer.fetcher as _fetcher
from aiokafka.errors import CorruptRecordException
from aiokafka.record.default_records import _DefaultRecordBatchPy, _DefaultRecordPy
from aiokafka.record.memory_records import _MemoryRecordsPy
from aiokafka.record.util import decode_varint

log = logging.getLogger(__name__)

_LOG_APPEND_TIME = 1  # a batch whose records all carry the broker's append time (max_timestamp)


def _read_bytes(buffer: bytearray, pos: int) -> tuple[bytes | None, int]:
    """A varint length (-1: null) and that many bytes."""
    size, pos = decode_varint(buffer, pos)
    if size < 0:
        return None, pos
    if pos + size > len(buffer):
        raise CorruptRecordException("a record field runs past the end of its batch")
    return bytes(buffer[pos:pos + size]), pos + size


class LenientHeaderBatch(_DefaultRecordBatchPy):
    """aiokafka's own batch reader (batch header, decompression, record count checks) with the
    record itself read here: length, attributes, timestamp and offset deltas, key, value, and
    headers whose keys need not be UTF-8 (record format v2, as Kafka's protocol guide lays it)."""

    def _read_msg(self, decode_varint: Any = decode_varint) -> _DefaultRecordPy:
        buffer = self._buffer
        length, pos = decode_varint(buffer, self._pos)
        end = pos + length
        pos += 1  # attributes: unused in v2 records
        timestamp_delta, pos = decode_varint(buffer, pos)
        offset_delta, pos = decode_varint(buffer, pos)
        key, pos = _read_bytes(buffer, pos)
        value, pos = _read_bytes(buffer, pos)
        count, pos = decode_varint(buffer, pos)
        headers: list[tuple[str, bytes | None]] = []
        for _ in range(count):
            name, pos = _read_bytes(buffer, pos)
            header_value, pos = _read_bytes(buffer, pos)
            headers.append(((name or b"").decode("utf-8", "replace"), header_value))
        if pos != end:
            raise CorruptRecordException(f"a record's length says {length} bytes, its fields took {length + pos - end}")
        self._pos = pos
        timestamp_type = self.timestamp_type
        timestamp = self.max_timestamp if timestamp_type == _LOG_APPEND_TIME else self.first_timestamp + timestamp_delta
        return _DefaultRecordPy(self.base_offset + offset_delta, timestamp, timestamp_type, key, value, headers)


class _FallbackBatch:
    """A batch parsed by aiokafka's fast parser, or by `LenientHeaderBatch` when that fails on a
    header. Everything else (offsets, CRC, transaction markers) is the fast batch's."""

    def __init__(self, data: memoryview, batch: Any) -> None:
        self._data = data
        self._batch = batch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def __iter__(self) -> Any:
        try:
            return iter(list(self._batch))
        except UnicodeDecodeError as exc:
            log.warning("a fetched record batch at offset %d has a header key that is not UTF-8 (%s); "
                        "read with the key's bad bytes replaced", self._batch.base_offset, exc)
            return iter(list(LenientHeaderBatch(self._data)))


class TolerantMemoryRecords(_MemoryRecordsPy):
    """aiokafka's record-set reader (Python's: it only cuts the fetched bytes into batches), whose
    v2 batches fall back to `LenientHeaderBatch`."""

    def next_batch(self, *args: Any, **kwargs: Any) -> Any:
        data = self._next_slice
        batch = super().next_batch(*args, **kwargs)
        if batch is None or data is None or batch.magic < 2:
            return batch  # legacy formats have no headers
        return _FallbackBatch(data, batch)


def install() -> None:
    """Make aiokafka's fetcher read fetched record sets through TolerantMemoryRecords (once per process)."""
    _fetcher.MemoryRecords = TolerantMemoryRecords  # type: ignore[misc, assignment]
