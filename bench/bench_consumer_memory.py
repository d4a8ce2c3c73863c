"""Does the consumer runner's memory stay flat? Its RSS after 1k events against after 100k.

    DATABASE_URL=postgres://... python bench/bench_consumer_memory.py [--events 100000]

Runs as production does (``DEBUG=false``: Django then keeps no log of queries) a runner
with the real dedupe store and a no-op handler over ``--events`` change events of a
throwaway tenant, and reads the process' resident set size (``/proc/self/statm``) as
batches commit. Target: RSS after all events <= 1.1 x RSS after the first 1,000.

Last run (shared 2-core machine):

    RSS after   1,000 events:   140.7 MiB
    RSS after  50,000 events:   159.8 MiB   (the peak; back down by 90,000)
    RSS after 100,000 events:   140.5 MiB
    ratio RSS after 100,000 / after 1,000: 0.999 (target <= 1.10; DEBUG=False)
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import threading
import uuid
from pathlib import Path

# Production's settings, before Django reads them: no query log, so no growth from it.
os.environ["DEBUG"] = "false"
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
if "DICTAMESH_CREDENTIALS_KEYS" not in os.environ:
    from cryptography.fernet import Fernet

    os.environ["DICTAMESH_CREDENTIALS_KEYS"] = Fernet.generate_key().decode()
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_consumer as shared  # noqa: E402 - sets Django up with the settings above
from django.conf import settings  # noqa: E402
from kafka import KafkaAdminClient  # noqa: E402
from kafka.admin import NewTopic  # noqa: E402

from apps.tenancy.services import offboard_tenant, onboard_tenant  # noqa: E402
from dictamesh.events.codec import AvroCodec, InMemorySchemaResolver  # noqa: E402
from dictamesh.events.consumer import BatchReport  # noqa: E402

FIRST = 1_000
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    assert not settings.DEBUG
    bootstrap = ",".join(settings.KAFKA_BOOTSTRAP_SERVERS)
    shared.broker.ensure(bootstrap)
    tenant = f"bench_{uuid.uuid4().hex[:8]}"
    topic = f"{tenant}.bench.src.entity_changed"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    onboard_tenant(tenant, name=tenant, domain=f"{tenant.replace('_', '-')}.bench.localhost")
    try:
        admin.create_topics([NewTopic(topic, 3, 1), NewTopic(f"{topic}.dlq", 1, 1)])
        codec = AvroCodec(InMemorySchemaResolver())
        shared.produce(bootstrap, codec, topic, tenant, args.events)
        print(f"produced {args.events:,} events to {topic}")

        done = threading.Event()
        applied = 0
        samples: list[tuple[int, int]] = []  # (events applied, RSS)

        def on_batch(report: BatchReport) -> None:
            nonlocal applied
            applied += report.applied
            if not samples or applied >= FIRST and samples[-1][0] < FIRST \
                    or applied // 10_000 > samples[-1][0] // 10_000 or applied >= args.events:
                samples.append((applied, rss_bytes()))
            if applied >= args.events:
                done.set()

        shared.no_op_runner(codec, topic, "memory", done, on_batch).run()
    finally:
        offboard_tenant(tenant)
        admin.close()

    first = next(rss for count, rss in samples if count >= FIRST)
    for count, rss in samples:
        print(f"RSS after {count:7,} events: {rss / 2**20:7.1f} MiB")
    last = samples[-1][1]
    print(f"ratio RSS after {samples[-1][0]:,} / after {FIRST:,}: {last / first:.3f} "
          f"(target <= 1.10; DEBUG={settings.DEBUG})")


if __name__ == "__main__":
    main()
