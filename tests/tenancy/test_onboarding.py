"""Onboarding and offboarding tenants through the management commands."""

from __future__ import annotations

import io

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context, schema_exists

from apps.tenancy.models import Domain, Tenant

# Onboarding provisions the tenant's Kafka topics: every test here needs the broker.
pytestmark = pytest.mark.usefixtures("kafka_bootstrap")


def _onboard(*args: str) -> str:
    out = io.StringIO()
    call_command("onboard_tenant", *args, stdout=out)
    return out.getvalue()


def test_onboarding_creates_schema_and_domain_and_is_idempotent(db):
    first = _onboard("gamma", "--name", "Gamma Corp", "--domain", "gamma.example.com")
    assert "Onboarded tenant 'gamma'" in first
    assert schema_exists("gamma")
    tenant = Tenant.objects.get(schema_name="gamma")
    assert tenant.name == "Gamma Corp"
    assert list(tenant.domains.values_list("domain", "is_primary")) == [
        ("gamma.example.com", True)
    ]

    second = _onboard("gamma", "--name", "Gamma Corp", "--domain", "gamma.example.com")
    assert "Already onboarded" in second
    assert Tenant.objects.filter(schema_name="gamma").count() == 1
    assert Domain.objects.filter(domain="gamma.example.com").count() == 1


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("Acme", "not valid"),
        ("acme-eu", "not valid"),
        ("1acme", "not valid"),
        ("a", "not valid"),
        ("x" * 41, "not valid"),
        ("acme;drop", "not valid"),
        ("public", "reserved"),
        ("pg_catalog2", "reserved"),
    ],
)
def test_onboarding_rejects_bad_slugs_clearly(db, slug, message):
    with pytest.raises(CommandError, match=message):
        _onboard(slug)
    assert not Tenant.objects.filter(schema_name=slug).exists()


def test_onboarding_rejects_a_bad_domain(db):
    with pytest.raises(CommandError, match="not a valid host name"):
        _onboard("delta", "--domain", "http://delta.example.com/")
    assert not schema_exists("delta")


def test_onboarding_rejects_a_domain_taken_by_another_tenant(db):
    _onboard("epsilon", "--domain", "shared.example.com")
    with pytest.raises(CommandError, match="already belongs to tenant 'epsilon'"):
        _onboard("zeta", "--domain", "shared.example.com")
    assert not Tenant.objects.filter(schema_name="zeta").exists()
    assert not schema_exists("zeta")


def test_offboarding_refuses_without_yes_and_drops_with_it(db, kafka_bootstrap):
    _onboard("eta")
    with pytest.raises(CommandError, match="--yes"):
        call_command("offboard_tenant", "eta", stdout=io.StringIO())
    assert schema_exists("eta")
    assert "eta.customers.directus.entity_changed" in _topics(kafka_bootstrap)

    with schema_context("eta"):
        cache.set("customer:1", "eta's copy", timeout=300)
    call_command("offboard_tenant", "eta", "--yes", stdout=io.StringIO())
    assert not schema_exists("eta")
    with schema_context("eta"):  # a future tenant named eta starts with an empty cache
        assert cache.get("customer:1") is None
    assert not Tenant.objects.filter(schema_name="eta").exists()
    assert not [t for t in _topics(kafka_bootstrap) if t.startswith("eta.")]


def _topics(bootstrap: str) -> set[str]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def test_offboarding_an_unknown_tenant_says_so(db):
    with pytest.raises(CommandError, match="No tenant 'nosuch'"):
        call_command("offboard_tenant", "nosuch", "--yes", stdout=io.StringIO())
