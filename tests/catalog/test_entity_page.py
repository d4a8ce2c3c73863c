"""The entity list and page as a curator reads them: names, natural id order, versions as
times, and provenance (source connection without credentials, cache record, both update
times, events newest first and paged, curator changes)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from django_tenants.utils import schema_context

from apps.adapters.models import SourceConnection
from apps.catalog import services
from apps.catalog.contracts import EntityKey, EntityRegistration, Relationship
from apps.catalog.models import CacheStatus, EntityCatalog

SOURCE_TIME = datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)


def _page(client, entity_type: str, entity_id: str, query: str = "") -> str:
    pk = EntityCatalog.objects.get(entity_type=entity_type, entity_id=entity_id).pk
    response = client.get(f"/admin/catalog/entitycatalog/{pk}/change/{query}")
    assert response.status_code == 200
    return response.content.decode()


def test_the_list_names_entities_sorts_ids_naturally_and_shows_versions_as_times(
        curator, tenant_a):
    with schema_context(tenant_a.schema_name):
        services.register_entities(
            [EntityRegistration("customer", str(n), "directus",
                                int(SOURCE_TIME.timestamp() * 1000),
                                {"name": f"Customer {n}", "email": f"c{n}@example.com"})
             for n in (1, 10, 100, 11, 2)]
            + [EntityRegistration("supplier", "S-1", "suppliers", 7, {"name": "Acme"})])
    page = curator.get("/admin/catalog/entitycatalog/?entity_type=customer")
    assert page.status_code == 200
    listed = [e.entity_id for e in page.context["cl"].result_list]
    assert listed == ["1", "2", "10", "11", "100"]
    html = page.content.decode()
    assert "Customer 10 &lt;c10@example.com&gt;" in html
    assert "2026-03-04 05:06:07.890 UTC" in html
    suppliers = curator.get("/admin/catalog/entitycatalog/?entity_type=supplier").content
    assert b"<td class=\"field-version_time\">7</td>" in suppliers  # a counter stays a number


def test_provenance_names_the_source_connection_without_credentials(curator, tenant_a):
    polled, webhook = (datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
                       datetime(2026, 5, 1, 12, 5, tzinfo=UTC))
    with schema_context(tenant_a.schema_name):
        services.register_entities([EntityRegistration(
            "product", "SKU-1", "products", 5, {"name": "Widget"},
            source_updated_at=datetime(2026, 4, 30, 9, 0, tzinfo=UTC))])
        SourceConnection.objects.create(
            name="catalogue", adapter="products",
            base_url="https://reader:s3cret-pw@products.example/api",
            health_state="degraded", health_detail="slow answers",
            last_polled_at=polled, last_webhook_at=webhook,
            last_poll_error="HTTPError: 500 from https://reader:s3cret-pw@products.example/api")
        SourceConnection.objects.create(name="unrelated", adapter="directus",
                                        base_url="https://directus.example")
        CacheStatus.objects.create(entity_type="product", entity_id="SKU-1",
                                   source_system="catalogue", record={"id": "SKU-1"},
                                   fetched_at=datetime(2026, 5, 1, 11, 0, tzinfo=UTC))
        html = _page(curator, "product", "SKU-1")
    assert "s3cret-pw" not in html
    assert "https://***@products.example/api" in html
    assert ">catalogue</a>" in html
    assert "unrelated" not in html
    assert "degraded" in html
    assert "slow answers" in html
    assert "May 1, 2026, noon" in html  # last poll
    assert "May 1, 2026, 12:05 p.m." in html  # last webhook
    assert "April 30, 2026, 9 a.m." in html  # source updated at, apart from the catalog's
    assert "catalog updated at" in html
    assert "fetched May 1, 2026, 11 a.m." in html  # the cache record
    # One name per source: the connection's, as the cache records and metrics name it.
    listed = curator.get("/admin/catalog/entitycatalog/").content.decode()
    assert '<td class="field-source">catalogue (products)</td>' in listed


def test_events_are_newest_first_and_paged(curator, tenant_a):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with schema_context(tenant_a.schema_name):
        services.register_entities([EntityRegistration("customer", "1", "directus", 1, {})])
        # Appended out of order, as a replay or late delivery would.
        services.append_events([{
            "event_id": str(uuid.uuid4()), "event_type": "updated", "entity_type": "customer",
            "entity_id": "1", "entity_version": n, "source_system": "directus",
            "event_timestamp": start + timedelta(minutes=n)} for n in (3, 1, 30, 2, *range(4, 30))])
        first = _page(curator, "customer", "1")
        second = _page(curator, "customer", "1", "?events_page=2")
    assert "Events, newest first (30)" in first
    assert first.index("Jan. 1, 2026, 12:30 a.m.") < first.index("Jan. 1, 2026, 12:29 a.m.")
    assert "12:05 a.m." not in first
    assert "12:05 a.m." in second
    assert "page 2 of 2" in second


def test_the_entity_page_shows_curator_changes_with_their_reasons(curator, tenant_a):
    with schema_context(tenant_a.schema_name):
        services.register_entities([EntityRegistration("customer", "1", "directus", 1, {}),
                                    EntityRegistration("customer", "2", "directus", 1, {})])
        edge = services.add_manual_relationship(
            Relationship(EntityKey("customer", "1"), "same_as", EntityKey("customer", "2")),
            curator="cora", reason="one person, two sign-ups")
        assert edge is not None
        services.retire_relationship(edge.id, curator="cora", reason="two people after all")
        html = _page(curator, "customer", "2")  # the object's page lists them too
    assert "one person, two sign-ups" in html
    assert "two people after all" in html
    assert "relationship.retired" in html


def test_a_viewer_reads_the_page_but_may_not_add_or_retire(member_of_a, tenant_a):
    client = member_of_a("vic", "viewer")
    with schema_context(tenant_a.schema_name):
        services.register_entities([EntityRegistration("customer", "1", "directus", 1, {})])
        edge = services.record_relationship(Relationship(
            EntityKey("customer", "1"), "referred_by", EntityKey("customer", "2")))
        assert edge is not None
        html = _page(client, "customer", "1")
    assert "Add a relationship by hand" not in html
    assert client.get(f"/admin/catalog/entityrelationship/retire/?ids={edge.id}"
                      ).status_code == 403
    refused = client.post("/admin/catalog/entityrelationship/retire/",
                          {"ids": str(edge.id), "reason": "not allowed"})
    assert refused.status_code == 403
    with schema_context(tenant_a.schema_name):
        assert services.query_relationship_graph("customer", "1").edges != []
