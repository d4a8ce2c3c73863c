"""The product API: pagination, batch lookup, ETags, updates and stock reservations."""

from __future__ import annotations

import pytest
import requests

from tests.reference_sources.conftest import SIZES


def test_pages_carry_totals_and_a_link_to_the_next_page(products):
    response = products.get("/v1/products", params={"page": 2, "per_page": 25})
    assert response.status_code == 200
    body = response.json()
    assert (body["page"], body["per_page"], body["total"], body["total_pages"]) == (
        2, 25, SIZES.products, 3)
    assert [p["sku"] for p in body["items"]] == [f"SKU-{n:05d}" for n in range(26, 51)]
    assert response.links["next"]["url"].endswith("/v1/products?per_page=25&page=3")
    assert response.links["prev"]["url"].endswith("page=1")
    last = products.get("/v1/products", params={"page": 3, "per_page": 25})
    assert "next" not in last.links
    assert len(last.json()["items"]) == SIZES.products - 50


def test_following_next_links_visits_every_product_once(products):
    seen, url = [], f"{products.base_url}/v1/products?per_page=7"
    while url:
        response = products.session.get(url, timeout=5)
        seen += [p["sku"] for p in response.json()["items"]]
        url = response.links.get("next", {}).get("url")
    assert seen == [f"SKU-{n:05d}" for n in range(1, SIZES.products + 1)]


def test_product_shape(products):
    product = products.get("/v1/products/SKU-00042").json()
    assert set(product) == {"sku", "name", "price", "stock", "updated_at"}
    assert set(product["price"]) == {"amount", "currency"}
    assert isinstance(product["price"]["amount"], str)
    assert float(product["price"]["amount"]) > 0
    assert isinstance(product["stock"], int)


def test_batch_lookup_answers_many_skus_in_one_call_in_the_order_asked(products):
    response = products.get("/v1/products", params={"skus": "SKU-00003,SKU-99999,SKU-00001"})
    assert response.status_code == 200
    body = response.json()
    assert [p["sku"] for p in body["items"]] == ["SKU-00003", "SKU-00001"]
    assert body["missing"] == ["SKU-99999"]
    too_many = ",".join(f"SKU-{n:05d}" for n in range(1, 102))
    assert products.get("/v1/products", params={"skus": too_many}).status_code == 400


