"""Subjects `<tenant>.*` belong to their tenant: its members and keys read them, its
curators and write keys change them; the global configuration is the platform admins'."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from apps.tenancy.services import add_member, create_api_key
from tests.schema_registry.conftest import (
    PASSWORD,
    USER_V1,
    USER_V2,
    RegistryClient,
    basic_auth,
)

pytestmark = pytest.mark.django_db


def _member(tenant, username: str, role: str) -> RegistryClient:
    add_member(tenant.schema_name, username, role)
    user = get_user_model().objects.get(username=username)
    user.set_password(PASSWORD)
    user.save()
    return RegistryClient(basic_auth(username))


def _key(tenant, scope: str, *, as_basic: bool = False) -> RegistryClient:
    _, plaintext = create_api_key(tenant.schema_name, f"registry {scope}", [scope])
    if as_basic:  # Confluent clients: basic.auth.user.info=<anything>:<key>
        return RegistryClient(basic_auth("registry", plaintext))
    return RegistryClient(f"Bearer {plaintext}")


@pytest.fixture
def subjects(api, tenant_a, tenant_b):
    """One subject of each tenant and one of the platform, registered by a platform admin."""
    names = (f"{tenant_a.schema_name}.crm.directus.customer-value",
             f"{tenant_b.schema_name}.crm.directus.customer-value", "platform-value")
    for name in names:
        assert api.register(name, USER_V1)[0] == 200
    return names


def test_a_staff_user_of_no_tenant_cannot_change_a_tenants_subject(subjects, django_user_model):
    django_user_model.objects.create_user("stray", password=PASSWORD, is_staff=True)
    stray = RegistryClient(basic_auth("stray"))
    status, body = stray.call("put", f"config/{subjects[1]}", {"compatibility": "NONE"})
    assert (status, body["error_code"]) == (403, 40301)
    assert "tenant 'test_beta'" in body["message"]


def test_a_curator_changes_its_tenants_subjects_only(subjects, tenant_a):
    mine, theirs, platform = subjects
    curator = _member(tenant_a, "cody", "curator")
    assert curator.register(mine, USER_V2)[0] == 200
    assert curator.call("put", f"config/{mine}", {"compatibility": "FULL"})[0] == 200
    for method, path, body in [("put", f"config/{theirs}", {"compatibility": "NONE"}),
                               ("post", f"subjects/{theirs}/versions", {"schema": USER_V2}),
                               ("delete", f"subjects/{theirs}", None),
                               ("put", f"config/{platform}", {"compatibility": "NONE"}),
                               ("put", "config", {"compatibility": "NONE"})]:
        status, answer = curator.call(method, path, body)
        assert (status, answer["error_code"]) == (403, 40301), path
    # Reads follow membership too: B's subject is neither listed nor readable.
    assert curator.call("get", "subjects") == (200, sorted([mine, platform]))
    assert curator.call("get", f"subjects/{theirs}/versions")[0] == 403


def test_a_viewer_reads_but_does_not_write(subjects, tenant_a):
    viewer = _member(tenant_a, "vic", "viewer")
    assert viewer.call("get", f"subjects/{subjects[0]}/versions") == (200, [1])
    assert viewer.register(subjects[0], USER_V2)[0] == 403


@pytest.mark.parametrize("as_basic", [False, True])
def test_a_tenants_write_key_registers_its_subjects(subjects, tenant_a, as_basic):
    mine, theirs, platform = subjects
    key = _key(tenant_a, "write", as_basic=as_basic)
    assert key.register(mine, USER_V2)[0] == 200
    assert key.register(theirs, USER_V2)[0] == 403
    assert key.call("put", "config", {"compatibility": "NONE"})[0] == 403
    assert key.call("get", "subjects") == (200, sorted([mine, platform]))


def test_a_read_key_cannot_write(subjects, tenant_a):
    key = _key(tenant_a, "read")
    assert key.call("get", f"subjects/{subjects[0]}/versions") == (200, [1])
    assert key.register(subjects[0], USER_V2)[0] == 403


def test_a_schema_id_is_read_through_a_subject_one_may_read(api, subjects, tenant_a, tenant_b):
    only_b = f"{tenant_b.schema_name}.other-value"
    _, registered = api.register(only_b, USER_V1.replace("User", "Other"))
    key_a = _key(tenant_a, "read")
    status, body = key_a.call("get", f"schemas/ids/{registered['id']}")
    assert (status, body["error_code"]) == (404, 40403)
    _, shared = api.register(subjects[0], USER_V1)  # the id A's and B's subjects share
    status, refs = key_a.call("get", f"schemas/ids/{shared['id']}/versions")
    assert status == 200
    assert [ref["subject"] for ref in refs] == sorted([subjects[0], subjects[2]])


def test_only_a_platform_admin_sets_the_global_configuration(api, tenant_a):
    tenant_admin = _member(tenant_a, "ann", "admin")
    assert tenant_admin.call("put", "config", {"compatibility": "NONE"})[0] == 403
    assert api.call("put", "config", {"compatibility": "NONE"}) == (200, {"compatibility": "NONE"})


def test_modes_follow_write_rights_and_import_is_the_platforms(api, subjects, tenant_a):
    mine, theirs, _ = subjects
    writer = _key(tenant_a, "write")
    assert writer.call("put", f"mode/{mine}", {"mode": "READONLY"}) == (200, {"mode": "READONLY"})
    assert writer.call("get", f"mode/{mine}") == (200, {"mode": "READONLY"})
    assert writer.call("delete", f"mode/{mine}") == (200, {"mode": "READONLY"})
    for method, path, body in [("put", f"mode/{theirs}", {"mode": "READONLY"}),
                               ("get", f"mode/{theirs}", None),
                               ("put", "mode", {"mode": "READONLY"}),
                               # Ids are global: only platform admins choose them.
                               ("put", f"mode/{mine}?force=true", {"mode": "IMPORT"})]:
        status, answer = writer.call(method, path, body)
        assert (status, answer["error_code"]) == (403, 40301), (method, path)
    assert api.call("put", f"mode/{mine}?force=true", {"mode": "IMPORT"})[0] == 200
    status, answer = writer.call("post", f"subjects/{mine}/versions",
                                 {"schema": USER_V2, "id": 900})
    assert (status, answer["error_code"]) == (403, 40301)
    assert "platform admins" in answer["message"]


def test_a_tenant_references_only_types_it_may_read(api, subjects, tenant_a):
    mine, theirs, platform = subjects
    writer = _key(tenant_a, "write")
    uses = ('{"type": "record", "name": "Uses", "fields": '
            '[{"name": "user", "type": "dictamesh.test.User"}]}')
    status, answer = writer.call("post", f"subjects/{mine[:-6]}-uses-value/versions", {
        "schema": uses, "references": [{"name": "dictamesh.test.User", "subject": theirs,
                                        "version": 1}]})
    assert (status, answer["error_code"]) == (403, 40301)
    status, answer = writer.call("post", f"subjects/{mine[:-6]}-uses-value/versions", {
        "schema": uses, "references": [{"name": "dictamesh.test.User", "subject": platform,
                                        "version": 1}]})
    assert status == 200, answer
