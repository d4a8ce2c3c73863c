"""The filtered lists over HTTP: `customerList`, `productList` and `invoices(filter:)`.

Filters are pushed down to the sources: each page is ONE call at the reference server, and
`totalCount` is the source's own count. Expected values come from the seeded data set.
The sources' filter parameters follow the real products' documentation:
- Directus: the `filter` query parameter with `_eq`, `_gt`, `_null`, `_and`, `_or`
  (https://docs.directus.io/reference/filter-rules.html) and `meta=filter_count`
  (https://docs.directus.io/reference/query.html#metadata);
- the product API: WooCommerce's `sku`, `search` and `stock_status`
  (https://woocommerce.github.io/woocommerce-rest-api-docs/#list-all-products);
- the invoice API: Stripe's `status`, `created[gt]` and `include[]=total_count`
  (https://docs.stripe.com/api/invoices/list).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import requests

from devtools.reference.products import DEFAULT_API_KEYS
from tests.federation.conftest import Api
from tests.federation.expected import CUSTOMERS, INVOICES, PRODUCTS
from tests.sources.conftest import calls, control

CUSTOMER_PAGE = """query($f: CustomerFilter, $n: Int, $a: String) {
  customerList(filter: $f, first: $n, after: $a) {
    totalCount nodes { id email status updatedAt }
    edges { cursor node { id } } pageInfo { endCursor hasNextPage } } }"""

PRODUCT_PAGE = """query($f: ProductFilter, $n: Int, $a: String) {
  productList(filter: $f, first: $n, after: $a) {
    totalCount nodes { id sku name stock } pageInfo { endCursor hasNextPage } } }"""

INVOICE_PAGE = """query($f: InvoiceFilter, $n: Int, $a: String) {
  invoices(filter: $f, first: $n, after: $a) {
    totalCount nodes { id status createdAt customer { id } }
    pageInfo { endCursor hasNextPage } } }"""


def _reset(api: Api) -> None:
    for url in (api.sources.directus_url, api.sources.products_url, api.sources.ecommerce_url):
        control(url, "reset")


def _every_page(api: Api, query: str, field: str, url: str, variables: dict[str, Any],
                limit: int = 50) -> tuple[list[dict[str, Any]], list[int | None]]:
    """Every node of a connection, page by page, checking each page cost ONE source call;
    and each page's totalCount."""
    nodes: list[dict[str, Any]] = []
    totals: list[int | None] = []
    after = None
    for _ in range(limit):  # a bound: a cursor that never ends fails the test
        before = calls(url)
        body = api.query(query, {**variables, "a": after})
        assert "errors" not in body, body["errors"]
        assert calls(url) == before + 1, "one source call per page: the source filtered"
        page = body["data"][field]
        nodes += page["nodes"]
        totals.append(page["totalCount"])
        if not page["pageInfo"]["hasNextPage"]:
            return nodes, totals
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("the pages never ended")


def _effective_update(customer: dict[str, Any]) -> str:
    return customer["date_updated"] or customer["date_created"]


def _moment(text: str) -> datetime:
    """A timestamp as an instant, whichever ISO 8601 form (``Z`` or ``+00:00``) it has."""
    return datetime.fromisoformat(text)


def test_customers_by_status_page_through_every_match_with_the_source_count(api: Api):
    _reset(api)
    archived = sorted((c for c in CUSTOMERS.values() if c["status"] == "archived"),
                      key=lambda c: c["id"])
    assert len(archived) > 8, "pages of 4 then span several pages"

    nodes, totals = _every_page(api, CUSTOMER_PAGE, "customerList", api.sources.directus_url,
                                {"f": {"status": "archived"}, "n": 4})

    assert [n["id"] for n in nodes] == [str(c["id"]) for c in archived]
    assert {n["status"] for n in nodes} == {"archived"}
    assert totals == [len(archived)] * len(totals)


def test_edges_carry_the_page_cursor_on_the_last_edge(api: Api):
    body = api.query(CUSTOMER_PAGE, {"f": {"status": "active"}, "n": 3})
    page = body["data"]["customerList"]
    cursors = [edge["cursor"] for edge in page["edges"]]
    assert cursors[:2] == [None, None]
    assert cursors[2] == page["pageInfo"]["endCursor"] is not None
    assert [e["node"]["id"] for e in page["edges"]] == [n["id"] for n in page["nodes"]]


def test_customer_by_email(api: Api):
    customer = CUSTOMERS["17"]
    body = api.query(CUSTOMER_PAGE, {"f": {"email": customer["email"]}})
    page = body["data"]["customerList"]
    [node] = page["nodes"]
    assert {**node, "updatedAt": _moment(node["updatedAt"])} == {
        "id": "17", "email": customer["email"], "status": customer["status"],
        "updatedAt": _moment(_effective_update(customer))}
    assert page["totalCount"] == 1
    assert page["pageInfo"] == {"endCursor": None, "hasNextPage": False}


