"""An L3 store implementing the protocol over a dict (per tenant schema, as the catalog's
tables will be), a source that counts its calls, and caches wired to the real Redis."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest
import redis
from django.conf import settings
from django_tenants.utils import schema_context

from apps.adapters.base import SourceUnavailable
from dictamesh.cache import CachePolicy, InvalidationBus, StoredEntry, TieredCache
from dictamesh.tenancy import current_schema


class DictL3Store:
    """The L3 protocol over a dict keyed by tenant schema, recording what it is asked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: dict[tuple[str, str, str], StoredEntry] = {}
        self.gets: list[list[str]] = []
        self.invalidated: list[list[str]] = []

    def get_many(self, entity_type: str, ids: Sequence[str]) -> dict[str, StoredEntry]:
        schema = current_schema()
        with self._lock:
            self.gets.append(list(ids))
            return {i: self.entries[(schema, entity_type, i)] for i in ids
                    if (schema, entity_type, i) in self.entries}

    def put_many(self, entity_type: str, entries: Mapping[str, StoredEntry]) -> None:
        schema = current_schema()
        with self._lock:
            for entity_id, entry in entries.items():
                self.entries[(schema, entity_type, entity_id)] = entry

    def invalidate(self, entity_type: str, ids: Sequence[str]) -> None:
        schema = current_schema()
        with self._lock:
            self.invalidated.append(list(ids))
            for entity_id in ids:
                key = (schema, entity_type, entity_id)
                if key in self.entries:
                    self.entries[key] = replace(self.entries[key], invalidated=True)

    def drop(self, entity_type: str, entity_id: str) -> None:
        self.entries.pop((current_schema(), entity_type, entity_id), None)


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
def l3() -> DictL3Store:
    return DictL3Store()


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
