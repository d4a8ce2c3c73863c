"""The suppliers API connected by its description alone, served like a code adapter:
versioned and probed on save, read through the data product (cache, breaker), polled into
change events, paced by its rate-limit headers; other paging styles on the products API."""

from __future__ import annotations

import pytest
import requests

from apps.adapters import services
from apps.adapters.base import EntityQuery, InvalidQuery, SourceConfig, SourceRateLimited
from apps.adapters.changes import poll
from apps.adapters.declarative.adapter import adapter_class
from apps.adapters.declarative.description import DescriptionError, parse_description
from apps.adapters.models import SourceConnection, SourceDescription
from apps.catalog.models import CacheStatus
from apps.events.models import OutboxMessage
from apps.events.services import get_codec
from devtools.reference import products as products_api
from devtools.reference.suppliers import DEFAULT_TOKEN
from dictamesh.resilience import reset_breakers
from tests.declarative.conftest import SPEC, description
from tests.sources.conftest import calls, control


def _rename(server, supplier_id: str, name: str) -> None:
    requests.patch(f"{server.base_url}/api/suppliers/{supplier_id}", json={"name": name},
                   headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
                   timeout=10).raise_for_status()


def test_saving_a_description_keeps_each_version(connected):
    first = services.save_description("suppliers", SPEC, saved_by="ada")
    again = services.save_description("suppliers", SPEC, saved_by="ada")
    changed = services.save_description(
        "suppliers", description(sla={"freshness_seconds": 60}), saved_by="bob")
    assert (first.changed, again.changed, changed.changed) == (True, False, True)
    row = SourceDescription.objects.get(name="suppliers")
    assert row.version == 2
    assert [(v.version, v.saved_by) for v in row.versions.all()] == [(2, "bob"), (1, "ada")]
    assert row.versions.get(version=1).spec == SPEC


def test_a_description_may_not_take_a_code_adapters_name(connected):
    with pytest.raises(DescriptionError) as caught:
        services.save_description("products", SPEC)
    assert caught.value.field == "name"


def test_one_description_serves_each_entity_type(connected):
    services.save_description("suppliers", SPEC)
    with pytest.raises(DescriptionError) as caught:
        services.save_description("vendors", SPEC)
    assert caught.value.field == "entity_type"
    assert "'suppliers'" in caught.value.message


def test_connecting_probes_the_source_and_names_what_does_not_fit(connected,
                                                                  suppliers_server):
    services.save_description("suppliers", description(
        list={**SPEC["list"], "records": "items"}))
    with pytest.raises(DescriptionError) as caught:
        services.connect_source("suppliers", "suppliers", suppliers_server.base_url,
                                {"token": DEFAULT_TOKEN})
    assert caught.value.field == "list"
    assert "list.records" in caught.value.message
    assert "'items'" in caught.value.message
    assert not SourceConnection.objects.filter(name="suppliers").exists()

    services.save_description("suppliers", SPEC)
    with pytest.raises(DescriptionError) as caught:
        services.connect_source("suppliers", "suppliers", suppliers_server.base_url,
                                {"token": "wrong"})
    assert "401" in caught.value.message
    assert "credentials" in caught.value.message


def test_an_edit_that_breaks_a_connected_source_is_refused_and_the_old_version_serves(
        suppliers):
    with pytest.raises(DescriptionError) as caught:
        services.save_description("suppliers", description(
            get={"path": "/api/suppliers/{id}", "record": "vendor"}))
    assert caught.value.field == "get"
    assert "connection 'suppliers'" in caught.value.message
    assert SourceDescription.objects.get(name="suppliers").version == 1
    found = services.data_product_named("suppliers").get_entity("supplier", "SUP-002")
    assert found is not None
    assert found.entity.attributes["name"].endswith("Supply 2")


