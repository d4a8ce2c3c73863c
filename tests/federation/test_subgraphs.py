"""Each domain served as an Apollo Federation v2 subgraph: SDL with @key, and _entities."""

from __future__ import annotations

import uuid

import graphql
import pytest

from apps.catalog import services as catalog
from apps.catalog.contracts import EntityRegistration
from apps.sagas import services
from tests.federation.conftest import Api
from tests.federation.expected import CUSTOMERS, invoices_of

ENTITY_TYPES = {"customers": {"Customer"}, "products": {"Product"},
                "invoices": {"Invoice", "Customer", "Product"}, "catalog": {"CatalogEntity"},
                "sagas": {"Saga"}}

# The federation spec's own definitions, which a subgraph's SDL uses but does not declare.
FEDERATION_DEFINITIONS = """
directive @link(url: String, import: [String]) repeatable on SCHEMA
directive @key(fields: FieldSet!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE
directive @shareable repeatable on OBJECT | FIELD_DEFINITION
"""


@pytest.mark.parametrize("domain", sorted(ENTITY_TYPES))
def test_subgraph_sdl_parses_and_keys_its_entities(api: Api, domain: str):
    body = api.query("{ _service { sdl } }", path=f"/graphql/{domain}")
    sdl = body["data"]["_service"]["sdl"]
    schema = graphql.build_schema(FEDERATION_DEFINITIONS + sdl)
    for name in ENTITY_TYPES[domain]:
        named = schema.get_type(name)
        assert named is not None, f"{name} is missing from the {domain} subgraph"
        node = named.ast_node
        assert node is not None
        keys = [d for d in node.directives or () if d.name.value == "key"]
        assert keys, f"{name} has no @key in the {domain} subgraph"
    assert "@link(url: \"https://specs.apollo.dev/federation/v2" in sdl


def test_entities_resolve_references_through_the_loaders(api: Api):
    body = api.query("""
      query($reps: [_Any!]!) { _entities(representations: $reps) {
        __typename ... on Customer { id email name } } }""",
        {"reps": [{"__typename": "Customer", "id": "1"}, {"__typename": "Customer", "id": "2"}]},
        path="/graphql/customers")
    assert "errors" not in body, body
    assert body["data"]["_entities"] == [
        {"__typename": "Customer", "id": key, "email": CUSTOMERS[key]["email"],
         "name": CUSTOMERS[key]["name"]} for key in ("1", "2")]


def test_invoices_subgraph_resolves_customer_invoices_by_reference(api: Api):
    body = api.query("""
      query($reps: [_Any!]!) { _entities(representations: $reps) {
        ... on Customer { id invoices { id customer { id } items { product { id } } } } } }""",
        {"reps": [{"__typename": "Customer", "id": "1"}]}, path="/graphql/invoices")
    assert "errors" not in body, body
    customer = body["data"]["_entities"][0]
    expected = invoices_of("1")
    assert expected, "the seed bills customer 1"
    assert sorted(customer["invoices"], key=lambda invoice: invoice["id"]) == [
        {"id": invoice["id"], "customer": {"id": "1"},
         "items": [{"product": {"id": item["sku"]}} for item in invoice["items"]]}
        for invoice in sorted(expected, key=lambda invoice: invoice["id"])]


def test_the_unified_graph_is_not_a_subgraph(api: Api):
    response = api.post("{ _service { sdl } }")
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_catalog_subgraph_resolves_catalog_entities(api: Api):
    catalog.register_entities([EntityRegistration("customer", "42", "directus", 1,
                                                  {"email": "ada@example.com"})])
    body = api.query("""
      query($reps: [_Any!]!) { _entities(representations: $reps) {
        ... on CatalogEntity { type id sourceSystem } } }""",
        {"reps": [{"__typename": "CatalogEntity", "type": "customer", "id": "42"},
                  {"__typename": "CatalogEntity", "type": "customer", "id": "nobody"}]},
        path="/graphql/catalog")
    assert "errors" not in body, body
    assert body["data"]["_entities"] == [
        {"type": "customer", "id": "42", "sourceSystem": "directus"}, None]


def test_sagas_subgraph_resolves_sagas_by_reference(api: Api):
    started = services.start_saga(services.CREATE_INVOICE, {
        "customer_id": "1", "items": [{"product_id": "SKU-00001", "quantity": 1}]})
    body = api.query("""
      query($reps: [_Any!]!) { _entities(representations: $reps) {
        ... on Saga { id definition state } } }""",
        {"reps": [{"__typename": "Saga", "id": started.id},
                  {"__typename": "Saga", "id": str(uuid.uuid4())}]},
        path="/graphql/sagas")
    assert "errors" not in body, body
    found, missing = body["data"]["_entities"]
    assert (found["id"], found["definition"]) == (started.id, services.CREATE_INVOICE)
    assert missing is None


def test_the_sagas_subgraph_serves_the_mutation(api: Api):
    sdl = api.query("{ _service { sdl } }", path="/graphql/sagas")["data"]["_service"]["sdl"]
    schema = graphql.build_schema(FEDERATION_DEFINITIONS + sdl)
    assert schema.mutation_type is not None
    assert "createInvoice" in schema.mutation_type.fields
