"""A subject's admin page: the compatibility in force (the global default when the subject
sets none), two versions side by side with their differences, and the topic it serves."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from apps.catalog import services as catalog
from apps.catalog.schema_registry import services as registry
from apps.catalog.schema_registry.models import Subject
from apps.tenancy.services import add_member
from tests.conftest import tenant_host
from tests.schema_registry.conftest import USER_V1, USER_V2


@pytest.fixture
def viewer(client, settings, tenant_a):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]
    add_member(tenant_a.schema_name, "vera", "viewer")
    client.force_login(get_user_model().objects.get(username="vera"))
    client.defaults["HTTP_HOST"] = tenant_host(tenant_a.schema_name)
    return client


def test_a_subject_page_shows_what_is_in_force_a_diff_and_its_topic(viewer, tenant_a):
    topic = f"{tenant_a.schema_name}.customers.directus.entity_changed"
    subject = f"{topic}-value"
    registry.register(subject, USER_V1)
    registry.register(subject, USER_V2)
    with schema_context(tenant_a.schema_name):
        catalog.track_lineage(f"topic:{topic}", "catalog:customer", "catalog consumer",
                              times_seen=4)
    pk = Subject.objects.get(name=subject).pk

    listed = viewer.get("/admin/schema_registry/subject/").content.decode()
    assert f"{registry.get_compatibility(None)} (the global default)" in listed
    page = viewer.get(f"/admin/schema_registry/subject/{pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "(the global default: this subject sets none)" in html
    assert "version 1" in html
    assert "version 2" in html
    assert 'class="diff_add"' in html  # v2's email field, added
    assert "email" in html
    assert f"{topic}: 4 event(s) applied by the catalog" in html

    registry.set_compatibility(subject, "FULL")
    page_url = f"/admin/schema_registry/subject/{pk}/change/"
    html = viewer.get(page_url, {"left": "1", "right": "1"}).content.decode()
    assert "The two versions are the same schema." in html
    assert "(the global default: this subject sets none)" not in html
    assert "FULL" in html
    # A version that does not exist falls back to the latest ones, not to an error.
    assert viewer.get(page_url, {"left": "9", "right": "x"}).status_code == 200
