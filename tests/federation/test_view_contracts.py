"""The GraphQL view's contracts that no other test holds: internal error text stays
internal, `operationName` picks among several operations, a degraded answer is never
cached, and a cached answer never crosses tenants."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client

from apps.adapters import services
from apps.tenancy.api_keys import create_api_key
from tests.conftest import tenant_host
from tests.federation.conftest import Api
from tests.federation.expected import CUSTOMERS, PRODUCTS
from tests.sources.conftest import _forget_breakers, calls, control

CUSTOMER_5 = '{ customer(id: "5") { id name } }'


SECRET_TEXT = "password=hunter2 on db.internal:5432"


def _reference(message: str) -> str:
    return message.split("reference ")[1].split(")")[0]


def _logged_with_cause(caplog: pytest.LogCaptureFixture, reference: str) -> None:
    """The operator finds the reference, and the real cause, in the log."""
    [record] = [r for r in caplog.records if reference in r.getMessage()]
    assert record.exc_info is not None
    assert SECRET_TEXT in str(record.exc_info[1])


def _leaks(body: Any) -> bool:
    return SECRET_TEXT in str(body) or "RuntimeError" in str(body)


# Stand-ins on purpose in the next two tests: a bug in our own code is the one fault no
# real source can cause, so one data product method is replaced by one that raises.


def test_a_resolver_exception_is_answered_with_a_reference_not_its_text(
        api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    def broken(self: Any, entity_type: str, query: Any) -> Any:
        raise RuntimeError(SECRET_TEXT)

    monkeypatch.setattr(services.DataProduct, "query", broken)  # invoices(...) pages
    document = '{ invoices(customerId: "1") { nodes { id } } product(id: "SKU-00001") { name } }'
    with caplog.at_level(logging.ERROR, logger="apps.federation.views"):
        response = api.post(document)

    # `invoices` is required, so its failure nulls the whole answer (GraphQL's null
    # propagation): execution ran, so it is a 200 with `data: null` (GraphQL over HTTP).
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert error["path"] == ["invoices"]
    assert not _leaks(body)
    _logged_with_cause(caplog, _reference(error["message"]))

    monkeypatch.undo()  # the failed answer was not cached: the same document is now whole
    healed = api.query(document)
    assert "errors" not in healed
    assert healed["data"]["invoices"]["nodes"]
    assert healed["data"]["product"]["name"]


def test_a_loader_exception_is_a_field_error_with_a_reference_not_its_text(
        api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    # A loader's batch runs outside any resolver: the loader turns its exception into an
    # error for each key that asked, so it is a field error of exactly those fields.
    def broken(self: Any, entity_type: str, ids: Any) -> Any:
        raise RuntimeError(SECRET_TEXT)

    monkeypatch.setattr(services.DataProduct, "get_entities", broken)
    with caplog.at_level(logging.ERROR):
        response = api.post('{ customer(id: "5") { id } product(id: "SKU-00002") { id } }')

    assert response.status_code == 200
    assert response["Content-Type"] == "application/graphql-response+json; charset=utf-8"
    body = response.json()
    assert body["data"] == {"customer": None, "product": None}
    assert sorted(error["path"] for error in body["errors"]) == [["customer"], ["product"]]
    for error in body["errors"]:
        assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
        assert "report the reference" in error["message"]
    assert not _leaks(body)
    assert SECRET_TEXT in caplog.text  # the operator finds it in the log, by its reference

    monkeypatch.undo()
    assert api.query(CUSTOMER_5) == {
        "data": {"customer": {"id": "5", "name": CUSTOMERS["5"]["name"]}}}


TWO_OPERATIONS = """
query First { customer(id: "1") { id email } }
query Second { product(id: "SKU-00002") { id name } }
"""


def test_operation_name_chooses_among_several_operations(api: Api):
    second = api.post("", body={"query": TWO_OPERATIONS, "operationName": "Second"})
    assert second.status_code == 200, second.content
    assert second.json() == {"data": {"product": {"id": "SKU-00002",
                                                  "name": PRODUCTS["SKU-00002"]["name"]}}}
    # The same document, the other name: not the cached answer of the first.
    first = api.post("", body={"query": TWO_OPERATIONS, "operationName": "First"})
    assert first.json() == {"data": {"customer": {"id": "1", "email": CUSTOMERS["1"]["email"]}}}

    for params in ({}, {"operationName": "Third"}):
        refused = api.post("", body={"query": TWO_OPERATIONS, **params})
        assert refused.status_code == 400
        [error] = refused.json()["errors"]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "operationName" in error["message"]


def test_a_required_field_whose_source_is_down_is_200_with_null_data(api: Api):
    control(api.sources.ecommerce_url, "faults", {"down": True})
    response = api.post('{ invoices(customerId: "1") { nodes { id } } }')
    assert response.status_code == 200, response.content
    assert response.json()["data"] is None
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "SOURCE_UNAVAILABLE"
    assert "Retry later" in error["message"]


def test_a_degraded_answer_is_not_cached(api: Api):
    services.data_product_for("customer").invalidate("customer", ["5"])
    control(api.sources.directus_url, "faults", {"down": True})
    degraded = api.query(CUSTOMER_5)
    assert degraded["data"]["customer"] is None
    assert degraded["errors"][0]["extensions"]["code"] == "SOURCE_UNAVAILABLE"

    control(api.sources.directus_url, "reset")  # the source is back, its counts zeroed
    _forget_breakers(api.tenant)
    healed = api.query(CUSTOMER_5)
    assert healed == {"data": {"customer": {"id": "5", "name": CUSTOMERS["5"]["name"]}}}
    assert calls(api.sources.directus_url) == 1  # answered by the source, not the cache


def test_a_cached_answer_never_crosses_tenants(api: Api, tenant_b):
    cached = api.query(CUSTOMER_5)
    assert cached["data"]["customer"]["id"] == "5"
    control(api.sources.directus_url, "reset")
    assert api.query(CUSTOMER_5) == cached
    assert calls(api.sources.directus_url) == 0  # tenant A's repeat is a cache hit

    # Tenant B, with a key of the same scopes, has no source connection at all: the only
    # way it could see customer 5 is tenant A's cached answer.
    _, key_b = create_api_key(tenant_b.schema_name, "tenant b reader", ["read"])
    response = Client().post("/graphql", data={"query": CUSTOMER_5},
                             content_type="application/json",
                             HTTP_HOST=tenant_host(tenant_b.schema_name),
                             HTTP_AUTHORIZATION=f"Bearer {key_b}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["data"] == {"customer": None}
    assert body["errors"][0]["extensions"]["code"] == "SOURCE_ERROR"
    assert tenant_b.schema_name in body["errors"][0]["message"]
