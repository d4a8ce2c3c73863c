"""The unified GraphQL API over HTTP on the reference sources:

- the nested query `customers(ids) { invoices { items { product { name price } } } }` for
  100 customers: p50 and throughput over HTTP (Django's WSGI app in a threaded wsgiref
  server, a throwaway tenant, a real API key), response cache off and on;
- the same query executed in-process by graphql-core over the same data already in memory
  (no HTTP, no sources): the ratio is what our stack costs on top of GraphQL execution;
- source calls per server for one query at 10 and at 1,000 customers (cold caches).

- the cost of tracing: the HTTP p50 in fresh child processes with the OpenTelemetry SDK
  on and off (OTEL_SDK_DISABLED), three of each, as a percentage (the budget is 10%).

    .venv/bin/python bench/bench_graphql.py [--samples 30] [--latency-ms 0] [--no-tracing-cost]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from _support import percentile, progress, setup_django, summary, throwaway_tenant, time_calls

NESTED = """query Nested($ids: [ID!]!) { customers(ids: $ids) { id email
  invoices { id invoiceNumber total { amount currency }
    items { line quantity product { id name price { amount currency } } } } } }"""
TENANT = "bench_graphql"
HOST = "bench-graphql.bench.localhost"


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def live_server() -> Iterator[str]:
    from django.core.wsgi import get_wsgi_application

    server = make_server("127.0.0.1", 0, get_wsgi_application(),
                         server_class=_ThreadingServer, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/graphql"
    finally:
        server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--latency-ms", type=int, default=0,
                        help="latency each reference source adds to every answer")
    parser.add_argument("--no-tracing-cost", action="store_true",
                        help="skip the second run without tracing")
    parser.add_argument("--p50-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    setup_django()
    import graphql
    import requests
    from django.conf import settings
    from django.core.cache import cache

    from apps.adapters import services
    from apps.federation.schema import unified_schema
    from apps.tenancy.api_keys import create_api_key
    from apps.tenancy.graphql_limits import set_tenant_graphql_limits
    from devtools.reference import (
        Sizes,
        directus,
        ecommerce,
        products,
        start_reference_sources,
    )

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, HOST]
    sizes = Sizes(customers=1000, products=50, invoices=2000)
    with start_reference_sources(seed=5, sizes=sizes) as sources, throwaway_tenant(TENANT):
        urls = {"directus": sources.directus_url, "products": sources.products_url,
                "ecommerce": sources.ecommerce_url}
        for url in urls.values():
            requests.post(f"{url}/__control/faults", json={"latency_ms": args.latency_ms},
                          timeout=5).raise_for_status()
        services.connect_source("customers", "directus", sources.directus_url,
                                {"token": directus.DEFAULT_TOKEN})
        services.connect_source("products", "products", sources.products_url,
                                {"api_key": products.DEFAULT_API_KEYS[0]})
        services.connect_source("invoices", "ecommerce", sources.ecommerce_url,
                                {"token": ecommerce.DEFAULT_TOKEN})
        _, key = create_api_key(TENANT, "bench", ["read"])
        set_tenant_graphql_limits(TENANT, {"max_cost": 10_000_000,
                                           "rate_limit_per_minute": 10_000_000})
        session = requests.Session()
        session.headers.update({"Host": HOST, "Authorization": f"Bearer {key}"})

        with live_server() as endpoint:
            def post(ids: list[str]) -> dict[str, Any]:
                response = session.post(endpoint, json={"query": NESTED,
                                                        "variables": {"ids": ids}}, timeout=120)
                response.raise_for_status()
                body = response.json()
                assert "errors" not in body, body["errors"][:2]
                return body

            def source_calls(count: int) -> dict[str, int]:
                ids = [str(i) for i in range(1, count + 1)]
                cache.clear()
                services.data_product_for("customer").cache.clear_local()
                services.data_product_for("product").cache.clear_local()
                for url in urls.values():
                    requests.post(f"{url}/__control/reset", timeout=5).raise_for_status()
                post(ids)
                return {name: requests.get(f"{url}/__control/stats", timeout=5).json()["total"]
                        for name, url in urls.items()}

            if args.p50_only:
                cache.clear()  # the parent's response-cache phase must not answer here
            else:
                for count in (10, 1000):
                    print(f"source calls for {count:>5} customers: {source_calls(count)}")

            ids = [str(i) for i in range(1, 101)]
            settings.GRAPHQL_RESPONSE_CACHE_SECONDS = 0  # measure resolution, not the cache
            data = post(ids)["data"]
            progress(f"{args.samples} nested queries for 100 customers over HTTP")
            http = time_calls(lambda: post(ids), args.samples)
            if args.p50_only:
                print(f"p50_ms={percentile(http, 50):.3f}")  # time_calls gives ms
                return
            with ThreadPoolExecutor(4) as pool:
                started = time.perf_counter()
                list(pool.map(lambda _: post(ids), range(args.samples)))
                concurrent_rps = args.samples / (time.perf_counter() - started)
            settings.GRAPHQL_RESPONSE_CACHE_SECONDS = 60
            post(ids)
            cached = time_calls(lambda: post(ids), args.samples)

        baseline = _in_process(graphql, str(unified_schema()), data, ids)
        samples = time_calls(baseline, args.samples)
        http_p50, base_p50 = percentile(http, 50), percentile(samples, 50)
        print(f"HTTP, sources (L1-warm customers/products): {summary(http)}  "
              f"{1000 / http_p50:6.1f} req/s sequential, {concurrent_rps:6.1f} req/s x4")
        print(f"HTTP, response cache hit:                    {summary(cached)}")
        print(f"graphql-core in-process on the same data:    {summary(samples)}")
        print(f"ratio HTTP / in-process (our overhead): {http_p50 / base_p50:.1f}x")
    if not args.no_tracing_cost:
        _print_tracing_cost(args)


def _child_p50(args: argparse.Namespace, tracing: bool) -> float:
    env = {**os.environ, "OTEL_SDK_DISABLED": "false" if tracing else "true"}
    child = subprocess.run(
        [sys.executable, __file__, "--p50-only", "--samples", str(args.samples),
         "--latency-ms", str(args.latency_ms)],
        env=env, capture_output=True, text=True, check=True)
    return float(child.stdout.rsplit("p50_ms=", 1)[1].split()[0])


def _print_tracing_cost(args: argparse.Namespace) -> None:
    """The HTTP measurement in fresh child processes, with the OpenTelemetry SDK on and off
    (OTEL_SDK_DISABLED), alternating: the difference is what spans (ours and the
    instrumentations') cost per request. Not against this process' own figure: its larger
    heap (the 1,000-customer runs) makes its garbage collections slower."""
    rounds: dict[bool, list[float]] = {True: [], False: []}
    for round_number in range(3):
        for tracing in (False, True):
            progress(f"tracing {'on' if tracing else 'off'}, round {round_number + 1} of 3 "
                     "(a child process)")
            rounds[tracing].append(_child_p50(args, tracing))
    on, off = statistics.median(rounds[True]), statistics.median(rounds[False])
    print(f"tracing cost on the nested query (median p50 of 3 fresh processes each): "
          f"{on:.1f} ms traced, {off:.1f} ms untraced: {(on / off - 1) * 100:+.1f}% "
          "(budget +10%)")


def _in_process(graphql: Any, sdl: str, data: dict[str, Any],
                ids: list[str]) -> Callable[[], object]:
    """The nested query executed by graphql-core over the answer's data held in memory."""
    schema = graphql.build_schema(sdl)
    document = graphql.parse(NESTED)

    def run() -> object:
        result = graphql.execute(schema, document, root_value=data,
                                 variable_values={"ids": ids})
        assert not result.errors, result.errors
        return result

    return run


if __name__ == "__main__":
    main()