def test_a_described_source_is_read_through_the_data_product_and_its_cache(suppliers):
    product = services.data_product_for("supplier")
    assert product.name == "suppliers"
    before = calls(suppliers.base_url)
    lookup = product.get_entities("supplier", ["SUP-003", "SUP-001", "SUP-404"])
    assert sorted(lookup.found) == ["SUP-001", "SUP-003"]
    assert calls(suppliers.base_url) == before + 1  # the three ids in one by-ids call
    entity = lookup.found["SUP-001"].entity
    assert entity.attributes["credit_limit"]["currency"] == "EUR"
    assert entity.attributes["active"] in (True, False)
    assert {(r.relationship_type, r.object_type) for r in entity.relationships} == {
        ("supplies", "product")}
    assert "SKU-00001" in {r.object_id for r in entity.relationships}

    again = product.get_entities("supplier", ["SUP-001", "SUP-003"])
    assert {r.level for r in again.found.values()} == {"l1"}
    assert calls(suppliers.base_url) == before + 1


def test_listing_follows_the_sources_cursor_and_filters_as_declared(suppliers):
    product = services.data_product_named("suppliers")
    first = product.query("supplier", EntityQuery(page_size=4))
    rest = product.query("supplier", EntityQuery(page_size=4, cursor=first.next_cursor))
    assert [e.id for e in first.entities + rest.entities] == [
        f"SUP-{n:03d}" for n in range(1, 7)]
    assert rest.next_cursor is None
    country = first.entities[0].attributes["country"]
    matching = product.list_all("supplier", {"country": country})
    assert matching.entities
    assert {e.attributes["country"] for e in matching.entities} == {country}
    with pytest.raises(InvalidQuery, match="filters by country"):
        product.query("supplier", EntityQuery(filters={"name": "x"}))


def test_a_malformed_supplier_is_skipped_and_named(suppliers):
    control(suppliers.base_url, "faults", {"malformed": ["SUP-002"]})
    lookup = services.data_product_named("suppliers").get_entities(
        "supplier", ["SUP-001", "SUP-002"])
    assert list(lookup.found) == ["SUP-001"]
    assert "name must be non-empty text, got missing" in str(lookup.malformed["SUP-002"])


def test_polling_a_described_source_publishes_its_changes(suppliers, connected):
    product = services.data_product_named("suppliers")
    first = poll(product)
    assert (first.error, first.changes) == ("", 6)
    rows = OutboxMessage.objects.order_by("id")
    assert {row.topic for row in rows} == {f"{connected}.suppliers.suppliers.entity_changed"}
    assert CacheStatus.objects.filter(entity_type="supplier").count() == 6
    OutboxMessage.objects.all().delete()

    assert poll(product).changes == 0
    _rename(suppliers, "SUP-004", "Quartz Components")
    assert poll(product).changes == 1
    [row] = OutboxMessage.objects.all()
    event = get_codec().decode(bytes(row.value)).record
    assert (event["entity"]["id"], event["source"]) == ("SUP-004", "suppliers")
    assert event["changed_fields"] == ["name", "updated_at"]
    assert '"supplies"' in event["payload"]


def test_spent_rate_limit_headers_hold_calls_back_until_the_reset(suppliers):
    control(suppliers.base_url, "faults", {"rate_limit_remaining": 0,
                                           "rate_limit_reset_s": 30})
    adapter = services.data_product_named("suppliers").adapter
    adapter.query_entities("supplier", EntityQuery(page_size=2))  # says: 0 left, 30 s
    before = calls(suppliers.base_url)
    with pytest.raises(SourceRateLimited) as caught:
        adapter.query_entities("supplier", EntityQuery(page_size=2))
    assert 25 < caught.value.retry_after_seconds <= 30
    assert calls(suppliers.base_url) == before  # nothing was sent


