"""The nested query over HTTP: correct data, with a bounded number of source calls."""

from __future__ import annotations

from apps.adapters import services
from tests.federation.conftest import Api
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


def _reset_counts(api: Api) -> None:
    for url in (api.sources.directus_url, api.sources.products_url, api.sources.ecommerce_url):
        control(url, "reset")


def _forget_cached(ids: list[str]) -> None:
    """Earlier tests in this process may hold these in L1: start from the source."""
    services.data_product_for("customer").invalidate("customer", ids)


def test_100_customers_with_invoices_items_and_products_in_bounded_source_calls(api: Api):
    ids = [str(i) for i in range(1, 101)]
    _forget_cached(ids)
    _reset_counts(api)

    body = api.query(NESTED, {"ids": ids})

    assert "errors" not in body, body.get("errors")
    customers = body["data"]["customers"]
    assert [c["id"] for c in customers] == ids
    # One batched call per entity type per level. Invoices are one listing filtered by all
    # 100 customer ids; ~3 invoices each is 2 pages of 250, and each page is a call.
    assert calls(api.sources.directus_url) == 1
    assert calls(api.sources.products_url) == 1
    assert calls(api.sources.ecommerce_url) == 2

    invoices = [inv for c in customers for inv in c["invoices"]]
    assert invoices, "the seeded data bills some of these customers"
    for customer in customers:
        assert customer["email"]
        assert all(inv["customer"]["id"] == customer["id"] for inv in customer["invoices"])
    skus = {item["product"]["id"] for inv in invoices for item in inv["items"]}
    truth = services.data_product_for("product").get_entities("product", sorted(skus)).found
    for invoice in invoices:
        for item in invoice["items"]:
            product = truth[item["product"]["id"]].entity.attributes
            assert item["product"]["name"] == product["name"]
            assert item["product"]["price"]["amount"] == product["price"]["amount"]


def test_single_lookups_and_unknown_ids(api: Api):
    body = api.query('{ customer(id: "3") { id name status } product(id: "nope") { id } '
                     'customers(ids: ["1", "99999"]) { id } }')
    assert "errors" not in body, body
    assert body["data"]["customer"]["id"] == "3"
    assert body["data"]["customer"]["name"]
    assert body["data"]["product"] is None
    assert body["data"]["customers"][0]["id"] == "1"
    assert body["data"]["customers"][1] is None


def test_invoices_page_through_a_customer(api: Api):
    first = api.query('{ invoices(customerId: "1", first: 1) { nodes { id customer { id } } '
                      'pageInfo { endCursor hasNextPage } } }')
    assert "errors" not in first, first
    page = first["data"]["invoices"]
    assert all(node["customer"]["id"] == "1" for node in page["nodes"])
    if page["pageInfo"]["hasNextPage"]:
        after = page["pageInfo"]["endCursor"]
        second = api.query('query($a: String) { invoices(customerId: "1", first: 1, after: $a)'
                           ' { nodes { id } } }', {"a": after})
        assert second["data"]["invoices"]["nodes"][0]["id"] != page["nodes"][0]["id"]
