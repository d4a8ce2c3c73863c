"""The search_path is sent only when a connection's schema changes
(TENANT_LIMIT_SET_CALLS): every way the database can lose or change it must make the next
query send it again, or a query would read another tenant's tables."""

from __future__ import annotations

import threading
import uuid

from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from apps.events.models import OutboxMessage
from dictamesh.tenancy import psycopg_connection_in_tenant


def _schema_in_use() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT (current_schemas(false))[1]")
        return str(cursor.fetchone()[0])


def _set_calls(queries: CaptureQueriesContext) -> int:
    return sum(q["sql"].startswith("SET search_path") for q in queries.captured_queries)


def test_the_search_path_is_sent_once_per_schema_not_per_query(tenants_committed):
    assert settings.TENANT_LIMIT_SET_CALLS is True
    a, b = (tenant.schema_name for tenant in tenants_committed)
    with CaptureQueriesContext(connection) as queries:
        with schema_context(a):
            for _ in range(3):
                OutboxMessage.objects.count()
        with schema_context(b):
            OutboxMessage.objects.count()
            assert _schema_in_use() == b
    assert _set_calls(queries) == 2  # one for a, one for b: the schema changed once


def test_a_search_path_undone_by_a_rollback_is_sent_again(tenants_committed):
    a, b = (tenant.schema_name for tenant in tenants_committed)
    with schema_context(a):
        _schema_in_use()  # the session's path is a's
        with schema_context(b):
            with transaction.atomic():
                _schema_in_use()  # b's path is set inside the transaction ...
                transaction.set_rollback(True)  # ... and the rollback brings back a's
            assert _schema_in_use() == b  # same schema, no switch: sent again all the same


def test_a_search_path_undone_by_a_savepoint_rollback_is_sent_again(tenants_committed):
    a, b = (tenant.schema_name for tenant in tenants_committed)
    with schema_context(a), transaction.atomic():
        _schema_in_use()
        try:
            with transaction.atomic():  # a savepoint
                connection.set_schema(b)  # type: ignore[attr-defined]  # django-tenants
                _schema_in_use()  # b's path is set inside the savepoint ...
                raise RuntimeError("... and rolling it back brings back a's")
        except RuntimeError:
            pass
        event_id = uuid.uuid4()
        OutboxMessage.objects.create(event_id=event_id, topic="t", key="k", value=b"v")
        assert _schema_in_use() == b
    with schema_context(a):
        assert not OutboxMessage.objects.filter(event_id=event_id).exists()
    with schema_context(b):
        assert OutboxMessage.objects.filter(event_id=event_id).exists()


def test_each_thread_keeps_its_own_schema(tenants_committed):
    """The relay and consumer threads share a process with the tasks: one connection each."""
    a, b = (tenant.schema_name for tenant in tenants_committed)
    seen: dict[str, str] = {}
    switched, checked = threading.Event(), threading.Event()

    def other_thread() -> None:
        try:
            with schema_context(b):
                _schema_in_use()
                switched.set()
                checked.wait(10)
                seen["thread"] = _schema_in_use()
        finally:
            connection.close()

    with schema_context(a):
        _schema_in_use()
        thread = threading.Thread(target=other_thread)
        thread.start()
        assert switched.wait(10)
        seen["main"] = _schema_in_use()
        checked.set()
        thread.join(10)
    assert seen == {"main": a, "thread": b}


def test_a_raw_psycopg_connection_is_handed_out_in_the_current_tenant(tenants_committed):
    """The relay reads in binary on the psycopg connection itself, past django-tenants'
    cursor; it must still read the tenant it relays, not the one the connection last had."""
    a, b = (tenant.schema_name for tenant in tenants_committed)
    with schema_context(a):
        _schema_in_use()
        with schema_context(b):
            raw = psycopg_connection_in_tenant()
            assert raw.execute("SELECT (current_schemas(false))[1]").fetchone() == (b,)
        raw = psycopg_connection_in_tenant()
        assert raw.execute("SELECT (current_schemas(false))[1]").fetchone() == (a,)
