"""Paging through 10,000 records of each kind returns every record exactly once."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from devtools.reference import ReferenceSources, Sizes, start_reference_sources
from tests.reference_sources.conftest import SEED, Api

LARGE = Sizes(customers=10_000, products=10_000, invoices=10_000)


@pytest.fixture(scope="module")
def large() -> Iterator[ReferenceSources]:
    """Servers of their own, so the session's small servers can reset fast between tests."""
    with start_reference_sources(seed=SEED, sizes=LARGE) as running:
        yield running


@pytest.fixture
def directus(large):
    api = Api(large.directus_url, {"Authorization": f"Bearer {large.directus_token}"})
    yield api
    api.close()


@pytest.fixture
def products(large):
    api = Api(large.products_url, {"X-API-Key": large.products_api_key})
    yield api
    api.close()


@pytest.fixture
def ecommerce(large):
    api = Api(large.ecommerce_url, {"Authorization": f"Bearer {large.ecommerce_token}"})
    yield api
    api.close()


def test_directus_pages_cover_every_customer_once(directus):
    seen = []
    for page in range(1, 10_000 // 800 + 2):
        response = directus.get("/items/customers", params={
            "limit": 800, "page": page, "sort": "-date_created", "fields": "id",
            "meta": "filter_count"})
        assert response.json()["meta"]["filter_count"] == 10_000
        seen += [item["id"] for item in response.json()["data"]]
    assert sorted(seen) == list(range(1, 10_001))


def test_directus_offset_paging_with_a_filter(directus):
    rule = json.dumps({"status": {"_eq": "active"}})
    first = directus.get("/items/customers", params={"filter": rule, "limit": 1, "meta": "*"})
    expected = first.json()["meta"]["filter_count"]
    seen, offset = [], 0
    while True:
        page = directus.get("/items/customers", params={
            "filter": rule, "limit": 1000, "offset": offset, "fields": "id,status"}).json()["data"]
        if not page:
            break
        seen += page
        offset += len(page)
    assert len(seen) == expected == len({item["id"] for item in seen})
    assert {item["status"] for item in seen} == {"active"}


def test_product_pages_cover_every_product_once(products):
    seen, page = [], 1
    while True:
        body = products.get("/v1/products", params={"page": page, "per_page": 250}).json()
        seen += [p["sku"] for p in body["items"]]
        if page >= body["total_pages"]:
            break
        page += 1
    assert len(seen) == 10_000 == len(set(seen))


def test_invoice_cursor_covers_every_invoice_once(ecommerce):
    seen, cursor = [], None
    while True:
        params = {"limit": 250, **({"cursor": cursor} if cursor else {})}
        body = ecommerce.get("/api/v1/invoices", params=params).json()
        seen += [i["id"] for i in body["data"]]
        if not (cursor := body["next_cursor"]):
            break
    assert len(seen) == 10_000 == len(set(seen))
