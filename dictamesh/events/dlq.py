"""The dead-letter topic: where a consumer puts a message it can never apply, and moves on.

A dead letter is the original message, key and value byte for byte, on ``<topic>.dlq``,
with the original headers plus these, so the message can be inspected and replayed:

    dlq.error.reason        a short machine-readable reason (bad_magic, unknown_tenant, ...)
    dlq.error.message       what went wrong, in words
    dlq.original.topic / dlq.original.partition / dlq.original.offset
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaConfigurationError, KafkaError

from dictamesh.events.handlers import ConsumedEvent, RetryableError
from dictamesh.events.topics import DLQ_SUFFIX

REASON_HEADER = "dlq.error.reason"
MESSAGE_HEADER = "dlq.error.message"
TOPIC_HEADER = "dlq.original.topic"
PARTITION_HEADER = "dlq.original.partition"
OFFSET_HEADER = "dlq.original.offset"
_MAX_MESSAGE_CHARS = 1000  # a header, not a log: keep the error short


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that cannot be applied, and why."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    reason: str
    message: str


def letter_for_record(record: Any, reason: str, message: str) -> DeadLetter:
    """A dead letter for a raw kafka-python ConsumerRecord."""
    return DeadLetter(
        topic=record.topic, partition=record.partition, offset=record.offset, key=record.key,
        value=record.value, headers=tuple(record.headers or ()), reason=reason, message=message,
    )


def letter_for_event(event: ConsumedEvent, reason: str, message: str) -> DeadLetter:
    """A dead letter for a decoded event a handler rejected."""
    return DeadLetter(
        topic=event.topic, partition=event.partition, offset=event.offset, key=event.key,
        value=event.value, headers=event.headers, reason=reason, message=message,
    )


def dlq_topic(topic: str) -> str:
    """``<topic>.dlq``, for any topic: even a badly named one needs somewhere to go."""
    return f"{topic}.{DLQ_SUFFIX}"


def dead_letter_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    return [
        *letter.headers,
        (REASON_HEADER, letter.reason.encode()),
        (MESSAGE_HEADER, letter.message[:_MAX_MESSAGE_CHARS].encode("utf-8", "replace")),
        (TOPIC_HEADER, letter.topic.encode()),
        (PARTITION_HEADER, str(letter.partition).encode()),
        (OFFSET_HEADER, str(letter.offset).encode()),
    ]


class DeadLetterPublisher:
    """Sends dead letters and waits until the broker has them all (acks=all).

    The producer is made on the first dead letter: most consumers never need one, and an
    idle producer still holds a connection and an IO thread.
    """

    def __init__(self, config: dict[str, Any], timeout_seconds: float) -> None:
        self._config = config
        self._timeout = timeout_seconds
        self._producer: KafkaProducer | None = None

    def publish(self, letters: Sequence[DeadLetter]) -> None:
        """Raise RetryableError unless every letter was acknowledged: the caller must then
        not commit the offsets of these messages."""
        if not letters:
            return
        try:
            if self._producer is None:
                self._producer = KafkaProducer(**self._config)
            futures = [
                self._producer.send(
                    dlq_topic(letter.topic),
                    key=letter.key,
                    value=letter.value,
                    headers=dead_letter_headers(letter),
                )
                for letter in letters
            ]
            self._producer.flush(timeout=self._timeout)
            for future in futures:
                future.get(timeout=0)  # raises the send's error, if it failed
        except KafkaConfigurationError:
            raise  # our settings are wrong: retrying cannot help
        except KafkaError as exc:
            raise RetryableError(
                f"Could not publish {len(letters)} dead letter(s) to Kafka ({exc}); the batch "
                "will be retried. Check the broker and that the .dlq topics exist."
            ) from exc

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=self._timeout)
            self._producer = None
