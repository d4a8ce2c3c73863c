"""Partitions that could not be applied, each paused on its own until its backoff ends.

A consumer member reads many partitions, of many tenants. When one tenant's transaction
fails for a transient reason (its schema's table is locked, a deadlock), only the partitions
whose events were in it are rewound and paused; the others keep flowing. The runner asks
this book which partitions are stalled, which are due for another attempt, and whether an
unknown failure has recurred often enough to be treated as permanent.
"""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass

from kafka import TopicPartition
from prometheus_client import Counter, Gauge

from dictamesh.events.failures import FailureKind, classify
from dictamesh.observability.logging import get_logger

log = get_logger(__name__)

STALLED = Gauge(
    "dictamesh_consumer_partition_stalled",
    "1 while a partition is paused after a failed attempt to apply its events.",
    ["group", "topic", "partition"],
)
RETRIES = Counter(
    "dictamesh_consumer_partition_retries",
    "Failed attempts to apply a partition's events, by kind of failure.",
    ["group", "topic", "kind"],
)

_ESCALATE_AFTER_ATTEMPTS = 5  # consecutive failed attempts before the log turns to errors


@dataclass
class Stall:
    """Why and since when a partition is stuck, and when it may try again."""

    offset: int  # the first offset not yet applied: where the partition resumes
    attempts: int = 0
    unknown_failures: int = 0
    resume_at: float = 0.0
    error: str = ""


class PartitionStalls:
    """The stalled partitions of one consumer member."""

    def __init__(self, group: str, *, backoff_ms: int, backoff_max_ms: int,
                 max_attempts: int) -> None:
        self._group = group
        self._backoff_ms = backoff_ms
        self._backoff_max_ms = backoff_max_ms
        self._max_attempts = max_attempts
        self._stalls: dict[TopicPartition, Stall] = {}

    def __contains__(self, tp: TopicPartition) -> bool:
        return tp in self._stalls

    def __len__(self) -> int:
        return len(self._stalls)

    def failed(self, tp: TopicPartition, offset: int, exc: BaseException) -> Stall:
        """Record a failed attempt at ``tp`` from ``offset``; return its stall."""
        stall = self._stalls.get(tp)
        if stall is None or stall.offset != offset:
            stall = self._stalls[tp] = Stall(offset)
        kind = classify(exc)
        stall.attempts += 1
        if kind is FailureKind.UNKNOWN:
            stall.unknown_failures += 1
        delay_ms = min(self._backoff_ms * 2 ** (stall.attempts - 1), self._backoff_max_ms)
        stall.resume_at = time.monotonic() + delay_ms / 1000
        stall.error = f"{type(exc).__name__}: {exc}"
        STALLED.labels(self._group, tp.topic, str(tp.partition)).set(1)
        RETRIES.labels(self._group, tp.topic, kind.value).inc()
        report = log.error if stall.attempts >= _ESCALATE_AFTER_ATTEMPTS else log.warning
        report("partition stalled: its events will be retried", group=self._group,
               topic=tp.topic, partition=tp.partition, offset=offset, attempt=stall.attempts,
               failure=kind.value, retry_in_ms=delay_ms, error=stall.error,
               exc_info=kind is FailureKind.UNKNOWN)
        return stall

    def waiting(self, tp: TopicPartition) -> bool:
        """Stalled, and its backoff has not ended yet."""
        stall = self._stalls.get(tp)
        return stall is not None and time.monotonic() < stall.resume_at

    def due(self) -> list[TopicPartition]:
        """The stalled partitions whose backoff has ended."""
        now = time.monotonic()
        return [tp for tp, stall in self._stalls.items() if now >= stall.resume_at]

    def gives_up(self, tp: TopicPartition) -> bool:
        """Whether the next attempt at ``tp`` is its last for an unknown failure: the
        event that keeps failing is then dead-lettered instead of retried again."""
        stall = self._stalls.get(tp)
        return stall is not None and stall.unknown_failures >= self._max_attempts - 1

    def applied(self, tp: TopicPartition) -> None:
        """``tp``'s events are applied: it is no longer stalled."""
        stall = self._stalls.pop(tp, None)
        if stall is not None:
            log.info("partition recovered", group=self._group, topic=tp.topic,
                     partition=tp.partition, offset=stall.offset, attempts=stall.attempts)
            self._clear_gauge(tp)

    def keep_only(self, assigned: set[TopicPartition]) -> None:
        """Forget partitions this member no longer owns (their new owner retries them)."""
        for tp in [tp for tp in self._stalls if tp not in assigned]:
            del self._stalls[tp]
            self._clear_gauge(tp)

    def clear(self) -> None:
        self.keep_only(set())

    def _clear_gauge(self, tp: TopicPartition) -> None:
        with suppress(KeyError):  # never set
            STALLED.remove(self._group, tp.topic, str(tp.partition))
