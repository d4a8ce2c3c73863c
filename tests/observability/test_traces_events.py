"""One trace from the edge to the cache: a change written in a span (as a poll task or a
webhook request writes it) → outbox row → relay publish (traceparent in the Kafka
headers) → consume → catalog write → cache invalidation, on the real broker."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable

from django_tenants.utils import schema_context
from opentelemetry import trace

from apps.catalog.event_handlers import apply_entity_changes
from apps.catalog.models import DataLineage, EventLog
from apps.events.consumers import build_runner
from apps.events.models import OutboxMessage
from apps.events.relay import relay_pending
from apps.events.services import publish_event
from apps.federation.event_handlers import invalidate_graphql_caches
from dictamesh.events import ENTITY_CHANGE_EVENT, load_schema
from dictamesh.events.handlers import HandlerRegistry
from dictamesh.events.payload import build_payload
from dictamesh.events.producer import EventProducer
from tests.events.conftest import make_topics, unique_base_topic
from tests.observability.spans import chain, one, parent_of, recording_spans


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _change(tenant: str, entity_id: str) -> dict:
    return {
        "event_id": str(uuid.uuid4()), "event_type": "UPDATED",
        "timestamp": int(time.time() * 1000), "tenant": tenant,
        "entity": {"type": "customer", "id": entity_id, "version": 1},
        "source": "directus", "changed_fields": ["email"],
        "payload": build_payload({"email": f"{entity_id}@example.com"}, ()),
    }


def test_a_change_is_one_trace_from_its_write_to_the_cache_invalidation(
        kafka_bootstrap, tenants_committed):
    alpha = tenants_committed[0].schema_name
    # A topic of this test's own: the shared broker's older events of the tenant's real
    # topics would share batches with ours (a batch of several traces only links them).
    topic = unique_base_topic("trace")
    make_topics(kafka_bootstrap, [f"{alpha}.{topic}"], partitions=1)
    group = f"catalog-trace-{uuid.uuid4().hex[:8]}"
    handlers = HandlerRegistry()
    handlers.register(group, "*.entity_changed")(apply_entity_changes)
    handlers.register(group, "*.entity_changed")(invalidate_graphql_caches)
    stop = threading.Event()
    runner = build_runner(group, topics=re.compile(rf"{alpha}\.{re.escape(topic)}"),
                          handlers=handlers, stop_event=stop)
    thread = threading.Thread(target=runner.run, daemon=True)
    with recording_spans() as exporter:
        thread.start()
        try:
            with schema_context(alpha), \
                    trace.get_tracer("tests").start_as_current_span("webhook") as edge:
                event_id = publish_event(topic, "c-1", load_schema(ENTITY_CHANGE_EVENT),
                                         _change(alpha, "c-1"))
            with schema_context(alpha):
                producer = EventProducer.from_settings()
                try:
                    # (with the announcements the catalog made of older runs' events)
                    assert relay_pending(producer).sent >= 1
                finally:
                    producer.close(timeout=5)
                assert OutboxMessage.objects.get(event_id=event_id).sent_at is not None
            trace_id = edge.get_span_context().trace_id
            _wait_for(lambda: any(s.name == "cache invalidation"
                                  and s.context.trace_id == trace_id
                                  for s in exporter.get_finished_spans()),
                      "the cache invalidation after the catalog commit")
        finally:
            stop.set()
            thread.join(30)
        spans = exporter.get_finished_spans()

    ours = [s for s in spans if s.context.trace_id == trace_id]
    invalidation = one(ours, "cache invalidation")
    register = one(ours, "db register_entities")
    assert chain(register, ours) == [
        "db register_entities", "catalog ingest", f"{group} apply", "outbox publish", "webhook"]
    assert chain(invalidation, ours) == [
        "cache invalidation", f"{group} apply", "outbox publish", "webhook"]
    publish = one(ours, "outbox publish")
    assert publish.kind is trace.SpanKind.PRODUCER
    assert parent_of(publish, ours).name == "webhook"
    assert parent_of(one(ours, "db append_events"), ours).name == "catalog ingest"
    with schema_context(alpha):
        logged = EventLog.objects.get(event_id=event_id)
        lineage = DataLineage.objects.get(upstream=f"topic:{alpha}.{topic}",
                                          downstream="catalog:customer")
    assert logged.trace_id == format(trace_id, "032x")
    assert lineage.details["last_trace_id"] == format(trace_id, "032x")
