"""Drill: duplicate copies on the topic when the outbox relay is killed with SIGKILL.

Fills a throwaway tenant's outbox with ``--rows`` rows, runs the relay (the worker's own
``RelayRunner``) in a child process, SIGKILLs it at a random moment every ``--kill-every``
seconds on average and restarts it at once, until every row is marked sent; then reads the
topic back and prints how many rows reached it more than once.

A copy is duplicated when the broker acknowledged it but the relay died before its
transaction marked the row sent: the restarted relay sends the row again. The producer's
idempotence removes only the duplicates of its own retries within one producer session,
not these (a restarted relay is a new producer).

    .venv/bin/python bench/drill_relay_kill.py [--rows 20000] [--kill-every 1.0]

Uses the broker at KAFKA_BOOTSTRAP_SERVERS and the database of DATABASE_URL.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

from _support import ROOT, setup_django, throwaway_tenant

PARTITIONS = 6


def child() -> None:
    """The relay, as in the worker, until killed."""
    setup_django()
    from apps.events.relay_worker import RelayRunner

    RelayRunner.from_settings().run(threading.Event())


def fill_outbox(topic: str, rows: int) -> None:
    from apps.events.models import OutboxMessage

    OutboxMessage.objects.bulk_create(
        [OutboxMessage(event_id=uuid.uuid4(), topic=topic, key=f"entity-{i % 500}",
                       value=f"row-{i}".encode().ljust(256, b"."), headers=[])
         for i in range(rows)], batch_size=5000)


def unsent() -> int:
    from apps.events.models import OutboxMessage

    return OutboxMessage.objects.filter(sent_at__isnull=True).count()


def read_topic(bootstrap: list[str], topic: str, expected_at_least: int) -> Counter[bytes]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    copies: Counter[bytes] = Counter()
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 5 or sum(copies.values()) < expected_at_least:
        polled = consumer.poll(timeout_ms=500)
        for records in polled.values():
            for record in records:
                copies[record.value.split(b".", 1)[0]] += 1
        if polled:
            idle_since = time.monotonic()
        if time.monotonic() - idle_since > 60:
            break
    consumer.close()
    return copies


def run(rows: int, kill_every: float) -> None:
    setup_django()
    from django.conf import settings
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    slug = f"drill_{uuid.uuid4().hex[:8]}"
    topic = f"{slug}.drill.relay.entity_changed"
    admin = KafkaAdminClient(bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS)
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    rng = random.Random(11)
    kills = 0
    try:
        with throwaway_tenant(slug):
            fill_outbox(topic, rows)
            argv = [sys.executable, __file__, "--child"]
            started = time.monotonic()
            while unsent():
                relay = subprocess.Popen(argv, cwd=ROOT, env=os.environ.copy())  # noqa: S603
                time.sleep(rng.uniform(0.5, 1.5) * kill_every)
                if relay.poll() is None:
                    relay.send_signal(signal.SIGKILL)
                    kills += 1
                if relay.wait() > 0:
                    raise SystemExit(f"the relay exited with code {relay.returncode}")
            elapsed = time.monotonic() - started
            copies = read_topic(settings.KAFKA_BOOTSTRAP_SERVERS, topic, rows)
    finally:
        admin.delete_topics([topic])
        admin.close()
    duplicated = sum(1 for n in copies.values() if n > 1)
    extra = sum(copies.values()) - len(copies)
    missing = rows - len(copies)
    print(f"{rows} rows relayed in {elapsed:.1f}s "
          f"with {kills} SIGKILLs; on the topic: {sum(copies.values())} messages, {extra} extra "
          f"copies of {duplicated} rows = {100 * duplicated / rows:.2f}% of rows duplicated, "
          f"{missing} missing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--kill-every", type=float, default=1.0, help="seconds, on average")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
    else:
        run(args.rows, args.kill_every)


if __name__ == "__main__":
    main()
