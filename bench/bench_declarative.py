"""What describing a source in data costs, on the reference product API over HTTP:

- mapping: microseconds per product record through the products description (the generic
  declarative mapping the products adapter now uses);
- a whole-catalogue change window (10,000 products, pages of 250) read and ordered by the
  products adapter;
- the tenant GraphQL schema with one declared entity type: the first build, and the
  per-request price of finding it built (one query for the descriptions' versions) beside
  a tenant without descriptions (the same query, finding none), in a throwaway tenant.

    .venv/bin/python bench/bench_declarative.py [--products 10000] [--samples 20]
"""

from __future__ import annotations

import argparse
import time

from _support import progress, setup_django, summary, throwaway_tenant, time_calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    setup_django()
    import graphene

    from apps.adapters.base import SourceConfig
    from apps.adapters.declarative.description import parse_description
    from apps.adapters.declarative.mapping import to_entity
    from apps.adapters.products.adapter import DESCRIPTION, ProductsAdapter
    from apps.federation.schema.declared import declared_graph
    from apps.federation.schema.graphs import building, unified
    from devtools.reference.dataset import Sizes
    from devtools.reference.products import DEFAULT_API_KEYS, ProductsServer
    from devtools.reference.suppliers import DESCRIPTION as SUPPLIERS

    progress(f"starting the product API with {args.products} products")
    sizes = Sizes(customers=1, products=args.products, invoices=0)
    with ProductsServer(seed=5, sizes=sizes) as server:
        records = list(server.products.values())
        started = time.perf_counter()
        for record in records:
            to_entity(DESCRIPTION, record, "bench")
        per_record = (time.perf_counter() - started) / len(records) * 1e6
        print(f"mapping: {per_record:.1f} us per product record ({len(records)} records)")

        def window() -> None:
            adapter = ProductsAdapter(SourceConfig("bench", server.base_url,
                                                   {"api_key": DEFAULT_API_KEYS[0]}))
            try:
                batches = list(adapter.stream_changes(None))
                assert sum(len(b.changes) for b in batches) == len(records)
            finally:
                adapter.close()

        print(f"change window of {len(records)} products: "
              f"{summary(time_calls(window, max(3, args.samples // 5)))}")

    description = parse_description(SUPPLIERS)

    def build() -> None:
        graph = declared_graph([description])
        with building(graph):
            graphene.Schema(query=graph.Query, mutation=unified.Mutation, types=graph.TYPES)

    print(f"declared schema build (unified + Supplier): "
          f"{summary(time_calls(build, args.samples))}")

    from apps.adapters import services
    from apps.federation.schema import tenant_schema

    progress("onboarding a throwaway tenant")
    with throwaway_tenant("bench_declared"):
        lookups = args.samples * 10
        empty = time_calls(tenant_schema, lookups)
        print(f"tenant_schema() without descriptions: {summary(empty)}")
        services.save_description("suppliers", SUPPLIERS, probe=False)
        tenant_schema()  # built once
        built = time_calls(tenant_schema, lookups)
        print(f"tenant_schema() with one, built:      {summary(built)}")


if __name__ == "__main__":
    main()
