"""CreateInvoice sagas (reserve stock -> create the invoice -> charge it) per second with two
Celery worker processes, against the reference sources with no added delay.

Figures:
- sagas/s: N sagas started in one transaction (so their first steps are queued together
  when it commits), from that commit to the last one COMPLETED;
- step overhead p50/p99: each step's claim-to-record time in the step log minus the median
  time of the same source call in the baseline, i.e. what the engine adds around the call
  (claim and record transactions, the saga.state_changed outbox rows, the span, Celery);
- ratio: sagas/s against the baseline, the same three source calls (the saga's own step
  functions, so the same adapters and HTTP client) made in a plain sequential loop in this
  process.

Targets on a 2-core machine: >= 50 sagas/s, step overhead p50 < 20 ms, ratio >= 0.3.

The reference sources run in a process of their own, so neither the workers nor the
baseline share an interpreter with them. The workers run no outbox relay and no Kafka
consumers (`bench_relay.py` measures the relay): this measures the saga path alone.

Where the time goes (cProfile of the steps in one process, about 30 ms a saga under the
profiler): half is the three step functions, the same code the baseline times (the HTTP
call; each step's lookup of the tenant's source connection, one query; requests reading
the proxy variables from the environment on every call), the other half the engine: 24
queries a saga in 4 transactions (claim; then per step: lock the row, append to the step
log, the saga.state_changed outbox rows of the 2 transitions, update the row, commit, the
commit waiting for the WAL flush). django-tenants used to send `SET search_path` before
every query (40 queries a saga); TENANT_LIMIT_SET_CALLS sends it once per connection
and schema (51.8 -> 54.1 sagas/s, 38 -> 31 ms a saga in one process). On two cores the
two workers, PostgreSQL, Redis and the sources' process share the CPU, so the loop,
alone on its core, runs about three times as fast as the sagas.

    .venv/bin/python bench/bench_sagas.py [--sagas 300] [--rounds 3]

Uses the database of DATABASE_URL (a throwaway tenant schema) and Redis of REDIS_URL (a
private Celery queue).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from _support import ROOT, percentile, progress, setup_django, throwaway_tenant

STEPS = ("reserve_stock", "create_invoice", "charge_invoice")
SKUS = [f"SKU-{n:05d}" for n in range(1, 21)]
CUSTOMERS = [str(n) for n in range(1, 21)]
WORKERS = 2


@dataclass(frozen=True)
class Sources:
    directus: str
    products: str
    ecommerce: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def reference_sources() -> Iterator[Sources]:
    """`python -m devtools.reference` on free ports, until its ready line."""
    from devtools.reference.__main__ import READY_LINE

    ports = {name: _free_port() for name in ("directus", "products", "ecommerce")}
    args = [f"--{name}-port={port}" for name, port in ports.items()]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "devtools.reference", "--seed", "3", *args], cwd=ROOT,
        stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip() == READY_LINE:
                break
        else:
            raise SystemExit("the reference sources did not start")
        yield Sources(*(f"http://127.0.0.1:{ports[name]}"
                        for name in ("directus", "products", "ecommerce")))
    finally:
        process.terminate()
        process.wait(timeout=20)


def connect(sources: Sources) -> None:
    """The tenant's three sources, and stock enough for every saga of the run."""
    import requests

    from apps.adapters import services
    from devtools.reference import directus, ecommerce, products

    services.connect_source("customers", "directus", sources.directus,
                            {"token": directus.DEFAULT_TOKEN, "webhook_secret": "bench"})
    services.connect_source("products", "products", sources.products,
                            {"api_key": products.DEFAULT_API_KEYS[0]})
    services.connect_source("invoices", "ecommerce", sources.ecommerce,
                            {"token": ecommerce.DEFAULT_TOKEN})
    for sku in SKUS:
        requests.patch(f"{sources.products}/v1/products/{sku}", json={"stock": 10_000_000},
                       headers={"X-API-Key": products.DEFAULT_API_KEYS[0]},
                       timeout=5).raise_for_status()


@contextmanager
def workers(count: int) -> Iterator[str]:
    """``count`` `celery worker` processes (solo pool) on a private queue; yields it."""
    from django.conf import settings
    from django.db import connection

    from config.celery import app

    queue = f"bench-sagas-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {**os.environ, "CELERY_TASK_DEFAULT_QUEUE": queue, "OUTBOX_RELAY_ENABLED": "false",
           "KAFKA_WORKER_CONSUMER_GROUPS": "", "WORKER_METRICS_PORT": "0",
           "LOG_LEVEL": "WARNING", "REDIS_URL": settings.REDIS_URL,
           "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:"
                           f"{db['PORT'] or 5432}/{db['NAME']}"}
    names = [f"bench-sagas-{n}-{uuid.uuid4().hex[:6]}@localhost" for n in range(count)]
    processes = [subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "-n", name,
         "--pool", "solo", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL) for name in names]
    app.conf.task_default_queue = queue
    try:
        deadline = time.monotonic() + 60
        while len(app.control.ping(destination=names, timeout=0.5) or []) < count:
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise SystemExit("the worker processes did not start")
        yield queue
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def saga_input(n: int) -> dict[str, object]:
    return {"customer_id": CUSTOMERS[n % len(CUSTOMERS)],
            "items": [{"product_id": SKUS[n % len(SKUS)], "quantity": 1}]}


