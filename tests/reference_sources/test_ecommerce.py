"""The e-commerce invoice API: cursors, batches, idempotent creates, cancel and charge."""

from __future__ import annotations

from collections import Counter

import pytest
import requests

from tests.reference_sources.conftest import SIZES


def all_pages(ecommerce, **params):
    seen, cursor = [], None
    while True:
        body = ecommerce.get("/api/v1/invoices",
                             params={**params, **({"cursor": cursor} if cursor else {})}).json()
        seen += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


def test_invoice_shape(ecommerce):
    invoice = ecommerce.get("/api/v1/invoices/INV-000123").json()["data"]
    assert set(invoice) == {"id", "invoice_number", "customer_id", "items", "total", "currency",
                            "status", "created_at", "updated_at"}
    assert invoice["id"] == "INV-000123"
    assert invoice["status"] in ("open", "paid", "cancelled")
    assert set(invoice["items"][0]) == {"sku", "quantity", "unit_price"}


def test_cursor_pages_are_ordered_by_updated_at_then_id(ecommerce):
    invoices = all_pages(ecommerce, limit=30)
    assert len(invoices) == SIZES.invoices
    keys = [(i["updated_at"], i["id"]) for i in invoices]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


def test_cursor_misses_nothing_while_invoices_change(ecommerce):
    """Invoices changed mid-way move behind the cursor and come again; none is skipped."""
    seen: Counter[str] = Counter()
    cursor, pages = None, 0
    while True:
        body = ecommerce.get("/api/v1/invoices",
                             params={"limit": 10, **({"cursor": cursor} if cursor else {})}).json()
        seen.update(i["id"] for i in body["data"])
        pages += 1
        if pages == 5:
            ecommerce.post(f"/api/v1/invoices/{body['data'][0]['id']}/cancel")  # seen already
            ecommerce.post("/api/v1/invoices", json={
                "customer_id": 1, "items": [{"sku": "SKU-00001", "quantity": 1}]})
        if not (cursor := body["next_cursor"]):
            break
    assert len(seen) == SIZES.invoices + 1
    assert max(seen.values()) <= 2


def test_last_page_has_no_cursor(ecommerce):
    body = ecommerce.get("/api/v1/invoices", params={"limit": SIZES.invoices}).json()
    assert len(body["data"]) == SIZES.invoices
    assert body["next_cursor"] is None


def test_filters_by_customer_and_updated_since(ecommerce):
    everything = all_pages(ecommerce, limit=250)
    customer = everything[0]["customer_id"]
    mine = all_pages(ecommerce, limit=2, customer_id=customer)
    assert [i["id"] for i in mine] == [i["id"] for i in everything
                                       if i["customer_id"] == customer]
    pivot = everything[150]["updated_at"]
    recent = all_pages(ecommerce, limit=40, updated_since=pivot)
    assert [i["id"] for i in recent] == [i["id"] for i in everything[150:]]


def test_filters_by_a_list_of_customers_with_cursor_pages(ecommerce):
    everything = all_pages(ecommerce, limit=250)
    wanted = sorted({i["customer_id"] for i in everything})[:3]
    theirs = all_pages(ecommerce, limit=2, customer_ids=",".join(map(str, wanted)))
    assert [i["id"] for i in theirs] == [i["id"] for i in everything
                                         if i["customer_id"] in wanted]
    assert len(theirs) > 2  # more than one page was followed
    one = all_pages(ecommerce, limit=250, customer_ids=str(wanted[0]))
    assert one == all_pages(ecommerce, limit=250, customer_id=wanted[0])


def test_a_hundred_customers_is_the_most_one_call_filters_by(ecommerce):
    hundred = ",".join(str(n) for n in range(1, 101))
    assert ecommerce.get("/api/v1/invoices", params={"customer_ids": hundred}).status_code == 200
    response = ecommerce.get("/api/v1/invoices", params={"customer_ids": hundred + ",101"})
    assert response.status_code == 400
    assert response.json()["error"]["details"]["parameter"] == "customer_ids"
    assert "at most 100" in response.json()["error"]["message"]


