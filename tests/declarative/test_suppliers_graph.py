"""A fourth source, described only in data, end to end: connected by its description,
polled into change events, relayed to the broker, cataloged (entities and relationships)
by the running catalog consumer, and queried in GraphQL as its own type and as
`supplier { name }` on Product, through the relationship the catalog learned."""

from __future__ import annotations

import time

import pytest
import requests

from apps.adapters import services
from apps.adapters.changes import poll
from apps.catalog import services as catalog_services
from apps.catalog.models import EntityCatalog, EntityRelationship
from apps.events.relay import relay_pending
from apps.tenancy.api_keys import create_api_key
from devtools.reference.suppliers import DEFAULT_TOKEN, SuppliersServer
from dictamesh.events.producer import EventProducer
from tests.conftest import tenant_host
from tests.consumers import catalog_consumer
from tests.declarative.conftest import SPEC

PRODUCT_QUERY = """{
  products(ids: ["SKU-00001", "SKU-00008", "SKU-00040"]) {
    id name supplier { id name country creditLimit { amount currency } products { id } }
  }
}"""


def _wait_for(condition, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout  # generous: a busy machine may take a while
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.3)
    return False


@pytest.fixture
def suppliers_api(gql_sources):  # noqa: F811
    with SuppliersServer(seed=11, sizes=gql_sources.products.sizes) as server:
        yield server


def test_a_source_described_in_data_is_polled_cataloged_and_related_in_graphql(
        api_committed, suppliers_api, kafka_bootstrap):
    api = api_committed
    services.save_description("suppliers", SPEC, saved_by="platform-team")
    services.connect_source("suppliers", "suppliers", suppliers_api.base_url,
                            {"token": DEFAULT_TOKEN})

    # Its own type and root fields, straight from the source (no catalog needed).
    answer = api.query('{ supplier(id: "SUP-002") { name active rating updatedAt '
                       'products { id name } } suppliers(ids: ["SUP-006", "nope"]) { id } }')
    assert "errors" not in answer, answer
    supplier = answer["data"]["supplier"]
    assert supplier["name"] == suppliers_api.records["SUP-002"]["name"]
    assert [p["id"] for p in supplier["products"]] == suppliers_api.records[
        "SUP-002"]["product_skus"]
    assert supplier["products"][0]["name"]  # loaded from the products source
    assert answer["data"]["suppliers"] == [{"id": "SUP-006"}, None]

    _poll_and_relay(6)
    with catalog_consumer(rf"{api.tenant}\.suppliers\.suppliers\.entity_changed", "declared"):
        assert _wait_for(lambda: EntityRelationship.objects.filter(
            subject_entity_type="supplier", relationship_type="supplies").count() == 40), \
            "the catalog consumer did not record the suppliers' relationships in time"
        _check_the_graph(api, suppliers_api)

        # SKU-00008 moves from SUP-002 to SUP-003: the catalog keeps the old edge too, and
        # the answer follows what the supplier records say now.
        _move("SKU-00008", suppliers_api, "SUP-002", "SUP-003")
        _poll_and_relay(2)
        assert _wait_for(lambda: EntityRelationship.objects.filter(
            subject_entity_id="SUP-003", object_entity_id="SKU-00008").exists()), \
            "the catalog consumer did not record the moved product in time"
        assert _wait_for(lambda: api.query(PRODUCT_QUERY)["data"]["products"][1][
            "supplier"]["id"] == "SUP-003"), "the product's supplier did not follow the move"


def _poll_and_relay(expected: int) -> None:
    result = poll(services.data_product_named("suppliers"))
    assert (result.error, result.changes) == ("", expected)
    producer = EventProducer.from_settings()
    try:
        # (with what the catalog consumer published meanwhile: lineage announcements)
        relayed = relay_pending(producer)
        assert (relayed.failed, relayed.sent >= expected) == (0, True)
    finally:
        producer.close(timeout=5)


def _move(sku: str, server: SuppliersServer, from_id: str, to_id: str) -> None:
    for supplier_id, change in ((from_id, lambda skus: [s for s in skus if s != sku]),
                                (to_id, lambda skus: [*skus, sku])):
        skus = change(server.records[supplier_id]["product_skus"])
        requests.patch(f"{server.base_url}/api/suppliers/{supplier_id}",
                       json={"product_skus": skus}, timeout=10,
                       headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}
                       ).raise_for_status()


def _check_the_graph(api, suppliers_api) -> None:
    cataloged = EntityCatalog.objects.get(entity_type="supplier", entity_id="SUP-001")
    assert cataloged.source_system == "suppliers"
    graph = catalog_services.query_relationship_graph("product", "SKU-00008",
                                                      direction="incoming", max_depth=1)
    assert {(str(e.subject), e.relationship_type) for e in graph.edges} == {
        ("supplier:SUP-002", "supplies")}

    answer = api.query(PRODUCT_QUERY)
    assert "errors" not in answer, answer
    one, eight, forty = answer["data"]["products"]
    assert (one["supplier"]["id"], eight["supplier"]["id"], forty["supplier"]["id"]) == (
        "SUP-001", "SUP-002", "SUP-004")
    assert eight["supplier"]["name"] == suppliers_api.records["SUP-002"]["name"]
    assert eight["supplier"]["creditLimit"]["currency"] == "EUR"
    assert {"id": "SKU-00008"} in eight["supplier"]["products"]


def test_a_tenants_graph_follows_its_descriptions_and_no_other_tenant_sees_them(
        api, suppliers_server, tenant_b):
    query = '{ supplier(id: "SUP-001") { name } }'
    before = api.post(query)
    assert before.status_code == 400  # no such field yet
    services.save_description("suppliers", SPEC)
    services.connect_source("suppliers", "suppliers", suppliers_server.base_url,
                            {"token": DEFAULT_TOKEN})
    answer = api.query(query)
    assert answer["data"]["supplier"]["name"] == suppliers_server.records["SUP-001"]["name"]

    # Another description version rebuilds the graph: a renamed reverse field.
    relation = {**SPEC["relationships"][0], "reverse": "vendor"}
    services.save_description("suppliers", {**SPEC, "relationships": [relation]})
    assert "errors" not in api.query('{ product(id: "SKU-00001") { vendor { id } } }')

    _, other_key = create_api_key(tenant_b.schema_name, "tenant b", ["read"])
    elsewhere = api.client.post("/graphql", data={"query": query},
                                content_type="application/json",
                                HTTP_HOST=tenant_host(tenant_b.schema_name),
                                HTTP_AUTHORIZATION=f"Bearer {other_key}",
                                HTTP_ACCEPT="application/graphql-response+json")
    assert elsewhere.status_code == 400  # a request error, for a client of the new type
    assert "Cannot query field 'supplier'" in elsewhere.json()["errors"][0]["message"]