def run_sagas(count: int) -> tuple[float, list[str]]:
    """Start ``count`` sagas in one transaction; seconds from its commit to the last
    COMPLETED, and the sagas' ids."""
    from django.db import transaction

    from apps.sagas import services
    from apps.sagas.contracts import SagaState
    from apps.sagas.models import SagaInstance

    with transaction.atomic():
        ids = [services.start_saga(services.CREATE_INVOICE, saga_input(n)).id
               for n in range(count)]
        started = time.perf_counter()  # the steps are queued as this block commits
    ended = SagaInstance.objects.filter(pk__in=ids).exclude(
        state__in=[SagaState.PENDING.value, SagaState.RUNNING.value,
                   SagaState.COMPENSATING.value])
    deadline = time.monotonic() + 120 + count
    while ended.count() < count:
        if time.monotonic() > deadline:
            raise SystemExit("sagas did not finish; is a worker stuck?")
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    failed = ended.exclude(state=SagaState.COMPLETED.value).count()
    if failed:
        raise SystemExit(f"{failed} sagas did not complete; the figures would mean nothing")
    return elapsed, ids


def baseline(count: int) -> tuple[float, dict[str, list[float]]]:
    """The same three calls per saga in a sequential loop: seconds, and each call's ms."""
    from apps.sagas import create_invoice
    from apps.sagas.contracts import StepPhase
    from apps.sagas.definitions import StepContext

    calls: dict[str, list[float]] = {step: [] for step in STEPS}
    started = time.perf_counter()
    for n in range(count):
        saga_id, outputs = f"baseline-{uuid.uuid4()}", dict[str, Any]()
        for step in STEPS:
            context = StepContext(saga_id, step, StepPhase.ACTION, saga_input(n), outputs)
            call_started = time.perf_counter()
            outputs = {**outputs, step: getattr(create_invoice, step)(context)}
            calls[step].append((time.perf_counter() - call_started) * 1000)
    return time.perf_counter() - started, calls


def step_overheads(ids: list[str], source_ms: dict[str, float]) -> list[float]:
    """Per step: claim-to-record time in the step log minus the call's baseline median."""
    from apps.sagas.models import SagaInstance, SagaStepLog

    sagas = SagaInstance.objects.filter(pk__in=ids)
    rows = SagaStepLog.objects.filter(saga__in=sagas).values_list("step", "started_at",
                                                                    "ended_at")
    return [(ended - began).total_seconds() * 1000 - source_ms[step]
            for step, began, ended in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sagas", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.sagas < 1 or args.rounds < 1:
        parser.error("--sagas and --rounds must be at least 1")
    setup_django()
    run = uuid.uuid4().hex[:8]
    with reference_sources() as sources, throwaway_tenant(f"bench_sagas_{run}"):
        connect(sources)
        progress("warm-up: the baseline loop, then 20 sagas on the workers")
        baseline(20)
        with workers(WORKERS):
            run_sagas(20)
            saga_rates, loop_rates, overheads = [], [], []
            calls: dict[str, list[float]] = {step: [] for step in STEPS}
            for round_ in range(1, args.rounds + 1):
                progress(f"round {round_}: {args.sagas} calls x 3 in a sequential loop")
                loop_s, round_calls = baseline(args.sagas)
                loop_rates.append(args.sagas / loop_s)
                progress(f"round {round_}: {args.sagas} sagas on {WORKERS} workers")
                saga_s, ids = run_sagas(args.sagas)
                saga_rates.append(args.sagas / saga_s)
                medians = {step: statistics.median(ms) for step, ms in round_calls.items()}
                overheads += step_overheads(ids, medians)
                for step in STEPS:
                    calls[step] += round_calls[step]
    report(args, saga_rates, loop_rates, overheads, calls)


def report(args: argparse.Namespace, saga_rates: list[float], loop_rates: list[float],
           overheads: list[float], calls: dict[str, list[float]]) -> None:
    sagas, loop = statistics.median(saga_rates), statistics.median(loop_rates)
    print(f"CreateInvoice: {args.sagas} sagas x 3 steps per round, {WORKERS} worker "
          f"processes (solo pool), median of {args.rounds} rounds (pid {os.getpid()})")
    for step in STEPS:
        print(f"source call {step:<15}: p50 {percentile(calls[step], 50):6.2f} ms  "
              f"p99 {percentile(calls[step], 99):6.2f} ms  (baseline loop)")
    print(f"sagas                      : {sagas:8.1f} /s   rounds: "
          + ", ".join(f"{r:.1f}" for r in saga_rates) + "   (target >= 50)")
    print(f"sequential loop, 3 calls   : {loop:8.1f} /s   rounds: "
          + ", ".join(f"{r:.1f}" for r in loop_rates))
    print(f"step overhead              : p50 {percentile(overheads, 50):6.2f} ms  "
          f"p99 {percentile(overheads, 99):6.2f} ms  n={len(overheads)}   (target p50 < 20)")
    print(f"ratio sagas / loop         : {sagas / loop:8.2f}   (target >= 0.30)")


if __name__ == "__main__":
    main()
