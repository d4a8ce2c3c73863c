"""Fault knobs and the control API, the same on every server."""

from __future__ import annotations

import time

import pytest
import requests

SERVERS = ("directus", "products", "ecommerce")
# One authenticated, read-only request per server.
PROBES = {"directus": "/items/customers/1", "products": "/v1/products/SKU-00001",
          "ecommerce": "/api/v1/invoices/INV-000001"}


@pytest.fixture(params=SERVERS)
def api(request):
    return request.getfixturevalue(request.param), PROBES[request.param]


def test_down_closes_connections_without_a_response(api):
    client, path = api
    assert client.get(path).status_code == 200  # a pooled keep-alive connection now exists
    client.control("faults", {"down": True})
    with pytest.raises(requests.ConnectionError):
        client.get(path)
    with pytest.raises(requests.ConnectionError):
        requests.get(client.base_url + path, timeout=5)
    assert client.control("stats")["dropped"] == 2
    client.control("faults", {})
    assert client.get(path).status_code == 200


def test_latency_delays_every_api_response(api):
    client, path = api
    client.control("faults", {"latency_ms": 150})
    started = time.monotonic()
    assert client.get(path).status_code == 200
    assert time.monotonic() - started >= 0.15
    client.control("faults", {"latency_ms": 3000})  # far past the timeout, on a busy machine too
    with pytest.raises(requests.Timeout):
        client.get(path, timeout=0.05)


def test_error_rate_fails_evenly_spaced_requests(api):
    client, path = api
    client.control("faults", {"error_rate": 0.5, "status": 503})
    statuses = [client.get(path).status_code for _ in range(6)]
    assert statuses == [200, 503, 200, 503, 200, 503]
    client.control("faults", {"error_rate": 0.25})
    statuses = [client.get(path).status_code for _ in range(8)]
    assert statuses == [200, 200, 200, 500, 200, 200, 200, 500]


def test_injected_errors_use_the_servers_error_shape(directus, products):
    directus.control("faults", {"error_rate": 1, "status": 503})
    body = directus.get("/items/customers").json()
    assert body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    products.control("faults", {"error_rate": 1.0})
    assert products.get("/v1/products").json()["error"]["code"] == "internal_server_error"


def test_rate_limit_is_429_with_retry_after_per_key(sources, products):
    products.control("faults", {"rate_limit": {"requests": 3, "window_s": 60,
                                               "retry_after_s": 7}})
    statuses = [products.get("/v1/products/SKU-00001").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = products.get("/v1/products/SKU-00001")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert limited.json()["error"]["code"] == "rate_limited"
    other_key = requests.get(f"{sources.products_url}/v1/products/SKU-00001",
                             headers={"X-API-Key": sources.products_api_keys[1]}, timeout=5)
    assert other_key.status_code == 200


def test_rate_limit_window_reopens(api):
    client, path = api
    # A window that two back-to-back requests cannot outlast even on a busy machine; the
    # test then asks until it reopens, which can be no sooner than the window's end.
    window_s = 1.0
    client.control("faults", {"rate_limit": {"requests": 1, "window_s": window_s}})
    started = time.monotonic()
    assert client.get(path).status_code == 200
    limited = client.get(path)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    deadline = started + 30
    while (status := client.get(path).status_code) == 429:
        assert time.monotonic() < deadline, "the rate-limit window never reopened"
        time.sleep(0.05)
    assert status == 200
    assert time.monotonic() - started >= window_s


def test_malformed_customer_comes_without_its_id(directus):
    directus.control("faults", {"malformed": [2]})
    assert "id" not in directus.get("/items/customers/2").json()["data"]
    listed = directus.get("/items/customers", params={"limit": 3}).json()["data"]
    assert ["id" in item for item in listed] == [True, False, True]


def test_malformed_product_has_a_non_numeric_price(products):
    products.control("faults", {"malformed": ["SKU-00002"]})
    assert products.get("/v1/products/SKU-00002").json()["price"]["amount"] == "N/A"
    batch = products.get("/v1/products", params={"skus": "SKU-00001,SKU-00002"}).json()
    assert [p["price"]["amount"] == "N/A" for p in batch["items"]] == [False, True]


def test_malformed_invoice_has_no_customer_and_a_broken_total(ecommerce):
    ecommerce.control("faults", {"malformed": ["INV-000001"]})
    invoice = ecommerce.get("/api/v1/invoices/INV-000001").json()["data"]
    assert (invoice["customer_id"], invoice["total"]) == (None, "not-a-number")
    batch = ecommerce.get("/api/v1/invoices", params={"ids": "INV-000001,INV-000002"}).json()
    assert batch["data"][1]["customer_id"] is not None


def test_stats_count_requests_per_path(products):
    products.get("/v1/products", params={"skus": "SKU-00001,SKU-00002"})
    products.get("/v1/products", params={"page": 2})
    products.get("/v1/products/SKU-00001")
    requests.get(products.base_url + "/v1/products", timeout=5)  # unauthenticated: counted too
    stats = products.control("stats")
    assert stats["total"] == 4
    assert stats["paths"] == {"/v1/products": 3, "/v1/products/SKU-00001": 1}
    assert stats["requests"]["GET /v1/products"] == 3
    assert stats["statuses"] == {"200": 3, "401": 1}
    products.control("reset", {})
    assert products.control("stats")["total"] == 0


def test_control_is_never_faulted_or_counted(api):
    client, _ = api
    client.control("faults", {"down": True, "error_rate": 1})
    assert client.control("faults")["down"] is True
    assert client.control("stats")["total"] == 0


@pytest.mark.parametrize("faults", [
    {"latency": 10}, {"error_rate": 2}, {"status": 200}, {"down": "yes"},
    {"rate_limit": {"requests": 0, "window_s": 1}}, {"malformed": "INV-1"},
    {"declined_customers": [1]},
])
def test_bad_fault_knobs_are_400_and_keep_the_current_faults(directus, faults):
    directus.control("faults", {"latency_ms": 5})
    response = requests.post(f"{directus.base_url}/__control/faults", json=faults, timeout=5)
    assert response.status_code == 400
    assert "error" in response.json()
    assert directus.control("faults")["latency_ms"] == 5


def test_seed_control_rebuilds_the_data(ecommerce):
    before = ecommerce.get("/api/v1/invoices/INV-000001").json()["data"]
    assert ecommerce.control("seed", {"seed": 7, "invoices": 5}) == {
        "seed": 7, "sizes": {"customers": 120, "products": 60, "invoices": 5}}
    after = ecommerce.get("/api/v1/invoices", params={"limit": 100}).json()["data"]
    assert len(after) == 5
    assert ecommerce.get("/api/v1/invoices/INV-000001").json()["data"] != before
    bad = requests.post(f"{ecommerce.base_url}/__control/seed", json={"invoices": -1}, timeout=5)
    assert bad.status_code == 400
