"""Time buckets for the war room's series (orders' /stats/series, logistics' /sla/series): the
range asked for, cut into whole minutes or hours, bounded; and the SQL that puts a stored time
into its bucket, so the grouping runs in the database and not over every row in Python.

A bucket is named by its start; it holds [start, start + length). Buckets are aligned to the
epoch (UTC): 09:00-10:00, 09:01-09:02; the console shows them in the warehouse's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import BigInteger, Integer, cast, func

Bucket = Literal["minute", "hour"]
BUCKET_SECONDS: dict[str, int] = {"minute": 60, "hour": 3600}
MAX_BUCKETS = 1440
"""At most a day of minutes, or 60 days of hours, in one answer: a chart's worth, bounded."""
DEFAULT_BUCKETS: dict[str, int] = {"minute": 60, "hour": 24}
"""Without `since`: the last hour of minutes, or the last day of hours, up to `until`."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
"""Times from the epoch up to this: bucket indexes stay positive (SQL's integer division and
Python's floor agree) and a bucket's end never runs past the calendar's last year."""


class RangeRefused(ValueError):
    """A range the series will not answer (HTTP 400): why, in words."""


def epoch_seconds(moment: datetime) -> int:
    """Whole seconds since the epoch, rounded down (also before the epoch)."""
    return (moment - EPOCH) // timedelta(seconds=1)


def epoch_us(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def floor_to(moment: datetime, seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=epoch_seconds(moment) // seconds * seconds)


@dataclass(frozen=True)
class BucketRange:
    bucket: str
    seconds: int
    first: int
    """Index of the first bucket: its start is first * seconds after the epoch."""
    count: int

    @property
    def since(self) -> datetime:
        return self.start_of(self.first)

    @property
    def until(self) -> datetime:
        return self.start_of(self.first + self.count)

    def start_of(self, index: int) -> datetime:
        return EPOCH + timedelta(seconds=index * self.seconds)

    def indexes(self) -> range:
        return range(self.first, self.first + self.count)


def bucket_range(bucket: str, since: datetime | None, until: datetime | None, now: datetime) -> BucketRange:
    """The buckets from `since` (rounded down to its bucket) up to `until` (rounded up; default:
    the end of the bucket holding `now`). Refused: naive times, `since` not before `until`, more
    than MAX_BUCKETS buckets."""
    if bucket not in BUCKET_SECONDS:
        raise RangeRefused(f"bucket must be one of {', '.join(BUCKET_SECONDS)}, not {bucket!r}")
    seconds = BUCKET_SECONDS[bucket]
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.utcoffset() is None:
            raise RangeRefused(f"{name} must carry a time zone (e.g. 2026-11-11T00:00:00Z or +08:00)")
        if value is not None and not EPOCH <= value < LATEST:
            raise RangeRefused(f"{name} must lie between 1970-01-01 and 9000-01-01 (UTC)")
    end = until if until is not None else now
    # Round up: the bucket holding `end` is included unless `end` is exactly its start.
    last = -(-epoch_seconds(end) // seconds) if until is not None else epoch_seconds(end) // seconds + 1
    if since is None:
        first = last - DEFAULT_BUCKETS[bucket]
    else:
        first = epoch_seconds(since) // seconds
    if first >= last:
        raise RangeRefused("since must be before until")
    if last - first > MAX_BUCKETS:
        raise RangeRefused(f"at most {MAX_BUCKETS} {bucket} buckets in one answer; this range has {last - first}: "
                           "ask for a shorter range or for hours")
    return BucketRange(bucket, seconds, first, last - first)


def bucket_index_sql(column: Any, seconds: int, dialect: str) -> Any:
    """The bucket index of a stored UTC time, in SQL: floor(epoch seconds / bucket length).
    SQLite keeps UTC times as text (`strftime('%s', ...)` reads it); PostgreSQL as timestamps."""
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column) / seconds), BigInteger)
    # The text is `YYYY-MM-DD HH:MM:SS.ffffff`: the fraction is cut off first, because SQLite reads
    # it to milliseconds and 59.9999 s would round into the next minute. Integer division as
    # SQLite does it (SQLAlchemy's `/` would ask for a true division).
    return cast(func.strftime("%s", func.substr(column, 1, 19)), Integer).op("/")(seconds)