def test_customer_id_and_customer_ids_together_are_400(ecommerce):
    response = ecommerce.get("/api/v1/invoices", params={"customer_id": 1, "customer_ids": "2"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter"
    assert "not both" in error["message"]


@pytest.mark.parametrize("params", [{"cursor": "garbage!"}, {"limit": 0}, {"limit": 251},
                                    {"customer_id": "abc"}, {"updated_since": "soon"},
                                    {"customer_ids": "1,abc"}, {"customer_ids": ""}])
def test_bad_list_parameters_are_400(ecommerce, params):
    response = ecommerce.get("/api/v1/invoices", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter"


def test_batch_by_ids(ecommerce):
    body = ecommerce.get("/api/v1/invoices",
                         params={"ids": "INV-000002,INV-999999,INV-000001"}).json()
    assert [i["id"] for i in body["data"]] == ["INV-000002", "INV-000001"]
    assert body["missing"] == ["INV-999999"]
    assert body["next_cursor"] is None


def test_missing_invoice_is_404(ecommerce):
    response = ecommerce.get("/api/v1/invoices/INV-999999")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_bearer_token_is_required(sources):
    url = f"{sources.ecommerce_url}/api/v1/invoices"
    missing = requests.get(url, timeout=5)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert wrong.json()["error"]["code"] == "unauthorized"


def test_create_prices_items_from_the_catalog(ecommerce, products):
    price = products.get("/v1/products/SKU-00004").json()["price"]
    response = ecommerce.post("/api/v1/invoices", json={
        "customer_id": 7, "items": [{"sku": "SKU-00004", "quantity": 2}]})
    assert response.status_code == 201
    invoice = response.json()["data"]
    assert invoice["id"] == f"INV-{SIZES.invoices + 1:06d}"
    assert invoice["items"] == [{"sku": "SKU-00004", "quantity": 2,
                                 "unit_price": price["amount"]}]
    assert invoice["currency"] == price["currency"]
    assert invoice["status"] == "open"
    assert ecommerce.get(f"/api/v1/invoices/{invoice['id']}").json()["data"] == invoice


def test_create_with_the_same_idempotency_key_returns_the_same_invoice(ecommerce):
    body = {"customer_id": 3, "items": [{"sku": "SKU-00001", "quantity": 1,
                                         "unit_price": "10.00"}], "currency": "EUR"}
    headers = {"Idempotency-Key": "create-1"}
    first = ecommerce.post("/api/v1/invoices", json=body, headers=headers)
    retry = ecommerce.post("/api/v1/invoices", json=body, headers=headers)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert len(all_pages(ecommerce, limit=250)) == SIZES.invoices + 1
    other = ecommerce.post("/api/v1/invoices", json={**body, "customer_id": 4},
                           headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.parametrize("body", [
    {"customer_id": 0, "items": [{"sku": "SKU-00001", "quantity": 1}]},
    {"customer_id": 1, "items": []},
    {"customer_id": 1, "items": [{"sku": "SKU-99999", "quantity": 1}]},
    {"customer_id": 1, "items": [{"sku": "SKU-00001", "quantity": 1, "unit_price": 9.99}]},
    {"customer_id": 1, "items": [{"sku": "SKU-00001", "quantity": 1}], "currency": "XXXX"},
    {"customer_id": 1, "items": [{"sku": "SKU-00001", "quantity": 1}], "status": "paid"},
])
def test_bad_creates_are_422(ecommerce, body):
    assert ecommerce.post("/api/v1/invoices", json=body).status_code == 422


def invoice_in(ecommerce, status):
    return next(i for i in all_pages(ecommerce, limit=250) if i["status"] == status)


def test_charge_pays_an_open_invoice(ecommerce):
    invoice = invoice_in(ecommerce, "open")
    response = ecommerce.post(f"/api/v1/invoices/{invoice['id']}/charge")
    assert response.status_code == 200
    body = response.json()
    assert body["data"]["status"] == "paid"
    assert body["data"]["updated_at"] > invoice["updated_at"]
    assert body["payment"]["amount"] == invoice["total"]
    assert ecommerce.post(f"/api/v1/invoices/{invoice['id']}/charge").status_code == 409


def test_declined_card_is_402_and_leaves_the_invoice_open(ecommerce):
    invoice = invoice_in(ecommerce, "open")
    ecommerce.control("faults", {"declined_customers": [invoice["customer_id"]]})
    response = ecommerce.post(f"/api/v1/invoices/{invoice['id']}/charge",
                              headers={"Idempotency-Key": "charge-1"})
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "card_declined"
    assert ecommerce.get(f"/api/v1/invoices/{invoice['id']}").json()["data"] == invoice
    # A decline is not remembered under the key: once the card works, the retry succeeds.
    ecommerce.control("faults", {})
    retry = ecommerce.post(f"/api/v1/invoices/{invoice['id']}/charge",
                           headers={"Idempotency-Key": "charge-1"})
    assert retry.status_code == 200


def test_cancel_is_idempotent_and_refused_for_paid_invoices(ecommerce):
    invoice = invoice_in(ecommerce, "open")
    for _ in range(2):
        response = ecommerce.post(f"/api/v1/invoices/{invoice['id']}/cancel")
        assert response.status_code == 200
        assert response.json()["data"]["status"] == "cancelled"
    paid = invoice_in(ecommerce, "paid")
    refused = ecommerce.post(f"/api/v1/invoices/{paid['id']}/cancel")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "invalid_state"


def test_patch_changes_items_and_total_of_an_open_invoice(ecommerce):
    invoice = invoice_in(ecommerce, "open")
    response = ecommerce.patch(f"/api/v1/invoices/{invoice['id']}", json={
        "items": [{"sku": "SKU-00001", "quantity": 3, "unit_price": "2.50"}], "customer_id": 9})
    assert response.status_code == 200
    updated = response.json()["data"]
    assert (updated["total"], updated["customer_id"]) == ("7.50", 9)
    assert updated["updated_at"] > invoice["updated_at"]
    assert ecommerce.patch(f"/api/v1/invoices/{invoice['id']}",
                           json={"status": "paid"}).status_code == 422
    paid = invoice_in(ecommerce, "paid")
    assert ecommerce.patch(f"/api/v1/invoices/{paid['id']}",
                           json={"customer_id": 1}).status_code == 409


def test_refund_returns_a_paid_invoice_and_replays_under_its_key(ecommerce):
    invoice = invoice_in(ecommerce, "open")
    path = f"/api/v1/invoices/{invoice['id']}"
    payment = ecommerce.post(path + "/charge").json()["payment"]
    first = ecommerce.post(path + "/refund", headers={"Idempotency-Key": "refund-1"})
    assert first.status_code == 200
    body = first.json()
    assert body["data"]["status"] == "refunded"
    assert (body["refund"]["payment_id"], body["refund"]["amount"]) == (payment["id"],
                                                                        invoice["total"])
    again = ecommerce.post(path + "/refund", headers={"Idempotency-Key": "refund-1"})
    assert (again.status_code, again.json()) == (200, body)
    assert again.headers["Idempotent-Replayed"] == "true"
    # Another key is another refund, of an invoice already refunded.
    other = ecommerce.post(path + "/refund", headers={"Idempotency-Key": "refund-2"})
    assert other.status_code == 409
    assert other.json()["error"]["details"]["current_status"] == "refunded"


def test_refund_is_409_unless_the_invoice_is_paid(ecommerce):
    invoice = invoice_in(ecommerce, "open")
    refused = ecommerce.post(f"/api/v1/invoices/{invoice['id']}/refund",
                             headers={"Idempotency-Key": "refund-open"})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "invalid_state"
    assert ecommerce.get(f"/api/v1/invoices/{invoice['id']}").json()["data"] == invoice
    assert ecommerce.post("/api/v1/invoices/INV-999999/refund").status_code == 404


def test_a_paid_invoice_is_refunded_before_it_can_be_cancelled(ecommerce):
    invoice = invoice_in(ecommerce, "open")
    path = f"/api/v1/invoices/{invoice['id']}"
    assert ecommerce.post(path + "/charge").status_code == 200
    refused = ecommerce.post(path + "/cancel")
    assert refused.status_code == 409
    assert "refund it first" in refused.json()["error"]["message"]
    assert ecommerce.post(path + "/refund").status_code == 200
    cancelled = ecommerce.post(path + "/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["data"]["status"] == "cancelled"
    assert ecommerce.post(path + "/refund").status_code == 409


def test_list_filters_and_count_as_stripe_names_them(ecommerce):
    """status, created[gt] and include[]=total_count, as Stripe's "List all invoices"
    documents them (https://docs.stripe.com/api/invoices/list)."""
    every = all_pages(ecommerce, limit=250)
    moment = sorted(i["created_at"] for i in every)[len(every) // 2]
    expected = [i["id"] for i in every if i["status"] == "paid" and i["created_at"] > moment]
    params = {"status": "paid", "created[gt]": moment, "limit": 250}
    assert [i["id"] for i in all_pages(ecommerce, **params)] == expected
    counted = ecommerce.get("/api/v1/invoices", params={**params, "limit": 5,
                                                        "include[]": "total_count"}).json()
    assert counted["total_count"] == len(expected)
    assert "total_count" not in ecommerce.get("/api/v1/invoices", params=params).json()
    for name, value in (("status", "draft"), ("created[gt]", "yesterday")):
        refused = ecommerce.get("/api/v1/invoices", params={name: value})
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "invalid_parameter"
