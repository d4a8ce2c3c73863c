"""The tenant context: which tenant's schema the current thread works in, and how a Celery
task carries it from the process that enqueued it to the worker that runs it.

django-tenants keeps the active schema on the database connection (one per thread); that
is the single source of truth here. A task enqueued while tenant A is active gets A's
schema in a message header; the worker runs it inside A's schema and restores its own
afterwards, so one worker can interleave tasks of many tenants safely.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from celery import Celery, Task
from celery.signals import before_task_publish
from django.db import connection
from django_tenants.utils import get_public_schema_name, schema_context

TENANT_HEADER = "dictamesh_tenant"


def current_schema() -> str:
    """The schema the current thread's database connection is set to."""
    return getattr(connection, "schema_name", None) or get_public_schema_name()


def activate_public_schema() -> None:
    """Point this thread's connection at the public schema."""
    connection.set_schema_to_public()  # type: ignore[attr-defined]  # django-tenants backend


def is_public(schema: str | None = None) -> bool:
    return (schema or current_schema()) == get_public_schema_name()


@contextmanager
def tenant_context(schema: str) -> Iterator[None]:
    """Run a block in ``schema``, restoring the previous schema afterwards."""
    with schema_context(schema):
        yield


def psycopg_connection_in_tenant() -> psycopg.Connection[Any]:
    """This thread's psycopg connection, its search_path set to the current tenant.

    django-tenants sets the search_path lazily, as Django opens its next cursor; a
    statement sent on the psycopg connection directly (for binary results or server-side
    binding) would otherwise run in whichever schema the connection was last set to.
    """
    with connection.cursor():
        pass
    return connection.connection


def _stamp_tenant_header(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Record the sender's schema on every outgoing task message (unless already set)."""
    if headers is not None and not headers.get(TENANT_HEADER):
        headers[TENANT_HEADER] = current_schema()


class TenantTask(Task):
    """A Celery task that runs in the schema of the tenant that enqueued it."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        schema = self.request.get(TENANT_HEADER)
        if not schema:  # called directly or eagerly: stay in the caller's schema
            return super().__call__(*args, **kwargs)
        with schema_context(schema):
            return super().__call__(*args, **kwargs)


def install_tenant_propagation(app: Celery) -> None:
    """Make every task of ``app`` carry and honour the tenant context."""
    app.Task = TenantTask  # type: ignore[misc]
    before_task_publish.connect(_stamp_tenant_header, weak=False, dispatch_uid=TENANT_HEADER)
