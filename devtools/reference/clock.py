"""Timestamps as the reference servers write them, and a clock that never repeats itself.

Every timestamp is ISO-8601 UTC with milliseconds and a `Z` (`2024-03-01T12:00:00.000Z`), the
form Directus returns for timestamp fields. One fixed width means the strings sort in time
order, so the servers compare and sort them as strings.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

_ONE_MS = timedelta(milliseconds=1)


def format_ts(moment: datetime) -> str:
    """`moment` in the servers' one timestamp form (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # isoformat is several times faster than strftime, which matters for 10,000-record seeds.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_ts(text: str) -> datetime:
    """An aware datetime from an ISO-8601 date or date-time; raises ValueError otherwise."""
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def canonical_ts(text: str) -> str:
    """Any ISO-8601 input rewritten in the servers' form, so it compares with stored values."""
    return format_ts(parse_ts(text))


class MonotonicClock:
    """Wall-clock time that moves forward at least one millisecond per reading.

    Change detection orders by `updated_at`; two changes in the same millisecond would tie, and
    a cursor taken between them could skip the second one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = datetime.min.replace(tzinfo=UTC)

    def now(self) -> str:
        with self._lock:
            self._last = max(datetime.now(UTC), self._last + _ONE_MS)
            return format_ts(self._last)
