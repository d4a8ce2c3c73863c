"""What every benchmark needs: Django set up, a throwaway tenant schema, timing helpers.

Benchmarks are plain scripts (`.venv/bin/python bench/bench_x.py`) that print their
figures and a ratio against a baseline measured in the same run.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


@contextmanager
def throwaway_tenant(slug: str, provision_topics: bool = False) -> Iterator[str]:
    """A tenant schema for one benchmark run, dropped afterwards (also after a crash)."""
    from django.conf import settings
    from django.db import connection
    from django_tenants.utils import schema_context

    from apps.tenancy.models import Tenant
    from apps.tenancy.services import onboard_tenant

    settings.KAFKA_PROVISION_TOPICS_ON_ONBOARD = provision_topics
    _drop(slug)
    onboard_tenant(slug, name=slug, domain=f"{slug.replace('_', '-')}.bench.localhost")
    try:
        with schema_context(slug):
            yield slug
    finally:
        connection.set_schema_to_public()  # type: ignore[attr-defined]
        Tenant.objects.filter(schema_name=slug).delete()
        _drop(slug)


def _drop(slug: str) -> None:
    from django.db import connection

    from apps.tenancy.models import Tenant

    connection.set_schema_to_public()  # type: ignore[attr-defined]
    Tenant.objects.filter(schema_name=slug).delete()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{slug}" CASCADE')


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def time_calls(call: Callable[[], object], repeat: int) -> list[float]:
    """Wall-clock milliseconds of each call."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> str:
    return (f"p50 {percentile(samples, 50):7.2f} ms  p99 {percentile(samples, 99):7.2f} ms  "
            f"mean {statistics.fmean(samples):7.2f} ms  n={len(samples)}")


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)
