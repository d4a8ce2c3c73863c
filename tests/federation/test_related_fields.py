"""`Customer.products` and `Product.invoices` over HTTP: from the catalog's relationship
graph, then the sources, with the calls counted at the reference servers and the catalog
queries counted on the database connection.

The catalog's edges are the ones its consumer records from the invoices' change events
(`billed_to`, `has_item`, `references`, see apps/adapters/ecommerce/mapping.py), written
here from the seeded invoices; expected answers come from the same data set.
"""

from __future__ import annotations

import math

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.adapters import services
from apps.catalog import services as catalog_services
from apps.catalog.contracts import EntityKey, Relationship
from devtools.reference.ecommerce import DEFAULT_TOKEN
from tests.federation.conftest import Api
from tests.federation.expected import INVOICES, PRODUCTS
from tests.sources.conftest import calls, control


@pytest.fixture
def graph(api: Api) -> Api:
    """The catalog's relationship graph of the seeded invoices."""
    edges = []
    for invoice in INVOICES:
        key = EntityKey("invoice", invoice["id"])
        edges.append(Relationship(key, "billed_to", EntityKey("customer",
                                                              str(invoice["customer_id"]))))
        for line, item in enumerate(invoice["items"], start=1):
            line_key = EntityKey("invoice_item", f"{invoice['id']}/{line}")
            edges.append(Relationship(key, "has_item", line_key))
            edges.append(Relationship(line_key, "references", EntityKey("product", item["sku"])))
    catalog_services.record_relationships(edges)
    for url in (api.sources.directus_url, api.sources.products_url, api.sources.ecommerce_url):
        control(url, "reset")
    return api


def _bought_by(customer: str) -> list[str]:
    return sorted({item["sku"] for invoice in INVOICES
                   if str(invoice["customer_id"]) == customer for item in invoice["items"]})


def _invoices_with(sku: str) -> list[str]:
    return sorted(invoice["id"] for invoice in INVOICES
                  if any(item["sku"] == sku for item in invoice["items"]))


def _catalog_queries(captured: CaptureQueriesContext) -> int:
    return sum("entity_relationships" in query["sql"] for query in captured.captured_queries)


def _forget(entity_type: str, ids: list[str]) -> None:
    services.data_product_for(entity_type).invalidate(entity_type, ids)


def test_customer_products_one_catalog_query_and_one_product_call(graph: Api):
    customers = ["2", "3", "5", "7", "11"]
    _forget("customer", customers)
    _forget("product", list(PRODUCTS))

    with CaptureQueriesContext(connection) as captured:
        body = graph.query('query($ids: [ID!]!) { customers(ids: $ids) '
                           '{ id products { id name } } }', {"ids": customers})

    assert "errors" not in body, body
    for customer in body["data"]["customers"]:
        expected = _bought_by(customer["id"])
        assert expected, "the seed bills each of these customers"
        assert customer["products"] == [{"id": sku, "name": PRODUCTS[sku]["name"]}
                                         for sku in expected]
    assert _catalog_queries(captured) == 1
    assert calls(graph.sources.directus_url) == 1  # the customers themselves
    assert calls(graph.sources.products_url) == 1
    assert calls(graph.sources.ecommerce_url) == 0


def test_product_invoices_one_catalog_query_and_one_invoice_call(graph: Api):
    skus = sorted(PRODUCTS)[:3]
    expected = {sku: _invoices_with(sku) for sku in skus}
    every = sorted({i for ids in expected.values() for i in ids})
    assert 0 < len(every) <= 100, "one batch of the invoice API's 100 ids"
    _forget("invoice", every)

    with CaptureQueriesContext(connection) as captured:
        body = graph.query('query($ids: [ID!]!) { products(ids: $ids) '
                           '{ id invoices { id } } }', {"ids": skus})

    assert "errors" not in body, body
    assert {p["id"]: [i["id"] for i in p["invoices"]]
            for p in body["data"]["products"]} == expected
    assert _catalog_queries(captured) == 1
    assert calls(graph.sources.ecommerce_url) == 1


def test_two_levels_one_catalog_query_and_one_call_per_type_per_level(graph: Api):
    customers = ["4", "6"]
    skus = sorted({sku for customer in customers for sku in _bought_by(customer)})
    invoices = sorted({i for sku in skus for i in _invoices_with(sku)})
    _forget("product", skus)
    _forget("invoice", invoices)
    _forget("customer", customers)

    with CaptureQueriesContext(connection) as captured:
        body = graph.query('query($ids: [ID!]!) { customers(ids: $ids) { id email '
                           'products { id invoices { id customer { id } } } } }',
                           {"ids": customers})

    assert "errors" not in body, body
    for customer in body["data"]["customers"]:
        assert [p["id"] for p in customer["products"]] == _bought_by(customer["id"])
        for product in customer["products"]:
            assert [i["id"] for i in product["invoices"]] == _invoices_with(product["id"])
    assert _catalog_queries(captured) == 2  # one per level
    assert calls(graph.sources.directus_url) == 1
    assert calls(graph.sources.products_url) == 1
    assert calls(graph.sources.ecommerce_url) == math.ceil(len(invoices) / 100)


def test_an_invoice_that_no_longer_holds_the_product_is_left_out(graph: Api):
    open_invoice = next(i for i in INVOICES if i["status"] == "open"
                        and len({item["sku"] for item in i["items"]}) > 1)
    dropped, kept = open_invoice["items"][0]["sku"], open_invoice["items"][-1]["sku"]
    assert dropped != kept
    response = requests.patch(
        f"{graph.sources.ecommerce_url}/api/v1/invoices/{open_invoice['id']}",
        json={"items": [{"sku": kept, "quantity": 1}]},
        headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}, timeout=10)
    assert response.status_code == 200, response.text
    _forget("invoice", [open_invoice["id"]])

    body = graph.query('query($s: ID!) { product(id: $s) { invoices { id } } }', {"s": dropped})

    answered = [i["id"] for i in body["data"]["product"]["invoices"]]
    assert open_invoice["id"] not in answered  # the catalog's edge is stale
    assert answered == [i for i in _invoices_with(dropped) if i != open_invoice["id"]]
    control(graph.sources.ecommerce_url, "reset")


def test_related_entities_whose_source_is_down_are_reported(graph: Api):
    _forget("product", list(PRODUCTS))
    customer = "3"
    control(graph.sources.products_url, "faults", {"down": True})

    body = graph.query('query($c: ID!) { customer(id: $c) { id products { id } } }',
                       {"c": customer})

    assert body["data"]["customer"]["products"] == []
    error = next(e for e in body["errors"] if e.get("path") == ["customer", "products"])
    assert error["extensions"]["code"] == "SOURCE_UNAVAILABLE"
    assert f"{len(_bought_by(customer))} related entities left out" in error["message"]
    control(graph.sources.products_url, "reset")
