"""The real L3 store (the catalog's table in the tenant's schema) with a record of what it
was asked, a source that counts its calls, and caches wired to the real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
import redis
from django.conf import settings
from django_tenants.utils import schema_context

from apps.adapters.base import SourceUnavailable
from apps.catalog.cache_store import CatalogCacheStore
from dictamesh.cache import CachePolicy, InvalidationBus, StoredEntry, TieredCache


class RecordingStore(CatalogCacheStore):
    """The real L3 (the catalog's cache_status table in the tenant's schema), remembering
    which ids it was asked for and told to invalidate; reads and writes are the store's."""

    def __init__(self) -> None:
        self.gets: list[list[str]] = []
        self.invalidated: list[list[str]] = []

    def get_many(self, entity_type: str, ids: Sequence[str]) -> Mapping[str, StoredEntry]:
        self.gets.append(list(ids))
        return super().get_many(entity_type, ids)

    def invalidate(self, entity_type: str, ids: Sequence[str]) -> None:
        self.invalidated.append(list(ids))
        super().invalidate(entity_type, ids)

    def drop(self, entity_type: str, entity_id: str) -> None:
        self.delete(entity_type, [entity_id])

    def replace(self, entity_type: str, entity_id: str, entry: StoredEntry) -> None:
        """Hold exactly ``entry`` (the store never lets an older copy replace a newer one,
        and a put is never invalidated: a change event's invalidate() does that)."""
        self.delete(entity_type, [entity_id])
        self.put_many(entity_type, {entity_id: entry})
        if entry.invalidated:
            super().invalidate(entity_type, [entity_id])


class Source:
    """A source system as a plain callable: its records, its calls, and a down switch."""

    def __init__(self, records: Mapping[str, dict[str, Any]] | None = None) -> None:
        self.records = dict(records or {})
        self.calls: list[list[str]] = []
        self.down = False

    def load_many(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        self.calls.append(list(ids))
        if self.down:
            raise SourceUnavailable("the source answered 503")
        return {i: self.records[i] for i in ids if i in self.records}

    def load(self, entity_id: str) -> dict[str, Any] | None:
        return self.load_many([entity_id]).get(entity_id)


TEST_POLICY = CachePolicy(fresh_for_s=60, l1_ttl_s=30, stale_for_s=120)


@pytest.fixture
def entity_type() -> str:
    """An entity type no other test uses, so tests never share Redis keys."""
    return f"customer-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def l3() -> RecordingStore:
    return RecordingStore()


@pytest.fixture
def source() -> Source:
    return Source({str(n): {"id": str(n), "name": f"customer {n}"} for n in range(1, 11)})


@pytest.fixture
def cache(l3) -> TieredCache:
    return TieredCache(l3, unavailable_errors=(SourceUnavailable,), policy=TEST_POLICY)


@pytest.fixture
def in_tenant_a(tenant_a) -> Iterator[str]:
    with schema_context(tenant_a.schema_name):
        yield tenant_a.schema_name


@pytest.fixture
def bus_factory() -> Iterator[Any]:
    """Invalidation buses on their own Redis connections, as separate processes have."""
    buses: list[InvalidationBus] = []
    channel = f"test-l1-invalidate-{uuid.uuid4().hex[:8]}"  # this test's processes only

    def make() -> InvalidationBus:
        bus = InvalidationBus(redis.Redis.from_url(settings.REDIS_URL), channel=channel)
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        bus.stop()


@pytest.fixture
def redis_client_factory() -> Iterator[Any]:
    """Redis clients whose connections carry a unique name (to find them in CLIENT LIST)."""
    clients: list[redis.Redis] = []

    def make() -> tuple[redis.Redis, str]:
        name = f"test-bus-{uuid.uuid4().hex[:8]}"
        client = redis.Redis.from_url(settings.REDIS_URL, client_name=name)
        clients.append(client)
        return client, name

    yield make
    for client in clients:
        client.close()
