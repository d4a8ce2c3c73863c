"""Curators browse subjects, versions and schemas in the admin; they cannot edit them."""

from __future__ import annotations

import pytest

from apps.catalog.schema_registry import services
from apps.catalog.schema_registry.models import Subject
from tests.schema_registry.conftest import USER_V1, USER_V2

pytestmark = pytest.mark.django_db


def test_subject_page_shows_versions_with_pretty_schemas(admin_client):
    services.register("users-value", USER_V1)
    subject = Subject.objects.get(name="users-value")
    response = admin_client.get(f"/admin/schema_registry/subject/{subject.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<pre>{\n  &quot;type&quot;: &quot;record&quot;" in page
    assert 'name="_save"' not in page  # read-only


def _listed_ids(admin_client, term: str) -> list[int]:
    listing = admin_client.get("/admin/schema_registry/schema/", {"q": term})
    assert listing.status_code == 200
    return sorted(schema.pk for schema in listing.context["cl"].result_list)


def test_schema_pages_and_search_by_id(admin_client):
    # Two schemas, so a search that ignored its term would list both. Neither schema's text
    # holds a digit, so an id can only match the id column.
    v1_id = services.register("users-value", USER_V1)
    v2_id = services.register("accounts-value", USER_V2)
    assert v1_id != v2_id
    assert admin_client.get(f"/admin/schema_registry/schema/{v1_id}/change/").status_code == 200
    assert _listed_ids(admin_client, str(v1_id)) == [v1_id]
    assert _listed_ids(admin_client, str(v2_id)) == [v2_id]
    assert _listed_ids(admin_client, "email") == [v2_id]  # the schema text is searched too
    assert _listed_ids(admin_client, "abc") == []
    assert _listed_ids(admin_client, "") == sorted([v1_id, v2_id])
    assert admin_client.get("/admin/schema_registry/subject/add/").status_code == 403
