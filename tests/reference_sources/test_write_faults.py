"""Fault knobs per write endpoint (fail N times, fail always, delay, commit then drop the
answer) and the effects each idempotency key's writes leave, read from the control API."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

ITEMS = [{"sku": "SKU-00001", "quantity": 1}]


def effects(api, **params: str) -> Any:
    response = requests.get(f"{api.base_url}/__control/effects", params=params, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def set_endpoint_faults(api, body: Any) -> requests.Response:
    return requests.post(f"{api.base_url}/__control/endpoint-faults", json=body, timeout=5)


def new_invoice(ecommerce, key: str) -> dict[str, Any]:
    response = ecommerce.post("/api/v1/invoices", json={"customer_id": 5, "items": ITEMS},
                              headers={"Idempotency-Key": key})
    assert response.status_code == 201, response.text
    invoice: dict[str, Any] = response.json()["data"]
    return invoice


def test_fail_next_fails_that_endpoint_only_then_counts_down(ecommerce):
    invoice = new_invoice(ecommerce, "order-1")
    ecommerce.control("endpoint-faults", {"charge_invoice": {"fail_next": 2, "status": 503}})
    charge = f"/api/v1/invoices/{invoice['id']}/charge"
    for left in (1, 0):
        failed = ecommerce.post(charge, headers={"Idempotency-Key": "pay-1"})
        assert failed.status_code == 503
        assert failed.json()["error"]["code"] == "service_unavailable"
        knobs = ecommerce.control("endpoint-faults")["faults"]["charge_invoice"]
        assert knobs["fail_next"] == left
    # Nothing was applied, and the other endpoints kept working meanwhile.
    assert ecommerce.get(f"/api/v1/invoices/{invoice['id']}").json()["data"]["status"] == "open"
    assert effects(ecommerce, key="pay-1")["charges"] == {}
    new_invoice(ecommerce, "order-2")
    assert ecommerce.post(charge, headers={"Idempotency-Key": "pay-1"}).status_code == 200
    assert effects(ecommerce, key="pay-1")["charges"]["pay-1"]["created"] == 1


def test_fail_always_fails_every_call_with_the_status_chosen(products):
    products.control("endpoint-faults", {"reserve_stock": {"fail_always": True, "status": 500}})
    stock = products.get("/v1/products/SKU-00001").json()["stock"]
    for n in range(3):
        response = products.post("/v1/reservations",
                                  json={"items": ITEMS, "idempotency_key": f"r-{n}"})
        assert response.status_code == 500
    assert products.get("/v1/products/SKU-00001").json()["stock"] == stock
    assert effects(products)["reservations"] == {}
    products.control("endpoint-faults", {})
    assert products.post("/v1/reservations",
                         json={"items": ITEMS, "idempotency_key": "r-0"}).status_code == 201


def test_delay_holds_the_next_calls_and_the_late_write_still_applies(ecommerce):
    # The delay is far above any plain answer on a busy machine, so the retry's timeout
    # below can tell a delayed answer from a prompt one.
    ecommerce.control("endpoint-faults", {"create_invoice": {"delay_ms": 8000, "delay_next": 1}})
    body = {"customer_id": 5, "items": ITEMS}
    # The caller gives up first, as a saga step with a timeout would ...
    with pytest.raises(requests.ReadTimeout):
        ecommerce.post("/api/v1/invoices", json=body, headers={"Idempotency-Key": "slow"},
                       timeout=0.2)
    # ... but the source finishes the write once its delay is over.
    deadline = time.monotonic() + 30
    while not effects(ecommerce, key="slow")["invoices"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert effects(ecommerce, key="slow")["invoices"]["slow"]["created"] == 1
    # Only the next call was delayed: a delayed retry would outlast this timeout.
    knobs = ecommerce.control("endpoint-faults")["faults"]["create_invoice"]
    assert (knobs["delay_ms"], knobs["delay_next"]) == (8000, 0)
    retry = ecommerce.post("/api/v1/invoices", json=body, headers={"Idempotency-Key": "slow"},
                           timeout=6)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert effects(ecommerce, key="slow")["invoices"]["slow"]["created"] == 1


def test_delay_without_a_count_holds_every_call(products):
    products.control("endpoint-faults", {"release_reservation": {"delay_ms": 300}})
    reservation = products.post("/v1/reservations", json={"items": ITEMS}).json()
    for _ in range(2):
        started = time.monotonic()
        products.delete(f"/v1/reservations/{reservation['reservation_id']}")
        assert time.monotonic() - started >= 0.3
    knobs = products.control("endpoint-faults")["faults"]["release_reservation"]
    assert (knobs["delay_ms"], knobs["delay_next"]) == (300, None)



def test_hold_answer_applies_the_write_then_keeps_the_caller_waiting(ecommerce):
    ecommerce.control("endpoint-faults", {"create_invoice": {"hold_answer_ms": 6000,
                                                             "hold_answer_next": 1}})
    body = {"customer_id": 5, "items": ITEMS}
    # The caller gives up (or dies) while the answer is held ...
    with pytest.raises(requests.ReadTimeout):
        ecommerce.post("/api/v1/invoices", json=body, headers={"Idempotency-Key": "held"},
                       timeout=0.3)
    # ... and the write is done while the answer is still held: applied first. (The 0.3 s
    # timeout may fire before a busy server has even applied it: wait for the write.)
    deadline = time.monotonic() + 30
    while not effects(ecommerce, key="held")["invoices"]:
        assert time.monotonic() < deadline, "the held write was never applied"
        time.sleep(0.05)
    assert ecommerce.control("stats")["in_flight"] == 1
    assert effects(ecommerce, key="held")["invoices"]["held"]["created"] == 1
    knobs = ecommerce.control("endpoint-faults")["faults"]["create_invoice"]
    assert (knobs["hold_answer_ms"], knobs["hold_answer_next"]) == (6000, 0)
    # Only the next call was held: the retry is answered while the first is still held
    # (a held retry would outlast this timeout by far).
    retry = ecommerce.post("/api/v1/invoices", json=body, headers={"Idempotency-Key": "held"},
                           timeout=4)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert effects(ecommerce, key="held")["invoices"]["held"]["created"] == 1
    stats = ecommerce.control("stats")
    assert stats["in_flight"] == 1
    ecommerce.control("reset", {})  # a reset keeps counting what is still coming
    assert ecommerce.control("stats")["in_flight"] == 1
    deadline = time.monotonic() + 30  # the held answer is sent; later tests see no stray one
    while ecommerce.control("stats")["in_flight"]:
        assert time.monotonic() < deadline, "the held call was never answered"
        time.sleep(0.05)


def test_a_failing_call_is_not_applied_and_uses_no_hold(products):
    products.control("endpoint-faults", {"reserve_stock": {
        "fail_next": 1, "hold_answer_ms": 3000, "hold_answer_next": 1}})
    reservation = {"items": ITEMS, "idempotency_key": "r-held"}
    # Not held: a held answer would outlast this timeout.
    assert products.post("/v1/reservations", json=reservation, timeout=2).status_code == 503
    assert products.control("endpoint-faults")["faults"]["reserve_stock"][
        "hold_answer_next"] == 1
    started = time.monotonic()
    assert products.post("/v1/reservations", json=reservation).status_code == 201
    assert time.monotonic() - started >= 3.0


def _keyed_write(name: str, products, ecommerce) -> tuple[Any, Any, str]:
    """(server, a function sending the write once with its key, the effect kind)."""
    if name == "reserve_stock":
        reservation = {"items": ITEMS, "idempotency_key": "k"}
        return (products, lambda: products.post("/v1/reservations", json=reservation),
                "reservations")
    if name == "create_invoice":
        body = {"customer_id": 5, "items": ITEMS}
        return ecommerce, lambda: ecommerce.post("/api/v1/invoices", json=body,
                                                 headers={"Idempotency-Key": "k"}), "invoices"
    invoice = new_invoice(ecommerce, "setup")
    path = f"/api/v1/invoices/{invoice['id']}"
    if name == "refund_charge":
        assert ecommerce.post(path + "/charge").status_code == 200
    action, kind = {"charge_invoice": ("charge", "charges"),
                    "refund_charge": ("refund", "refunds")}[name]
    return ecommerce, lambda: ecommerce.post(f"{path}/{action}",
                                             headers={"Idempotency-Key": "k"}), kind


@pytest.mark.parametrize("endpoint", ["reserve_stock", "create_invoice", "charge_invoice",
                                      "refund_charge"])
def test_commit_then_drop_the_answer_leaves_one_effect_after_a_retry(endpoint, products,
                                                                     ecommerce):
    server, send, kind = _keyed_write(endpoint, products, ecommerce)
    server.control("endpoint-faults", {endpoint: {"drop_answer_next": 1}})
    with pytest.raises(requests.ConnectionError):
        send()
    assert effects(server, key="k")[kind]["k"]["created"] == 1  # applied, though unanswered
    retry = send()
    assert retry.status_code in (200, 201)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert effects(server, key="k")[kind]["k"]["created"] == 1
    assert server.control("stats")["dropped"] == 1


def test_drop_always_applies_unkeyed_writes_that_are_safe_to_repeat(products, ecommerce):
    reservation = products.post("/v1/reservations", json={"items": ITEMS}).json()
    products.control("endpoint-faults", {"release_reservation": {"drop_answer_always": True}})
    path = f"/v1/reservations/{reservation['reservation_id']}"
    for _ in range(2):
        with pytest.raises(requests.ConnectionError):
            products.delete(path)
    assert products.get(path).json()["status"] == "released"
    invoice = new_invoice(ecommerce, "order-c")
    ecommerce.control("endpoint-faults", {"cancel_invoice": {"drop_answer_next": 1}})
    with pytest.raises(requests.ConnectionError):
        ecommerce.post(f"/api/v1/invoices/{invoice['id']}/cancel")
    assert ecommerce.post(f"/api/v1/invoices/{invoice['id']}/cancel").json()["data"][
        "status"] == "cancelled"


def test_a_failing_call_is_not_applied_and_uses_no_drop(ecommerce):
    ecommerce.control("endpoint-faults", {"create_invoice": {
        "fail_next": 1, "drop_answer_next": 1}})
    body = {"customer_id": 5, "items": ITEMS}
    headers = {"Idempotency-Key": "both"}
    assert ecommerce.post("/api/v1/invoices", json=body, headers=headers).status_code == 503
    assert effects(ecommerce, key="both")["invoices"] == {}
    with pytest.raises(requests.ConnectionError):
        ecommerce.post("/api/v1/invoices", json=body, headers=headers)
    assert ecommerce.post("/api/v1/invoices", json=body, headers=headers).status_code == 201
    assert effects(ecommerce, key="both")["invoices"]["both"]["created"] == 1


def test_reads_are_never_hit_by_write_knobs_and_reset_clears_them(products):
    products.control("endpoint-faults", {"reserve_stock": {"fail_always": True},
                                         "release_reservation": {"fail_always": True}})
    assert products.get("/v1/products/SKU-00001").status_code == 200
    assert products.get("/v1/reservations/RSV-000001").status_code == 404
    products.control("reset", {})
    assert products.control("endpoint-faults") == {
        "endpoints": ["release_reservation", "reserve_stock"], "faults": {}}


@pytest.mark.parametrize(("body", "message"), [
    ({"charge": {"fail_next": 1}}, "unknown endpoint(s) charge; this server's write "
                                   "endpoints: cancel_invoice, charge_invoice, create_invoice, "
                                   "refund_charge"),
    ({"charge_invoice": {"fail_twice": True}}, "charge_invoice: unknown knob(s) fail_twice"),
    ({"charge_invoice": {"status": 200}}, "status must be an HTTP error status"),
    ({"charge_invoice": {"fail_next": -1}}, "expected an integer >= 0, got -1"),
    ({"charge_invoice": {"delay_ms": 10, "delay_next": 0}}, "expected an integer >= 1"),
    ({"charge_invoice": {"hold_answer_ms": 10, "hold_answer_next": 0}},
     "expected an integer >= 1"),
    ({"charge_invoice": {"hold_answer_ms": -5}}, "expected an integer >= 0, got -5"),
    ({"charge_invoice": {"drop_answer_always": "yes"}}, "expected true or false"),
    ({"charge_invoice": 3}, "charge_invoice: expected an object of knobs"),
    ([], "must be a JSON object"),
])
def test_bad_endpoint_faults_are_400_and_keep_the_current_ones(ecommerce, body, message):
    ecommerce.control("endpoint-faults", {"refund_charge": {"fail_next": 1}})
    response = set_endpoint_faults(ecommerce, body)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert ecommerce.control("endpoint-faults")["faults"]["refund_charge"]["fail_next"] == 1


def test_effects_say_what_is_still_in_effect_per_key(products, ecommerce):
    reserved = products.post("/v1/reservations",
                             json={"items": ITEMS, "idempotency_key": "saga-9:reserve"}).json()
    products.post("/v1/reservations", json={"items": ITEMS, "idempotency_key": "saga-8:reserve"})
    mine = effects(products, key_prefix="saga-9:")["reservations"]
    assert mine == {"saga-9:reserve": {"created": 1, "current": 1,
                                       "ids": [reserved["reservation_id"]]}}
    products.delete(f"/v1/reservations/{reserved['reservation_id']}")
    assert effects(products, key="saga-9:reserve")["reservations"]["saga-9:reserve"][
        "current"] == 0

    invoice = new_invoice(ecommerce, "saga-9:create")
    path = f"/api/v1/invoices/{invoice['id']}"
    ecommerce.post(path + "/charge", headers={"Idempotency-Key": "saga-9:charge"})
    current = {kind: {key: row["current"] for key, row in by_key.items()}
               for kind, by_key in effects(ecommerce, key_prefix="saga-9:").items()}
    assert current == {"invoices": {"saga-9:create": 1}, "charges": {"saga-9:charge": 1},
                       "refunds": {}}
    ecommerce.post(path + "/refund", headers={"Idempotency-Key": "saga-9:refund"})
    ecommerce.post(path + "/cancel")
    current = {kind: {key: row["current"] for key, row in by_key.items()}
               for kind, by_key in effects(ecommerce, key_prefix="saga-9:").items()}
    assert current == {"invoices": {"saga-9:create": 0}, "charges": {"saga-9:charge": 0},
                       "refunds": {"saga-9:refund": 1}}
    ecommerce.control("reset", {})
    assert effects(ecommerce) == {"invoices": {}, "charges": {}, "refunds": {}}
