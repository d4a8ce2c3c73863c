"""Curators browse subjects, versions and schemas in the admin; they cannot edit them."""

from __future__ import annotations

import pytest

from apps.catalog.schema_registry import services
from apps.catalog.schema_registry.models import Schema, Subject
from tests.schema_registry.conftest import USER_V1

pytestmark = pytest.mark.django_db


def test_subject_page_shows_versions_with_pretty_schemas(admin_client):
    services.register("users-value", USER_V1)
    subject = Subject.objects.get(name="users-value")
    response = admin_client.get(f"/admin/schema_registry/subject/{subject.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<pre>{\n  &quot;type&quot;: &quot;record&quot;" in page
    assert 'name="_save"' not in page  # read-only


def test_schema_pages_and_search_by_id(admin_client):
    schema_id = services.register("users-value", USER_V1)
    assert admin_client.get(f"/admin/schema_registry/schema/{schema_id}/change/").status_code == 200
    listing = admin_client.get("/admin/schema_registry/schema/", {"q": str(schema_id)})
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == Schema.objects.filter(pk=schema_id).count()
    assert admin_client.get("/admin/schema_registry/schema/", {"q": "abc"}).status_code == 200
    assert admin_client.get("/admin/schema_registry/subject/add/").status_code == 403
