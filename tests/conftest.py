"""Session fixtures shared by the whole suite: the real broker, tenant schemas, a worker.

Everything runs against real services: PostgreSQL and Redis must already be running
(they are on development and CI machines); the Kafka-protocol broker is started here
unless one already answers at KAFKA_BOOTSTRAP_SERVERS.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
from django.conf import settings
from django.db import connection, transaction

from apps.adapters import connection_cache
from devtools import broker
from dictamesh.events.topic_directory import close_shared_directories
from dictamesh.tenancy import activate_public_schema

TEST_TENANTS = ("test_alpha", "test_beta")

# Property tests judge the code, not the machine: no per-example deadline and no "too slow"
# health check, both of which fail on a busy machine. Tests with their own @settings that
# name suppress_health_check list too_slow themselves.
hypothesis.settings.register_profile(
    "dictamesh", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.load_profile("dictamesh")


@pytest.fixture(autouse=True)
def _forget_cached_connections() -> Iterator[None]:
    """A test's source connections roll back with its transaction, and no save() tells the
    per-process connection cache so: the next test starts without them."""
    yield
    connection_cache.forget_all()


@pytest.fixture(autouse=True, scope="module")
def _close_shared_topic_directories() -> Iterator[None]:
    """The topic directories a module's consumers shared close with the module: their
    clients' IO threads would otherwise refresh metadata for the rest of the run, using the
    global ``random`` that Hypothesis, drawing examples in a later module, checks is left
    alone (a "Do not use the random module inside strategies" warning with no strategy to
    blame)."""
    yield
    close_shared_directories()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The bootstrap servers of a running broker, started for this session if needed."""
    bootstrap = ",".join(settings.KAFKA_BOOTSTRAP_SERVERS)
    process = None
    if broker.is_reachable(bootstrap):
        broker.wait_until_ready(bootstrap)
    else:
        log_dir = Path(".run")
        log_dir.mkdir(exist_ok=True)
        process = broker.start(bootstrap, log_path=log_dir / "test-broker.log")
    yield bootstrap
    if process is not None:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def tenant_schemas(
    django_db_setup, django_db_blocker, kafka_bootstrap
) -> Iterator[tuple[str, ...]]:
    """Two tenant schemas (with their topics), created once per session, dropped at its end."""
    from apps.tenancy.services import onboard_tenant

    with django_db_blocker.unblock():
        for slug in TEST_TENANTS:
            onboard_tenant(slug, name=slug, domain=tenant_host(slug))
    yield TEST_TENANTS
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        activate_public_schema()
        for slug in TEST_TENANTS:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{slug}" CASCADE')


def tenant_host(slug: str) -> str:
    """The host name that routes to a test tenant (host names allow no underscores)."""
    return f"{slug.replace('_', '-')}.testserver"


def _ensure_tenant(slug: str):
    """The tenant's row (a transactional test's flush may have emptied the public tables)."""
    from apps.tenancy.models import Domain, Tenant

    activate_public_schema()
    tenant, _ = Tenant.objects.get_or_create(schema_name=slug, defaults={"name": slug})
    Domain.objects.get_or_create(
        domain=tenant_host(slug), defaults={"tenant": tenant, "is_primary": True}
    )
    return tenant


@pytest.fixture
def tenant_a(tenant_schemas, db):
    return _ensure_tenant(tenant_schemas[0])


@pytest.fixture
def tenant_b(tenant_schemas, db):
    return _ensure_tenant(tenant_schemas[1])


def _truncate_tenant_tables(schemas: tuple[str, ...]) -> None:
    """Empty every table of the test tenants but their migration records.

    A transactional test's flush only empties the public schema's tables.
    """
    activate_public_schema()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT format('%%I.%%I', table_schema, table_name) FROM information_schema.tables "
            "WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE' "
            "AND table_name <> 'django_migrations'",
            [list(schemas)],
        )
        tables = [row[0] for row in cursor.fetchall()]
    if tables:
        with transaction.atomic(), connection.cursor() as cursor:
            # The event log refuses TRUNCATE unless the retention path is declared.
            cursor.execute("SET LOCAL dictamesh.event_log_retention = 'on'")
            cursor.execute("SET LOCAL dictamesh.saga_log_retention = 'on'")
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


@pytest.fixture
def tenants_committed(tenant_schemas, transactional_db):
    """Both tenants, committed, for tests whose work crosses threads or processes.

    Their tables start and end empty.
    """
    from apps.events.services import get_codec

    # A transactional test's flush empties the schema registry's tables: the process' codec
    # would go on using ids no other process can resolve any more.
    get_codec.cache_clear()
    _truncate_tenant_tables(tenant_schemas)
    yield tuple(_ensure_tenant(slug) for slug in tenant_schemas)
    _truncate_tenant_tables(tenant_schemas)
    get_codec.cache_clear()


@pytest.fixture
def celery_worker(request, tenants_committed, settings):
    """One real Celery worker (solo pool, in a thread) on a queue private to this test.

    The worker's background services (outbox relay, Kafka consumers) run only for tests
    marked ``@pytest.mark.worker_services``.
    """
    settings.WORKER_METRICS_PORT = 0  # tests start many workers in one process
    if request.node.get_closest_marker("worker_services") is None:
        settings.OUTBOX_RELAY_ENABLED = False
        settings.KAFKA_WORKER_CONSUMER_GROUPS = []
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    queue = f"test-{uuid.uuid4().hex[:12]}"
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        with start_worker(
            app, pool="solo", concurrency=1, queues=[queue],
            perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30,
        ) as worker:
            yield worker
    finally:
        app.conf.task_default_queue = previous_queue
        activate_public_schema()
