"""Descriptions are edited in the tenant's admin as YAML: errors name the field, each save
is a version, and a connection can choose the description as its adapter (probed live)."""

from __future__ import annotations

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.test import Client

from apps.adapters.models import SourceConnection, SourceDescription
from apps.tenancy.services import add_member
from devtools.reference.suppliers import DEFAULT_TOKEN
from tests.conftest import tenant_host
from tests.declarative.conftest import SPEC, description

ADD = "/admin/adapters/sourcedescription/add/"


@pytest.fixture
def curator(tenant_a, settings) -> Client:
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]
    add_member(tenant_a.schema_name, "cody", "curator")
    client = Client(HTTP_HOST=tenant_host(tenant_a.schema_name))
    client.force_login(get_user_model().objects.get(username="cody"))
    return client


def test_a_curator_describes_a_source_in_yaml_and_each_save_is_a_version(curator):
    broken = yaml.safe_dump(description(pagination={"type": "cursor", "cursor_param": "c"}))
    refused = curator.post(ADD, {"name": "suppliers", "text": broken})
    assert refused.status_code == 200
    assert b"pagination: must be one of: cursor {cursor_param, next_cursor}" in refused.content
    assert not SourceDescription.objects.exists()
    for text, says in (("- a list\n", b"JSON (or YAML) object"), ("a: [", b"Neither YAML"),
                       ("entity_type: 2024-01-01\n", b"quote dates")):
        answer = curator.post(ADD, {"name": "suppliers", "text": text})
        assert (answer.status_code, says in answer.content) == (200, True), text

    added = curator.post(ADD, {"name": "suppliers", "text": yaml.safe_dump(SPEC)})
    assert added.status_code == 302, added.content[:2000]
    row = SourceDescription.objects.get(name="suppliers")
    assert (row.version, row.spec) == (1, SPEC)

    page = curator.get(f"/admin/adapters/sourcedescription/{row.pk}/change/")
    assert b"entity_type: supplier" in page.content  # shown as YAML
    edited = curator.post(f"/admin/adapters/sourcedescription/{row.pk}/change/", {
        "text": yaml.safe_dump(description(sla={"freshness_seconds": 30}))})
    assert edited.status_code == 302
    row.refresh_from_db()
    assert row.version == 2
    assert [(v.version, v.saved_by) for v in row.versions.all()] == [(2, "cody"), (1, "cody")]
    assert b"v1 saved" in curator.get(
        f"/admin/adapters/sourcedescription/{row.pk}/change/").content


def test_a_connection_chooses_a_description_and_is_probed_on_save(curator, suppliers_server):
    curator.post(ADD, {"name": "suppliers", "text": yaml.safe_dump(SPEC)})
    form = curator.get("/admin/adapters/sourceconnection/add/")
    assert b'<option value="suppliers">' in form.content

    fields = {"name": "suppliers", "adapter": "suppliers",
              "base_url": suppliers_server.base_url, "options": "{}",
              "polling_interval_seconds": 60, "enabled": "on"}
    refused = curator.post("/admin/adapters/sourceconnection/add/",
                           {**fields, "new_credentials": '{"token": "wrong"}'})
    assert refused.status_code == 200
    assert b"401" in refused.content
    assert not SourceConnection.objects.exists()

    added = curator.post("/admin/adapters/sourceconnection/add/",
                         {**fields, "new_credentials": f'{{"token": "{DEFAULT_TOKEN}"}}'})
    assert added.status_code == 302, added.content[:2000]
    assert SourceConnection.objects.get(name="suppliers").credentials == {
        "token": DEFAULT_TOKEN}
    # In use: the description cannot be deleted from under its connection.
    row = SourceDescription.objects.get(name="suppliers")
    assert curator.get(f"/admin/adapters/sourcedescription/{row.pk}/delete/").status_code == 403


def test_the_schema_export_shows_a_tenants_declared_types(tenant_a, tmp_path):
    from django.core.management import CommandError, call_command
    from django_tenants.utils import schema_context

    from apps.adapters import services

    with schema_context(tenant_a.schema_name):
        services.save_description("suppliers", SPEC, probe=False)
    call_command("export_graphql_schema", "--out", str(tmp_path), "--tenant",
                 tenant_a.schema_name)
    sdl = (tmp_path / "unified.graphql").read_text("utf-8")
    assert "type Supplier {" in sdl
    assert "supplier: Supplier" in sdl  # on Product
    call_command("export_graphql_schema", "--out", str(tmp_path / "plain"))
    assert "Supplier" not in (tmp_path / "plain" / "unified.graphql").read_text("utf-8")
    with pytest.raises(CommandError, match="onboard_tenant"):
        call_command("export_graphql_schema", "--tenant", "nobody")
