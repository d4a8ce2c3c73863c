"""The one wrapper around kafka-python's KafkaProducer: settings-built, batch-oriented.

Every producer is idempotent with ``acks=all``: with retries, records of one partition
land once and in order. ``send_batch`` never raises on broker trouble: it reports which
records were acknowledged, and after any failure it discards the underlying producer,
so the next batch starts from a fresh connection and a fresh producer id (a restarted
broker no longer knows the old one) and nothing buffered is sent behind the caller's back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any

from django.conf import settings
from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata

from dictamesh.events.kafka_config import KafkaConnection, client_options

logger = logging.getLogger(__name__)

# Time flush() gets beyond the delivery timeout, after which every record has an outcome.
_FLUSH_MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class ProducerConfig:
    bootstrap_servers: tuple[str, ...]
    linger_ms: int = 5
    batch_bytes: int = 512 * 1024
    compression: str = "none"  # none, gzip, lz4, snappy, zstd
    delivery_timeout_ms: int = 30_000  # bounds the retries of one record
    max_block_ms: int = 5_000  # bounds waiting for a broker (connect, metadata)
    client_id: str = "dictamesh-producer"

    @classmethod
    def from_settings(cls, **overrides: Any) -> ProducerConfig:
        config = cls(
            bootstrap_servers=tuple(settings.KAFKA_BOOTSTRAP_SERVERS),
            linger_ms=settings.KAFKA_PRODUCER_LINGER_MS,
            batch_bytes=settings.KAFKA_PRODUCER_BATCH_BYTES,
            compression=settings.KAFKA_PRODUCER_COMPRESSION,
            delivery_timeout_ms=settings.KAFKA_PRODUCER_DELIVERY_TIMEOUT_MS,
            max_block_ms=settings.KAFKA_PRODUCER_MAX_BLOCK_MS,
        )
        return replace(config, **overrides)

    def kafka_options(self) -> dict[str, Any]:
        return client_options(
            KafkaConnection.from_settings(self.bootstrap_servers), self.client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=self.linger_ms,
            batch_size=self.batch_bytes,
            compression_type=None if self.compression == "none" else self.compression,
            delivery_timeout_ms=self.delivery_timeout_ms,
            request_timeout_ms=min(30_000, self.delivery_timeout_ms - self.linger_ms),
            max_block_ms=self.max_block_ms,
            bootstrap_timeout_ms=self.max_block_ms,
            # Topics come from the spec (provision_topics); a typo must fail, not create one.
            allow_auto_create_topics=False,
        )


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    key: str
    value: bytes
    headers: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class Delivery:
    """The outcome of one batch, by position in it."""

    acked: tuple[int, ...]
    failed: tuple[int, ...]  # tried but not acknowledged; records after a refusal are neither
    error: str = ""  # the first error, empty if every record was acknowledged
    unreachable: bool = False  # no connection at all: the cluster is down or misconfigured

    @property
    def ok(self) -> bool:
        return not self.error


class EventProducer:
    """Sends batches of records and waits for their acknowledgements."""

    def __init__(self, config: ProducerConfig) -> None:
        self.config = config
        self._producer: KafkaProducer | None = None

    @classmethod
    def from_settings(cls, **overrides: Any) -> EventProducer:
        return cls(ProducerConfig.from_settings(**overrides))

    def send_batch(self, records: Sequence[OutgoingRecord]) -> Delivery:
        """Send ``records`` in order and wait until each is acknowledged or failed.

        Sending stops at the first record that cannot be handed to the producer, so no
        record is sent after an earlier one of the batch that was refused.
        """
        try:
            producer = self._connect()
        except KafkaError as exc:
            return Delivery((), tuple(range(len(records))), self._describe(exc), unreachable=True)
        futures: list[FutureRecordMetadata] = []
        error = ""
        # Records of one change share their headers object: encoded once per batch
        # (kafka-python only reads the list). ``records`` keeps each alive, so ids hold.
        encoded: dict[int, list[tuple[str, bytes]]] = {}
        for record in records:
            headers = encoded.get(id(record.headers))
            if headers is None:
                headers = encoded[id(record.headers)] = [
                    (name, value.encode()) for name, value in record.headers]
            try:
                futures.append(producer.send(
                    record.topic, value=record.value, key=record.key.encode(), headers=headers,
                ))
            except KafkaError as exc:
                error = self._describe(exc)
                break
        try:
            producer.flush(timeout=self.config.delivery_timeout_ms / 1000 + _FLUSH_MARGIN_SECONDS)
        except KafkaError as exc:
            error = error or self._describe(exc)
        acked = tuple(i for i, f in enumerate(futures) if f.is_done and f.succeeded())
        failed = [i for i, f in enumerate(futures) if not (f.is_done and f.succeeded())]
        if failed and not error:
            first = futures[failed[0]]
            error = self._describe(first.exception if first.is_done else None)
        if error and len(futures) < len(records):
            failed.append(len(futures))  # the record send() refused
        if error:
            self.reset()
        return Delivery(acked, tuple(failed), error)

    def _connect(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(**self.config.kafka_options())
        return self._producer

    def _describe(self, exc: BaseException | None) -> str:
        servers = ",".join(self.config.bootstrap_servers)
        detail = f"{type(exc).__name__}: {exc}" if exc else "no acknowledgement in time"
        return f"Kafka at {servers}: {detail}"

    def reset(self) -> None:
        """Drop the underlying producer; the next send reconnects."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                producer.close(timeout=0)
            except KafkaError:
                # Only if flush() gave up before the delivery timeout: the old sender thread
                # then expires its last records itself; a late success is a duplicate, which
                # consumers drop by event_id.
                logger.warning("closing a failed Kafka producer raised", exc_info=True)

    def close(self, timeout: float = 10.0) -> None:
        """Flush and close; safe to call more than once."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            producer.close(timeout=timeout)

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
