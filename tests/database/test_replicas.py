"""Catalog reads on a real streaming replica: which reads it answers, in which tenant's
schema, and which stay on the primary to see their own writes.

Each test pauses the replica's WAL replay before writing, so the replica serves the state
from before the write, as a lagging replica would: a read that returns the old state was
answered by the replica, one that returns the new state by the primary.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.db import connections, router, transaction
from django_tenants.utils import schema_context

from apps.catalog import services
from apps.catalog.contracts import EntityKey, Relationship
from apps.catalog.models import EntityRelationship
from dictamesh.database import replicas
from tests.database.conftest import REPLICA_ALIAS, ReplicatedPlatform


def _link(subject: str, obj: str) -> None:
    services.record_relationship(Relationship(EntityKey("customer", subject), "placed",
                                              EntityKey("invoice", obj)))


def _invoices_of(customer: str) -> set[str]:
    graph = services.query_relationship_graph("customer", customer)
    return {edge.object.entity_id for edge in graph.edges}


def _event(entity_id: str) -> dict:
    return {"event_id": uuid.uuid4(), "event_type": "entity_updated",
            "entity_type": "customer", "entity_id": entity_id, "entity_version": 1,
            "source_system": "directus", "event_timestamp": datetime.now(UTC)}


def _new_request() -> None:
    """What the start of a request or Celery task does: its reads may use replicas."""
    replicas.unpin()


@pytest.fixture
def platform(replicated_platform: ReplicatedPlatform) -> Iterator[ReplicatedPlatform]:
    replicated_platform.cluster.wait_for_replica()
    _new_request()
    yield replicated_platform
    replicated_platform.cluster.resume_replay()
    _new_request()


@pytest.fixture
def customer() -> str:
    return f"c-{uuid.uuid4().hex[:8]}"


def test_a_graph_read_is_answered_by_the_replica_in_the_tenants_own_schema(platform, customer):
    alpha, beta = platform.tenants
    with schema_context(alpha):
        _link(customer, "alpha-1")
    with schema_context(beta):
        _link(customer, "beta-1")
    platform.cluster.wait_for_replica()
    platform.cluster.pause_replay()
    with schema_context(alpha):
        _link(customer, "alpha-2")  # on the primary only, while the replica is paused
    _new_request()

    with schema_context(alpha):
        assert _invoices_of(customer) == {"alpha-1"}  # the replica's state, alpha's schema
        assert connections[REPLICA_ALIAS].schema_name == alpha  # type: ignore[attr-defined]
    with schema_context(beta):
        assert _invoices_of(customer) == {"beta-1"}  # the replica followed the switch
    with schema_context(alpha):
        assert _invoices_of(customer) == {"alpha-1"}

    platform.cluster.resume_replay()
    platform.cluster.wait_for_replica()
    with schema_context(alpha):
        assert _invoices_of(customer) == {"alpha-1", "alpha-2"}


@replicas.replica_read
def _where_a_read_goes() -> tuple[str, list[str], bool]:
    """The alias a replica read uses now, and that connection's search path and role."""
    reading = replicas.read_connection()
    with reading.cursor() as cursor:
        cursor.execute("SELECT current_schemas(false), pg_is_in_recovery()")
        search_path, in_recovery = cursor.fetchone()
    return reading.alias, search_path, in_recovery


def test_the_replica_runs_each_read_under_the_tenants_search_path(platform):
    alpha, beta = platform.tenants
    for schema in (alpha, beta, alpha):
        with schema_context(schema):
            alias, search_path, in_recovery = _where_a_read_goes()
        assert alias == REPLICA_ALIAS
        assert in_recovery is True  # a hot standby, not the primary
        assert search_path == [schema, "public"]


def test_after_a_write_the_same_request_reads_from_the_primary(platform, customer):
    alpha, _ = platform.tenants
    platform.cluster.pause_replay()
    with schema_context(alpha):
        _link(customer, "alpha-1")  # raw SQL through connection.cursor(): no router asked
        assert replicas.is_pinned()
        assert _invoices_of(customer) == {"alpha-1"}  # its own write, from the primary
    _new_request()
    with schema_context(alpha):
        assert _invoices_of(customer) == set()  # a new request reads the lagging replica


def test_a_read_inside_a_transaction_stays_on_the_primary(platform, customer):
    alpha, _ = platform.tenants
    with schema_context(alpha):
        _link(customer, "alpha-1")
    platform.cluster.wait_for_replica()
    platform.cluster.pause_replay()
    with schema_context(alpha):
        _link(customer, "alpha-2")
        _new_request()
        with transaction.atomic():
            assert _invoices_of(customer) == {"alpha-1", "alpha-2"}
        assert _invoices_of(customer) == {"alpha-1"}


def test_orm_reads_of_the_event_history_go_to_the_replica(platform):
    alpha, _ = platform.tenants
    entity = f"c-{uuid.uuid4().hex[:8]}"
    with schema_context(alpha):
        services.append_events([_event(entity)])
    platform.cluster.wait_for_replica()
    platform.cluster.pause_replay()
    with schema_context(alpha):
        services.append_events([_event(entity)])
        _new_request()
        assert len(services.entity_events("customer", entity)) == 1  # the replica's
        with transaction.atomic():
            assert len(services.entity_events("customer", entity)) == 2


def test_reads_outside_replica_reads_and_all_writes_use_the_primary(platform):
    alpha, _ = platform.tenants
    with schema_context(alpha):
        assert router.db_for_read(EntityRelationship) == "default"
        assert router.db_for_write(EntityRelationship) == "default"
        assert router.allow_migrate(REPLICA_ALIAS, "catalog") is False
        assert router.allow_migrate("default", "catalog") is True


def test_a_replica_that_fails_is_left_out_and_the_primary_answers(platform, customer):
    alpha, _ = platform.tenants
    platform.cluster.pause_replay()
    with schema_context(alpha):
        _link(customer, "alpha-1")
    _new_request()
    platform.cluster.replica.stop("immediate")
    try:
        with schema_context(alpha):
            assert _invoices_of(customer) == {"alpha-1"}  # from the primary
            alias, _, in_recovery = _where_a_read_goes()
        assert (alias, in_recovery) == ("default", False)  # the replica is left out a while
    finally:
        platform.cluster.replica.start()
        replicas.forget_failures()
    platform.cluster.wait_for_replica()
    with schema_context(alpha):
        assert _where_a_read_goes()[0] == REPLICA_ALIAS
        assert _invoices_of(customer) == {"alpha-1"}
