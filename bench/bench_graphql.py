"""The unified GraphQL API over HTTP on the reference sources:

- the nested query `customers(ids) { invoices { items { product { name price } } } }` for
  100 customers (209 invoices, 487 items) over HTTP (the product's WSGI application,
  `config.wsgi`, in a one-thread wsgiref server as a gunicorn sync worker runs it; a
  throwaway tenant, a real API key, response cache off), against the same query executed
  in-process by graphql-core over the same data held in memory (no HTTP, no sources).
  Three rounds; in each, one in-process run, one warm request (every entity and list in
  L1) and one cold request (nothing cached at any level: the sources are called) in turn,
  `--samples` times, so that a machine whose load changes affects all three alike. The
  ratio is the median of the rounds' p50 ratios (target: warm <= 2.0x);
- per warm and per cold request: `SET search_path` statements, other SQL statements and
  Redis round trips (one per command or pipeline), counted in the request's thread;
- source calls per server for one query at 10 and at 1,000 customers (cold caches), the
  response-cache hit, and throughput with 4 clients;
- the cost of tracing: the HTTP p50 in fresh child processes with the OpenTelemetry SDK
  on and off (OTEL_SDK_DISABLED), three of each, as a percentage (the budget is 10%).

    .venv/bin/python bench/bench_graphql.py [--samples 30] [--latency-ms 0] [--no-tracing-cost]
    .venv/bin/python bench/bench_graphql.py --profile 20 [--cold]   # where the time goes

Profiles of one warm request (cProfile, tottime shares by package):
- first round: 8 SQL statements (2 `SET search_path`, 3 `source_connection` SELECTs, one
  per loader batch); ~100 young and 0.5 full garbage collections per request over a 178k-
  object heap; 1,330 `then` futures and 1,131 loader loads per request; the invoice
  listing read from the source every time (12%). Fixed: 3 SQL statements (the host's
  tenant, the API key, the source descriptions' versions), no collection (frozen start-up
  heap, young threshold 50,000), 101 futures per request: 2.61x warm, 6.63x cold.
- second round (wall-clock profile of the server thread): graphql-core 38%, builtins 22%,
  graphql-sync-dataloaders 18%, our federation modules 10%; the server thread spent ~20 ms
  of system time per request in ~2,260 page faults, none when the same request ran in
  another thread: CPython 3.11 unmapping and remapping a frame chunk each time the
  execution's recursion crossed a chunk boundary (python/cpython#142183; the execution now
  runs in a chunk of its own, dictamesh.frame_room). wsgiref's connections lacked the
  TCP_NODELAY gunicorn sets (Nagle delayed each answer's last segment). graphql-core's per-
  field work (field definition, arguments, type tests, a resolve info for graphene's
  default resolver) is now done once per document position (apps/federation/executor.py).
- after (CPU-time profile, 20 requests): ~6,200 field executions per request, of which
  ~3,600 plain reads in place; own time: our executor and resolvers (apps/federation) 48%,
  builtins 25% (isinstance 8%, dict.get 6%), graphql-core 11%, django 3%; the warm request
  takes ~1.2-1.3x graphql-core's CPU time, the rest of the ratio is HTTP and Django.
- cold (--profile --cold): writing ~800 records to the catalog's L3 took a third of the
  request's profiled CPU time, in psycopg's text[] literal escaping (a regex substitution
  per quote); they now go as one jsonb parameter. What remains: the execution (~40%), the
  adapters' mapping of the sources' answers (11%), Redis commands (22 round trips, 9%),
  the sources' HTTP calls.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from _support import percentile, progress, setup_django, summary, throwaway_tenant, time_calls

NESTED = """query Nested($ids: [ID!]!) { customers(ids: $ids) { id email
  invoices { id invoiceNumber total { amount currency }
    items { line quantity product { id name price { amount currency } } } } } }"""
TENANT = "bench_graphql"
HOST = "bench-graphql.bench.localhost"
ROUNDS = 3


class _SyncServer(WSGIServer):
    """wsgiref serving each request in its one thread, as a gunicorn sync worker does: the
    thread keeps its database connection from one request to the next (a thread per
    request would open a new one each time, which no production server does).

    Its connections have TCP_NODELAY, as gunicorn's listening socket does (gunicorn/sock.py):
    wsgiref writes the headers and the body in two sends, and with Nagle's algorithm the
    body's last segment waits for the client's delayed ACK of the headers (~40 ms on
    Linux), a wait no production server makes its clients pay."""

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class RequestCounts:
    """What one request costs beyond its CPU: SQL statements (``SET search_path`` apart)
    and Redis round trips (one per command or pipeline: the Redis instrumentation's
    spans), counted in the request's own thread while ``armed``."""

    def __init__(self) -> None:
        self.armed = False
        self.counts: Counter[str] = Counter()
        #: CPU time of the last request in its thread (a figure a busy machine disturbs
        #: far less than wall-clock time, which waits for every process it talks to)
        self.last_cpu_ms = 0.0
        #: a cProfile.Profile enabled around each request in the server's thread (--profile)
        self.profiler: Any = None
        self._local = threading.local()

    def wrap(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        from django.db import connection

        def counted(environ: dict[str, Any], start_response: Callable[..., Any]
                    ) -> Iterable[bytes]:
            if not self.armed:
                started = time.thread_time()
                if self.profiler is not None:
                    self.profiler.enable()
                try:
                    return list(app(environ, start_response))
                finally:
                    if self.profiler is not None:
                        self.profiler.disable()
                    self.last_cpu_ms = (time.thread_time() - started) * 1000
            self._local.counting = True
            try:
                with connection.execute_wrapper(self._statement):
                    return list(app(environ, start_response))
            finally:
                self._local.counting = False
        return counted

    def _statement(self, execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        self.counts["search_path" if sql.lstrip().upper().startswith("SET SEARCH_PATH")
                    else "sql"] += 1
        return execute(sql, *args)

    def redis_span_ended(self, span: Any) -> None:
        if getattr(self._local, "counting", False) and \
                (span.attributes or {}).get("db.system") == "redis":
            self.counts["redis"] += 1

    def measure(self, call: Callable[[], object]) -> dict[str, int]:
        self.counts.clear()
        self.armed = True
        try:
            call()
        finally:
            self.armed = False
        return {"search_path": self.counts["search_path"], "sql": self.counts["sql"],
                "redis": self.counts["redis"]}


@contextmanager
def live_server(counts: RequestCounts | None = None) -> Iterator[str]:
    # The product's WSGI module: its start-up (schemas built, heap frozen) is part of it.
    from config.wsgi import application

    app = counts.wrap(application) if counts is not None else application
    server = make_server("127.0.0.1", 0, app,
                         server_class=_SyncServer, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/graphql"
    finally:
        server.shutdown()


def _forget_everything_cached(data_products: list[Any]) -> None:
    """Cold: no level holds anything, so the request calls its sources (L1 of this process,
    Redis, and the tenant's L3 table)."""
    from django.core.cache import cache
    from django.db import connection

    cache.clear()
    for data_product in data_products:
        data_product.cache.clear_local()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM cache_status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--latency-ms", type=int, default=0,
                        help="latency each reference source adds to every answer")
    parser.add_argument("--no-tracing-cost", action="store_true",
                        help="skip the second run without tracing")
    parser.add_argument("--p50-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile", type=int, default=0, metavar="REQUESTS",
                        help="profile this many warm requests in the server's thread "
                             "(cProfile) and print where their time goes, instead of timing")
    parser.add_argument("--cold", action="store_true",
                        help="with --profile: cold requests (every cache level emptied first)")
    args = parser.parse_args()
    setup_django()
    import graphql
    import orjson
    import requests
    from django.conf import settings
    from django.core.cache import cache
    from opentelemetry import trace
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

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
    counts = RequestCounts()
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):  # not with OTEL_SDK_DISABLED=true

        class RedisSpans(SpanProcessor):  # on_end runs in the thread that ended the span
            def on_end(self, span: Any) -> None:
                counts.redis_span_ended(span)

        provider.add_span_processor(RedisSpans())
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
        data_products = services.data_products()

        with live_server(counts) as endpoint:
            def send(ids: list[str]) -> bytes:
                """One request, timed to the last byte of its answer (decoding the JSON is
                the client's business, not the server's)."""
                response = session.post(endpoint, json={"query": NESTED,
                                                        "variables": {"ids": ids}}, timeout=120)
                response.raise_for_status()
                assert b'"errors":' not in response.content, response.content[-500:]
                return response.content

            def post(ids: list[str]) -> dict[str, Any]:
                body: dict[str, Any] = orjson.loads(send(ids))
                return body

            def source_calls(count: int) -> dict[str, int]:
                ids = [str(i) for i in range(1, count + 1)]
                _forget_everything_cached(data_products)
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
            warm = lambda: send(ids)  # noqa: E731

            def cold() -> None:
                _forget_everything_cached(data_products)
                send(ids)

            if args.profile:
                if args.cold:
                    _print_profile(counts, warm, args.profile,
                                   before_each=lambda: _forget_everything_cached(data_products))
                else:
                    _print_profile(counts, warm, args.profile)
                return
            if args.p50_only:
                progress(f"{args.samples} nested queries for 100 customers over HTTP")
                print(f"p50_ms={percentile(time_calls(warm, args.samples), 50):.3f}")
                return
            baseline = _in_process(graphql, str(unified_schema()), data, ids)
            rounds: list[tuple[float, float, float]] = []
            cpu: dict[str, list[float]] = {"base": [], "warm": []}
            for round_number in range(1, ROUNDS + 1):
                progress(f"round {round_number} of {ROUNDS}: graphql-core in-process, HTTP "
                         f"warm, HTTP cold, one after the other, {args.samples} times")
                # One sample of each in turn: a machine whose load changes affects all three
                # alike, where a block of each would not.
                samples: dict[str, list[float]] = {"base": [], "warm": [], "cold": []}
                for _ in range(args.samples):
                    started = time.thread_time()
                    samples["base"] += time_calls(baseline, 1)
                    cpu["base"].append((time.thread_time() - started) * 1000)
                    samples["warm"] += time_calls(warm, 1)
                    cpu["warm"].append(counts.last_cpu_ms)
                    _forget_everything_cached(data_products)
                    samples["cold"] += time_calls(warm, 1)  # refills every level again
                p50 = {name: percentile(values, 50) for name, values in samples.items()}
                rounds.append((p50["base"], p50["warm"], p50["cold"]))
                print(f"round {round_number}: in-process {summary(samples['base'])}")
                print(f"         HTTP warm  {summary(samples['warm'])}  "
                      f"ratio {p50['warm'] / p50['base']:.2f}x")
                print(f"         HTTP cold  {summary(samples['cold'])}  "
                      f"ratio {p50['cold'] / p50['base']:.2f}x")
            warm_counts = counts.measure(warm)
            cold_counts = counts.measure(cold)
            with ThreadPoolExecutor(4) as pool:
                started = time.perf_counter()
                list(pool.map(lambda _: send(ids), range(args.samples)))
                concurrent_rps = args.samples / (time.perf_counter() - started)
            settings.GRAPHQL_RESPONSE_CACHE_SECONDS = 60
            post(ids)
            cached = time_calls(warm, args.samples)

        base_p50 = statistics.median(r[0] for r in rounds)
        warm_p50 = statistics.median(r[1] for r in rounds)
        cold_p50 = statistics.median(r[2] for r in rounds)
        warm_ratio = statistics.median(r[1] / r[0] for r in rounds)
        cold_ratio = statistics.median(r[2] / r[0] for r in rounds)
        print(f"HTTP, response cache hit: {summary(cached)}; "
              f"{concurrent_rps:6.1f} req/s warm with 4 clients (one sync worker)")
        for name, figures in (("warm", warm_counts), ("cold", cold_counts)):
            print(f"per {name} request: {figures['search_path']} SET search_path, "
                  f"{figures['sql']} other SQL statements, {figures['redis']} Redis round trips")
        print(f"median of {ROUNDS} interleaved rounds, p50: in-process {base_p50:.2f} ms, "
              f"HTTP warm (L1) {warm_p50:.2f} ms, HTTP cold (sources called) {cold_p50:.2f} ms")
        print(f"ratio HTTP / graphql-core in-process (median of the rounds' ratios): "
              f"warm {warm_ratio:.2f}x (target <= 2.0x), cold {cold_ratio:.2f}x")
        base_cpu, warm_cpu = percentile(cpu["base"], 50), percentile(cpu["warm"], 50)
        print(f"CPU time, p50: in-process {base_cpu:.2f} ms, server thread per warm request "
              f"{warm_cpu:.2f} ms: {warm_cpu / base_cpu:.2f}x")
    if not args.no_tracing_cost:
        _print_tracing_cost(args)


def _print_profile(counts: RequestCounts, warm: Callable[[], object], requests: int,
                   before_each: Callable[[], object] = lambda: None) -> None:
    """Where a warm request's time goes in the server's thread (or a cold one's, emptying
    the caches ``before_each``): the top functions by own time, and own time summed by
    package (the shares in this module's docstring)."""
    import cProfile
    import pstats

    for _ in range(3):  # settle: every cache level and the process' lazy imports
        warm()
    # CPU time of the thread, not wall-clock time: a loaded machine shifts the latter.
    profiler = cProfile.Profile(time.thread_time)
    for _ in range(requests):
        before_each()
        counts.profiler = profiler
        warm()
        counts.profiler = None
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(35)
    stats.sort_stats("cumulative").print_stats(60)
    by_package: Counter[str] = Counter()
    for (path, _, _), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        by_package[_package_of(path)] += own
    total = sum(by_package.values())
    print("own time by package: " + ", ".join(
        f"{name} {share / total:.0%}" for name, share in by_package.most_common(14)))


def _package_of(path: str) -> str:
    """The distribution a profiled function belongs to: the first folder under
    site-packages, or ours (apps/..., dictamesh/...), or the standard library's module."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0]
    for ours in ("/apps/", "/dictamesh/", "/config/"):
        if ours in path:
            return ours.strip("/") + "/" + path.split(ours, 1)[1].split("/", 1)[0]
    if path == "~":
        return "builtins"
    return "stdlib:" + path.rsplit("/", 1)[-1]


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
