"""The products adapter: lookups, pages, ETags, change detection, stock reservations."""

from __future__ import annotations

import pytest

from apps.adapters.base import (
    ChangeType,
    EntityQuery,
    InsufficientStock,
    InvalidQuery,
    MalformedRecord,
    RequestRejected,
    SourceChange,
)
from devtools.reference.dataset import sku
from tests.adapters.conftest import SIZES, all_changes, api, changes_resuming

LIST = "GET /v1/products"
LATER = "2025-06-01T00:00:00.000Z"  # after every seeded timestamp, before any live one


def key(sources):
    return {"X-API-Key": sources.products_api_key}


def test_get_entity_maps_the_product(products, sources):
    record = sources.products.products[sku(3)]
    product = products.get_entity("product", sku(3))
    assert product is not None
    assert product.id == sku(3)
    assert product.attributes == {"sku": sku(3), "name": record["name"],
                                  "price": record["price"], "stock": record["stock"],
                                  "updated_at": record["updated_at"]}
    assert products.get_entity("product", "SKU-NOPE") is None


def test_by_ids_is_one_call_in_the_order_asked(products, controls):
    page = products.query_entities("product", EntityQuery(ids=[sku(9), "SKU-NOPE", sku(2)]))
    assert [entity.id for entity in page.entities] == [sku(9), sku(2)]
    assert controls["products"].calls(LIST) == 1


def test_more_than_a_hundred_ids_take_one_call_per_hundred(products, controls):
    ids = [sku(n) for n in range(1, 151)]  # 60 exist
    page = products.query_entities("product", EntityQuery(ids=ids))
    assert [entity.id for entity in page.entities] == ids[:SIZES.products]
    assert controls["products"].calls(LIST) == 2


def test_pages_cover_every_product_once(products):
    seen, cursor = [], None
    while True:
        page = products.query_entities("product", EntityQuery(page_size=25, cursor=cursor))
        assert page.total == SIZES.products
        seen += [entity.id for entity in page.entities]
        if not (cursor := page.next_cursor):
            break
    assert seen == [sku(n) for n in range(1, SIZES.products + 1)]


def test_filters_are_refused_with_what_to_do(products):
    with pytest.raises(InvalidQuery, match="it filters by in_stock, name__icontains, sku"):
        products.query_entities("product", EntityQuery(filters={"name": "Drill"}))
    with pytest.raises(InvalidQuery, match="takes one of true, false"):
        products.query_entities("product", EntityQuery(filters={"in_stock": "maybe"}))


def test_a_304_reuses_the_kept_body(products, controls):
    first = products.query_entities("product", EntityQuery(page_size=50))
    received = products.get_metrics()["bytes_received"]
    second = products.query_entities("product", EntityQuery(page_size=50))
    assert [e.attributes for e in second.entities] == [e.attributes for e in first.entities]
    assert controls["products"].stats()["statuses"] == {"200": 1, "304": 1}
    metrics = products.get_metrics()
    assert metrics["requests"] == {"ok": 1, "not_modified": 1}
    assert metrics["bytes_received"] == received  # the 304 carried no body


def test_a_changed_product_is_fetched_again_despite_the_etag(products, sources):
    products.get_entity("product", sku(4))
    api(sources.products_url, "PATCH", f"/v1/products/{sku(4)}", key(sources), {"stock": 7})
    product = products.get_entity("product", sku(4))
    assert product is not None
    assert product.attributes["stock"] == 7
    assert products.get_metrics()["requests"] == {"ok": 2}


# -- change detection --------------------------------------------------------------------------

def test_changes_from_the_beginning_then_a_patch(products, sources):
    changes, cursor = all_changes(products)
    assert sorted(c.entity_id for c in changes) == sorted(sources.products.products)
    assert {c.change_type for c in changes} == {ChangeType.UPDATED}
    assert [c.occurred_at for c in changes] == sorted(c.occurred_at for c in changes)

    api(sources.products_url, "PATCH", f"/v1/products/{sku(8)}", key(sources),
        {"price": {"amount": "12.50"}})
    changes, cursor = all_changes(products, cursor)
    assert [c.entity_id for c in changes] == [sku(8)]
    assert changes[0].entity is not None
    assert changes[0].entity.attributes["price"]["amount"] == "12.50"
    assert all_changes(products, cursor)[0] == []


def test_resuming_batch_by_batch_reads_the_window_once(make_adapter, controls):
    changes, cursor = changes_resuming(make_adapter("products", change_batch_size=7))
    assert len({c.entity_id for c in changes}) == len(changes) == SIZES.products
    assert controls["products"].calls(LIST) == 1


def test_equal_timestamps_across_batch_boundaries(make_adapter, sources):
    server = sources.products
    tied = [sku(n) for n in (11, 12, 13, 14, 15)]
    with server.lock:  # the API cannot set timestamps: tie five products in-process
        for name in tied:
            server.products[name] = {**server.products[name], "updated_at": LATER}
    changes: list[SourceChange] = []
    cursor, complete = None, False
    while not complete:
        # A new adapter each time: every resume reads the window from the cursor.
        batch = next(make_adapter("products", change_batch_size=2).stream_changes(cursor))
        changes += batch.changes
        cursor, complete = batch.cursor, batch.complete
    assert [c.entity_id for c in changes[-5:]] == tied
    assert len({c.entity_id for c in changes}) == len(changes) == SIZES.products


# -- malformed products ------------------------------------------------------------------------

def test_malformed_price_names_the_field(products, controls):
    controls["products"].faults(malformed=[sku(5)])
    with pytest.raises(MalformedRecord, match=r"SKU-00005 .*price\.amount must be a decimal"):
        products.get_entity("product", sku(5))
    page = products.query_entities("product", EntityQuery(ids=[sku(4), sku(5), sku(6)]))
    assert [entity.id for entity in page.entities] == [sku(4), sku(6)]
    assert products.get_metrics()["malformed_records"] == 1


# -- stock reservations ------------------------------------------------------------------------

def test_reserve_is_idempotent_and_release_puts_stock_back(products, sources):
    stock = sources.products.products[sku(1)]["stock"]
    reservation = products.reserve_stock({sku(1): 1}, idempotency_key="order-1")
    assert products.reserve_stock({sku(1): 1}, idempotency_key="order-1") == reservation
    assert sources.products.products[sku(1)]["stock"] == stock - 1
    products.release_reservation(reservation)
    products.release_reservation(reservation)
    products.release_reservation("RSV-UNKNOWN")
    assert sources.products.products[sku(1)]["stock"] == stock


def test_short_stock_names_the_skus(products, sources):
    stock = sources.products.products[sku(2)]["stock"]
    with pytest.raises(InsufficientStock, match=f"{sku(2)} \\(asked {stock + 1}") as error:
        products.reserve_stock({sku(1): 1, sku(2): stock + 1}, idempotency_key="order-2")
    assert error.value.skus == [sku(2)]
    assert sources.products.products[sku(2)]["stock"] == stock


def test_unknown_skus_are_rejected(products):
    with pytest.raises(RequestRejected, match="Unknown SKU") as error:
        products.reserve_stock({"SKU-NOPE": 1}, idempotency_key="order-3")
    assert error.value.status == 422
