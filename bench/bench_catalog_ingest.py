"""Catalog ingest: entity change events/s from the topic into the catalog, through the
running catalog consumer with the settings' catalog handlers (decode, dedupe, upsert, event
log, relationships, lineage, outbox announcements, then cache invalidation: the GraphQL
response-cache generations and the sources' L1/L2/L3 entries), beside a plain bulk INSERT
of the same rows into copies of the same tables, in the same round. Three rounds, each in a
fresh tenant; the median ratio is the figure, target >= 0.8.

    .venv/bin/python bench/bench_catalog_ingest.py [--events 20000] [--rounds 3]
    .venv/bin/python bench/bench_catalog_ingest.py --events 10000 --profile 40

``--profile`` runs the apply path alone (the store applying decoded batches of 1,000 with
the same handlers, as the runner's apply thread does) under cProfile and prints its top
lines. What it showed, 10,000 events on the shared 2-core machine (cumulative seconds):

  before (wall clock; 34.3 s, 292 events/s applied):
    publish_events (outbox)                   21.8  Django bulk_create of 1,500 rows per
      bulk_create / SQL compile + quoting     14.2  batch, client-side binding of 13,500
      _outbox_row: topic parse, trace inject   3.7  parameters, per-row topic parsing and
      Avro encode of the announcements         2.1  trace-header injection
    register/append/record_relationships       7.0  psycopg quoting each unnest() array
      array dumping (re.sub per element)       3.8  element on the client
    _read_change (payload JSON)                1.6
    waiting for PostgreSQL                     3.3
  after (CPU time; 13.3 s under cProfile, 1,328 us/event with its overhead):
    publish_events                             4.5  of which Avro encode + record check 2.6
    binary COPY into staging / the outbox      2.2  of which jsonb serialisation 1.3
    invalidation after commit                  1.8  Redis DEL of the L2 keys 0.8
    _read_change (payload JSON)                1.7
    dedupe claim                               0.5

So the levers were: one binary COPY per table per batch (staging tables where the write
needs ON CONFLICT or RETURNING; dictamesh/bulk_copy.py), the outbox built without the ORM
and its per-batch constants computed once, the invalidation's ids sent as one JSON text
and the sources read once per batch. Lineage was already one statement per batch (counted
per edge in Python), and nothing logs per event on this path. What is left is mostly the
codec's encode of the announcements and the consumer's fetch and decode, both outside the
catalog.

The baseline binds its rows as parameters through Django's cursor, as the issue measured
it; both sides run in the same process, round after round, so the machine's load (other
work on the 2 cores) weighs on both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from _support import progress, setup_django, throwaway_tenant

if TYPE_CHECKING:
    from dictamesh.events.consumer import BatchReport
    from dictamesh.events.handlers import ConsumedEvent, HandlerRegistry


TARGET = 0.8


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


def connect_sources() -> None:
    """Connect the tenant's customers and invoices sources (never called: the bench only
    needs their data products, whose cached entries every change evicts)."""
    from apps.adapters.services import connect_source
    from devtools.demo import reference_sources

    for source in reference_sources("bench-secret"):  # in the tenant's schema already
        if source.connection in ("customers", "invoices"):
            connect_source(source.connection, source.adapter, "http://127.0.0.1:9",
                           dict(source.credentials), probe=False)


def catalog_handlers(group: str) -> HandlerRegistry:
    """The catalog group's handlers as the settings list them (the catalog's ingest, then
    federation's cache invalidation), under ``group``."""
    from apps.events.routes import handler_registry
    from dictamesh.events.handlers import HandlerRegistry

    handlers = HandlerRegistry()
    for route in handler_registry().routes("catalog"):
        handlers.register(group, route.pattern)(route.handler)
    return handlers


def consume_into_catalog(tenant: str, expected: int) -> float:
    """Run the catalog's handlers under a fresh group until every event is in the event log;
    seconds from the start of the first batch (the group join is not ingest work)."""
    from apps.catalog.models import EventLog
    from apps.events.consumers import build_runner

    group = f"bench-catalog-{uuid.uuid4().hex[:8]}"
    stop = threading.Event()
    first_batch_started: list[float] = []

    def note_first_batch(report: BatchReport) -> None:
        if not first_batch_started:
            first_batch_started.append(time.monotonic() - report.seconds)

    runner = build_runner(group, topics=f"{tenant}.*.entity_changed",
                          handlers=catalog_handlers(group), stop_event=stop,
                          on_batch=note_first_batch)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        while EventLog.objects.count() < expected:
            if not thread.is_alive():
                raise RuntimeError("the consumer stopped before ingesting everything")
            time.sleep(0.05)
        done = time.monotonic()
    finally:
        stop.set()
        thread.join(30)
    return done - first_batch_started[0]


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


