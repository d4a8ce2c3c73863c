"""The public host's admin: tenants can be saved there, its index points at each tenant's
admin, every page has an icon and DictaMesh's header."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.test import Client

from apps.tenancy.models import Domain, Tenant
from tests.conftest import tenant_host

PUBLIC_HOST = "testserver"


@pytest.fixture
def platform_admin(settings, db):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = get_user_model().objects.create_superuser("root", "", "pw-root-1")
    client = Client(HTTP_HOST=PUBLIC_HOST)
    client.force_login(user)
    return client


def _tenant_form(tenant: Tenant, name: str) -> dict[str, str]:
    domains = list(Domain.objects.filter(tenant=tenant).order_by("pk"))
    form = {"name": name, "domains-TOTAL_FORMS": str(len(domains)),
            "domains-INITIAL_FORMS": str(len(domains)), "domains-MIN_NUM_FORMS": "0",
            "domains-MAX_NUM_FORMS": "1000",
            "api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0",
            "api_keys-MIN_NUM_FORMS": "0", "api_keys-MAX_NUM_FORMS": "1000"}
    for index, domain in enumerate(domains):
        form |= {f"domains-{index}-id": str(domain.pk), f"domains-{index}-tenant": str(tenant.pk),
                 f"domains-{index}-domain": domain.domain,
                 f"domains-{index}-is_primary": "on" if domain.is_primary else ""}
    return form


def test_a_tenant_is_saved_from_the_public_host(platform_admin, tenant_a):
    page = platform_admin.get(f"/admin/tenancy/tenant/{tenant_a.pk}/change/")
    assert page.status_code == 200
    form = _tenant_form(tenant_a, "Alpha Trading")
    saved = platform_admin.post(f"/admin/tenancy/tenant/{tenant_a.pk}/change/", form)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    tenant_a.refresh_from_db()
    assert tenant_a.name == "Alpha Trading"


def test_the_public_index_points_at_each_tenants_admin(platform_admin, tenant_a, tenant_b):
    index = platform_admin.get("/admin/").content.decode()
    assert f"http://{tenant_host(tenant_a.schema_name)}/admin/" in index
    assert f"http://{tenant_host(tenant_b.schema_name)}/admin/" in index


def test_every_page_has_an_icon_and_dictameshs_header(platform_admin, tenant_a):
    index = platform_admin.get("/admin/").content.decode()
    assert "Django administration" not in index
    assert "DictaMesh" in index
    assert 'rel="icon"' in index
    icon = platform_admin.get("/favicon.ico")
    assert (icon.status_code, icon["Location"]) == (302, static("dictamesh/favicon.svg"))
    assert finders.find("dictamesh/favicon.svg")  # served by the static files handler
    tenant_a.name = "Alpha Trading"
    tenant_a.save()
    tenant_page = platform_admin.get("/admin/", HTTP_HOST=tenant_host(tenant_a.schema_name))
    assert "Alpha Trading" in tenant_page.content.decode()