def test_customers_updated_after_a_moment_strictly(api: Api):
    _reset(api)
    moments = sorted(_effective_update(c) for c in CUSTOMERS.values())
    moment = moments[len(moments) * 3 // 4]  # one customer's own time: strictly after it
    expected = sorted(c["id"] for c in CUSTOMERS.values() if _effective_update(c) > moment)
    never_updated = [c for c in CUSTOMERS.values()
                     if c["date_updated"] is None and c["date_created"] > moment]
    assert never_updated, "the seed has never-updated customers past the moment too"

    nodes, totals = _every_page(api, CUSTOMER_PAGE, "customerList", api.sources.directus_url,
                                {"f": {"updatedAfter": moment}, "n": 50})

    assert [int(n["id"]) for n in nodes] == expected
    assert totals[0] == len(expected)


def test_products_by_sku_name_and_stock(api: Api):
    _reset(api)
    sku = sorted(PRODUCTS)[7]
    body = api.query(PRODUCT_PAGE, {"f": {"sku": sku}})
    assert [n["id"] for n in body["data"]["productList"]["nodes"]] == [sku]

    word = PRODUCTS[sku]["name"].split()[-1]
    named = sorted(s for s, p in PRODUCTS.items() if word.lower() in p["name"].lower())
    nodes, totals = _every_page(api, PRODUCT_PAGE, "productList", api.sources.products_url,
                                {"f": {"nameContains": word.upper()}, "n": 2})
    assert [n["sku"] for n in nodes] == named
    assert totals == [len(named)] * len(totals)

    for in_stock in (True, False):
        expected = sorted(s for s, p in PRODUCTS.items() if (p["stock"] > 0) == in_stock)
        nodes, totals = _every_page(api, PRODUCT_PAGE, "productList",
                                    api.sources.products_url,
                                    {"f": {"inStock": in_stock}, "n": 25})
        assert [n["sku"] for n in nodes] == expected
        assert totals[0] == len(expected)


def test_out_of_stock_filter_sees_a_product_sold_out_at_the_source(api: Api):
    _reset(api)
    sku = sorted(s for s, p in PRODUCTS.items() if p["stock"] > 0)[0]
    response = requests.patch(f"{api.sources.products_url}/v1/products/{sku}",
                              json={"stock": 0}, headers={"X-API-Key": DEFAULT_API_KEYS[0]},
                              timeout=10)
    assert response.status_code == 200
    body = api.query(PRODUCT_PAGE, {"f": {"inStock": False, "sku": sku}})
    assert [n["sku"] for n in body["data"]["productList"]["nodes"]] == [sku]
    assert body["data"]["productList"]["nodes"][0]["stock"] == 0


def test_invoices_by_status_and_creation_time(api: Api):
    _reset(api)
    created = sorted(i["created_at"] for i in INVOICES)
    moment = created[len(created) // 2]
    expected = sorted((i for i in INVOICES
                       if i["status"] == "paid" and i["created_at"] > moment),
                      key=lambda i: (i["updated_at"], i["id"]))

    nodes, totals = _every_page(api, INVOICE_PAGE, "invoices", api.sources.ecommerce_url,
                                {"f": {"status": "paid", "createdAfter": moment}, "n": 20})

    assert [n["id"] for n in nodes] == [i["id"] for i in expected]
    assert all(n["status"] == "paid" and n["createdAt"] > moment for n in nodes)
    assert totals == [len(expected)] * len(totals)


def test_invoices_of_a_customer_by_status(api: Api):
    customer = str(INVOICES[0]["customer_id"])
    status = INVOICES[0]["status"]
    expected = sorted((i for i in INVOICES if str(i["customer_id"]) == customer
                       and i["status"] == status), key=lambda i: (i["updated_at"], i["id"]))
    body = api.query(INVOICE_PAGE, {"f": {"customerId": customer, "status": status}})
    page = body["data"]["invoices"]
    assert [n["id"] for n in page["nodes"]] == [i["id"] for i in expected]
    assert {n["customer"]["id"] for n in page["nodes"]} == {customer}
    assert page["totalCount"] == len(expected)


def _error_of(api: Api, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = api.post(query, variables)
    assert response.status_code in (200, 400), response.content
    body = response.json()
    assert body.get("errors"), body
    return body["errors"][0]


@pytest.mark.parametrize(("query", "variables", "code", "words"), [
    (CUSTOMER_PAGE, {"n": 0}, "INVALID_ARGUMENT", "`first` must be between 1 and 250"),
    (PRODUCT_PAGE, {"n": 251}, "INVALID_ARGUMENT", "`first` must be between 1 and 250"),
    (CUSTOMER_PAGE, {"a": "not a cursor!"}, "INVALID_ARGUMENT", "`after` is not a cursor"),
    (INVOICE_PAGE, {"a": "bm90IG91cnM="}, "INVALID_ARGUMENT", "pass back the cursor"),
    (INVOICE_PAGE, {"f": {"status": "bogus"}}, "SOURCE_ERROR", "status"),
])
def test_bad_list_arguments_are_clear_errors(api: Api, query: str, variables: dict[str, Any],
                                             code: str, words: str):
    error = _error_of(api, query, variables)
    assert error["extensions"]["code"] == code
    assert words in error["message"]


def test_a_date_time_filter_that_is_not_one_is_refused_before_any_call(api: Api):
    _reset(api)
    error = _error_of(api, CUSTOMER_PAGE, {"f": {"updatedAfter": "last tuesday"}})
    assert "updatedAfter" in error["message"] or "DateTime" in error["message"]
    assert calls(api.sources.directus_url) == 0


def test_invoices_by_the_deprecated_customer_id_argument_still_answer(api: Api):
    customer = str(INVOICES[0]["customer_id"])
    expected = sorted((i for i in INVOICES if str(i["customer_id"]) == customer),
                      key=lambda i: (i["updated_at"], i["id"]))
    body = api.query('query($c: ID!) { invoices(customerId: $c, first: 100) '
                     '{ nodes { id } totalCount } }', {"c": customer})
    assert [n["id"] for n in body["data"]["invoices"]["nodes"]] == [i["id"] for i in expected]
    clash = _error_of(api, 'query($c: ID!) { invoices(customerId: $c, '
                           'filter: {customerId: "999"}) { totalCount } }', {"c": customer})
    assert clash["extensions"]["code"] == "INVALID_ARGUMENT"
