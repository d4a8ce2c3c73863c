"""The endpoint's order of refusals, and its request shapes (GET, batch)."""

from __future__ import annotations

from apps.tenancy.api_keys import create_api_key
from tests.federation.conftest import Api


def test_no_key_is_401_and_another_tenants_key_is_403(api: Api, tenant_b):
    response = api.client.post("/graphql", data={"query": "{ customer(id: \"1\") { id } }"},
                               content_type="application/json", HTTP_HOST=api.host)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    _, other = create_api_key(tenant_b.schema_name, "tenant b", ["read"])
    assert api.post("{ customer(id: \"1\") { id } }", key=other).status_code == 403


def test_bad_queries_are_400_with_graphql_errors(api: Api):
    syntax = api.post("{ customer(id: ")
    assert syntax.status_code == 400
    assert syntax.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    unknown = api.post("{ customer(id: \"1\") { shoeSize } }")
    assert unknown.status_code == 400
    bad_body = api.client.post("/graphql", data="{not json", content_type="application/json",
                               HTTP_HOST=api.host, HTTP_AUTHORIZATION=f"Bearer {api.key}")
    assert bad_body.status_code == 400
    wrong_variables = api.post("query($i: ID!) { customer(id: $i) { id } }", {"i": [1]})
    assert wrong_variables.status_code == 400


def test_get_serves_queries_and_a_batch_answers_each_operation(api: Api):
    response = api.client.get("/graphql", {"query": '{ product(id: "SKU-00001") { id } }'},
                              HTTP_HOST=api.host, HTTP_AUTHORIZATION=f"Bearer {api.key}")
    assert response.status_code == 200
    assert response.json()["data"]["product"]["id"] == "SKU-00001"
    batch = api.post("", body=[{"query": '{ customer(id: "1") { id } }'},
                               {"query": "{ nope }"}])
    assert batch.status_code == 200
    first, second = batch.json()
    assert first["data"]["customer"]["id"] == "1"
    assert second["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_a_batch_over_the_limit_is_refused_before_anything_runs(api: Api):
    response = api.post("", body=[{"query": "{ customer(id: \"1\") { id } }"}] * 11)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BATCH_TOO_LARGE"
