"""The admin on each host: a tenant's members see only their tenant, platform objects are
for platform admins on the public host, and sign-in is throttled."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client

from apps.catalog.schema_registry import services as registry
from apps.tenancy.services import add_member, create_api_key
from tests.conftest import tenant_host
from tests.schema_registry.conftest import USER_V1

PUBLIC_HOST = "testserver"
PLATFORM_PAGES = ("/admin/tenancy/tenant/", "/admin/tenancy/domain/", "/admin/auth/user/",
                  "/admin/schema_registry/registryconfig/", "/admin/axes/accessattempt/")


@pytest.fixture(autouse=True)
def _tenant_hosts_allowed(settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _client(host: str, user=None) -> Client:
    client = Client(HTTP_HOST=host)
    if user is not None:
        client.force_login(user)
    return client


def _member(tenant, username: str, role: str):
    add_member(tenant.schema_name, username, role)
    return get_user_model().objects.get(username=username)


@pytest.fixture
def keys(tenant_a, tenant_b):
    return (create_api_key(tenant_a.schema_name, "a's key", ["read"])[0],
            create_api_key(tenant_b.schema_name, "b's key", ["read"])[0])


def test_a_member_uses_its_tenants_admin(tenant_a):
    viewer = _member(tenant_a, "ann", "viewer")
    client = _client(tenant_host(tenant_a.schema_name), viewer)
    index = client.get("/admin/")
    assert index.status_code == 200
    assert b"/admin/adapters/sourceconnection/" in index.content
    assert client.get("/admin/adapters/sourceconnection/").status_code == 200
    # A viewer reads; adding a source is a curator's.
    assert client.get("/admin/adapters/sourceconnection/add/").status_code == 403


def test_a_curator_may_change_its_tenants_objects(tenant_a):
    curator = _member(tenant_a, "cody", "curator")
    client = _client(tenant_host(tenant_a.schema_name), curator)
    assert client.get("/admin/adapters/sourceconnection/add/").status_code == 200


@pytest.mark.parametrize("path", ["/admin/", "/admin/adapters/sourceconnection/",
                                  "/admin/catalog/entitycatalog/?q=a",
                                  "/admin/tenancy/apikey/"])
def test_another_tenants_member_is_refused_even_with_its_session(tenant_a, tenant_b, path):
    # A's tenant admin, signed in at A's host, sends that session cookie to B's host.
    admin_of_a = _member(tenant_a, "ann", "admin")
    client = _client(tenant_host(tenant_a.schema_name), admin_of_a)
    assert client.get("/admin/").status_code == 200
    response = client.get(path, HTTP_HOST=tenant_host(tenant_b.schema_name))
    assert response.status_code == 403
    assert b"sourceconnection" not in response.content


def test_sign_in_at_another_tenants_host_is_refused(tenant_a, tenant_b):
    _member(tenant_a, "ann", "viewer")
    user = get_user_model().objects.get(username="ann")
    user.set_password("ann-password-1")
    user.save()
    client = _client(tenant_host(tenant_b.schema_name))
    response = client.post("/admin/login/?next=/admin/",
                           {"username": "ann", "password": "ann-password-1"})
    assert response.status_code == 200  # the form again, with the reason
    assert b"may not use the admin of this host" in response.content
    assert "_auth_user_id" not in client.session
    ok = _client(tenant_host(tenant_a.schema_name)).post(
        "/admin/login/?next=/admin/", {"username": "ann", "password": "ann-password-1"})
    assert ok.status_code == 302


def test_a_staff_user_without_membership_sees_nothing_anywhere(tenant_a):
    staff = get_user_model().objects.create_user("stray", password="x", is_staff=True)
    for host in (tenant_host(tenant_a.schema_name), PUBLIC_HOST):
        assert _client(host, staff).get("/admin/").status_code == 403


@pytest.mark.parametrize("path", PLATFORM_PAGES)
def test_platform_objects_are_not_on_a_tenant_host_even_for_superusers(tenant_a, path):
    root = get_user_model().objects.create_superuser("root", "", "pw")
    client = _client(tenant_host(tenant_a.schema_name), root)
    assert client.get(path).status_code == 403
    index = client.get("/admin/").content.decode()
    assert path not in index
    assert _client(PUBLIC_HOST, root).get(path).status_code == 200


def test_a_tenant_member_may_not_use_the_public_admin(tenant_a):
    admin_of_a = _member(tenant_a, "ann", "admin")
    assert _client(PUBLIC_HOST, admin_of_a).get("/admin/").status_code == 403
    assert _client(PUBLIC_HOST, admin_of_a).get("/admin/tenancy/tenant/").status_code == 403


def test_the_platform_role_without_superuser(tenant_a):
    operator = get_user_model().objects.create_user("ops", password="x", is_staff=True)
    operator.user_permissions.add(Permission.objects.get(codename="platform_admin"))
    client = _client(PUBLIC_HOST, operator)
    tenants = client.get("/admin/tenancy/tenant/")
    assert tenants.status_code == 200
    assert tenant_a.schema_name.encode() in tenants.content


def test_a_tenant_admin_sees_and_revokes_only_its_own_keys(tenant_a, tenant_b, keys):
    key_a, key_b = keys
    admin_of_a = _member(tenant_a, "ann", "admin")
    client = _client(tenant_host(tenant_a.schema_name), admin_of_a)
    listing = client.get("/admin/tenancy/apikey/")
    assert listing.status_code == 200
    assert key_a.prefix.encode() in listing.content
    assert key_b.prefix.encode() not in listing.content
    assert client.get(f"/admin/tenancy/apikey/{key_b.pk}/change/").status_code == 302  # gone
    client.post("/admin/tenancy/apikey/", {"action": "revoke",
                                           "_selected_action": [key_a.pk, key_b.pk]})
    key_a.refresh_from_db()
    key_b.refresh_from_db()
    assert key_a.revoked_at is not None
    assert key_b.revoked_at is None


def test_viewers_and_curators_do_not_see_keys(tenant_a, keys):
    for username, role in (("vic", "viewer"), ("cody", "curator")):
        client = _client(tenant_host(tenant_a.schema_name), _member(tenant_a, username, role))
        assert client.get("/admin/tenancy/apikey/").status_code == 403


def test_a_tenant_host_lists_only_its_registry_subjects(tenant_a, tenant_b):
    subject_a = f"{tenant_a.schema_name}.crm.directus.customer-value"
    subject_b = f"{tenant_b.schema_name}.crm.directus.customer-value"
    registry.register(subject_a, USER_V1)
    shared_id = registry.register(subject_b, USER_V1)  # equal schemas share one id
    only_b = registry.register(f"{tenant_b.schema_name}.other-value", USER_V1.replace(
        "User", "Other"))
    client = _client(tenant_host(tenant_a.schema_name), _member(tenant_a, "vic", "viewer"))
    listing = client.get("/admin/schema_registry/subject/")
    assert listing.status_code == 200
    assert subject_a.encode() in listing.content
    assert subject_b.encode() not in listing.content
    shared = client.get(f"/admin/schema_registry/schema/{shared_id}/change/")
    assert shared.status_code == 200
    assert subject_a.encode() in shared.content
    assert subject_b.encode() not in shared.content
    assert client.get(f"/admin/schema_registry/schema/{only_b}/change/").status_code == 302


def test_admin_sign_in_is_throttled(tenant_a, settings):
    settings.AXES_FAILURE_LIMIT = 3
    _member(tenant_a, "ann", "viewer")
    user = get_user_model().objects.get(username="ann")
    user.set_password("right-password-1")
    user.save()
    client = _client(tenant_host(tenant_a.schema_name))
    for _ in range(3):
        client.post("/admin/login/", {"username": "ann", "password": "guess"})
    locked = client.post("/admin/login/", {"username": "ann", "password": "right-password-1"})
    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content
    assert "_auth_user_id" not in client.session


def test_onboarding_creates_the_tenants_first_admin(tenant_a):
    out = StringIO()
    call_command("onboard_tenant", tenant_a.schema_name, "--name", tenant_a.name,
                 "--domain", tenant_host(tenant_a.schema_name), "--admin-user", "boss",
                 stdout=out)
    created = re.search(r"Created user 'boss' with password: (\S+)", out.getvalue())
    assert created is not None, out.getvalue()
    password = created.group(1)
    client = _client(tenant_host(tenant_a.schema_name))
    signed_in = client.post("/admin/login/?next=/admin/",
                            {"username": "boss", "password": password})
    assert signed_in.status_code == 302
    assert client.get("/admin/tenancy/apikey/").status_code == 200  # a tenant admin
    assert client.get("/admin/", HTTP_HOST=PUBLIC_HOST).status_code == 403
