"""The catalog's service API on real PostgreSQL, inside tenant schemas."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.catalog import services
from apps.catalog.contracts import (
    EntityKey,
    EntityNotFound,
    EntityRegistration,
    InvalidCuration,
    InvalidGraphQuery,
    Relationship,
)
from apps.catalog.models import EntityCatalog, EventLog
from dictamesh.cache import StoredEntry


@pytest.fixture
def in_tenant_a(tenant_a):
    with schema_context(tenant_a.schema_name):
        yield tenant_a


def _customer(version: int, email: str, entity_id: str = "42") -> EntityRegistration:
    return EntityRegistration("customer", entity_id, "directus", version,
                              {"email": email}, adapter="directus")


def _edge(a: str, rel: str, b: str) -> Relationship:
    a_type, a_id = a.split(":")
    b_type, b_id = b.split(":")
    return Relationship(EntityKey(a_type, a_id), rel, EntityKey(b_type, b_id))


# --- registry -----------------------------------------------------------------------------

def test_out_of_order_versions_keep_the_newest(in_tenant_a):
    first = services.register_entity(_customer(3, "v3@example.com"))
    assert first is not None
    assert first.created is True
    assert services.register_entity(_customer(1, "v1@example.com")) is None
    assert services.register_entity(_customer(3, "again@example.com")) is None
    outcome = services.register_entity(_customer(5, "v5@example.com"))
    assert outcome is not None
    assert outcome.created is False
    assert services.register_entity(_customer(4, "v4@example.com")) is None

    entry = EntityCatalog.objects.get(entity_type="customer", entity_id="42")
    assert (entry.version, entry.attributes["email"]) == (5, "v5@example.com")


def test_a_batch_keeps_the_highest_version_of_each_key(in_tenant_a):
    outcomes = services.register_entities(
        [_customer(2, "b"), _customer(7, "newest"), _customer(1, "a"), _customer(1, "x", "43")]
    )
    assert {o.key.entity_id for o in outcomes} == {"42", "43"}
    assert EntityCatalog.objects.get(entity_id="42").attributes == {"email": "newest"}


def test_entity_location_names_source_adapter_and_freshness(in_tenant_a):
    services.register_entity(_customer(1, "a@example.com"))
    location = services.get_entity_location("customer", "42")
    assert (location.source_system, location.adapter, location.version) == (
        "directus", "directus", 1)
    assert 0 <= location.age_seconds < 60
    with pytest.raises(EntityNotFound, match="no customer '999'"):
        services.get_entity_location("customer", "999")


def test_tenant_a_catalog_is_invisible_to_tenant_b(tenant_a, tenant_b):
    with schema_context(tenant_a.schema_name):
        services.register_entity(_customer(1, "alpha@example.com"))
        services.record_relationship(_edge("invoice:1", "billed_to", "customer:42"))
    with schema_context(tenant_b.schema_name):
        assert not EntityCatalog.objects.exists()
        with pytest.raises(EntityNotFound):
            services.get_entity_location("customer", "42")
        graph = services.query_relationship_graph("invoice", "1")
        assert graph.edges == []


# --- relationship graph -------------------------------------------------------------------

def test_cycle_terminates_at_max_depth_with_each_node_once(in_tenant_a):
    services.record_relationships([
        _edge("node:A", "next", "node:B"),
        _edge("node:B", "next", "node:C"),
        _edge("node:C", "next", "node:A"),
    ])
    for direction in ("outgoing", "incoming", "both"):
        graph = services.query_relationship_graph("node", "A", direction=direction,
                                                  max_depth=10)
        ids = [node.key.entity_id for node in graph.nodes]
        assert sorted(ids) == ["A", "B", "C"], direction
        assert len(graph.edges) == 3


def test_depth_limits_the_walk(in_tenant_a):
    services.record_relationships(
        [_edge(f"node:{i}", "next", f"node:{i + 1}") for i in range(8)]
    )
    graph = services.query_relationship_graph("node", "0", max_depth=3)
    assert {n.key.entity_id: n.depth for n in graph.nodes} == {"0": 0, "1": 1, "2": 2, "3": 3}
    assert len(graph.edges) == 3
    assert len(services.query_relationship_graph("node", "0").nodes) == 6  # default depth 5


def test_direction_and_type_filters(in_tenant_a):
    services.record_relationships([
        _edge("invoice:1", "billed_to", "customer:42"),
        _edge("invoice:1", "has_item", "invoice_item:1-1"),
        _edge("invoice_item:1-1", "references", "product:SKU-1"),
        _edge("invoice:2", "billed_to", "customer:42"),
    ])
    outgoing = services.query_relationship_graph("invoice", "1", direction="outgoing")
    assert {str(n.key) for n in outgoing.nodes} == {
        "invoice:1", "customer:42", "invoice_item:1-1", "product:SKU-1"}

    incoming = services.query_relationship_graph("customer", "42", direction="incoming",
                                                 max_depth=1)
    assert {str(n.key) for n in incoming.nodes} == {"customer:42", "invoice:1", "invoice:2"}
    assert services.query_relationship_graph(
        "customer", "42", direction="outgoing").nodes[1:] == []

    both = services.query_relationship_graph("customer", "42", direction="both", max_depth=2)
    assert "invoice_item:1-1" in {str(n.key) for n in both.nodes}

    billed_only = services.query_relationship_graph(
        "invoice", "1", relationship_types=["billed_to"])
    assert {str(n.key) for n in billed_only.nodes} == {"invoice:1", "customer:42"}


def test_bad_graph_queries_get_clear_errors(in_tenant_a):
    with pytest.raises(InvalidGraphQuery, match="between 1 and 10"):
        services.query_relationship_graph("customer", "42", max_depth=50)
    with pytest.raises(InvalidGraphQuery, match="direction"):
        services.query_relationship_graph("customer", "42", direction="sideways")  # type: ignore[arg-type]


def test_relationship_to_an_unseen_entity_is_kept_and_resolves_when_it_arrives(in_tenant_a):
    services.record_relationship(_edge("invoice:7", "billed_to", "customer:99"))
    before = services.query_relationship_graph("invoice", "7")
    customer = next(n for n in before.nodes if n.key == EntityKey("customer", "99"))
    assert customer.resolved is False

    services.register_entity(_customer(1, "late@example.com", entity_id="99"))
    after = services.query_relationship_graph("invoice", "7")
    customer = next(n for n in after.nodes if n.key == EntityKey("customer", "99"))
    assert customer.resolved is True
    assert customer.attributes == {"email": "late@example.com"}


def test_recording_an_edge_twice_keeps_one(in_tenant_a):
    edge = _edge("invoice:1", "billed_to", "customer:42")
    assert services.record_relationship(edge) is not None
    assert services.record_relationship(edge) is None


def test_manual_relationship_is_recorded_in_lineage_and_can_be_retired(in_tenant_a):
    edge = services.add_manual_relationship(_edge("customer:42", "same_as", "customer:43"),
                                            curator="alice", reason="one person, two accounts")
    assert edge is not None
    assert edge.origin == "manual"
    lineage = services.query_lineage("curator:alice", direction="downstream", depth=1)
    assert [(e.downstream, e.origin) for e in lineage.edges] == [
        ("entity:customer:42", "manual")]

    assert services.retire_relationship(edge.id, curator="alice", reason="not the same") is True
    assert services.retire_relationship(edge.id, curator="alice", reason="again") is False
    assert services.query_relationship_graph("customer", "42").edges == []
    lineage = services.query_lineage("curator:alice", direction="downstream", depth=1)
    assert len(lineage.edges) == 2


def test_a_curator_change_without_a_reason_is_refused_and_changes_nothing(in_tenant_a):
    with pytest.raises(InvalidCuration, match="reason"):
        services.add_manual_relationship(_edge("customer:42", "same_as", "customer:43"),
                                         curator="alice", reason="  ")
    assert services.query_relationship_graph("customer", "42").edges == []
    edge = services.add_manual_relationship(_edge("customer:42", "same_as", "customer:43"),
                                            curator="alice", reason="merge")
    assert edge is not None
    with pytest.raises(InvalidCuration, match="reason"):
        services.retire_relationship(edge.id, curator="alice", reason="")
    assert [e.id for e in services.query_relationship_graph("customer", "42").edges] == [edge.id]


# --- lineage ------------------------------------------------------------------------------

def test_lineage_upstream_and_downstream_n_hops(in_tenant_a):
    services.track_lineage("source:directus/customers", "topic:customers", "poll")
    services.track_lineage("topic:customers", "catalog:customer", "catalog consumer")
    services.track_lineage("catalog:customer", "graphql:Customer", "federation")
    services.track_lineage("topic:customers", "catalog:customer", "catalog consumer")

    down = services.query_lineage("source:directus/customers", "downstream", depth=2)
    assert down.nodes == {"source:directus/customers": 0, "topic:customers": 1,
                          "catalog:customer": 2}
    up = services.query_lineage("graphql:Customer", "upstream", depth=5)
    assert set(up.nodes) == {"graphql:Customer", "catalog:customer", "topic:customers",
                             "source:directus/customers"}
    consumer_edge = next(e for e in up.edges if e.transformation == "catalog consumer")
    assert consumer_edge.times_seen == 2


# --- event log ----------------------------------------------------------------------------

def _event(**overrides):
    entry = {
        "event_id": uuid.uuid4(), "event_type": "UPDATED", "entity_type": "customer",
        "entity_id": "42", "entity_version": 1, "source_system": "directus",
        "changed_fields": ["email"], "payload": {"email": "a@example.com"},
        "event_timestamp": timezone.now(),
    }
    entry.update(overrides)
    return entry


def test_event_log_appends_once_per_event_id(in_tenant_a):
    event = _event()
    assert services.append_events([event]) == 1
    assert services.append_events([event, _event()]) == 1
    assert EventLog.objects.count() == 2


@pytest.mark.parametrize("statement", [
    "UPDATE event_log SET entity_id = 'tampered'",
    "DELETE FROM event_log",
    "TRUNCATE event_log",
])
def test_event_log_rejects_update_delete_and_truncate(in_tenant_a, statement):
    services.append_events([_event()])
    with pytest.raises(DatabaseError, match="event_log is immutable"), \
            transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert EventLog.objects.filter(entity_id="42").count() == 1


def test_only_the_retention_job_removes_old_events(in_tenant_a):
    services.append_events([_event(), _event()])
    assert services.purge_event_log(older_than=timedelta(days=30)) == 0
    assert services.purge_event_log(older_than=timedelta(seconds=-1)) == 2
    assert EventLog.objects.count() == 0
    # The permission does not outlive the retention job's transaction.
    services.append_events([_event()])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM event_log")


def test_l3_invalidation_marks_exactly_the_named_ids_stale_whatever_their_characters(tenant_a):
    ids = ['a,b', 'quote"d', "it's", "ünï", "{1,2}", "plain"]
    store = services.l3_cache_store()
    with schema_context(tenant_a.schema_name):
        store.put_many("customer", {i: StoredEntry({"id": i, "source": "directus"},
                                                   timezone.now(), False) for i in ids})
        store.put_many("invoice", {"a,b": StoredEntry({"id": "a,b"}, timezone.now(), False)})
        store.invalidate("customer", ids[:5])
        stale = {i for i, entry in store.get_many("customer", ids).items() if entry.invalidated}
        assert stale == set(ids[:5])
        assert store.get_many("invoice", ["a,b"])["a,b"].invalidated is False
