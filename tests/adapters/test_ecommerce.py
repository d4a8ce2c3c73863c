"""The e-commerce adapter: invoices with their relationships, change detection, and the
invoice actions sagas use."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.adapters.base import (
    EntityQuery,
    InvalidQuery,
    MalformedRecord,
    PaymentDeclined,
    RequestRejected,
)
from apps.adapters.cursors import encode_cursor
from devtools.reference.dataset import invoice_id
from dictamesh.events.payload import PayloadRelationship
from tests.adapters.conftest import SIZES, all_changes, api, changes_resuming

LIST = "GET /api/v1/invoices"
LATER = "2025-06-01T00:00:00.000Z"  # after every seeded timestamp, before any live one


def bearer(sources):
    return {"Authorization": f"Bearer {sources.ecommerce_token}"}


def test_get_entity_maps_the_invoice_and_its_relationships(ecommerce, sources):
    record = sources.ecommerce.invoices[invoice_id(3)]
    invoice = ecommerce.get_entity("invoice", invoice_id(3))
    assert invoice is not None
    assert invoice.attributes["customer_id"] == str(record["customer_id"])
    assert invoice.attributes["total"] == record["total"]
    assert [(i["line"], i["sku"], i["quantity"], i["unit_price"])
            for i in invoice.attributes["items"]] == [
        (n, i["sku"], i["quantity"], i["unit_price"])
        for n, i in enumerate(record["items"], start=1)]
    first = record["items"][0]
    line = f"{invoice_id(3)}/1"
    assert PayloadRelationship("billed_to", "customer", str(record["customer_id"])) \
        in invoice.relationships
    assert PayloadRelationship("has_item", "invoice_item", line) in invoice.relationships
    assert PayloadRelationship("references", "product", first["sku"], "invoice_item", line) \
        in invoice.relationships
    assert len(invoice.relationships) == 1 + 2 * len(record["items"])
    assert ecommerce.get_entity("invoice", "INV-NOPE") is None


def test_item_totals_are_exact_decimals(ecommerce, sources):
    invoice = ecommerce.get_entity("invoice", invoice_id(1))
    assert invoice is not None
    items = invoice.attributes["items"]
    assert sum(Decimal(item["total"]) for item in items) == Decimal(invoice.attributes["total"])


def test_by_ids_is_one_call_and_chunks_past_a_hundred(ecommerce, controls):
    page = ecommerce.query_entities("invoice", EntityQuery(
        ids=[invoice_id(5), "INV-NOPE", invoice_id(2)]))
    assert [entity.id for entity in page.entities] == [invoice_id(5), invoice_id(2)]
    assert controls["ecommerce"].calls(LIST) == 1
    ids = [invoice_id(n) for n in range(1, 151)]
    page = ecommerce.query_entities("invoice", EntityQuery(ids=ids))
    assert [entity.id for entity in page.entities] == ids
    assert controls["ecommerce"].calls(LIST) == 3


def test_pages_by_customer(ecommerce, sources):
    customer = sources.ecommerce.invoices[invoice_id(1)]["customer_id"]
    expected = {k for k, i in sources.ecommerce.invoices.items() if i["customer_id"] == customer}
    seen, cursor = [], None
    while True:
        page = ecommerce.query_entities("invoice", EntityQuery(
            filters={"customer_id": str(customer)}, page_size=1, cursor=cursor))
        seen += [entity.id for entity in page.entities]
        if not (cursor := page.next_cursor):
            break
    assert sorted(seen) == sorted(expected)


def test_a_customer_id_list_is_one_call_per_hundred_and_pages_through_all(ecommerce, sources,
                                                                          controls):
    asked = [str(n) for n in range(1, 151)]  # 150 ids: two API batches (100 + 50)
    expected = {k for k, i in sources.ecommerce.invoices.items()
                if str(i["customer_id"]) in asked}
    seen, cursor, pages = [], None, 0
    while True:
        page = ecommerce.query_entities("invoice", EntityQuery(
            filters={"customer_id": asked}, page_size=250, cursor=cursor))
        seen += [entity.id for entity in page.entities]
        pages += 1
        if not (cursor := page.next_cursor):
            break
    assert sorted(seen) == sorted(expected)
    assert expected  # the seed bills some of them
    assert pages == 2 == controls["ecommerce"].calls(LIST)


def test_a_customer_id_list_pages_within_a_batch(ecommerce, sources):
    customer = sources.ecommerce.invoices[invoice_id(1)]["customer_id"]
    expected = sorted(k for k, i in sources.ecommerce.invoices.items()
                      if i["customer_id"] == customer)
    seen, cursor = [], None
    while True:
        page = ecommerce.query_entities("invoice", EntityQuery(
            filters={"customer_id": [str(customer), "99999"]}, page_size=1, cursor=cursor))
        seen += [entity.id for entity in page.entities]
        if not (cursor := page.next_cursor):
            break
    assert sorted(seen) == expected


def test_a_customer_id_list_needs_integers_and_an_empty_one_asks_nothing(ecommerce, controls):
    with pytest.raises(InvalidQuery, match="must be integers"):
        ecommerce.query_entities("invoice", EntityQuery(filters={"customer_id": ["1", "x"]}))
    page = ecommerce.query_entities("invoice", EntityQuery(filters={"customer_id": []}))
    assert (page.entities, page.next_cursor) == ([], None)
    assert controls["ecommerce"].calls(LIST) == 0


def test_list_all_reads_every_invoice_of_a_customer_list_in_the_largest_pages(
        ecommerce, sources, controls):
    customers = sorted({i["customer_id"] for i in sources.ecommerce.invoices.values()})[:30]
    expected = sorted(k for k, i in sources.ecommerce.invoices.items()
                      if i["customer_id"] in customers)
    # Ids the API cannot have (its customer ids are integers) have no invoices, instead of
    # failing the listing as they fail a query.
    listing = ecommerce.list_all("invoice", {"customer_id": [*map(str, customers), "x"]})
    assert sorted(entity.id for entity in listing.entities) == expected
    assert listing.next_cursor is None
    assert controls["ecommerce"].calls(LIST) == 1  # fewer than 250 invoices: one page
    assert ecommerce.list_all("invoice", {"customer_id": ["x"]}).entities == []
    assert controls["ecommerce"].calls(LIST) == 1


def test_list_all_stops_at_its_page_budget_and_says_so(ecommerce, controls, monkeypatch):
    monkeypatch.setattr(ecommerce, "max_page_size", 10)
    monkeypatch.setattr(ecommerce, "max_listing_pages", 2)
    customers = [str(n) for n in range(1, 101)]
    listing = ecommerce.list_all("invoice", {"customer_id": customers})
    assert len(listing.entities) == 20
    assert listing.next_cursor is not None  # the rest was left unread
    assert controls["ecommerce"].calls(LIST) == 2


def test_only_the_apis_filters(ecommerce):
    with pytest.raises(InvalidQuery, match="filters by customer_id, status, created_at__gt"):
        ecommerce.query_entities("invoice", EntityQuery(filters={"total": "12.00"}))


# -- change detection --------------------------------------------------------------------------

def test_changes_from_the_beginning_then_a_patch(ecommerce, sources):
    changes, cursor = all_changes(ecommerce)
    assert sorted(c.entity_id for c in changes) == sorted(sources.ecommerce.invoices)
    open_invoice = next(k for k, i in sources.ecommerce.invoices.items()
                        if i["status"] == "open")
    api(sources.ecommerce_url, "PATCH", f"/api/v1/invoices/{open_invoice}", bearer(sources),
        {"customer_id": 3})
    changes, cursor = all_changes(ecommerce, cursor)
    assert [c.entity_id for c in changes] == [open_invoice]
    assert changes[0].entity is not None
    assert changes[0].entity.attributes["customer_id"] == "3"
    assert all_changes(ecommerce, cursor)[0] == []


def test_resuming_batch_by_batch_reads_each_page_once(make_adapter, controls):
    changes, _ = changes_resuming(make_adapter("ecommerce", change_batch_size=50))
    assert len({c.entity_id for c in changes}) == len(changes) == SIZES.invoices
    assert controls["ecommerce"].calls(LIST) == SIZES.invoices // 50


def test_a_page_cursor_the_api_refuses_falls_back_to_the_position(ecommerce, sources):
    changes, _ = all_changes(ecommerce)
    middle = changes[99]
    stale = encode_cursor("ecommerce-changes", at=middle.occurred_at.isoformat(),
                          id=middle.entity_id, source="expired")
    rest, _ = all_changes(ecommerce, stale)
    assert [c.entity_id for c in rest] == [c.entity_id for c in changes[100:]]


def test_equal_timestamps_across_batch_boundaries(make_adapter, sources):
    server = sources.ecommerce
    tied = [invoice_id(n) for n in (21, 22, 23, 24, 25)]
    with server.lock:  # the API cannot set timestamps: tie five invoices in-process
        for key in tied:
            server._store({**server.invoices[key], "updated_at": LATER})
    changes, _ = changes_resuming(make_adapter("ecommerce", change_batch_size=2))
    assert [c.entity_id for c in changes[-5:]] == tied
    assert len({c.entity_id for c in changes}) == len(changes) == SIZES.invoices


def test_an_invoice_changed_while_paging_comes_again_as_its_new_version(make_adapter, sources):
    adapter = make_adapter("ecommerce", change_batch_size=50)
    stream = adapter.stream_changes(None)
    first = next(stream)
    changed = next(c for c in first.changes
                   if sources.ecommerce.invoices[c.entity_id]["status"] == "open")
    api(sources.ecommerce_url, "POST", f"/api/v1/invoices/{changed.entity_id}/cancel",
        bearer(sources))
    rest = [change for batch in stream for change in batch.changes]
    changes = first.changes + rest
    versions = [(c.entity_id, c.entity.version) for c in changes if c.entity is not None]
    assert len(versions) == len(set(versions)) == SIZES.invoices + 1
    assert rest[-1].entity_id == changed.entity_id
    assert rest[-1].entity is not None
    assert rest[-1].entity.attributes["status"] == "cancelled"


# -- malformed invoices ------------------------------------------------------------------------

def test_malformed_invoice_names_every_bad_field(ecommerce, controls):
    controls["ecommerce"].faults(malformed=[invoice_id(5)])
    with pytest.raises(MalformedRecord, match="INV-000005") as error:
        ecommerce.get_entity("invoice", invoice_id(5))
    assert "customer_id must be an integer >= 1, got missing" in str(error.value)
    assert "total must be a decimal string" in str(error.value)
    page = ecommerce.query_entities("invoice", EntityQuery(
        ids=[invoice_id(4), invoice_id(5), invoice_id(6)]))
    assert [entity.id for entity in page.entities] == [invoice_id(4), invoice_id(6)]


# -- invoice actions ---------------------------------------------------------------------------

def test_create_is_idempotent_then_cancel(ecommerce):
    items = [{"sku": "SKU-00001", "quantity": 2}]
    invoice = ecommerce.create_invoice("7", items, idempotency_key="order-7")
    again = ecommerce.create_invoice("7", items, idempotency_key="order-7")
    assert again.id == invoice.id
    assert invoice.attributes["status"] == "open"
    assert invoice.attributes["customer_id"] == "7"
    cancelled = ecommerce.cancel_invoice(invoice.id)
    assert cancelled.attributes["status"] == "cancelled"
    assert ecommerce.cancel_invoice(invoice.id).attributes["status"] == "cancelled"


def test_charge_pays_and_a_paid_invoice_cannot_be_cancelled(ecommerce):
    invoice = ecommerce.create_invoice("8", [{"sku": "SKU-00002", "quantity": 1}],
                                       idempotency_key="order-8")
    charge = ecommerce.charge_invoice(invoice.id, idempotency_key="pay-8")
    assert charge.invoice.attributes["status"] == "paid"
    assert charge.payment_id
    replay = ecommerce.charge_invoice(invoice.id, idempotency_key="pay-8")
    assert (replay.payment_id, replay.invoice.version) == (charge.payment_id,
                                                           charge.invoice.version)
    with pytest.raises(RequestRejected, match="cannot cancel") as error:
        ecommerce.cancel_invoice(invoice.id)
    assert (error.value.status, error.value.code) == (409, "invalid_state")


def test_a_declined_card_raises_payment_declined(ecommerce, controls):
    controls["ecommerce"].faults(declined_customers=[9])
    invoice = ecommerce.create_invoice("9", [{"sku": "SKU-00003", "quantity": 1}],
                                       idempotency_key="order-9")
    with pytest.raises(PaymentDeclined, match=f"{invoice.id} was declined") as error:
        ecommerce.charge_invoice(invoice.id, idempotency_key="pay-9")
    assert error.value.invoice_id == invoice.id
    assert ecommerce.get_entity("invoice", invoice.id).attributes["status"] == "open"


def test_create_refuses_a_customer_id_that_is_not_one(ecommerce):
    with pytest.raises(InvalidQuery, match="not a customer id"):
        ecommerce.create_invoice("abc", [{"sku": "SKU-00001", "quantity": 1}], "order-x")


def test_refund_charge_refunds_once_per_key_and_then_the_invoice_cancels(ecommerce):
    invoice = ecommerce.create_invoice("10", [{"sku": "SKU-00002", "quantity": 1}],
                                       idempotency_key="order-10")
    charge = ecommerce.charge_invoice(invoice.id, idempotency_key="pay-10")
    refund = ecommerce.refund_charge(invoice.id, idempotency_key="refund-10")
    assert refund.invoice.attributes["status"] == "refunded"
    assert refund.payment_id == charge.payment_id
    replay = ecommerce.refund_charge(invoice.id, idempotency_key="refund-10")
    assert replay.refund_id == refund.refund_id
    with pytest.raises(RequestRejected, match="cannot refund") as error:
        ecommerce.refund_charge(invoice.id, idempotency_key="refund-10-again")
    assert (error.value.status, error.value.code) == (409, "invalid_state")
    assert ecommerce.cancel_invoice(invoice.id).attributes["status"] == "cancelled"


def test_refund_of_an_open_invoice_is_rejected(ecommerce):
    invoice = ecommerce.create_invoice("11", [{"sku": "SKU-00002", "quantity": 1}],
                                       idempotency_key="order-11")
    with pytest.raises(RequestRejected, match="is open; cannot refund") as error:
        ecommerce.refund_charge(invoice.id, idempotency_key="refund-11")
    assert error.value.status == 409
