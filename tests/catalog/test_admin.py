"""Catalog curation in the Django admin, on a tenant's host."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from apps.catalog import services
from apps.catalog.contracts import EntityKey, EntityRegistration, Relationship
from apps.catalog.models import EntityRelationship
from tests.conftest import tenant_host


@pytest.fixture
def curator_client(client, settings, tenant_a):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]
    user = get_user_model().objects.create_superuser("curator", "", "pw-curator-1")
    client.force_login(user)
    client.defaults["HTTP_HOST"] = tenant_host(tenant_a.schema_name)
    with schema_context(tenant_a.schema_name):
        services.register_entities([
            EntityRegistration("customer", "42", "directus", 1,
                               {"email": "ada@example.com", "name": "Ada"}),
            EntityRegistration("invoice", "INV-1", "ecommerce", 1, {"total": "10.00"}),
        ])
        services.record_relationships([
            Relationship(EntityKey("invoice", "INV-1"), "billed_to", EntityKey("customer", "42")),
            Relationship(EntityKey("invoice", "INV-1"), "has_item",
                         EntityKey("invoice_item", "INV-1/1")),
        ])
    return client


def _entity_pk(tenant, entity_type, entity_id):
    from apps.catalog.models import EntityCatalog

    with schema_context(tenant.schema_name):
        return EntityCatalog.objects.get(entity_type=entity_type, entity_id=entity_id).pk


def _listed(page) -> list[tuple[str, str]]:
    assert page.status_code == 200
    return sorted((e.entity_type, e.entity_id) for e in page.context["cl"].result_list)


def test_entity_browser_filters_and_searches_attributes(curator_client):
    everything = [("customer", "42"), ("invoice", "INV-1")]
    assert _listed(curator_client.get("/admin/catalog/entitycatalog/")) == everything
    assert _listed(curator_client.get("/admin/catalog/entitycatalog/?entity_type=customer")) \
        == [("customer", "42")]
    assert _listed(curator_client.get("/admin/catalog/entitycatalog/?entity_type=invoice")) \
        == [("invoice", "INV-1")]
    # An attribute value (the customer's email), an id, and a term nothing holds.
    assert _listed(curator_client.get("/admin/catalog/entitycatalog/?q=ada@example")) \
        == [("customer", "42")]
    assert _listed(curator_client.get("/admin/catalog/entitycatalog/?q=INV-1")) \
        == [("invoice", "INV-1")]
    assert _listed(curator_client.get("/admin/catalog/entitycatalog/?q=nobody@nowhere")) == []


def test_entity_page_draws_its_graph_and_lists_lineage(curator_client, tenant_a):
    pk = _entity_pk(tenant_a, "invoice", "INV-1")
    page = curator_client.get(f"/admin/catalog/entitycatalog/{pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in html
    assert "customer:42" in html
    assert 'stroke-dasharray' in html  # invoice_item INV-1/1 is not in the catalog yet
    assert "Ada &lt;ada@example.com&gt;" in html  # the customer's node is named
    assert "billed_to" in html
    assert "Lineage" in html


def test_curator_adds_a_relationship_recorded_in_lineage(curator_client, tenant_a):
    response = curator_client.post("/admin/catalog/entityrelationship/add/", {
        "subject": "customer:42", "relationship_type": "same_as", "object": "invoice:INV-1",
        "reason": "the invoice names this customer by another email",
    })
    assert response.status_code == 302
    with schema_context(tenant_a.schema_name):
        edge = EntityRelationship.objects.get(relationship_type="same_as")
        assert (edge.origin, edge.created_by) == ("manual", "curator")
        assert (edge.subject_entity_id, edge.object_entity_id) == ("42", "INV-1")
    (logged,) = LogEntry.objects.filter(object_id=str(edge.pk),
                                        content_type__model="entityrelationship")
    assert logged.object_repr == "customer:42 -same_as-> invoice:INV-1"
    with schema_context(tenant_a.schema_name):
        lineage = services.query_lineage("curator:curator", "downstream", depth=1)
        assert [e.downstream for e in lineage.edges] == ["entity:customer:42"]


def test_an_edge_to_an_entity_never_seen_needs_a_confirmation(curator_client, tenant_a):
    form = {"subject": "customer:42", "relationship_type": "same_as",
            "object": "customer:43", "reason": "duplicate account"}
    refused = curator_client.post("/admin/catalog/entityrelationship/add/", form)
    assert refused.status_code == 200
    assert "The catalog has never seen customer:43" in refused.content.decode()
    with schema_context(tenant_a.schema_name):
        assert not EntityRelationship.objects.filter(relationship_type="same_as").exists()
    confirmed = curator_client.post("/admin/catalog/entityrelationship/add/",
                                    {**form, "confirm_unknown": "on"})
    assert confirmed.status_code == 302
    with schema_context(tenant_a.schema_name):
        assert EntityRelationship.objects.filter(relationship_type="same_as").count() == 1


@pytest.mark.parametrize(("field", "value", "message"), [
    ("reason", "   ", "This field is required."),
    ("subject", "customer42", "Name the entity as type:id"),
    ("object", ":42", "Name the entity as type:id"),
])
def test_a_bad_add_form_is_refused_with_a_message(curator_client, tenant_a, field, value,
                                                  message):
    form = {"subject": "customer:42", "relationship_type": "same_as",
            "object": "invoice:INV-1", "reason": "why not", field: value}
    page = curator_client.post("/admin/catalog/entityrelationship/add/", form)
    assert page.status_code == 200
    assert message in page.content.decode()
    with schema_context(tenant_a.schema_name):
        assert not EntityRelationship.objects.filter(relationship_type="same_as").exists()


def test_curator_retires_relationships_from_the_list_with_a_reason(curator_client, tenant_a):
    with schema_context(tenant_a.schema_name):
        pk = EntityRelationship.objects.get(relationship_type="billed_to").pk
    asked = curator_client.post("/admin/catalog/entityrelationship/", {
        "action": "retire_selected", "_selected_action": [pk],
    })
    assert asked.status_code == 302
    assert asked["Location"].endswith(f"/admin/catalog/entityrelationship/retire/?ids={pk}")
    without_reason = curator_client.post("/admin/catalog/entityrelationship/retire/",
                                         {"ids": str(pk), "reason": ""})
    assert without_reason.status_code == 200
    with schema_context(tenant_a.schema_name):
        assert EntityRelationship.objects.get(pk=pk).retired_at is None
    response = curator_client.post("/admin/catalog/entityrelationship/retire/",
                                   {"ids": str(pk), "reason": "wrong customer"})
    assert response.status_code == 302
    with schema_context(tenant_a.schema_name):
        edge = EntityRelationship.objects.get(pk=pk)
        assert edge.retired_at is not None
        assert edge.retired_by == "curator"
        graph = services.query_relationship_graph("invoice", "INV-1")
        assert "billed_to" not in {e.relationship_type for e in graph.edges}
    page = curator_client.get(f"/admin/catalog/entityrelationship/{pk}/change/").content.decode()
    assert "wrong customer" in page  # the audit trail on the relationship's page
    assert "Retire…" not in page  # retired already


def test_event_log_is_read_only_in_the_admin(curator_client):
    assert curator_client.get("/admin/catalog/eventlog/").status_code == 200
    assert curator_client.get("/admin/catalog/eventlog/add/").status_code == 403


def test_catalog_is_hidden_on_the_public_host(curator_client):
    curator_client.defaults["HTTP_HOST"] = "testserver"
    index = curator_client.get("/admin/")
    assert index.status_code == 200
    assert b"/admin/catalog/" not in index.content
    assert b"/admin/tenancy/" in index.content
