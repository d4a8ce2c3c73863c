"""A change in a source becomes an entity change event on the tenant's topic, through
polling and through the Directus webhook, over real HTTP and the real broker."""

from __future__ import annotations

import time
import uuid

import requests
from django.test import Client
from django_tenants.utils import schema_context
from kafka import KafkaConsumer, TopicPartition

from apps.adapters import services
from apps.adapters.changes import poll, reconcile_deletions
from apps.catalog.models import CacheStatus
from apps.events.models import OutboxMessage
from apps.events.relay import relay_pending
from apps.events.services import get_codec
from apps.tenancy.models import Domain
from devtools.reference import directus
from dictamesh.events.codec import CodecError
from dictamesh.events.producer import EventProducer
from tests.conftest import tenant_host
from tests.sources.conftest import WEBHOOK_SECRET, control

TOPIC = "customers.directus.entity_changed"


def _patch_customer(sources, customer_id: str, **fields) -> None:
    response = requests.patch(f"{sources.directus_url}/items/customers/{customer_id}",
                              json=fields, timeout=10,
                              headers={"Authorization": f"Bearer {directus.DEFAULT_TOKEN}"})
    response.raise_for_status()


def _events_on_topic(bootstrap: str, topic: str, event_ids: set[str]) -> list[dict]:
    """The decoded events with these ids found on the topic (read from the beginning)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        found: list[dict] = []
        deadline = time.monotonic() + 60  # generous: a busy machine may take a while
        while len(found) < len(event_ids) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    try:
                        event = get_codec().decode(record.value).record
                    except CodecError:  # an earlier run's event on the shared broker
                        continue
                    if event["event_id"] in event_ids:
                        found.append(event)
        return found
    finally:
        consumer.close()


def _relay() -> None:
    producer = EventProducer.from_settings()
    try:
        relay_pending(producer)
    finally:
        producer.close(timeout=5)


def test_a_changed_customer_is_polled_into_an_event_on_the_tenants_topic(
        connected, sources, kafka_bootstrap):
    product = services.data_product_named("customers")
    first = poll(product)
    assert first.error == ""
    assert first.changes == 50  # the whole collection the first time
    OutboxMessage.objects.all().delete()

    assert poll(product).changes == 0  # nothing changed since the cursor
    _patch_customer(sources, "7", name="Ada Lovelace")
    result = poll(product)
    assert result.changes == 1
    [row] = OutboxMessage.objects.all()
    assert row.topic == f"{connected}.{TOPIC}"
    assert row.key == "7"
    cached = CacheStatus.objects.get(entity_type="customer", entity_id="7")
    assert cached.record is not None
    assert cached.record["attributes"]["name"] == "Ada Lovelace"

    _relay()
    [event] = _events_on_topic(kafka_bootstrap, row.topic, {str(row.event_id)})
    assert event["entity"]["id"] == "7"
    assert event["event_type"] == "UPDATED"
    assert "name" in event["changed_fields"]
    assert event["tenant"] == connected


def test_a_source_that_is_down_marks_nothing_deleted_and_keeps_its_cursor(connected, sources):
    product = services.data_product_named("customers")
    poll(product)
    cursor = product.connection.__class__.objects.get(name="customers").change_cursor
    OutboxMessage.objects.all().delete()
    control(sources.directus_url, "faults", {"down": True})

    result = poll(product)
    assert result.error
    assert not OutboxMessage.objects.exists()  # in particular, no DELETED events
    connection = product.connection.__class__.objects.get(name="customers")
    assert connection.change_cursor == cursor
    assert "Source" in connection.last_poll_error
    # Readable: the path of the failed call, not its kilobyte of URL-encoded filter.
    assert "GET /items/customers (" in connection.last_poll_error
    assert "?" not in connection.last_poll_error
    assert ".." not in connection.last_poll_error
    assert CacheStatus.objects.filter(entity_type="customer").count() == 50


def test_a_deletion_nobody_reported_is_found_by_a_complete_listing(connected, sources):
    product = services.data_product_named("customers")
    poll(product)
    OutboxMessage.objects.all().delete()
    requests.delete(f"{sources.directus_url}/items/customers/7", timeout=10,
                    headers={"Authorization": f"Bearer {directus.DEFAULT_TOKEN}"}
                    ).raise_for_status()

    result = reconcile_deletions(product)
    assert (result.deleted, result.skipped) == (1, "")
    assert result.listed == 49
    [row] = OutboxMessage.objects.all()
    assert row.key == "7"
    assert get_codec().decode(bytes(row.value)).record["event_type"] == "DELETED"
    assert not CacheStatus.objects.filter(entity_type="customer", entity_id="7").exists()


def test_a_listing_that_fails_deletes_nothing(connected, sources):
    product = services.data_product_named("customers")
    poll(product)
    OutboxMessage.objects.all().delete()
    control(sources.directus_url, "faults", {"down": True})

    result = reconcile_deletions(product)
    assert result.deleted == 0
    assert result.skipped
    assert not OutboxMessage.objects.exists()
    assert CacheStatus.objects.filter(entity_type="customer").count() == 50


def test_a_webhook_with_a_bad_secret_is_rejected(connected, settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]
    client = Client(HTTP_HOST=tenant_host(connected))
    body = {"event": "items.update", "collection": "customers", "keys": ["7"]}
    for headers in ({}, {"X-Directus-Webhook-Secret": "wrong"}):
        response = client.post("/webhooks/sources/customers", body,
                               content_type="application/json", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "BAD_SECRET"
    assert not OutboxMessage.objects.exists()


def test_directus_pushes_a_change_through_the_webhook(connected_committed, sources,
                                                       live_server):
    tenant = connected_committed
    with schema_context("public"):
        Domain.objects.create(domain="localhost", tenant_id=_tenant_pk(tenant),
                              is_primary=False)
    url = live_server.url.replace("127.0.0.1", "localhost") + "/webhooks/sources/customers"
    control(sources.directus_url, "webhook", {"url": url, "secret": WEBHOOK_SECRET})
    new_name = f"Grace {uuid.uuid4().hex[:6]}"
    _patch_customer(sources, "9", name=new_name)

    deadline = time.monotonic() + 60  # generous: a busy machine may take a while
    rows: list[OutboxMessage] = []
    while not rows and time.monotonic() < deadline:
        with schema_context(tenant):
            rows = list(OutboxMessage.objects.filter(key="9"))
        time.sleep(0.2)
    assert len(rows) == 1
    assert rows[0].topic == f"{tenant}.{TOPIC}"
    with schema_context(tenant):
        cached = CacheStatus.objects.get(entity_type="customer", entity_id="9")
        assert cached.record is not None
        assert cached.record["attributes"]["name"] == new_name

    # A create (its Flow event has `key`, not `keys`) and a delete (keys as strings).
    created = requests.post(f"{sources.directus_url}/items/customers", timeout=10,
                            json={"email": "flow@example.com", "name": "Flow"},
                            headers=_auth()).json()["data"]
    key = str(created["id"])
    _wait_for_outbox(tenant, key, 1)
    with schema_context(tenant):
        assert CacheStatus.objects.filter(entity_type="customer", entity_id=key).exists()
    requests.delete(f"{sources.directus_url}/items/customers/{key}", timeout=10,
                    headers=_auth()).raise_for_status()
    rows = _wait_for_outbox(tenant, key, 2)
    assert sorted(get_codec().decode(bytes(row.value)).record["event_type"]
                  for row in rows) == ["CREATED", "DELETED"]
    with schema_context(tenant):
        assert not CacheStatus.objects.filter(entity_type="customer", entity_id=key).exists()


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {directus.DEFAULT_TOKEN}"}


def _wait_for_outbox(tenant: str, key: str, count: int) -> list[OutboxMessage]:
    deadline = time.monotonic() + 60  # generous: a busy machine may take a while
    rows: list[OutboxMessage] = []
    while len(rows) < count and time.monotonic() < deadline:
        with schema_context(tenant):
            rows = list(OutboxMessage.objects.filter(key=key))
        time.sleep(0.1)
    assert len(rows) == count
    return rows


def _tenant_pk(schema: str) -> int:
    from apps.tenancy.models import Tenant

    return Tenant.objects.get(schema_name=schema).pk
