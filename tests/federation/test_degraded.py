"""Degraded answers: a source down or a record malformed costs only the fields it owns."""

from __future__ import annotations

from apps.adapters import services
from tests.federation.conftest import Api
from tests.sources.conftest import control


def _errors_at(body: dict) -> dict[tuple, dict]:
    return {tuple(error["path"]): error for error in body.get("errors", [])}


def test_a_down_source_serves_its_cached_copy_flagged_stale_and_the_rest_answers(api: Api):
    fresh = api.query('{ customer(id: "5") { id name } }')["data"]["customer"]
    services.data_product_for("customer").invalidate("customer", ["5"])  # next read asks the source
    control(api.sources.directus_url, "faults", {"down": True})

    body = api.query('{ customer(id: "5") { id name email } product(id: "SKU-00001") { name } }')

    assert body["data"]["customer"]["name"] == fresh["name"]
    assert body["data"]["product"]["name"]
    error = _errors_at(body)[("customer",)]
    assert error["extensions"]["code"] == "SOURCE_UNAVAILABLE"
    assert error["extensions"]["stale"] is True
    assert error["extensions"]["ageSeconds"] >= 0
    assert len(body["errors"]) == 1


def test_with_nothing_cached_the_fields_are_null_with_source_unavailable(api: Api):
    invoice_id = api.query('{ invoices(customerId: "3", first: 1) { nodes { id } } }')[
        "data"]["invoices"]["nodes"][0]["id"]
    services.data_product_for("customer").invalidate("customer", ["3", "117"])
    control(api.sources.directus_url, "faults", {"down": True})

    body = api.query('query($i: ID!) { customer(id: "117") { id name } '
                     'invoice(id: $i) { id status customer { id name } } }', {"i": invoice_id})

    assert body["data"]["customer"] is None
    assert body["data"]["invoice"]["status"]  # the invoice source still answers
    assert body["data"]["invoice"]["customer"] == {"id": "3", "name": None}
    errors = _errors_at(body)
    for path in (("customer",), ("invoice", "customer")):
        assert errors[path]["extensions"] == {"code": "SOURCE_UNAVAILABLE"}, errors
        assert "Retry later" in errors[path]["message"]


def test_a_malformed_record_is_null_with_its_reason(api: Api):
    services.data_product_for("product").invalidate("product", ["SKU-00003"])
    control(api.sources.products_url, "faults", {"malformed": ["SKU-00003"]})

    body = api.query('{ product(id: "SKU-00003") { name } '
                     'products(ids: ["SKU-00003", "SKU-00004"]) { id name } }')

    assert body["data"]["product"] is None
    assert body["data"]["products"][0] is None
    assert body["data"]["products"][1]["id"] == "SKU-00004"
    errors = _errors_at(body)
    for path in (("product",), ("products", 0)):
        assert errors[path]["extensions"]["code"] == "MALFORMED_SOURCE_RECORD"
        assert "SKU-00003" in errors[path]["message"]
