"""The catalog consumer's handler, fed decoded events directly (the runner is tested on the
broker in tests/events/consumers and end to end in test_end_to_end.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django_tenants.utils import schema_context

from apps.catalog import services
from apps.catalog.contracts import EntityKey
from apps.catalog.event_handlers import apply_entity_changes
from apps.catalog.ingest import ingest_entity_changes
from apps.catalog.models import EntityCatalog, EventLog
from apps.events.consumers import ProcessedEventStore
from apps.events.models import OutboxMessage
from dictamesh.events.handlers import ConsumedEvent, PermanentError
from dictamesh.events.payload import PayloadRelationship, build_payload


def change_event(tenant: str, entity_type: str, entity_id: str, version: int,
                 attributes: dict, relationships=(), event_type: str = "UPDATED",
                 payload: str | None = None, record_tenant: str | None = None) -> ConsumedEvent:
    event_id = uuid.uuid4()
    record = {
        "event_id": str(event_id), "event_type": event_type,
        "timestamp": datetime(2026, 11, 1, tzinfo=UTC), "tenant": record_tenant or tenant,
        "entity": {"type": entity_type, "id": entity_id, "version": version},
        "source": "ecommerce" if entity_type == "invoice" else "directus",
        "changed_fields": sorted(attributes),
        "payload": payload if payload is not None else build_payload(attributes, relationships),
    }
    return ConsumedEvent(
        topic=f"{tenant}.{entity_type}s.{record['source']}.entity_changed", partition=0,
        offset=version, key=entity_id.encode(), headers=(), timestamp_ms=0, tenant=tenant,
        event_id=event_id, schema_id=1, record=record, value=b"")


def test_a_batch_becomes_entities_events_relationships_lineage_and_outbox(tenant_a):
    slug = tenant_a.schema_name
    invoice = change_event(slug, "invoice", "INV-1", 1, {"total": "12.50"}, [
        PayloadRelationship("billed_to", "customer", "42"),
        PayloadRelationship("has_item", "invoice_item", "INV-1/1"),
        PayloadRelationship("references", "product", "SKU-7", "invoice_item", "INV-1/1"),
    ])
    customer = change_event(slug, "customer", "42", 3, {"email": "ada@example.com"})
    with schema_context(slug):
        result = ingest_entity_changes([invoice, customer])

        assert (result.entities_changed, result.events_logged,
                result.relationships_created) == (2, 2, 3)
        assert EntityCatalog.objects.get(entity_id="42").attributes == {
            "email": "ada@example.com"}
        assert set(EventLog.objects.values_list("event_id", flat=True)) == {
            invoice.event_id, customer.event_id}
        graph = services.query_relationship_graph("invoice", "INV-1", max_depth=3)
        assert {str(n.key) for n in graph.nodes if n.resolved} == {"invoice:INV-1",
                                                                    "customer:42"}
        assert EntityKey("product", "SKU-7") in {n.key for n in graph.nodes}
        lineage = services.query_lineage("catalog:invoice", "upstream", depth=2)
        assert "source:ecommerce/invoice" in lineage.nodes
        topics = sorted(OutboxMessage.objects.values_list("topic", flat=True))
        assert topics.count(f"{slug}.system.metadata.entity_registered") == 2
        assert topics.count(f"{slug}.system.lineage.relationship_created") == 3


def test_redelivered_and_older_events_change_nothing(tenant_a):
    slug = tenant_a.schema_name
    newer = change_event(slug, "customer", "42", 5, {"email": "new@example.com"})
    older = change_event(slug, "customer", "42", 4, {"email": "old@example.com"})
    with schema_context(slug):
        ingest_entity_changes([newer])
        again = ingest_entity_changes([newer, older])
        assert again.entities_changed == 0
        assert EntityCatalog.objects.get(entity_id="42").attributes["email"] == (
            "new@example.com")
        assert EventLog.objects.count() == 2  # the older event is history all the same
        assert OutboxMessage.objects.filter(topic__endswith="entity_registered").count() == 1


def test_a_deletion_marks_the_entity_deleted(tenant_a):
    slug = tenant_a.schema_name
    with schema_context(slug):
        ingest_entity_changes([change_event(slug, "customer", "42", 1, {"email": "a@b.c"})])
        ingest_entity_changes([change_event(slug, "customer", "42", 2, {},
                                            event_type="DELETED")])
        assert EntityCatalog.objects.get(entity_id="42").is_deleted is True


@pytest.mark.parametrize(("payload", "reason"), [
    ("not json", "bad_payload"),
    ('{"attributes": []}', "bad_payload"),
    ('{"relationships": [{"type": "billed_to", "object": {"id": "1"}}]}', "bad_payload"),
])
def test_a_malformed_payload_is_a_permanent_error_and_writes_nothing(tenant_a, payload, reason):
    slug = tenant_a.schema_name
    bad = change_event(slug, "customer", "42", 1, {}, payload=payload)
    with schema_context(slug):
        with pytest.raises(PermanentError) as caught:
            ingest_entity_changes([bad])
        assert caught.value.reason == reason
        assert caught.value.event is bad
        assert not EntityCatalog.objects.exists()


def test_an_event_naming_another_tenant_is_rejected(tenant_a):
    slug = tenant_a.schema_name
    forged = change_event(slug, "customer", "42", 1, {"email": "x@y.z"},
                          record_tenant="someone_else")
    with schema_context(slug), pytest.raises(PermanentError, match="tenant"):
        ingest_entity_changes([forged])


def test_a_row_the_database_refuses_is_isolated_by_halves_and_its_neighbours_apply_once(
        tenant_a):
    """The batch's writes are multi-row (COPY into staging tables, then one statement per
    table): when the database refuses one row, the store's bisection in savepoints must
    still apply every other event exactly once."""
    slug = tenant_a.schema_name
    events = [change_event(slug, "invoice", f"INV-{n}", 1, {"total": f"{n}.00"},
                           [PayloadRelationship("billed_to", "customer", str(n))])
              for n in range(9)]
    # Decodes and passes the validator; only PostgreSQL's jsonb refuses a NaN.
    poison = change_event(slug, "invoice", "INV-NaN", 1, {},
                          payload='{"attributes": {"total": NaN}}')
    batch = [*events[:6], poison, *events[6:]]
    with schema_context(slug):
        result = ProcessedEventStore("catalog-test").apply(slug, batch, apply_entity_changes)

        assert [event for event, _ in result.rejected] == [poison]
        assert result.rejected[0][1].reason == "data_error"
        assert sorted(e.event_id for e in result.applied) == sorted(e.event_id for e in events)
        assert sorted(EntityCatalog.objects.values_list("entity_id", flat=True)) == sorted(
            f"INV-{n}" for n in range(9))
        assert EventLog.objects.count() == 9
        assert services.related_subjects("invoice", "billed_to", "customer",
                                         [str(n) for n in range(9)]) == {
            str(n): [f"INV-{n}"] for n in range(9)}
        topics = list(OutboxMessage.objects.values_list("topic", flat=True))
        assert topics.count(f"{slug}.system.metadata.entity_registered") == 9
        assert topics.count(f"{slug}.system.lineage.relationship_created") == 9
