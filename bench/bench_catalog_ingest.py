"""Catalog ingest: entity change events/s from the topic into the catalog, through the
running catalog consumer (decode, dedupe, upsert, event log, relationships, lineage,
outbox), beside a plain bulk INSERT of the same rows into copies of the same tables, in
the same run. Target ratio >= 0.3.

    .venv/bin/python bench/bench_catalog_ingest.py [--events 20000]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid

from _support import progress, setup_django, throwaway_tenant


def make_records(tenant: str, count: int) -> list[tuple[str, str, dict]]:
    from dictamesh.events.payload import PayloadRelationship, build_payload

    now = int(time.time() * 1000)
    records = []
    for n in range(count):
        if n % 2:
            entity_type, entity_id, topic = "customer", str(n), "customers.directus"
            attributes = {"email": f"c{n}@example.com", "name": f"Customer {n}"}
            relationships: list[PayloadRelationship] = []
        else:
            entity_type, entity_id, topic = "invoice", f"INV-{n}", "invoices.ecommerce"
            attributes = {"total": f"{n}.00", "currency": "EUR", "status": "open"}
            relationships = [PayloadRelationship("billed_to", "customer", str(n + 1))]
        records.append((f"{tenant}.{topic}.entity_changed", entity_id, {
            "event_id": str(uuid.uuid4()), "event_type": "CREATED", "timestamp": now,
            "tenant": tenant, "entity": {"type": entity_type, "id": entity_id, "version": 1},
            "source": topic.split(".")[1], "changed_fields": sorted(attributes),
            "payload": build_payload(attributes, relationships),
        }))
    return records


def produce(records: list[tuple[str, str, dict]]) -> None:
    from kafka import KafkaProducer

    from apps.events.services import get_codec
    from dictamesh.events import ENTITY_CHANGE_EVENT, load_schema
    from dictamesh.events.codec import subject_for_topic

    codec, schema = get_codec(), load_schema(ENTITY_CHANGE_EVENT)
    from django.conf import settings

    producer = KafkaProducer(bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
                             linger_ms=5, batch_size=512 * 1024)
    for topic, key, record in records:
        producer.send(topic, key=key.encode(),
                      value=codec.encode(subject_for_topic(topic), schema, record))
    producer.flush()
    producer.close()


def consume_into_catalog(tenant: str, expected: int) -> float:
    """Run the catalog handler under a fresh group until every event is in the event log."""
    from apps.catalog.event_handlers import apply_entity_changes
    from apps.catalog.models import EventLog
    from apps.events.consumers import build_runner
    from dictamesh.events.handlers import HandlerRegistry

    group = f"bench-catalog-{uuid.uuid4().hex[:8]}"
    handlers = HandlerRegistry()
    handlers.register(group, "*.entity_changed")(apply_entity_changes)
    stop = threading.Event()
    first_batch_at: list[float] = []

    def note_first_batch(report: object) -> None:
        if not first_batch_at:
            first_batch_at.append(time.perf_counter())

    runner = build_runner(group, topics=f"{tenant}.*.entity_changed", handlers=handlers,
                          stop_event=stop, on_batch=note_first_batch)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        while EventLog.objects.count() < expected:
            if not thread.is_alive():
                raise RuntimeError("the consumer stopped before ingesting everything")
            time.sleep(0.05)
        done = time.perf_counter()
    finally:
        stop.set()
        thread.join(30)
    # Measured from the first applied batch: the group join (~3 s) is not ingest work.
    return done - first_batch_at[0]


def bulk_insert_baseline(records: list[tuple[str, str, dict]]) -> float:
    """The same rows, plain multi-row INSERTs into empty copies of the catalog tables."""
    from django.db import connection, transaction

    from dictamesh.events.payload import parse_payload

    with connection.cursor() as cursor:
        for table in ("entity_catalog", "event_log", "entity_relationships"):
            cursor.execute(f"CREATE TABLE bulk_{table} (LIKE {table} INCLUDING ALL)")
    rows_entities, rows_events, rows_edges = [], [], []
    for topic, _key, record in records:
        payload = parse_payload(record["payload"])
        entity = record["entity"]
        rows_entities.append((entity["type"], entity["id"], record["source"], record["source"],
                              1, json.dumps(payload.attributes), False))
        rows_events.append((record["event_id"], "CREATED", entity["type"], entity["id"], 1,
                            record["source"], json.dumps(record["changed_fields"]),
                            json.dumps(payload.attributes), topic))
        rows_edges += [(entity["type"], entity["id"], rel.relationship_type, rel.object_type,
                        rel.object_id, "derived", record["source"])
                       for rel in payload.relationships]
    started = time.perf_counter()
    batch = 1000
    with connection.cursor() as cursor:
        for start in range(0, len(records), batch):
            with transaction.atomic():
                _insert(cursor, "bulk_entity_catalog", "entity_type, entity_id, source_system, "
                        "adapter, version, attributes, is_deleted, first_seen_at, updated_at",
                        "%s,%s,%s,%s,%s,%s::jsonb,%s,now(),now()",
                        rows_entities[start:start + batch])
                _insert(cursor, "bulk_event_log", "event_id, event_type, entity_type, entity_id, "
                        "entity_version, source_system, changed_fields, payload, topic, "
                        "event_timestamp, recorded_at, trace_id",
                        "%s,%s,%s,%s,%s,%s,%s::jsonb,%s::jsonb,%s,now(),now(),''",
                        rows_events[start:start + batch])
                edges = rows_edges[start // 2:(start + batch) // 2]
                if edges:
                    _insert(cursor, "bulk_entity_relationships", "subject_entity_type, "
                            "subject_entity_id, relationship_type, object_entity_type, "
                            "object_entity_id, origin, source_system, created_by, created_at, "
                            "retired_by", "%s,%s,%s,%s,%s,%s,%s,'',now(),''", edges)
    return time.perf_counter() - started


def _insert(cursor, table: str, columns: str, row_sql: str, rows: list[tuple]) -> None:
    values = ",".join([f"({row_sql})"] * len(rows))
    cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {values}",
                   [value for row in rows for value in row])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    setup_django()
    from devtools import broker

    broker.ensure()
    with throwaway_tenant("bench_ingest", provision_topics=True) as tenant:
        records = make_records(tenant, args.events)
        progress(f"producing {len(records):,} encoded change events")
        produce(records)
        progress("ingesting through the catalog consumer")
        ingest_seconds = consume_into_catalog(tenant, len(records))
        progress("bulk INSERT baseline")
        baseline_seconds = bulk_insert_baseline(records)
    ingest_rate = len(records) / ingest_seconds
    baseline_rate = len(records) / baseline_seconds
    print(f"catalog ingest from the topic: {ingest_rate:10,.0f} events/s "
          f"({len(records):,} events in {ingest_seconds:.2f} s)")
    print(f"plain bulk INSERT, same rows:  {baseline_rate:10,.0f} events/s "
          f"({baseline_seconds:.2f} s)")
    ratio = ingest_rate / baseline_rate
    print(f"ratio ingest / bulk INSERT: {ratio:.2f} (target >= 0.3: "
          f"{'met' if ratio >= 0.3 else 'MISSED'})")


if __name__ == "__main__":
    main()
