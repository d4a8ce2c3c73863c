"""The audit log: who changed what, from where, with the trace id; append-only in the
database; per tenant for its admin keys over GraphQL; exported as JSON lines."""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import DatabaseError, transaction
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context
from opentelemetry import trace

from apps.catalog import services as catalog
from apps.catalog.contracts import EntityKey, Relationship
from apps.tenancy.models import AuditEntry, Tenant
from apps.tenancy.services import (
    AuditFilter,
    acting_as,
    audit_entries,
    create_api_key,
    purge_audit_log,
    record_audit,
    revoke_api_key,
    set_tenant_graphql_limits,
)
from tests.conftest import tenant_host


@pytest.fixture
def new_entries():
    """The entries recorded during the test (the public schema keeps the session's own,
    such as the test tenants' onboarding)."""
    mark = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0

    def recorded(filters: AuditFilter | None = None) -> list[AuditEntry]:
        found = audit_entries(filters or AuditFilter(), limit=1000)
        return sorted((e for e in found if e.id > mark),
                      key=lambda e: e.id)
    return recorded


def test_key_changes_are_recorded_with_who_where_and_the_trace(tenant_a, new_entries):
    slug = tenant_a.schema_name
    with acting_as("alice", "203.0.113.9"), \
            trace.get_tracer("tests").start_as_current_span("admin request") as span:
        key, _ = create_api_key(slug, "reporting", ["read"])
        revoke_api_key(slug, key.prefix)
    created, revoked = new_entries(AuditFilter(tenant=slug, action="api_key."))
    assert (created.action, revoked.action) == ("api_key.created", "api_key.revoked")
    assert {created.actor, revoked.actor} == {"alice"}
    assert created.origin == "203.0.113.9"
    assert created.object_id == revoked.object_id == key.prefix
    assert created.trace_id == format(span.get_span_context().trace_id, "032x")
    assert created.after_digest
    assert not created.before_digest
    assert revoked.before_digest
    assert revoked.before_digest != revoked.after_digest
    assert created.detail == {"name": "reporting", "scopes": ["read"]}


def test_the_database_refuses_to_change_or_delete_entries(tenant_a):
    entry = record_audit("config.changed", object_id="x", tenant=tenant_a.schema_name)
    for change in (lambda: AuditEntry.objects.filter(pk=entry.pk).update(actor="mallory"),
                   lambda: AuditEntry.objects.filter(pk=entry.pk).delete()):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            change()
    assert AuditEntry.objects.get(pk=entry.pk).actor == entry.actor
    # Retention is the one way out, and only for entries older than the policy.
    with schema_context(tenant_a.schema_name):
        from datetime import timedelta
        assert purge_audit_log(timedelta(days=1)) == 0
        assert purge_audit_log(timedelta(seconds=-1), dry_run=True) >= 1
        assert purge_audit_log(timedelta(seconds=-1)) >= 1
    assert not AuditEntry.objects.filter(pk=entry.pk).exists()


def test_secrets_in_details_are_redacted(tenant_a):
    entry = record_audit("source_connection.changed", tenant=tenant_a.schema_name,
                         detail={"base_url": "https://bot:hunter2@cms.example.com",
                                 "token": "hunter2"})
    assert "hunter2" not in json.dumps(AuditEntry.objects.get(pk=entry.pk).detail)


def test_config_admin_and_curator_changes_are_recorded(tenant_a, new_entries):
    slug = tenant_a.schema_name
    set_tenant_graphql_limits(slug, {"max_depth": 7})
    (limits,) = new_entries(AuditFilter(tenant=slug, action="config.changed"))
    assert limits.object_type == "graphql_limits"
    assert limits.detail["graphql_limits"] == {"max_depth": 7}

    user = get_user_model().objects.create_user("bob", password="x" * 12)
    LogEntry.objects.log_actions(user.pk, [Tenant.objects.get(pk=tenant_a.pk)], CHANGE,
                                 change_message=[{"changed": {"fields": ["Name"]}}],
                                 single_object=True)
    (admin,) = new_entries(AuditFilter(action="admin."))
    assert (admin.action, admin.actor, admin.object_type) == ("admin.changed", "bob", "tenant")
    assert admin.object_id == str(tenant_a.pk)
    assert "Name" in admin.detail["change"]

    with schema_context(slug):
        edge = catalog.add_manual_relationship(
            Relationship(EntityKey("customer", "1"), "referred_by", EntityKey("customer", "2"),
                         source_system="curation"), curator="carol",
            reason="same household")
        assert edge is not None
        catalog.retire_relationship(edge.id, curator="carol", reason="moved out")
    added, retired = new_entries(AuditFilter(tenant=slug, action="relationship."))
    assert (added.action, retired.action) == ("relationship.added", "relationship.retired")
    assert added.actor == retired.actor == "carol"
    assert (added.detail["reason"], retired.detail["reason"]) == ("same household", "moved out")


def _graphql(slug: str, key: str, query: str, variables: dict | None = None) -> dict:
    response = Client().post("/graphql", data=json.dumps({"query": query,
                                                          "variables": variables or {}}),
                             content_type="application/json", HTTP_HOST=tenant_host(slug),
                             HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200, response.content
    return response.json()


PAGE = """query($after: String) { auditLog(first: 2, after: $after,
  filter: {action: "api_key."}) { nodes { action actor objectId traceId } endCursor
  hasNextPage } }"""


def test_graphql_audit_log_is_the_tenants_own_for_admin_keys_only(tenant_a, tenant_b,
                                                                   settings, new_entries):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]
    a, b = tenant_a.schema_name, tenant_b.schema_name
    _, admin_key = create_api_key(a, "admin", ["admin"])
    _, read_key = create_api_key(a, "reader", ["read"])
    create_api_key(b, "b's key", ["read"])  # another tenant's entry: never listed for A

    refused = _graphql(a, read_key, "{ auditLog { nodes { action } } }")
    assert refused["errors"][0]["extensions"]["code"] == "INSUFFICIENT_SCOPE"
    assert refused["data"] == {"auditLog": None}

    first = _graphql(a, admin_key, PAGE, {"after": None})["data"]["auditLog"]
    assert [n["action"] for n in first["nodes"]] == ["api_key.created"] * 2
    assert {n["objectId"] for n in first["nodes"]} == {
        e.object_id for e in new_entries(AuditFilter(tenant=a))}
    two = _graphql(a, admin_key, '{ auditLog(first: 1) { nodes { id } endCursor '
                                 'hasNextPage } }')["data"]["auditLog"]
    assert two["hasNextPage"] is True
    cursor = two["endCursor"]
    after = _graphql(a, admin_key, f'{{ auditLog(first: 1, after: "{cursor}") '
                                   '{ nodes { id } } }')["data"]["auditLog"]
    assert after["nodes"][0]["id"] != two["nodes"][0]["id"]
    bad = _graphql(a, admin_key, '{ auditLog(after: "nope") { nodes { id } } }')
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_ARGUMENT"


def test_export_writes_json_lines(tenant_a):
    started = timezone.now()
    create_api_key(tenant_a.schema_name, "exported", ["read"])
    out = io.StringIO()
    call_command("export_audit_log", "--tenant", tenant_a.schema_name, "--since",
                 started.isoformat(), stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["action"] for line in lines] == ["api_key.created"]
    assert lines[0]["tenant"] == tenant_a.schema_name
    assert lines[0]["detail"]["name"] == "exported"
