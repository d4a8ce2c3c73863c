"""Offboarding then onboarding a tenant of the same slug: nothing of the old tenant remains.

Its schema and rows, its topics' records, its registry subjects, its API keys, its cache
entries, its circuit breakers and its API keys' rate-limit counters all live somewhere
other than one table; each is planted here first and looked for after the new onboarding.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django_redis import get_redis_connection
from django_tenants.utils import schema_context
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from apps.catalog import services as catalog
from apps.catalog.contracts import EntityRegistration
from apps.catalog.models import EntityCatalog
from apps.catalog.schema_registry import services as registry
from apps.catalog.schema_registry.models import Subject as SubjectModel
from apps.federation import ratelimit
from apps.federation.auth import Principal
from apps.tenancy import services as tenancy
from dictamesh.events.topics import delete_tenant_topics
from dictamesh.resilience import reset_breakers
from dictamesh.resilience.breaker import breaker_state, get_breaker
from tests.schema_registry.conftest import USER_V1

SLUG = "rho"
TOPIC = f"{SLUG}.customers.directus.entity_changed"
SUBJECT = f"{TOPIC}-value"


def _records_in(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic)
        assert partitions, f"topic {topic} does not exist"
        assigned = [TopicPartition(topic, p) for p in partitions]
        begin, end = consumer.beginning_offsets(assigned), consumer.end_offsets(assigned)
        return sum(end[tp] - begin[tp] for tp in assigned)
    finally:
        consumer.close()


def _redis_keys_of(slug: str) -> list[bytes]:
    client = get_redis_connection("default")
    return [key for pattern in (f"{slug}:*", f"breaker:{slug}:*", f"ratelimit:*:{slug}:*")
            for key in client.scan_iter(match=pattern)]


@pytest.fixture
def fresh_slug(db, kafka_bootstrap, settings) -> Iterator[str]:
    settings.GRAPHQL_RATE_LIMIT_PER_MINUTE = 2
    settings.GRAPHQL_RATE_LIMIT_WINDOW_SECONDS = 600  # the counter outlives the test
    settings.GRAPHQL_RATE_LIMIT_REDIS_TIMEOUT_SECONDS = 10
    ratelimit.reset()
    _forget_outside_the_database()
    yield SLUG
    if tenancy.tenant_exists(SLUG):
        tenancy.offboard_tenant(SLUG)
    _forget_outside_the_database()
    ratelimit.reset()
    reset_breakers()


def _forget_outside_the_database() -> None:
    """The test's transaction rolls back the tenant's rows, not what a failed run left in
    Kafka, Redis or the registry: remove those by hand, without the code under test."""
    delete_tenant_topics(SLUG)
    client = get_redis_connection("default")
    for key in _redis_keys_of(SLUG):
        client.delete(key)
    with schema_context("public"):
        SubjectModel.objects.filter(name__startswith=f"{SLUG}.").delete()


def test_a_tenant_onboarded_again_under_its_slug_starts_from_nothing(fresh_slug,
                                                                        kafka_bootstrap):
    first = tenancy.onboard_tenant(SLUG, name="Rho", domain="rho.example.com")
    assert first.admin_key is not None
    with schema_context(SLUG):
        catalog.register_entities([EntityRegistration("customer", "42", "directus", 1,
                                                      {"email": "ada@example.com"})])
        cache.set("customer:42", "the old tenant's copy", timeout=600)
        assert EntityCatalog.objects.filter(entity_id="42").exists()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(TOPIC, key=b"42", value=b"an old event").get(timeout=30)
    producer.close(timeout=10)
    registry.register(SUBJECT, USER_V1)
    get_breaker(SLUG, "customers", fail_max=1).open()
    assert breaker_state(SLUG, "customers").state == "open"
    key = Principal(key_id=1, tenant=SLUG, scopes=frozenset({"read"}), name="old")
    ratelimit.check_rate(key, weight=2)  # the key's whole limit, spent
    with pytest.raises(ratelimit.RateLimited):
        ratelimit.check_rate(key)
    tenancy.set_tenant_graphql_limits(SLUG, {"max_depth": 3})
    assert tenancy.tenant_graphql_limits(SLUG) == {"max_depth": 3}
    # Everything above is really there, so the checks below can fail.
    assert _records_in(kafka_bootstrap, TOPIC) == 1
    assert SUBJECT in registry.list_subjects()
    assert tenancy.verify_api_key(first.admin_key) is not None
    assert len(_redis_keys_of(SLUG)) >= 3

    tenancy.offboard_tenant(SLUG)
    assert _redis_keys_of(SLUG) == []
    second = tenancy.onboard_tenant(SLUG, name="Rho again", domain="rho.example.com")

    with schema_context(SLUG):
        assert not EntityCatalog.objects.exists()
        assert cache.get("customer:42") is None
    assert _records_in(kafka_bootstrap, TOPIC) == 0
    assert SUBJECT not in registry.list_subjects(include_deleted=True)
    assert tenancy.verify_api_key(first.admin_key) is None
    assert second.admin_key is not None  # the new tenant gets its own first key
    status = breaker_state(SLUG, "customers")
    assert (status.state, status.failures) == ("closed", 0)
    ratelimit.check_rate(key, weight=2)  # a full limit again
    assert tenancy.tenant_graphql_limits(SLUG) == {}
