"""The graph explorer: pass-through line items collapsed, depth counted in drawn hops, its
JSON answer and look-ups, bad parameters refused with a message, the vendored script."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django_tenants.utils import schema_context

from apps.catalog import services
from apps.catalog.contracts import EntityKey, EntityRegistration, InvalidGraphQuery, Relationship
from apps.catalog.explorer import explore
from apps.catalog.models import EntityCatalog
from apps.tenancy.services import add_member
from tests.conftest import tenant_host

VENDORED = Path(__file__).resolve().parents[2] / "apps/catalog/static/catalog/explorer"
CUSTOMER = EntityKey("customer", "7")


def _shop(invoices: int = 2) -> None:
    """A customer with invoices whose line items reference products, as the e-commerce
    adapter records them: line items are never entities of their own."""
    services.register_entities(
        [EntityRegistration("customer", "7", "directus", 1, {"name": "Grace",
                                                            "email": "grace@example.com"})]
        + [EntityRegistration("invoice", f"INV-{n}", "ecommerce", 1, {"invoice_number": str(n)})
           for n in range(1, invoices + 1)]
        + [EntityRegistration("product", "SKU-1", "products", 1, {"name": "Widget"})])
    edges = []
    for n in range(1, invoices + 1):
        invoice, item = EntityKey("invoice", f"INV-{n}"), EntityKey("invoice_item", f"INV-{n}/1")
        edges += [Relationship(invoice, "billed_to", CUSTOMER),
                  Relationship(invoice, "has_item", item),
                  Relationship(item, "references", EntityKey("product", "SKU-1"))]
    services.record_relationships(edges)


@pytest.fixture
def in_tenant(tenant_a):
    with schema_context(tenant_a.schema_name):
        yield tenant_a


def _keys(graph) -> set[str]:
    return {str(node.key) for node in graph.nodes}


def test_line_items_collapse_so_a_customers_products_are_two_hops_away(in_tenant):
    _shop()
    graph = explore("customer", "7", depth=2)
    assert _keys(graph) == {"customer:7", "invoice:INV-1", "invoice:INV-2", "product:SKU-1"}
    assert graph.collapsed_types == frozenset({"invoice_item"})
    through = [e for e in graph.edges if e.object == EntityKey("product", "SKU-1")]
    assert sorted((str(e.subject), e.label, tuple(map(str, e.via))) for e in through) == [
        ("invoice:INV-1", "has_item › references", ("invoice_item:INV-1/1",)),
        ("invoice:INV-2", "has_item › references", ("invoice_item:INV-2/1",))]
    assert {node.depth for node in graph.nodes if node.key.entity_type == "product"} == {2}


def test_depth_counts_drawn_hops_and_direction_is_followed(in_tenant):
    _shop()
    assert _keys(explore("customer", "7", depth=1)) == {
        "customer:7", "invoice:INV-1", "invoice:INV-2"}
    # From a product, incoming only: the invoices that hold it (their customer is at the
    # end of an edge going out of each invoice, so it is not reached).
    assert _keys(explore("product", "SKU-1", depth=2, direction="incoming")) == {
        "product:SKU-1", "invoice:INV-1", "invoice:INV-2"}
    assert _keys(explore("product", "SKU-1", depth=2, direction="outgoing")) == {
        "product:SKU-1"}
    only_billing = explore("customer", "7", depth=2, relationship_types=["billed_to"])
    assert _keys(only_billing) == {"customer:7", "invoice:INV-1", "invoice:INV-2"}


def test_a_type_the_catalog_holds_is_never_collapsed(in_tenant):
    _shop()
    services.register_entities([EntityRegistration("invoice_item", "INV-1/1", "ecommerce", 1,
                                                   {"line": 1})])
    graph = explore("customer", "7", depth=2)
    assert graph.collapsed_types == frozenset()
    assert "invoice_item:INV-1/1" in _keys(graph)
    assert "product:SKU-1" not in _keys(graph)  # three hops now


@pytest.mark.parametrize("depth", [0, 6])
def test_a_depth_out_of_range_is_refused(in_tenant, depth):
    with pytest.raises(InvalidGraphQuery, match="depth must be between 1 and 5"):
        explore("customer", "7", depth=depth)


def test_the_picture_of_a_product_on_many_invoices_wraps_instead_of_a_strip(in_tenant,
                                                                             curator):
    _shop(invoices=35)
    client, pk = curator, services_pk("product", "SKU-1")
    html = client.get(f"/admin/catalog/entitycatalog/{pk}/change/?depth=1").content.decode()
    size = re.search(r'<svg[^>]*width="(\d+)" height="(\d+)"', html)
    assert size is not None
    width, height = map(int, size.groups())
    assert height < 700  # 35 invoices in columns of 10, not one 2,000 px column
    assert width < 1400
    assert html.count('<a href="/admin/catalog/entitycatalog/open/?type=invoice') == 35


def services_pk(entity_type: str, entity_id: str) -> int:
    return EntityCatalog.objects.get(entity_type=entity_type, entity_id=entity_id).pk


def test_the_graph_answer_over_http(in_tenant, curator):
    _shop()
    answer = curator.get("/admin/catalog/entitycatalog/graph/",
                         {"type": "customer", "id": "7", "depth": "2"})
    assert answer.status_code == 200
    body = answer.json()
    nodes = {node["id"]: node for node in body["nodes"]}
    assert set(nodes) == {"customer:7", "invoice:INV-1", "invoice:INV-2", "product:SKU-1"}
    assert nodes["customer:7"]["name"] == "Grace <grace@example.com>"
    assert nodes["customer:7"]["root"] is True
    assert nodes["product:SKU-1"]["url"] == (
        "/admin/catalog/entitycatalog/open/?type=product&id=SKU-1")
    opened = curator.get(nodes["product:SKU-1"]["url"])
    assert opened.status_code == 302
    assert opened["Location"] == (
        f"/admin/catalog/entitycatalog/{services_pk('product', 'SKU-1')}/change/")
    assert {edge["label"] for edge in body["edges"]} == {"billed_to", "has_item › references"}


@pytest.mark.parametrize(("query", "message"), [
    ({"type": "customer", "id": "7", "depth": "six"}, "depth must be a whole number"),
    ({"type": "customer", "id": "7", "depth": "9"}, "depth must be between 1 and 5"),
    ({"type": "customer", "id": "7", "direction": "sideways"}, "direction must be one of"),
    ({"type": "customer"}, "Name the entity"),
    ({"type": "customer", "id": "7\x00"}, "NUL"),
    ({"type": "customer", "id": "7", "types": "billed_to,\x00"}, "NUL"),
])
def test_bad_graph_parameters_are_a_400_with_a_message(in_tenant, curator, query, message):
    answer = curator.get("/admin/catalog/entitycatalog/graph/", query)
    assert answer.status_code == 400
    assert message in answer.json()["error"]


def test_a_bad_depth_on_the_entity_page_is_a_message_not_an_error(in_tenant, curator):
    _shop()
    page = curator.get(f"/admin/catalog/entitycatalog/{services_pk('customer', '7')}/change/",
                       {"depth": "lots"})
    assert page.status_code == 200
    assert "depth must be a whole number" in page.content.decode()


def test_opening_an_entity_the_catalog_has_not_seen_says_so(in_tenant, curator):
    answer = curator.get("/admin/catalog/entitycatalog/open/",
                         {"type": "invoice_item", "id": "INV-1/1"}, follow=True)
    assert answer.status_code == 200
    assert "The catalog has not seen invoice_item:INV-1/1 (yet)." in answer.content.decode()


def test_the_lookup_finds_entities_by_name_email_or_key(in_tenant, curator):
    _shop()

    def found(term: str) -> list[str]:
        answer = curator.get("/admin/catalog/entitycatalog/lookup/", {"q": term})
        assert answer.status_code == 200
        return [match["value"] for match in answer.json()["results"]]

    assert found("grace@exa") == ["customer:7"]
    assert found("Widget") == ["product:SKU-1"]
    assert found("invoice:INV-") == ["invoice:INV-1", "invoice:INV-2"]
    assert found("") == []
    assert found("nobody-has-this") == []
    assert found("grace\x00") == []


def test_a_viewer_may_not_read_the_graph_of_another_tenant(in_tenant, client, tenant_b,
                                                          settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]
    add_member(tenant_b.schema_name, "bea", "viewer")
    client.force_login(get_user_model().objects.get(username="bea"))
    answer = client.get("/admin/catalog/entitycatalog/graph/", {"type": "customer", "id": "7"},
                        HTTP_HOST=tenant_host(in_tenant.schema_name))
    assert answer.status_code == 403


def test_the_vendored_cytoscape_matches_its_pin():
    lines = (VENDORED / "VERSIONS.txt").read_text("utf-8").splitlines()
    pinned = {name: digest for digest, name in (line.split("  ") for line in lines
                                                if re.fullmatch(r"[0-9a-f]{64}  \S+", line))}
    assert set(pinned) == {"cytoscape.min.js"}
    found = finders.find("catalog/explorer/cytoscape.min.js")
    assert found
    assert hashlib.sha256(Path(found).read_bytes()).hexdigest() == pinned["cytoscape.min.js"]
    assert "cytoscape 3.34.4" in (VENDORED / "LICENSES.txt").read_text("utf-8")
