"""A Celery task runs in the schema of the tenant that enqueued it, through a real worker."""

from __future__ import annotations

import uuid

from celery import shared_task
from django_tenants.utils import schema_context

from apps.events.models import OutboxMessage
from dictamesh.tenancy import activate_public_schema, current_schema


@shared_task
def record_marker(marker: str) -> str:
    """Write a row in whatever schema the task runs in, and report that schema."""
    OutboxMessage.objects.create(
        event_id=uuid.UUID(marker), topic="celery-test", key=current_schema(), value=b""
    )
    return current_schema()


def _markers_in(schema: str) -> set[str]:
    with schema_context(schema):
        return {str(m) for m in OutboxMessage.objects.filter(topic="celery-test")
                .values_list("event_id", flat=True)}


def test_task_enqueued_for_a_writes_only_to_a(celery_worker, tenants_committed):
    alpha, beta = (t.schema_name for t in tenants_committed)
    marker = str(uuid.uuid4())

    with schema_context(alpha):
        ran_in = record_marker.delay(marker).get(timeout=30)

    assert ran_in == alpha
    assert marker in _markers_in(alpha)
    assert marker not in _markers_in(beta)


def test_interleaved_tasks_of_two_tenants_never_cross(celery_worker, tenants_committed):
    alpha, beta = (t.schema_name for t in tenants_committed)
    sent: dict[str, set[str]] = {alpha: set(), beta: set()}
    results = []

    activate_public_schema()
    for _ in range(200):
        for schema in (alpha, beta):
            marker = str(uuid.uuid4())
            with schema_context(schema):
                results.append((schema, record_marker.delay(marker)))
                # Enqueueing must not move the sender to another schema.
                assert current_schema() == schema
            sent[schema].add(marker)
        assert current_schema() == "public"

    for schema, result in results:
        assert result.get(timeout=180) == schema  # generous: CI machines can be busy
    assert _markers_in(alpha) == sent[alpha]
    assert _markers_in(beta) == sent[beta]


def test_calling_a_task_directly_stays_in_the_callers_schema(tenant_a):
    marker = str(uuid.uuid4())
    with schema_context(tenant_a.schema_name):
        assert record_marker(marker) == tenant_a.schema_name
    assert current_schema() == "public"
