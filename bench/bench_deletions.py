"""Delete at the source -> null in GraphQL, on the reference Directus over HTTP:

- by polling: a poller calls `poll` every --interval seconds (production polls every 60 s;
  the bound scales with it), sweeping for deletions every --every polls, so a deletion
  shows within every x interval (plus one poll's duration);
- by webhook: the reference Directus posts a Flow's delete event to the webhook endpoint
  of a live server, which applies it at once.

Each sample deletes one customer the API has just served, then asks GraphQL every
--probe-ms until it answers null. The GraphQL response cache is off: what is measured is
the source reaching the platform's caches; the event's way through the broker to the
consumers is measured by bench_relay and bench_consumer. Figures: p50 and p99 per path,
the polling bound, and the ratio polling / webhook.

    .venv/bin/python bench/bench_deletions.py [--samples 20] [--interval 1.0] [--every 3]
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from _support import percentile, progress, setup_django, throwaway_tenant
from bench_graphql import live_server

TENANT = "bench_deletions"
HOST = "bench-deletions.bench.localhost"
SECRET = "bench-webhook-secret"  # noqa: S105 - the benchmark's own webhook secret
QUERY = "query($id: ID!) { customer(id: $id) { id } }"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    parser.add_argument("--every", type=int, default=3, help="polls between deletion sweeps")
    parser.add_argument("--probe-ms", type=float, default=10.0)
    args = parser.parse_args()
    setup_django()
    import requests
    from django.conf import settings
    from django_tenants.utils import schema_context

    from apps.adapters import services
    from apps.adapters.changes import poll
    from apps.tenancy.api_keys import create_api_key
    from apps.tenancy.graphql_limits import set_tenant_graphql_limits
    from apps.tenancy.models import Domain, Tenant
    from devtools.reference import Sizes, directus, start_reference_sources

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, HOST, "localhost"]
    settings.GRAPHQL_RESPONSE_CACHE_SECONDS = 0
    customers = args.samples * 2 + 50
    with start_reference_sources(seed=5, sizes=Sizes(customers=customers, products=10,
                                                     invoices=10)) as sources, \
            throwaway_tenant(TENANT):
        # The reference Directus posts to "localhost": route that host to the tenant too.
        with schema_context("public"):
            Domain.objects.create(domain="localhost", is_primary=False,
                                  tenant=Tenant.objects.get(schema_name=TENANT))
        services.connect_source("customers", "directus", sources.directus_url,
                                {"token": directus.DEFAULT_TOKEN, "webhook_secret": SECRET},
                                options={"deletion_check_every_polls": args.every})
        product = services.data_product_named("customers")
        poll(product)  # the initial load
        _, key = create_api_key(TENANT, "bench", ["read"])
        # The probes ask every few ms: far above the default per-key rate, on purpose.
        set_tenant_graphql_limits(TENANT, {"rate_limit_per_minute": 10_000_000})
        session = requests.Session()
        session.headers.update({"Host": HOST, "Authorization": f"Bearer {key}"})
        admin = {"Authorization": f"Bearer {directus.DEFAULT_TOKEN}"}
        ids = [str(n) for n in random.Random(5).sample(range(1, customers + 1), customers)]

        with live_server() as endpoint:
            def visible(customer_id: str) -> bool:
                answer = session.post(endpoint, json={"query": QUERY,
                                                      "variables": {"id": customer_id}},
                                      timeout=30).json()
                assert "data" in answer, answer
                return answer["data"]["customer"] is not None

            def deletion_ms(customer_id: str) -> float:
                assert visible(customer_id)
                started = time.perf_counter()
                requests.delete(f"{sources.directus_url}/items/customers/{customer_id}",
                                headers=admin, timeout=10).raise_for_status()
                deadline = started + 60 + args.every * args.interval * 3  # generous
                while visible(customer_id):
                    assert time.perf_counter() < deadline, f"{customer_id} never went away"
                    time.sleep(args.probe_ms / 1000)
                return (time.perf_counter() - started) * 1000

            progress(f"by polling: {args.samples} deletions, a poll every {args.interval} s, "
                     f"a sweep every {args.every} polls")
            with _poller(lambda: poll(product), args.interval):
                by_polling = _samples(deletion_ms, ids[:args.samples],
                                      args.every * args.interval)

            progress(f"by webhook: {args.samples} deletions")
            webhook = endpoint.replace("127.0.0.1", "localhost").replace(
                "/graphql", "/webhooks/sources/customers")
            requests.post(f"{sources.directus_url}/__control/webhook",
                          json={"url": webhook, "secret": SECRET}, timeout=5).raise_for_status()
            by_webhook = _samples(deletion_ms, ids[args.samples:args.samples * 2], 0.0)

    bound_ms = args.every * args.interval * 1000
    for label, samples in (("by polling", by_polling), ("by webhook", by_webhook)):
        print(f"delete -> null in GraphQL {label:<11} p50 {percentile(samples, 50):9.1f} ms  "
              f"p99 {percentile(samples, 99):9.1f} ms  max {max(samples):9.1f} ms  "
              f"n={len(samples)}")
    print(f"polling bound (every x interval): {bound_ms:.0f} ms; polling p99 / bound "
          f"{percentile(by_polling, 99) / bound_ms:.2f}")
    print(f"ratio polling / webhook (p50): "
          f"{percentile(by_polling, 50) / percentile(by_webhook, 50):.1f}x")


def _samples(measure: Callable[[str], float], ids: list[str], spread_s: float) -> list[float]:
    """One measurement per id, each started at a random point of a sweep cycle
    (``spread_s`` long), so the samples cover every phase of it."""
    jitter = random.Random(7)
    samples = []
    for customer_id in ids:
        time.sleep(jitter.uniform(0, spread_s))
        samples.append(measure(customer_id))
    return samples


class _poller:  # noqa: N801 - used as a context manager, like contextlib's
    """Calls ``poll_once`` every ``interval`` seconds on a thread, as Celery beat would."""

    def __init__(self, poll_once: Callable[[], Any], interval: float) -> None:
        from django_tenants.utils import schema_context

        self._stop = threading.Event()

        def run() -> None:
            with schema_context(TENANT):
                while not self._stop.wait(interval):
                    poll_once()

        self._thread = threading.Thread(target=run, name="poller", daemon=True)

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


if __name__ == "__main__":
    main()
