"""While introspection is off, a subgraph's `_service { sdl }` (the whole schema) is served
to admin-scoped keys only: the key a gateway composing the subgraphs is given."""

from __future__ import annotations

from apps.tenancy.api_keys import create_api_key
from tests.federation.conftest import Api

SDL = "{ _service { sdl } }"


def test_a_read_key_gets_no_sdl_while_introspection_is_off(api: Api, settings):
    settings.GRAPHQL_INTROSPECTION = False
    response = api.post(SDL, path="/graphql/customers")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "INTROSPECTION_DISABLED"
    assert "admin-scoped" in error["message"]
    hidden = api.post("query { ...S } fragment S on Query { _service { sdl } }",
                      path="/graphql/customers")
    assert hidden.status_code == 400


def test_an_admin_key_gets_the_sdl_while_introspection_is_off(api: Api, settings):
    settings.GRAPHQL_INTROSPECTION = False
    _, admin = create_api_key(api.tenant, "gateway", ["admin"])
    response = api.post(SDL, path="/graphql/customers", key=admin)
    assert response.status_code == 200, response.content
    assert "type Customer" in response.json()["data"]["_service"]["sdl"]


def test_any_key_gets_the_sdl_while_introspection_is_on(api: Api):
    body = api.query(SDL, path="/graphql/customers")
    assert "type Customer" in body["data"]["_service"]["sdl"]
