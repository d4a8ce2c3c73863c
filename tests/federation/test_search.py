"""`search` over HTTP: the catalog's full-text index over entity attributes, answering typed
entities whose fields load from the sources. The catalog holds the seeded entities as its
consumer would have registered them; expectations come from the same data set."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from apps.catalog import services as catalog_services
from apps.catalog.contracts import EntityRegistration
from tests.federation.conftest import Api
from tests.federation.expected import CUSTOMERS, INVOICES, PRODUCTS

SEARCH = """query($t: String!, $types: [SearchableType!], $n: Int) {
  search(text: $t, types: $types, first: $n) {
    __typename
    ... on Customer { id name }
    ... on Product { id name }
    ... on Invoice { id status }
  } }"""


@pytest.fixture
def catalog(api: Api) -> Api:
    registrations = [EntityRegistration("customer", key, "directus", 1, {
        "email": c["email"], "name": c["name"], "status": c["status"]})
        for key, c in CUSTOMERS.items()]
    registrations += [EntityRegistration("product", sku, "products", 1, {
        "sku": sku, "name": p["name"], "stock": p["stock"]}) for sku, p in PRODUCTS.items()]
    registrations += [EntityRegistration("invoice", i["id"], "ecommerce", 1, {
        "invoice_number": i["invoice_number"], "status": i["status"],
        "customer_id": str(i["customer_id"]),
        "items": [{"sku": item["sku"], "quantity": item["quantity"]} for item in i["items"]]})
        for i in INVOICES]
    catalog_services.register_entities(registrations)
    return api


def _found(api: Api, text: str, **variables: Any) -> list[dict[str, Any]]:
    body = api.query(SEARCH, {"t": text, "n": 100, **variables})
    assert "errors" not in body, body
    return body["data"]["search"]


def _word_starts(text: str, prefix: str) -> bool:
    return any(word.startswith(prefix) for word in text.lower().split())


def test_a_first_name_finds_every_customer_with_it(catalog: Api):
    first_name = CUSTOMERS["1"]["name"].split()[0].lower()
    expected = sorted((key for key, c in CUSTOMERS.items()
                       if _word_starts(c["name"], first_name)
                       or c["email"].startswith(first_name)), key=int)

    found = _found(catalog, first_name.upper(), types=["CUSTOMER"])

    assert sorted((f["id"] for f in found), key=int) == expected
    assert {f["__typename"] for f in found} == {"Customer"}
    assert all(f["name"] == CUSTOMERS[f["id"]]["name"] for f in found)  # from the source


def test_every_word_must_match_and_an_email_is_one_word(catalog: Api):
    customer = CUSTOMERS["7"]
    found = _found(catalog, customer["name"])
    assert {"__typename": "Customer", "id": "7", "name": customer["name"]} in found
    assert all(f["__typename"] == "Customer" and _word_starts(f["name"],
               customer["name"].split()[1].lower()) for f in found)
    assert _found(catalog, customer["email"]) == [
        {"__typename": "Customer", "id": "7", "name": customer["name"]}]


def test_a_sku_finds_the_product_and_the_invoices_that_hold_it(catalog: Api):
    sku = sorted(PRODUCTS)[6]
    expected = {("Product", sku)} | {("Invoice", i["id"]) for i in INVOICES
                                     if any(item["sku"] == sku for item in i["items"])}
    found = _found(catalog, sku)
    assert {(f["__typename"], f["id"]) for f in found} == expected
    assert {"__typename": "Product", "id": sku, "name": PRODUCTS[sku]["name"]} in found

    only = _found(catalog, sku, types=["PRODUCT"])
    assert [(f["__typename"], f["id"]) for f in only] == [("Product", sku)]


def test_deleted_entities_are_not_found(catalog: Api):
    customer = CUSTOMERS["12"]
    catalog_services.register_entities([EntityRegistration(
        "customer", "12", "directus", 2, {"email": customer["email"]}, deleted=True)])
    assert _found(catalog, customer["email"]) == []


def test_first_bounds_the_answer_and_words_are_needed(catalog: Api):
    assert len(_found(catalog, "sku", n=5)) == 5
    assert _found(catalog, " !? ") == []
    for variables in ({"t": "x", "n": 0}, {"t": "x" * 201, "n": 5}):
        body = catalog.query(SEARCH, variables)
        assert body["errors"][0]["extensions"]["code"] == "INVALID_ARGUMENT"


def test_the_index_serves_the_search(catalog: Api):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE entity_catalog")
        # Every type: the type index then narrows nothing, the words' index does.
        cursor.execute("EXPLAIN " + catalog_services._SEARCH,
                       [["ada"], ["customer", "product", "invoice"], 10])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "idx_entity_search" in plan, plan