def test_missing_product_is_404_json(products):
    response = products.get("/v1/products/SKU-99999")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_updated_since_keeps_recent_products(products):
    everything = products.get("/v1/products", params={"per_page": 250}).json()["items"]
    pivot = sorted(p["updated_at"] for p in everything)[len(everything) // 2]
    recent = products.get("/v1/products", params={"per_page": 250, "updated_since": pivot})
    assert [p["sku"] for p in recent.json()["items"]] == [
        p["sku"] for p in everything if p["updated_at"] >= pivot]
    assert products.get("/v1/products", params={"updated_since": "yesterday"}).status_code == 400


@pytest.mark.parametrize("path", ["/v1/products/SKU-00001", "/v1/products?page=1",
                                  "/v1/products?skus=SKU-00001,SKU-00002"])
def test_etag_and_if_none_match(products, path):
    first = products.get(path)
    etag = first.headers["ETag"]
    again = products.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag
    other = products.get(path, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


def test_patch_changes_the_product_its_etag_and_updated_at(products):
    before = products.get("/v1/products/SKU-00010")
    response = products.patch("/v1/products/SKU-00010",
                              json={"price": {"amount": "12.5"}, "stock": 3, "name": "Renamed"})
    assert response.status_code == 200
    after = response.json()
    assert after["price"] == {"amount": "12.50", "currency": before.json()["price"]["currency"]}
    assert (after["stock"], after["name"]) == (3, "Renamed")
    assert after["updated_at"] > before.json()["updated_at"]
    stale = products.get("/v1/products/SKU-00010",
                         headers={"If-None-Match": before.headers["ETag"]})
    assert stale.status_code == 200
    assert stale.json() == after


@pytest.mark.parametrize("body", [
    {"price": {"amount": 12.5}},
    {"price": {"amount": "12.555"}},
    {"price": {"amount": "1", "currency": "euro"}},
    {"stock": -1},
    {"stock": "3"},
    {"sku": "SKU-1"},
    {},
])
def test_bad_patches_are_422_and_change_nothing(products, body):
    before = products.get("/v1/products/SKU-00010").json()
    response = products.patch("/v1/products/SKU-00010", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    assert products.get("/v1/products/SKU-00010").json() == before


def test_auth_is_an_api_key(sources):
    url = f"{sources.products_url}/v1/products/SKU-00001"
    assert requests.get(url, timeout=5).status_code == 401
    wrong = requests.get(url, headers={"X-API-Key": "nope"}, timeout=5)
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "unauthorized"
    for key in sources.products_api_keys:
        assert requests.get(url, headers={"X-API-Key": key}, timeout=5).status_code == 200


def stock(products, sku):
    return products.get(f"/v1/products/{sku}").json()["stock"]


def test_reservation_takes_stock_and_release_gives_it_back_once(products):
    before = stock(products, "SKU-00005")
    response = products.post("/v1/reservations",
                             json={"items": [{"sku": "SKU-00005", "quantity": 1}]})
    assert response.status_code == 201
    reservation = response.json()
    assert reservation["status"] == "active"
    assert stock(products, "SKU-00005") == before - 1
    rid = reservation["reservation_id"]
    assert products.get(f"/v1/reservations/{rid}").json() == reservation
    for _ in range(2):
        released = products.delete(f"/v1/reservations/{rid}")
        assert released.status_code == 200
        assert released.json()["status"] == "released"
    assert stock(products, "SKU-00005") == before
    assert products.delete("/v1/reservations/RSV-999999").status_code == 404


def test_reservation_is_409_when_stock_is_short_and_takes_nothing(products):
    products.patch("/v1/products/SKU-00006", json={"stock": 2})
    plenty = stock(products, "SKU-00007")
    response = products.post("/v1/reservations", json={"items": [
        {"sku": "SKU-00007", "quantity": 1}, {"sku": "SKU-00006", "quantity": 3}]})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "insufficient_stock"
    assert error["details"]["items"] == [{"sku": "SKU-00006", "requested": 3, "available": 2}]
    assert (stock(products, "SKU-00006"), stock(products, "SKU-00007")) == (2, plenty)


def test_reservation_idempotency_key_returns_the_same_reservation(products):
    products.patch("/v1/products/SKU-00008", json={"stock": 10})
    body = {"items": [{"sku": "SKU-00008", "quantity": 4}], "idempotency_key": "saga-1"}
    first = products.post("/v1/reservations", json=body)
    retry = products.post("/v1/reservations", json=body)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert stock(products, "SKU-00008") == 6
    reused = products.post("/v1/reservations", json={**body, "items": [
        {"sku": "SKU-00008", "quantity": 1}]})
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.parametrize("body", [
    {"items": []},
    {"items": [{"sku": "SKU-00001", "quantity": 0}]},
    {"items": [{"sku": "SKU-99999", "quantity": 1}]},
    {"items": [{"sku": "SKU-00001", "quantity": 1}, {"sku": "SKU-00001", "quantity": 1}]},
    {"items": [{"sku": "SKU-00001", "quantity": 1}], "idempotency_key": 7},
])
def test_bad_reservations_are_422(products, body):
    assert products.post("/v1/reservations", json=body).status_code == 422


def test_list_filters_as_woocommerce_names_them(products):
    """sku, search and stock_status, as WooCommerce's "List all products" documents them
    (https://woocommerce.github.io/woocommerce-rest-api-docs/#list-all-products)."""
    every = [p for page in (1, 2) for p in products.get(
        "/v1/products", params={"per_page": 250, "page": page}).json()["items"]]
    word = every[0]["name"].split()[-1]
    cases = {
        (("sku", "SKU-00003,SKU-00009"),): ["SKU-00003", "SKU-00009"],
        (("search", word.lower()),): [p["sku"] for p in every if word in p["name"]],
        (("stock_status", "outofstock"),): [p["sku"] for p in every if p["stock"] == 0],
        (("stock_status", "instock"), ("search", word)):
            [p["sku"] for p in every if p["stock"] > 0 and word in p["name"]],
    }
    for params, expected in cases.items():
        body = products.get("/v1/products", params=dict(params)).json()
        assert [p["sku"] for p in body["items"]] == expected[:50], params
        assert body["total"] == len(expected), params
    refused = products.get("/v1/products", params={"stock_status": "sometimes"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_parameter"
