"""The nested query over HTTP: correct data, with a bounded number of source calls.

Expected values come from the reference data set (the seed the servers were started with),
never from the product's own data products or cache.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from apps.adapters import services
from tests.federation.conftest import Api
from tests.federation.expected import CUSTOMERS, INVOICES, PRODUCTS, invoices_of
from tests.sources.conftest import calls, control

NESTED = """
query Nested($ids: [ID!]!) {
  customers(ids: $ids) {
    id email
    invoices { id invoiceNumber customer { id } total { amount currency }
      items { line quantity unitPrice { amount } product { id name price { amount } } } }
  }
}
"""


def _expected_invoice(invoice: dict[str, Any]) -> dict[str, Any]:
    """The invoice as NESTED selects it, written from the seeded record."""
    return {
        "id": invoice["id"], "invoiceNumber": invoice["invoice_number"],
        "customer": {"id": str(invoice["customer_id"])},
        "total": {"amount": invoice["total"], "currency": invoice["currency"]},
        "items": [
            {"line": line, "quantity": item["quantity"],
             "unitPrice": {"amount": item["unit_price"]},
             "product": {"id": item["sku"], "name": PRODUCTS[item["sku"]]["name"],
                         "price": {"amount": PRODUCTS[item["sku"]]["price"]["amount"]}}}
            for line, item in enumerate(invoice["items"], start=1)
        ],
    }


def _reset_sources(api: Api) -> None:
    """Launch data (other tests write to these servers) and zeroed call counts."""
    for url in (api.sources.directus_url, api.sources.products_url, api.sources.ecommerce_url):
        control(url, "reset")


def _forget_cached(ids: list[str]) -> None:
    """Earlier tests in this process may hold these in L1: start from the source."""
    services.data_product_for("customer").invalidate("customer", ids)


def test_100_customers_with_invoices_items_and_products_in_bounded_source_calls(api: Api):
    ids = [str(i) for i in range(1, 101)]
    _forget_cached(ids)
    _reset_sources(api)

    body = api.query(NESTED, {"ids": ids})

    assert "errors" not in body, body.get("errors")
    customers = body["data"]["customers"]
    # One batched call per entity type per level. Invoices are one listing filtered by all
    # 100 customer ids; ~3 invoices each is 2 pages of 250, and each page is a call.
    assert calls(api.sources.directus_url) == 1
    assert calls(api.sources.products_url) == 1
    assert calls(api.sources.ecommerce_url) == 2

    assert [c["id"] for c in customers] == ids
    billed = 0
    for customer in customers:
        assert customer["email"] == CUSTOMERS[customer["id"]]["email"]
        expected = {i["id"]: _expected_invoice(i) for i in invoices_of(customer["id"])}
        answered = {i["id"]: i for i in customer["invoices"]}
        assert answered == expected, f"customer {customer['id']}"
        billed += len(expected)
    assert billed > 100, "the seed bills most of these customers, several times each"


def test_single_lookups_and_unknown_ids(api: Api):
    body = api.query('{ customer(id: "3") { id name status } product(id: "nope") { id } '
                     'customers(ids: ["1", "99999"]) { id email } }')
    assert "errors" not in body, body
    assert body["data"]["customer"] == {"id": "3", "name": CUSTOMERS["3"]["name"],
                                        "status": CUSTOMERS["3"]["status"]}
    assert body["data"]["product"] is None
    assert body["data"]["customers"] == [{"id": "1", "email": CUSTOMERS["1"]["email"]}, None]


def _busiest_customer() -> str:
    by_customer: dict[str, int] = defaultdict(int)
    for invoice in INVOICES:
        by_customer[str(invoice["customer_id"])] += 1
    return max(sorted(by_customer), key=lambda c: by_customer[c])


PAGE = """query($c: ID!, $a: String) { invoices(customerId: $c, first: 2, after: $a) {
  nodes { id customer { id } } pageInfo { endCursor hasNextPage } } }"""


def test_invoices_page_through_a_customer(api: Api):
    customer = _busiest_customer()
    expected = [i["id"] for i in invoices_of(customer)]
    assert len(expected) >= 5, "pages of 2 then span at least three pages"
    _reset_sources(api)

    seen: list[str] = []
    after = None
    for _ in range(len(expected)):  # a bound, so a cursor that never ends fails the test
        page = api.query(PAGE, {"c": customer, "a": after})
        assert "errors" not in page, page
        invoices = page["data"]["invoices"]
        assert all(node["customer"]["id"] == customer for node in invoices["nodes"])
        seen += [node["id"] for node in invoices["nodes"]]
        if not invoices["pageInfo"]["hasNextPage"]:
            break
        assert len(invoices["nodes"]) == 2
        after = invoices["pageInfo"]["endCursor"]
    assert seen == expected  # every invoice once, most recently changed last
    assert not invoices["pageInfo"]["hasNextPage"]