@pytest.mark.parametrize("paging", [
    {"type": "page", "page_param": "page", "total_pages": "total_pages"},
    {"type": "page", "page_param": "page"},  # no total: stops at a short page
    {"type": "link_header"},
])
def test_page_and_link_header_paging_read_the_whole_product_api(sources, paging):
    products_spec = {
        "entity_type": "product", "domain": "products", "key": "sku",
        "auth": {"type": "api_key", "header": "X-API-Key"},
        "list": {"path": "/v1/products", "records": "items", "page_size_param": "per_page",
                 "max_page_size": 7},
        "get": {"path": "/v1/products/{id}"}, "pagination": paging,
        "changes": {"cursor_field": "updated_at", "since_param": "updated_since"},
        "fields": [{"name": "sku", "type": "string"}, {"name": "name", "type": "string"},
                   {"name": "price", "type": "money"}, {"name": "stock", "type": "integer"},
                   {"name": "updated_at", "type": "datetime"}],
    }
    cls = adapter_class("products_described", parse_description(products_spec))
    adapter = cls(SourceConfig("p", sources.products_url,
                                        {"api_key": products_api.DEFAULT_API_KEYS[0]}))
    try:
        listing = adapter.list_all("product", {})
        assert [e.id for e in listing.entities] == [f"SKU-{n:05d}" for n in range(1, 31)]
        assert listing.next_cursor is None
        changes = [c for batch in adapter.stream_changes(None) for c in batch.changes]
        assert len(changes) == 30
        assert [c.occurred_at for c in changes] == sorted(c.occurred_at for c in changes)
    finally:
        adapter.close()


@pytest.mark.parametrize("auth", [
    {"type": "bearer", "credential": "token"},
    {"type": "api_key", "header": "X-API-Key", "credential": "token"},
    {"type": "basic", "username_credential": "user", "password_credential": "token"},
])
def test_each_kind_of_auth_and_offset_paging(suppliers_server, auth):
    spec = description(auth=auth, pagination={"type": "offset", "offset_param": "offset"})
    adapter = adapter_class("suppliers", parse_description(spec))(SourceConfig(
        "s", suppliers_server.base_url, {"token": DEFAULT_TOKEN, "user": "ops"}))
    try:
        listing = [adapter.query_entities("supplier", EntityQuery(page_size=4))]
        listing.append(adapter.query_entities("supplier", EntityQuery(
            page_size=4, cursor=listing[0].next_cursor)))
        assert [e.id for page in listing for e in page.entities] == [
            f"SUP-{n:03d}" for n in range(1, 7)]
        assert listing[1].next_cursor is None
    finally:
        adapter.close()


def test_without_a_by_ids_lookup_each_id_is_read_alone(suppliers_server):
    spec = {key: value for key, value in SPEC.items() if key != "by_ids"}
    adapter = adapter_class("suppliers", parse_description(spec))(SourceConfig(
        "s", suppliers_server.base_url, {"token": DEFAULT_TOKEN}))
    try:
        before = calls(suppliers_server.base_url)
        page = adapter.query_entities("supplier", EntityQuery(ids=["SUP-003", "nope",
                                                                   "SUP-001"]))
        assert [e.id for e in page.entities] == ["SUP-003", "SUP-001"]
        assert calls(suppliers_server.base_url) == before + 3
    finally:
        adapter.close()


def test_a_described_source_that_fails_opens_its_breaker_and_serves_stale_copies(
        suppliers, settings):
    settings.BREAKER_RESET_TIMEOUT_SECONDS = 600.0  # stays open while the test looks
    reset_breakers()
    product = services.data_product_named("suppliers")
    fresh = product.get_entity("supplier", "SUP-005")
    assert fresh is not None
    product.invalidate("supplier", ["SUP-005"])  # the next read must ask the source

    control(suppliers.base_url, "faults", {"error_rate": 1.0, "status": 500})
    stale = product.get_entity("supplier", "SUP-005")
    assert stale is not None
    assert (stale.stale, stale.entity.attributes) == (True, fresh.entity.attributes)
    assert product.breaker.status().state == "open"
    health = product.check_health()
    assert health.state.value == "degraded"
    assert SourceConnection.objects.get(name="suppliers").health_detail.startswith(
        "circuit open")