def decoded_batches(tenant: str, records: list[tuple[str, str, dict]],
                    batch_size: int) -> list[list[ConsumedEvent]]:
    """The records as the runner hands them to the store: encoded, decoded, in batches."""
    from apps.events.services import get_codec
    from dictamesh.events import ENTITY_CHANGE_EVENT, load_schema
    from dictamesh.events.codec import subject_for_topic
    from dictamesh.events.handlers import ConsumedEvent

    codec, schema = get_codec(), load_schema(ENTITY_CHANGE_EVENT)
    events = []
    for offset, (topic, key, record) in enumerate(records):
        value = codec.encode(subject_for_topic(topic), schema, record)
        decoded = codec.decode(value)
        events.append(ConsumedEvent(
            topic=topic, partition=0, offset=offset, key=key.encode(), headers=(),
            timestamp_ms=0, tenant=tenant, event_id=uuid.UUID(record["event_id"]),
            schema_id=decoded.schema_id, record=decoded.record, value=value))
    return [events[start:start + batch_size] for start in range(0, len(events), batch_size)]


def profile_apply(tenant: str, records: list[tuple[str, str, dict]], top: int) -> None:
    """cProfile (CPU time) of the store applying the batches with the catalog's handlers,
    as the runner's apply thread does; prints CPU per event and the top functions."""
    import cProfile
    import pstats

    from django.conf import settings

    from apps.events.consumers import ProcessedEventStore

    group = "bench-profile"
    routes = catalog_handlers(group).routes(group)

    def dispatch(events: Sequence[ConsumedEvent]) -> None:
        for route in routes:
            route.handler([event for event in events if route.matches(event.topic)])

    store = ProcessedEventStore(group)
    batches = decoded_batches(tenant, records, settings.KAFKA_CONSUMER_BATCH_SIZE)
    profiler = cProfile.Profile(time.process_time)
    started = time.process_time()
    profiler.enable()
    for batch in batches:
        store.apply(tenant, batch, dispatch)
    profiler.disable()
    cpu = time.process_time() - started
    print(f"apply path: {cpu / len(records) * 1e6:.0f} us CPU per event "
          f"({len(records):,} events, batches of {settings.KAFKA_CONSUMER_BATCH_SIZE})")
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def one_round(events: int) -> tuple[float, float]:
    """(ingest seconds, bulk INSERT seconds) of ``events`` events in a fresh tenant."""
    with throwaway_tenant("bench_ingest", provision_topics=True) as tenant:
        connect_sources()
        records = make_records(tenant, events)
        progress(f"producing {len(records):,} encoded change events")
        produce(records)
        progress("ingesting through the catalog consumer")
        ingest_seconds = consume_into_catalog(tenant, len(records))
        progress("bulk INSERT baseline")
        baseline_seconds = bulk_insert_baseline(records)
    return ingest_seconds, baseline_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=int, metavar="TOP", default=0,
                        help="profile the apply path instead, printing the top TOP lines")
    args = parser.parse_args()
    setup_django()
    if args.profile:
        with throwaway_tenant("bench_ingest_profile") as tenant:
            connect_sources()
            profile_apply(tenant, make_records(tenant, args.events), args.profile)
        return
    from devtools import broker

    broker.ensure()
    ratios = []
    for number in range(1, args.rounds + 1):
        ingest_seconds, baseline_seconds = one_round(args.events)
        ingest_rate = args.events / ingest_seconds
        baseline_rate = args.events / baseline_seconds
        ratios.append(ingest_rate / baseline_rate)
        print(f"round {number}: catalog ingest from the topic {ingest_rate:8,.0f} events/s "
              f"({ingest_seconds:.2f} s); plain bulk INSERT of the same rows "
              f"{baseline_rate:8,.0f} events/s ({baseline_seconds:.2f} s); "
              f"ratio {ratios[-1]:.2f}", flush=True)
    ratio = statistics.median(ratios)
    print(f"ratio ingest / bulk INSERT, median of {args.rounds} rounds: {ratio:.2f} "
          f"(target >= {TARGET}: {'met' if ratio >= TARGET else 'MISSED'})")


if __name__ == "__main__":
    main()
