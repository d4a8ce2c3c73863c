"""A tenant's sources as data products: breaker, stale answers, rate limits, malformed data."""

from __future__ import annotations

import time
from typing import cast

import pytest
import redis
from django.conf import settings
from prometheus_client import REGISTRY

from apps.adapters import services
from apps.adapters.base import MalformedRecord
from apps.catalog.models import CacheStatus
from dictamesh.cache import SourceUnavailableNoCache
from dictamesh.resilience import reset_breakers
from dictamesh.resilience.breaker import SourceBreaker, breaker_key
from tests.sources.conftest import calls, control


def test_reads_are_cached_and_batched(connected, sources):
    product = services.data_product_for("product")
    first = product.get_entities("product", ["SKU-00001", "SKU-00002", "SKU-00003"]).found
    assert set(first) == {"SKU-00001", "SKU-00002", "SKU-00003"}
    assert all(r.level == "source" and not r.stale for r in first.values())
    assert calls(sources.products_url) == 1  # three ids, one source call

    again = product.get_entity("product", "SKU-00002")
    assert again is not None
    assert again.level == "l1"
    assert calls(sources.products_url) == 1
    assert again.entity.attributes["sku"] == "SKU-00002"


def _end_the_cool_down(breaker: SourceBreaker) -> None:
    """Move the breaker's opening (Redis' own clock, shared by every process) back by the
    whole cool-down: the probe is due now, with no sleep whose length a busy machine can
    outrun."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        key = breaker_key(breaker.tenant, breaker.connection, "opened_at")
        opened_at = cast(bytes | None, client.get(key))  # a sync client: never an awaitable
        assert opened_at is not None, "the breaker is not open"
        client.set(key, f"{float(opened_at) - breaker.reset_timeout:.6f}")
    finally:
        client.close()


def test_500s_open_the_breaker_stale_data_is_served_and_a_probe_closes_it(connected, sources,
                                                                         settings):
    # A cool-down no busy machine outlasts while the test checks that the circuit stays
    # open; _end_the_cool_down then ends it.
    settings.BREAKER_RESET_TIMEOUT_SECONDS = 600.0
    reset_breakers()
    product = services.data_product_for("product")
    fresh = product.get_entity("product", "SKU-00004")
    assert fresh is not None
    product.invalidate("product", ["SKU-00004"])  # the next read must ask the source

    control(sources.products_url, "faults", {"error_rate": 1.0, "status": 500})
    stale = product.get_entity("product", "SKU-00004")
    assert stale is not None
    assert stale.stale is True
    assert stale.age_seconds >= 0
    assert stale.entity.attributes == fresh.entity.attributes
    assert product.breaker.status().state == "open"  # 3 failures with BREAKER_FAIL_MAX = 3

    control(sources.products_url, "reset")
    control(sources.products_url, "faults", {"error_rate": 1.0, "status": 500})
    while_open = product.get_entity("product", "SKU-00004")
    assert while_open is not None
    assert while_open.stale is True
    assert calls(sources.products_url) == 0  # open: nothing reaches the source

    control(sources.products_url, "reset")  # the source recovers
    _end_the_cool_down(product.breaker)
    probed = product.get_entity("product", "SKU-00004")
    assert probed is not None
    assert probed.stale is False
    assert probed.level == "source"
    assert calls(sources.products_url) == 1  # exactly one probe
    assert product.breaker.status().state == "closed"


def test_with_no_copy_at_all_the_error_is_source_unavailable(connected, sources):
    product = services.data_product_for("customer")
    control(sources.directus_url, "faults", {"down": True})
    with pytest.raises(SourceUnavailableNoCache) as caught:
        product.get_entity("customer", "7")
    assert caught.value.code == "SOURCE_UNAVAILABLE"
    assert caught.value.ids == ["7"]


def test_a_429_is_waited_out_not_hammered(connected, sources):
    product = services.data_product_for("product")
    # One request per 5 s window; a 429 says how long is left of it (Retry-After, rounded
    # up), as real APIs do. The second call need only come within 5 s of the first.
    window_s = 5
    control(sources.products_url, "faults", {"rate_limit": {"requests": 1,
                                                            "window_s": window_s}})
    started = time.monotonic()
    product.get_entity("product", "SKU-00005")
    second = product.get_entity("product", "SKU-00006")
    assert second is not None
    # The retry waited for the window to end (never sooner), rather than hammering.
    assert time.monotonic() - started >= window_s
    stats = control_stats(sources.products_url)
    assert stats["statuses"].get("429", 0) == 1
    assert calls(sources.products_url) == 3  # ok, 429, ok after Retry-After
    assert product.breaker.status().state == "closed"  # a rate limit is not an outage


def control_stats(url: str) -> dict:
    import requests

    return requests.get(f"{url}/__control/stats", timeout=5).json()


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_malformed_record_is_a_clear_error_and_a_metric_and_corrupts_nothing(
        connected, sources):
    product = services.data_product_for("product")
    good = product.get_entity("product", "SKU-00008")
    assert good is not None
    product.invalidate("product", ["SKU-00008"])
    control(sources.products_url, "faults", {"malformed": ["SKU-00008"]})
    labels = {"tenant": connected, "connection": "products", "entity_type": "product"}
    before = _metric("dictamesh_source_malformed_records_total", **labels)

    with pytest.raises(MalformedRecord, match="SKU-00008"):
        product.get_entity("product", "SKU-00008")

    assert _metric("dictamesh_source_malformed_records_total", **labels) == before + 1
    lookup = product.get_entities("product", ["SKU-00008", "SKU-00009"])
    assert set(lookup.found) == {"SKU-00009"}  # one bad record hides no good one
    assert "price" in str(lookup.malformed["SKU-00008"])
    kept = CacheStatus.objects.get(entity_type="product", entity_id="SKU-00008")
    assert kept.record is not None
    assert kept.record["attributes"] == good.entity.attributes  # the good copy is intact
