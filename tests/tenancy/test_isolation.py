"""Tenant isolation at the database: each tenant's rows live in its own schema."""

from __future__ import annotations

import uuid

from django_tenants.utils import schema_context

from apps.events.models import OutboxMessage


def _write_row(schema: str) -> uuid.UUID:
    event_id = uuid.uuid4()
    with schema_context(schema):
        OutboxMessage.objects.create(event_id=event_id, topic="t", key="k", value=b"v")
    return event_id


def test_row_written_in_tenant_a_is_invisible_from_tenant_b(tenant_a, tenant_b):
    event_id = _write_row(tenant_a.schema_name)

    with schema_context(tenant_a.schema_name):
        assert OutboxMessage.objects.filter(event_id=event_id).exists()
    with schema_context(tenant_b.schema_name):
        assert not OutboxMessage.objects.filter(event_id=event_id).exists()
        assert OutboxMessage.objects.count() == 0


def test_tenant_tables_do_not_exist_in_the_public_schema(tenant_a):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = %s",
            ["event_outbox"],
        )
        schemas = {row[0] for row in cursor.fetchall()}
    assert "public" not in schemas
    assert tenant_a.schema_name in schemas
