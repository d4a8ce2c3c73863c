"""Tiered cache read latency: p50/p99 of one `TieredCache.get` served from L1, L2, L3 and the
source, with each level's speed-up over the source call.

Baseline, same run: the source call through the cache on a miss (the loader, plus writing
the entry to L3, L2 and L1), and the bare HTTP call without any cache. The source is the
project's reference Directus server with an injected latency (`--source-latency-ms`, like a
SaaS API across the internet); L2 is the Redis of REDIS_URL through Django's cache; L3 is a
PostgreSQL table in a throwaway tenant schema, as the catalog's will be.

    .venv/bin/python bench/bench_cache.py [--samples 1000] [--source-samples 200]
                                          [--source-latency-ms 30]
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from _support import percentile, progress, setup_django, summary, throwaway_tenant, time_calls

TABLE = "bench_l3_entities"
ENTITY_TYPE = "customer"


class PostgresL3:
    """The L3 protocol over one table in the current tenant schema."""

    def get_many(self, entity_type: str, ids: Sequence[str]) -> dict[str, Any]:
        from django.db import connection

        from dictamesh.cache import StoredEntry

        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT entity_id, value, fetched_at, invalidated FROM {TABLE} "
                "WHERE entity_type = %s AND entity_id = ANY(%s)", [entity_type, list(ids)])
            rows = cursor.fetchall()
        return {entity_id: StoredEntry(json.loads(value) if isinstance(value, str) else value,
                                       fetched_at, invalidated)
                for entity_id, value, fetched_at, invalidated in rows}

    def put_many(self, entity_type: str, entries: Mapping[str, Any]) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {TABLE} (entity_type, entity_id, value, fetched_at) "
                "VALUES (%s, %s, %s::jsonb, %s) ON CONFLICT (entity_type, entity_id) DO UPDATE "
                "SET value = EXCLUDED.value, fetched_at = EXCLUDED.fetched_at, "
                "invalidated = false",
                [(entity_type, i, json.dumps(e.value), e.fetched_at) for i, e in entries.items()])

    def invalidate(self, entity_type: str, ids: Sequence[str]) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {TABLE} SET invalidated = true "
                           "WHERE entity_type = %s AND entity_id = ANY(%s)",
                           [entity_type, list(ids)])


def create_table() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"""CREATE TABLE {TABLE} (
            entity_type text NOT NULL, entity_id text NOT NULL, value jsonb NOT NULL,
            fetched_at timestamptz NOT NULL, invalidated boolean NOT NULL DEFAULT false,
            PRIMARY KEY (entity_type, entity_id))""")


def start_source(customers: int) -> tuple[str, str, Callable[[int], None], Callable[[], None]]:
    """The reference Directus server: base URL, token, a latency knob, a stop function."""
    import requests

    from devtools.reference.dataset import Sizes
    from devtools.reference.directus import DirectusServer

    server = DirectusServer(sizes=Sizes(customers=customers, products=0, invoices=0)).start()

    def set_latency(ms: int) -> None:
        requests.post(f"{server.base_url}/__control/faults", json={"latency_ms": ms},
                      timeout=5).raise_for_status()

    return server.base_url, server.token, set_latency, server.stop


def run(samples: int, source_samples: int, latency_ms: int) -> None:
    from django.core.cache import cache as django_cache

    from dictamesh.cache import CachePolicy, TieredCache
    from dictamesh.resilience import build_session

    customers = samples * 2 + source_samples + 100
    base_url, token, set_latency, stop = start_source(customers)
    session = build_session(headers={"Authorization": f"Bearer {token}"})

    def load(entity_id: str) -> dict[str, Any] | None:
        response = session.get(f"{base_url}/items/customers/{entity_id}")
        if response.status_code == 403:  # Directus answers 403 for a missing item
            return None
        response.raise_for_status()
        return response.json()["data"]

    cache = TieredCache(PostgresL3(), policy=CachePolicy(fresh_for_s=3600, l1_ttl_s=3600,
                                                         stale_for_s=7200))
    l1_ids = [str(i) for i in range(1, 101)]
    l2_ids = [str(i) for i in range(101, 101 + samples)]
    l3_ids = [str(i) for i in range(101 + samples, 101 + 2 * samples)]
    source_ids = [str(i) for i in range(101 + 2 * samples, 101 + 2 * samples + source_samples)]
    all_l2_keys = [TieredCache.l2_key(ENTITY_TYPE, i)
                   for i in l1_ids + l2_ids + l3_ids + source_ids]
    django_cache.delete_many(all_l2_keys)  # a previous run's tenant had the same schema name
    try:
        progress(f"warming L2 with {samples} and L3 with {samples} customers (no latency)")
        set_latency(0)
        cache.get_many(ENTITY_TYPE, l2_ids + l3_ids,
                       lambda ids: {i: v for i in ids if (v := load(i)) is not None})
        django_cache.delete_many([TieredCache.l2_key(ENTITY_TYPE, i) for i in l3_ids])
        cache.clear_local()
        for entity_id in l1_ids:
            cache.get(ENTITY_TYPE, entity_id, load)
        set_latency(latency_ms)

        levels: Counter[str] = Counter()

        def reader(ids: Iterator[str]) -> Callable[[], None]:
            def read() -> None:
                found = cache.get(ENTITY_TYPE, next(ids), load)
                assert found is not None
                levels[found.level] += 1
            return read

        results: dict[str, list[float]] = {}
        progress("L1")
        results["L1 (process memory)"] = time_calls(reader(itertools.cycle(l1_ids)), samples)
        progress("L2")
        results["L2 (Redis)"] = time_calls(reader(iter(l2_ids)), samples)
        progress("L3")
        results["L3 (PostgreSQL)"] = time_calls(reader(iter(l3_ids)), samples)
        progress(f"source ({latency_ms} ms injected latency)")
        results["source, through the cache"] = time_calls(reader(iter(source_ids)),
                                                          source_samples)
        bare_ids = itertools.cycle(l1_ids)
        results["source, bare HTTP call"] = time_calls(lambda: load(next(bare_ids)),
                                                       source_samples)
        expected = {"l1": samples, "l2": samples, "l3": samples, "source": source_samples}
        assert levels == expected, f"reads were not served where intended: {levels}"
    finally:
        django_cache.delete_many(all_l2_keys)
        session.close()
        stop()

    baseline = percentile(results["source, through the cache"], 50)
    print(f"\nTieredCache.get, one customer from the reference Directus server "
          f"({latency_ms} ms latency)")
    for name, timings in results.items():
        ratio = baseline / percentile(timings, 50)
        print(f"  {name:28s} {summary(timings)}   {ratio:8.1f}x faster than the source")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--source-samples", type=int, default=200)
    parser.add_argument("--source-latency-ms", type=int, default=30)
    args = parser.parse_args()
    setup_django()
    with throwaway_tenant("bench_cache"):
        create_table()
        run(args.samples, args.source_samples, args.source_latency_ms)


if __name__ == "__main__":
    main()
