"""The three-level cache on real Redis (L2 through Django's cache) and tenant schemas."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import redis
from django.conf import settings
from django.core.cache import cache as django_cache
from django.core.exceptions import ImproperlyConfigured
from django_redis import get_redis_connection
from django_tenants.utils import schema_context
from prometheus_client import REGISTRY

from apps.adapters.base import SourceAuthError, SourceUnavailable
from apps.catalog.cache_store import CatalogCacheStore
from dictamesh.cache import (
    CachedValue,
    CachePolicy,
    InvalidationBus,
    SourceUnavailableNoCache,
    StoredEntry,
    TieredCache,
)
from dictamesh.resilience import CircuitOpenError
from tests.cache.conftest import Source

SHORT = CachePolicy(fresh_for_s=0.2, l1_ttl_s=0.1, stale_for_s=60)
TEST_POLICY_LONG_L1 = CachePolicy(fresh_for_s=600, l1_ttl_s=600, stale_for_s=600)
ADA = {"id": "1", "name": "customer 1"}
WAIT_S = 30  # for another thread or connection; a healthy run takes milliseconds


def _get(cache: TieredCache, entity_type: str, entity_id: str, loader) -> CachedValue:
    found = cache.get(entity_type, entity_id, loader)
    assert found is not None
    return found


def _forget_l2(entity_type: str, entity_id: str) -> None:
    django_cache.delete(TieredCache.l2_key(entity_type, entity_id))


def test_read_path_l1_then_l2_then_l3_then_the_source(in_tenant_a, cache, l3, source,
                                                      entity_type):
    def level() -> str:
        found = _get(cache, entity_type, "1", source.load)
        assert found.value == ADA
        assert not found.stale
        return found.level

    assert level() == "source"
    assert level() == "l1"
    cache.clear_local()
    assert level() == "l2"
    assert level() == "l1"  # the L2 hit filled L1
    cache.clear_local()
    _forget_l2(entity_type, "1")
    assert level() == "l3"
    cache.clear_local()
    assert level() == "l2"  # the L3 hit filled L2
    cache.clear_local()
    _forget_l2(entity_type, "1")
    l3.drop(entity_type, "1")
    assert level() == "source"
    assert source.calls == [["1"], ["1"]]


def test_a_fresh_load_fills_every_level_with_its_fetch_time(in_tenant_a, cache, l3, source,
                                                            entity_type):
    before = datetime.now(tz=UTC)
    found = _get(cache, entity_type, "1", source.load)
    stored = l3.get_many(entity_type, ["1"])["1"]
    assert stored.value == ADA
    assert not stored.invalidated
    assert before - timedelta(seconds=0.01) <= stored.fetched_at <= datetime.now(tz=UTC)
    assert found.fetched_at == pytest.approx(stored.fetched_at, abs=timedelta(microseconds=10))
    assert django_cache.get(TieredCache.l2_key(entity_type, "1")) is not None


def test_get_many_asks_the_source_once_for_exactly_the_missing_ids(in_tenant_a, cache, l3,
                                                                   source, entity_type):
    cache.get_many(entity_type, ["1", "2"], source.load_many)  # 1 and 2 at every level
    cache.evict_local(in_tenant_a, entity_type, ["2"])  # 2: in L2 and L3 only
    l3.put_many(entity_type, {"3": StoredEntry({"id": "3"}, datetime.now(tz=UTC))})
    source.calls.clear()
    l3.gets.clear()

    found = cache.get_many(entity_type, ["5", "1", "2", "3", "4", "404", "1"],
                           source.load_many)

    assert source.calls == [["5", "4", "404"]]
    assert l3.gets == [["5", "3", "4", "404"]]
    assert list(found) == ["5", "1", "2", "3", "4"]  # request order; 404 does not exist
    assert {i: v.level for i, v in found.items()} == {
        "5": "source", "1": "l1", "2": "l2", "3": "l3", "4": "source"}
    assert found["3"].value == {"id": "3"}


def test_nothing_is_asked_of_the_source_when_every_id_is_cached(in_tenant_a, cache, source,
                                                                 entity_type):
    cache.get_many(entity_type, ["1", "2", "3"], source.load_many)
    cache.clear_local()
    assert {v.level for v in cache.get_many(entity_type, ["3", "1"],
                                            source.load_many).values()} == {"l2"}
    assert source.calls == [["1", "2", "3"]]


def test_not_found_is_not_cached(in_tenant_a, cache, source, entity_type):
    assert cache.get(entity_type, "404", source.load) is None
    source.records["404"] = {"id": "404"}
    assert _get(cache, entity_type, "404", source.load).value == {"id": "404"}


@pytest.mark.parametrize("level", ["l1", "l2", "l3"])
def test_stale_copy_is_served_with_its_age_when_the_source_is_down(in_tenant_a, l3, source,
                                                                   entity_type, level):
    cache = TieredCache(l3, unavailable_errors=(SourceUnavailable,), policy=SHORT)
    loaded_after = time.time()
    _get(cache, entity_type, "1", source.load)
    time.sleep(0.3)  # past fresh_for_s and L1's TTL: no level holds it fresh
    if level != "l1":
        cache.clear_local()
    if level != "l2":
        _forget_l2(entity_type, "1")
    if level != "l3":
        l3.drop(entity_type, "1")
    source.down = True

    found = _get(cache, entity_type, "1", source.load)

    assert found.value == ADA
    assert found.stale
    assert found.level == level
    assert 0.3 <= found.age_seconds <= time.time() - loaded_after
    assert source.calls == [["1"], ["1"]]  # the source was tried first


def test_the_newest_copy_of_all_levels_is_served(in_tenant_a, l3, source, entity_type):
    cache = TieredCache(l3, unavailable_errors=(SourceUnavailable,), policy=SHORT)
    _get(cache, entity_type, "1", source.load)
    long_ago = datetime.now(tz=UTC) - timedelta(hours=1)
    l3.replace(entity_type, "1", StoredEntry({"id": "1", "name": "old"}, long_ago))
    time.sleep(0.3)
    cache.clear_local()
    source.down = True
    found = _get(cache, entity_type, "1", source.load)
    assert (found.level, found.value) == ("l2", ADA)

    # An L3 copy that a change event invalidated is newer than L2's: it wins, still stale.
    newer_at = datetime.now(tz=UTC)
    l3.replace(entity_type, "1", StoredEntry({"id": "1", "name": "newer"}, newer_at,
                                             invalidated=True))
    found = _get(cache, entity_type, "1", source.load)
    assert (found.level, found.value["name"], found.stale) == ("l3", "newer", True)
    # Its age is the L3 copy's (L2's copy is older by the 0.3 s slept above).
    assert found.age_seconds <= (datetime.now(tz=UTC) - newer_at).total_seconds()


def test_an_open_circuit_serves_stale_too(in_tenant_a, l3, source, entity_type):
    cache = TieredCache(l3, policy=SHORT)  # CircuitOpenError needs no naming
    _get(cache, entity_type, "1", source.load)
    time.sleep(0.3)

    def refused(entity_id: str) -> dict:
        now = datetime.now(tz=UTC)
        raise CircuitOpenError("test_alpha", "crm", opened_at=now, next_probe_at=now, now=now)

    found = _get(cache, entity_type, "1", refused)
    assert found.stale
    assert found.value == ADA


def test_no_copy_anywhere_raises_source_unavailable_no_cache(in_tenant_a, cache, source,
                                                             entity_type):
    source.down = True
    with pytest.raises(SourceUnavailableNoCache) as info:
        _get(cache, entity_type, "7", source.load)
    error = info.value
    assert error.code == "SOURCE_UNAVAILABLE"
    assert error.ids == ["7"]
    assert error.entity_type == entity_type
    assert isinstance(error.__cause__, SourceUnavailable)
    for part in (entity_type, "'7'", "503", "no cache level holds a copy"):
        assert part in str(error)


def test_get_many_with_some_copies_raises_with_what_it_could_serve(in_tenant_a, l3, source,
                                                                  entity_type):
    cache = TieredCache(l3, unavailable_errors=(SourceUnavailable,), policy=SHORT)
    cache.get_many(entity_type, ["1", "2"], source.load_many)
    time.sleep(0.3)
    source.down = True
    with pytest.raises(SourceUnavailableNoCache) as info:
        cache.get_many(entity_type, ["1", "2", "3"], source.load_many)
    assert info.value.ids == ["3"]
    assert set(info.value.available) == {"1", "2"}
    assert all(v.stale for v in info.value.available.values())


def test_other_loader_errors_propagate_unchanged(in_tenant_a, cache, entity_type):
    def refuses(entity_id: str) -> dict:
        raise SourceAuthError("bad token")

    with pytest.raises(SourceAuthError):
        _get(cache, entity_type, "1", refuses)


def test_values_must_be_json(in_tenant_a, cache, entity_type):
    with pytest.raises(TypeError, match="JSON-serialisable"):
        _get(cache, entity_type, "1", lambda _id: {"when": datetime.now(tz=UTC)})


def test_returned_values_are_copies(in_tenant_a, cache, source, entity_type):
    _get(cache, entity_type, "1", source.load).value["name"] = "mutated by a caller"
    assert _get(cache, entity_type, "1", source.load).value == ADA


def test_tenants_do_not_see_each_others_entries(tenant_a, tenant_b, cache, entity_type):
    alpha = Source({"1": {"owner": "alpha"}})
    beta = Source({"1": {"owner": "beta"}})
    with schema_context(tenant_a.schema_name):
        assert _get(cache, entity_type, "1", alpha.load).value == {"owner": "alpha"}
    with schema_context(tenant_b.schema_name):
        found = _get(cache, entity_type, "1", beta.load)
        assert (found.level, found.value) == ("source", {"owner": "beta"})
    with schema_context(tenant_a.schema_name):
        assert _get(cache, entity_type, "1", alpha.load).level == "l1"
        cache.clear_local()
        found = _get(cache, entity_type, "1", alpha.load)
        assert (found.level, found.value) == ("l2", {"owner": "alpha"})
    assert (len(alpha.calls), len(beta.calls)) == (1, 1)

    # The Redis keys themselves start with the schema (django_tenants' KEY_FUNCTION).
    raw = get_redis_connection("default").keys(f"*{TieredCache.l2_key(entity_type, '1')}")
    assert sorted(key.decode().split(":")[0] for key in raw) == sorted(
        [tenant_a.schema_name, tenant_b.schema_name])


def test_invalidate_clears_l1_and_l2_and_tells_l3(in_tenant_a, cache, l3, source,
                                                  entity_type):
    _get(cache, entity_type, "1", source.load)
    source.records["1"] = {"id": "1", "name": "renamed"}
    cache.invalidate(entity_type, "1")
    assert l3.invalidated == [["1"]]
    assert django_cache.get(TieredCache.l2_key(entity_type, "1")) is None
    found = _get(cache, entity_type, "1", source.load)
    assert (found.level, found.value["name"]) == ("source", "renamed")


def test_invalidation_reaches_the_l1_of_other_processes(in_tenant_a, l3, source, entity_type,
                                                        bus_factory):
    # Two "processes": their own TieredCache, L1 and Redis connection; shared Redis and L3.
    buses = bus_factory(), bus_factory()
    here = TieredCache(l3, policy=TEST_POLICY_LONG_L1, bus=buses[0])
    there = TieredCache(l3, policy=TEST_POLICY_LONG_L1, bus=buses[1])
    without_bus = TieredCache(l3, policy=TEST_POLICY_LONG_L1)
    for bus in buses:
        assert bus.wait_until_subscribed(WAIT_S)
    for cache in (here, there, without_bus):
        _get(cache, entity_type, "1", source.load)
        assert _get(cache, entity_type, "1", source.load).level == "l1"

    source.records["1"] = {"id": "1", "name": "renamed"}
    here.invalidate(entity_type, "1")

    deadline = time.monotonic() + WAIT_S
    while (found := _get(there, entity_type, "1", source.load)).level == "l1":
        assert found.value == ADA
        assert time.monotonic() < deadline, "the other process's L1 was never evicted"
        time.sleep(0.01)
    assert found.value["name"] == "renamed"
    # Control: a cache that is not on the bus keeps serving its L1 copy.
    assert _get(without_bus, entity_type, "1", source.load).value == ADA


def test_a_redis_outage_degrades_to_l1_and_l3(in_tenant_a, settings, l3, source, entity_type):
    settings.CACHES = {**settings.CACHES, "unreachable": {
        **settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient",
                    "SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}}}
    cache = TieredCache(l3, policy=TEST_POLICY_LONG_L1, cache_alias="unreachable")
    assert _get(cache, entity_type, "1", source.load).level == "source"
    assert _get(cache, entity_type, "1", source.load).level == "l1"
    cache.clear_local()
    assert _get(cache, entity_type, "1", source.load).level == "l3"
    cache.invalidate(entity_type, "1")  # logs the L2 failure, does not raise
    assert len(source.calls) == 1


def test_hits_misses_and_stale_serves_are_counted_per_level(in_tenant_a, l3, source,
                                                            entity_type):
    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, {"entity_type": entity_type, **labels}) or 0.0

    # Hits first, with copies that stay fresh however slowly the test runs...
    cache = TieredCache(l3, unavailable_errors=(SourceUnavailable,), policy=TEST_POLICY_LONG_L1)
    cache.get_many(entity_type, ["1", "2"], source.load_many)
    cache.get_many(entity_type, ["1", "2"], source.load_many)
    cache.clear_local()
    _get(cache, entity_type, "1", source.load)
    assert sample("dictamesh_cache_misses_total") == 2
    assert sample("dictamesh_cache_hits_total", level="l1") == 2
    assert sample("dictamesh_cache_hits_total", level="l2") == 1
    # ...then a process whose policy calls the same copies stale after 0.2 s.
    short_lived = TieredCache(l3, unavailable_errors=(SourceUnavailable,), policy=SHORT)
    time.sleep(0.3)
    source.down = True
    _get(short_lived, entity_type, "2", source.load)
    assert sample("dictamesh_cache_stale_serves_total") == 1
    assert sample("dictamesh_cache_misses_total") == 3


@pytest.mark.parametrize(("name", "value"), [
    ("CACHE_FRESH_SECONDS", 0), ("CACHE_L1_MAX_ENTRIES", 1.5), ("CACHE_STALE_SECONDS", "1d"),
])
def test_bad_settings_fail_fast_naming_the_setting(settings, name, value):
    setattr(settings, name, value)
    with pytest.raises(ImproperlyConfigured, match=name):
        TieredCache(CatalogCacheStore())


def test_bad_policy_and_arguments_are_refused(in_tenant_a, cache):
    with pytest.raises(ValueError, match="stale_for_s"):
        CachePolicy(fresh_for_s=600, stale_for_s=60)
    with pytest.raises(ValueError, match="entity_type"):
        cache.get("customer:1", "1", lambda _id: None)
    with pytest.raises(TypeError, match="list of ids"):
        cache.get_many("customer", "123", lambda ids: {})


def test_a_listener_that_lost_its_connection_clears_l1_on_resubscribing(
        in_tenant_a, l3, source, entity_type, redis_client_factory):
    client, name = redis_client_factory()
    bus = InvalidationBus(client, channel=f"test-resubscribe-{entity_type}")
    cache = TieredCache(l3, policy=TEST_POLICY_LONG_L1, bus=bus)
    try:
        assert bus.wait_until_subscribed(WAIT_S)
        _get(cache, entity_type, "1", source.load)
        assert _get(cache, entity_type, "1", source.load).level == "l1"

        admin = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
        clients = cast(list[dict[str, Any]], admin.client_list(_type="pubsub"))
        killed = [c["id"] for c in clients if c["name"] == name]
        assert killed, "the listener's pub/sub connection was not found"
        for client_id in killed:
            admin.client_kill_filter(_id=client_id)

        deadline = time.monotonic() + WAIT_S
        while _get(cache, entity_type, "1", source.load).level == "l1":
            assert time.monotonic() < deadline, "L1 was not cleared after the reconnect"
            time.sleep(0.05)
    finally:
        bus.stop()


def test_malformed_invalidation_messages_are_ignored(in_tenant_a, l3, source, entity_type,
                                                     bus_factory):
    publisher, listener = bus_factory(), bus_factory()
    cache = TieredCache(l3, policy=TEST_POLICY_LONG_L1, bus=listener)
    assert listener.wait_until_subscribed(WAIT_S)
    _get(cache, entity_type, "1", source.load)
    client = redis.Redis.from_url(settings.REDIS_URL)
    for garbage in (b"not json", b'{"schema": 1}', b"[]", b'{"schema": "x", "type": "y"}'):
        client.publish(listener.channel, garbage)
    publisher.publish(in_tenant_a, entity_type, ["1"])
    deadline = time.monotonic() + WAIT_S
    while _get(cache, entity_type, "1", source.load).level == "l1":
        assert time.monotonic() < deadline, "the valid message after the garbage was not seen"
        time.sleep(0.01)
