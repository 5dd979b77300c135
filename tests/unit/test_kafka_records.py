"""The lenient record-batch reader (shared/kafka_records.py) against aiokafka's own: the same
records, field for field, for batches aiokafka reads; every record of a batch aiokafka cannot
read because one header key is not UTF-8; null keys, values and header values; compressed
batches; and a truncated batch refused as corrupt rather than read wrong."""

from __future__ import annotations

import pytest
from aiokafka.errors import CorruptRecordException
from aiokafka.record.default_records import DefaultRecordBatch, _DefaultRecordBatchBuilderPy
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.kafka_records import LenientHeaderBatch, TolerantMemoryRecords
from tests.support.kafka import RawHeaderKey

GZIP = 1


def batch_bytes(records, *, compression: int = 0, log_append_time: bool = False) -> bytes:
    builder = _DefaultRecordBatchBuilderPy(magic=2, compression_type=compression, is_transactional=0,
                                           producer_id=-1, producer_epoch=-1, base_sequence=-1, batch_size=10**7)
    for offset, (key, value, headers) in enumerate(records):
        builder.append(offset, timestamp=1_700_000_000_000 + offset * 7, key=key, value=value, headers=headers)
    data = builder.build()
    if log_append_time:
        data[21 + 1] |= 0x08  # attributes (low byte): timestamp type = log append time
    return bytes(data)


def fields(record) -> tuple:
    return (record.offset, record.timestamp, record.timestamp_type, record.key, record.value, list(record.headers))


header = st.tuples(st.text(max_size=8), st.one_of(st.none(), st.binary(max_size=16)))
record = st.tuples(st.one_of(st.none(), st.binary(max_size=40)), st.one_of(st.none(), st.binary(max_size=200)),
                   st.lists(header, max_size=4))


@settings(max_examples=150, deadline=None)
@given(st.lists(record, min_size=1, max_size=12), st.sampled_from([0, GZIP]))
def test_what_aiokafka_reads_is_read_the_same(records, compression) -> None:
    data = batch_bytes(records, compression=compression)
    assert [fields(r) for r in LenientHeaderBatch(data)] == [fields(r) for r in DefaultRecordBatch(data)]


def test_a_header_key_that_is_not_utf8_loses_no_record_of_its_batch() -> None:
    records = [(b"O-1", b"first", [("ce_type", b"order.placed")]),
               (b"O-2", b"odd", [("ce_type", b"order.placed"), (RawHeaderKey(b"\xff\xfe"), b"1")]),
               (b"O-3", b"third", [])]
    data = batch_bytes(records)
    with pytest.raises(UnicodeDecodeError):
        list(DefaultRecordBatch(data))  # aiokafka's own reader gives up on the whole batch
    read = TolerantMemoryRecords(data)
    batch = read.next_batch()
    assert batch.base_offset == 0 and batch.next_offset == 3 and batch.validate_crc()
    got = list(batch)
    assert [(r.key, r.value) for r in got] == [(b"O-1", b"first"), (b"O-2", b"odd"), (b"O-3", b"third")]
    assert got[1].headers == [("ce_type", b"order.placed"), ("\ufffd\ufffd", b"1")]
    assert not read.has_next()


def test_log_append_time_batches_carry_the_brokers_time() -> None:
    data = batch_bytes([(None, b"a", []), (None, b"b", [])], log_append_time=True)
    lenient, own = list(LenientHeaderBatch(data)), list(DefaultRecordBatch(data))
    assert [fields(r) for r in lenient] == [fields(r) for r in own]
    assert {r.timestamp_type for r in lenient} == {1}


def test_a_record_cut_short_is_corrupt_not_misread() -> None:
    data = bytearray(batch_bytes([(b"k", b"value", [("h", b"v")])]))
    data[-2] = 0x20  # the header value's length (16 bytes) now runs past the end
    with pytest.raises(CorruptRecordException):
        list(LenientHeaderBatch(bytes(data)))
