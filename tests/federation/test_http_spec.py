"""/graphql's HTTP contract, by the GraphQL-over-HTTP spec: the response media type the
client accepts, the status of request errors under each, execution errors as a 200 with
`data`, 415 for another body media type and 405 with `Allow`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.federation.conftest import Api
from tests.sources.conftest import control

JSON = "application/json; charset=utf-8"
GRAPHQL_RESPONSE = "application/graphql-response+json; charset=utf-8"
CUSTOMER_1 = '{ customer(id: "1") { id } }'


@pytest.mark.parametrize(("accept", "media_type"), [
    (None, JSON),
    ("*/*", JSON),
    ("application/json", JSON),
    ("application/graphql-response+json", GRAPHQL_RESPONSE),
    ("application/graphql-response+json, application/json;q=0.9", GRAPHQL_RESPONSE),
    ("application/json;q=0.5, application/graphql-response+json", GRAPHQL_RESPONSE),
    ("text/html", JSON),  # names neither: disregarded, the default answers
])
def test_the_answer_comes_in_the_media_type_the_client_prefers(api: Api, accept: str | None,
                                                                media_type: str):
    headers = {"Accept": accept} if accept is not None else {}
    response = api.client.post("/graphql", data={"query": CUSTOMER_1},
                               content_type="application/json", HTTP_HOST=api.host,
                               HTTP_AUTHORIZATION=f"Bearer {api.key}", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == media_type
    assert response.json() == {"data": {"customer": {"id": "1"}}}


REQUEST_ERRORS = [
    ("{ customer(id: ", None, "GRAPHQL_PARSE_FAILED"),
    ('{ customer(id: "1") { shoeSize } }', None, "GRAPHQL_VALIDATION_FAILED"),
    ("query($i: ID!) { customer(id: $i) { id } }", {"i": [1]}, None),
    ("query($i: ID!) { customer(id: $i) { id } }", {}, None),
]


@pytest.mark.parametrize(("query", "variables", "code"), REQUEST_ERRORS)
def test_a_request_error_is_400_under_graphql_response_json(
        api: Api, query: str, variables: dict[str, Any] | None, code: str | None):
    response = api.post(query, variables, accept="application/graphql-response+json")
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body  # nothing executed
    assert body["errors"]
    if code is not None:
        assert body["errors"][0]["extensions"]["code"] == code


@pytest.mark.parametrize(("query", "variables", "code"), REQUEST_ERRORS)
def test_a_request_error_is_200_without_data_under_application_json(
        api: Api, query: str, variables: dict[str, Any] | None, code: str | None):
    response = api.post(query, variables, accept="application/json")
    assert response.status_code == 200
    assert response["Content-Type"] == JSON
    body = response.json()
    assert "data" not in body
    assert body["errors"]


@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
def test_a_source_outage_that_nulls_a_root_field_is_200_with_data(api: Api, accept: str):
    control(api.sources.ecommerce_url, "faults", {"down": True})
    response = api.post('{ invoices(customerId: "1") { nodes { id } } }', accept=accept)
    assert response.status_code == 200, response.content
    body = response.json()
    assert "data" in body
    assert body["data"] is None  # `invoices` is non-null: the error reached the root
    assert body["errors"][0]["extensions"]["code"] == "SOURCE_UNAVAILABLE"
    assert body["errors"][0]["path"] == ["invoices"]


@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
@pytest.mark.parametrize("payload", [
    {"variables": {}},
    {"query": 42},
    {"query": CUSTOMER_1, "variables": [1]},
    {"query": CUSTOMER_1, "operationName": 7},
    [],
    "just a string",
])
def test_a_body_that_is_no_graphql_request_is_400_under_both(api: Api, accept: str,
                                                             payload: Any):
    response = api.post("", body=payload, accept=accept) if payload != [] else \
        api.client.post("/graphql", data="[]", content_type="application/json",
                        HTTP_HOST=api.host, HTTP_ACCEPT=accept,
                        HTTP_AUTHORIZATION=f"Bearer {api.key}")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "application/graphql",
    "application/json; charset=latin-1", None,
])
def test_a_body_in_another_media_type_is_415(api: Api, content_type: str | None):
    response = api.client.generic("POST", "/graphql", json.dumps({"query": CUSTOMER_1}),
                                  content_type=content_type, HTTP_HOST=api.host,
                                  HTTP_AUTHORIZATION=f"Bearer {api.key}")
    assert response.status_code == 415
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert "Content-Type: application/json" in error["message"]


def test_application_json_with_its_utf8_charset_is_accepted(api: Api):
    response = api.client.post("/graphql", data=json.dumps({"query": CUSTOMER_1}),
                               content_type="application/json; charset=UTF-8",
                               HTTP_HOST=api.host, HTTP_AUTHORIZATION=f"Bearer {api.key}")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_another_method_is_405_naming_the_allowed_ones(api: Api, method: str):
    response = api.client.generic(method, "/graphql", HTTP_HOST=api.host,
                                  HTTP_AUTHORIZATION=f"Bearer {api.key}")
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
