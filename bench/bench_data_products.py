"""Reading a source through its data product (adapter + breaker + retries + cache), on the
reference product API over HTTP:

- get_entity p50 served from L1 (process), L2 (Redis), L3 (PostgreSQL) and the source;
- 100 ids in one query_entities call beside 100 single get_entity calls (ratio).

    .venv/bin/python bench/bench_data_products.py [--samples 200] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable, Iterator

from _support import progress, setup_django, summary, throwaway_tenant, time_calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=20,
                        help="latency the reference source adds to every answer")
    args = parser.parse_args()
    setup_django()
    import requests
    from django.core.cache import cache

    from apps.adapters import services
    from apps.adapters.base import EntityQuery
    from devtools.reference import Sizes, products, start_reference_sources

    sizes = Sizes(customers=10, products=max(1000, args.samples * 5), invoices=10)
    with start_reference_sources(seed=3, sizes=sizes) as sources, \
            throwaway_tenant("bench_sources"):
        requests.post(f"{sources.products_url}/__control/faults",
                      json={"latency_ms": args.latency_ms}, timeout=5).raise_for_status()
        services.connect_source("products", "products", sources.products_url,
                                {"api_key": products.DEFAULT_API_KEYS[0]})
        product = services.data_product_for("product")
        skus = [f"SKU-{n:05d}" for n in range(1, sizes.products + 1)]
        batches = [iter(skus[i * args.samples:(i + 1) * args.samples]) for i in range(4)]
        progress(f"{args.samples} reads per level, source latency {args.latency_ms} ms")

        def read(ids: Iterator[str]) -> Callable[[], None]:
            def one() -> None:
                assert product.get_entity("product", next(ids)) is not None
            return one

        source = time_calls(read(batches[0]), args.samples)
        warmed = skus[:args.samples]
        l1 = time_calls(read(iter(warmed)), args.samples)
        product.cache.clear_local()
        l2 = time_calls(read(iter(warmed)), args.samples)
        product.cache.clear_local()
        cache.delete_many([product.cache.l2_key("product", sku) for sku in warmed])
        l3 = time_calls(read(iter(warmed)), args.samples)

        source_p50 = sorted(source)[len(source) // 2]
        for label, samples in (("L1 process memory", l1), ("L2 Redis", l2),
                               ("L3 PostgreSQL", l3), ("source over HTTP", source)):
            p50 = sorted(samples)[len(samples) // 2]
            print(f"get_entity from {label:<18} {summary(samples)}  "
                  f"{source_p50 / p50:7.1f}x faster than the source")

        hundred = list(itertools.islice(batches[1], 100))
        singles = list(itertools.islice(batches[2], 100))
        started = time.perf_counter()
        page = product.query("product", EntityQuery(ids=hundred))
        batch_s = time.perf_counter() - started
        assert len(page.entities) == 100
        started = time.perf_counter()
        for sku in singles:
            product.adapter.get_entity("product", sku)
        singles_s = time.perf_counter() - started
        print(f"query_entities of 100 ids: {batch_s * 1000:8.1f} ms (one source call)")
        print(f"100 single get_entity:      {singles_s * 1000:8.1f} ms (100 source calls)")
        print(f"ratio singles / batch: {singles_s / batch_s:.1f}x")


if __name__ == "__main__":
    main()
