"""End to end on the real broker: an entity change published through a tenant's outbox is
relayed to Kafka, consumed by the running catalog consumer, and becomes a catalog row, an
event-log entry, relationships and lineage in that tenant's schema only."""

from __future__ import annotations

import re
import threading
import time
import uuid

from django_tenants.utils import schema_context

from apps.catalog import services
from apps.catalog.event_handlers import apply_entity_changes
from apps.catalog.models import EntityCatalog, EventLog
from apps.events.consumers import build_runner
from apps.events.relay import relay_pending
from apps.events.services import publish_event
from dictamesh.events import ENTITY_CHANGE_EVENT, load_schema
from dictamesh.events.handlers import HandlerRegistry
from dictamesh.events.payload import PayloadRelationship, build_payload
from dictamesh.events.producer import EventProducer
from dictamesh.events.topics import provision_tenant_topics


def _change(tenant: str, entity_type: str, entity_id: str, version: int, attributes: dict,
            relationships=()) -> dict:
    return {
        "event_id": str(uuid.uuid4()), "event_type": "UPDATED",
        "timestamp": int(time.time() * 1000), "tenant": tenant,
        "entity": {"type": entity_type, "id": entity_id, "version": version},
        "source": "ecommerce" if entity_type == "invoice" else "directus",
        "changed_fields": sorted(attributes),
        "payload": build_payload(attributes, relationships),
    }


def _wait_for(condition, timeout: float = 45.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.3)
    return False


def test_change_event_on_the_broker_becomes_catalog_state(kafka_bootstrap, tenants_committed):
    alpha, beta = (t.schema_name for t in tenants_committed)
    # Ids no other test or earlier run uses: the topics are shared, and a consumer reading
    # them from the start may also apply other events about customer 42 or INV-1.
    run = uuid.uuid4().hex[:8]
    customer_id, invoice_id = f"c-{run}", f"INV-{run}"
    provision_tenant_topics(alpha)
    with schema_context(alpha):
        sent = [publish_event("customers.directus.entity_changed", customer_id,
                              load_schema(ENTITY_CHANGE_EVENT),
                              _change(alpha, "customer", customer_id, 1,
                                      {"email": "ada@example.com"}))]
        sent.append(publish_event("invoices.ecommerce.entity_changed", invoice_id,
                      load_schema(ENTITY_CHANGE_EVENT),
                      _change(alpha, "invoice", invoice_id, 1, {"total": "12.50"}, [
                          PayloadRelationship("billed_to", "customer", customer_id),
                          PayloadRelationship("references", "product", "SKU-7",
                                              "invoice_item", f"{invoice_id}/1"),
                      ])))
        producer = EventProducer.from_settings()
        try:
            assert relay_pending(producer).sent == 2
        finally:
            producer.close(timeout=5)

    # The catalog handler under a group of this test's own, so no other consumer of the
    # shared broker takes its partitions.
    group = f"catalog-e2e-{uuid.uuid4().hex[:8]}"
    handlers = HandlerRegistry()
    handlers.register(group, "*.entity_changed")(apply_entity_changes)
    stop = threading.Event()
    topics = re.compile(rf"{alpha}\.(customers\.directus|invoices\.ecommerce)\.entity_changed")
    runner = build_runner(group, topics=topics, handlers=handlers, stop_event=stop)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        def arrived() -> bool:  # (the shared broker may hold older runs' events too)
            with schema_context(alpha):
                return EventLog.objects.filter(event_id__in=sent).count() == 2
        assert _wait_for(arrived), "the consumer did not apply the events in time"
    finally:
        stop.set()
        thread.join(30)

    with schema_context(alpha):
        customer = EntityCatalog.objects.get(entity_type="customer", entity_id=customer_id)
        assert customer.attributes == {"email": "ada@example.com"}
        assert customer.source_system == "directus"
        graph = services.query_relationship_graph("invoice", invoice_id, direction="outgoing")
        assert {(e.relationship_type, str(e.object)) for e in graph.edges} == {
            ("billed_to", f"customer:{customer_id}")}
        item_graph = services.query_relationship_graph("invoice_item", f"{invoice_id}/1")
        assert {str(e.object) for e in item_graph.edges} == {"product:SKU-7"}
        assert "topic:" + f"{alpha}.customers.directus.entity_changed" in services.query_lineage(
            "catalog:customer", "upstream", depth=1).nodes
    with schema_context(beta):
        assert not EntityCatalog.objects.exists()
        assert not EventLog.objects.exists()
