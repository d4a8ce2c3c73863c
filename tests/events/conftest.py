"""Fixtures of the event-fabric tests: unique topics, a plain consumer, a spare broker.

The shared broker serves other tests at the same time: every test makes its own topics.
"""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from kafka import KafkaConsumer, TopicPartition

from devtools import broker
from dictamesh.events.producer import EventProducer, ProducerConfig
from dictamesh.events.topics import TopicSpec, open_admin, provision


def unique_base_topic(label: str = "t") -> str:
    """A fresh ``<domain>.<source>.<event_type>`` no other test uses."""
    return f"{label}{uuid.uuid4().hex[:10]}.testsrc.entity_changed"


def make_topics(bootstrap: str, names: list[str], partitions: int = 4) -> None:
    spec = TopicSpec(name="x.y.z", scope="global", partitions=partitions, replication=1,
                     retention_ms=3_600_000, cleanup_policy="delete")
    admin = open_admin([bootstrap])
    try:
        report = provision(admin, [(name, spec) for name in names])
    finally:
        admin.close()
    assert not report.errors, report.errors


def quick_producer(bootstrap: str) -> EventProducer:
    """A producer that gives up sooner than production's, so broker-down tests stay short,
    yet waits long enough for a broker that is up but slow on a busy machine."""
    return EventProducer(ProducerConfig(
        bootstrap_servers=(bootstrap,), linger_ms=1, delivery_timeout_ms=10_000,
        max_block_ms=5000, client_id="dictamesh-test",
    ))


def consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 60.0,
                settle: float = 1.0) -> list:
    """Every record of ``topic`` from the start (no consumer group: no join delay).

    Waits for ``expected`` records, then ``settle`` seconds more to catch extra ones.
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=500)
    try:
        deadline = time.monotonic() + timeout
        partitions = None
        while partitions is None and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if partitions is None:
                time.sleep(0.2)
        assert partitions, f"topic {topic} never appeared"
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        consumer.seek_to_beginning()
        records: list = []
        settle_until = None
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=300).values():
                records.extend(batch)
            if len(records) >= expected:
                settle_until = settle_until or time.monotonic() + settle
                if time.monotonic() >= settle_until:
                    break
        return records
    finally:
        consumer.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SpareBroker:
    """A private broker on its own port that a test may stop and start again."""

    bootstrap: str
    process: subprocess.Popen | None = field(default=None)

    def start(self) -> None:
        self.process = broker.start(self.bootstrap)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def spare_broker() -> Iterator[SpareBroker]:
    spare = SpareBroker(f"127.0.0.1:{free_port()}")
    spare.start()
    yield spare
    spare.stop()
