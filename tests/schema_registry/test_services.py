"""services.py as other apps call it: typed errors, tenants, concurrent writers."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.catalog.schema_registry import errors, services
from apps.catalog.schema_registry.contracts import LATEST, RegisteredSchema, SubjectSchema
from apps.catalog.schema_registry.models import SubjectVersion
from dictamesh.tenancy import activate_public_schema, current_schema
from tests.conftest import tenant_host
from tests.schema_registry.conftest import USER_V1, USER_V2, USER_V3_INCOMPATIBLE


@pytest.mark.django_db
def test_register_and_read_back():
    schema_id = services.register("users-value", USER_V1)
    assert services.register("users-value", USER_V1) == schema_id
    assert services.get_by_id(schema_id) == RegisteredSchema(schema_id, USER_V1, "AVRO")
    assert services.get_version("users-value", LATEST) == SubjectSchema(
        "users-value", 1, schema_id, USER_V1, "AVRO"
    )
    assert services.lookup("users-value", USER_V1).version == 1
    assert services.list_subjects() == ["users-value"]
    assert services.list_versions("users-value") == [1]


@pytest.mark.django_db
def test_a_schema_seen_before_in_any_live_version_is_not_registered_again():
    first = services.register("users-value", USER_V1)
    services.register("users-value", USER_V2)
    assert services.register("users-value", USER_V1) == first
    assert services.list_versions("users-value") == [1, 2]


@pytest.mark.django_db
def test_typed_errors():
    services.register("users-value", USER_V1)
    services.register("users-value", USER_V2)
    with pytest.raises(errors.IncompatibleSchema) as caught:
        services.register("users-value", USER_V3_INCOMPATIBLE)
    assert caught.value.messages
    with pytest.raises(errors.InvalidSchema):
        services.register("users-value", "{")
    with pytest.raises(errors.InvalidSubject):
        services.register("bad\nname", USER_V1)
    with pytest.raises(errors.SubjectNotFound):
        services.list_versions("nobody")
    with pytest.raises(errors.VersionNotFound):
        services.get_version("users-value", 3)
    with pytest.raises(errors.SchemaNotFound):
        services.get_by_id(10**6)
    with pytest.raises(errors.InvalidCompatibilityLevel):
        services.set_compatibility(None, "MOSTLY")
    with pytest.raises(errors.InvalidVersion):
        services.parse_version("-2")
    assert services.list_versions("users-value") == [1, 2]


def _record(*fields: dict) -> str:
    return json.dumps({"type": "record", "name": "U", "fields": list(fields)})


@pytest.mark.django_db
def test_transitive_levels_check_every_live_version():
    user_id = {"name": "id", "type": "string"}
    email = {"name": "email", "type": "string"}
    services.register("u-value", _record(user_id))
    services.set_compatibility("u-value", "NONE")
    services.register("u-value", _record(user_id, email))
    # Reads v2 data (email present) but not v1 data (no email, and no default).
    v3 = _record(user_id, email, {"name": "age", "type": "int", "default": 0})

    services.set_compatibility("u-value", "BACKWARD_TRANSITIVE")
    with pytest.raises(errors.IncompatibleSchema):
        services.register("u-value", v3)
    compatible, reasons = services.test_compatibility("u-value", 1, v3)
    assert not compatible
    assert reasons

    services.set_compatibility("u-value", "BACKWARD")
    services.register("u-value", v3)
    assert services.list_versions("u-value") == [1, 2, 3]


@pytest.mark.django_db
def test_registry_rows_stay_in_the_public_schema_while_a_tenant_is_active(tenant_a):
    with schema_context(tenant_a.schema_name):
        schema_id = services.register("tenant-made-value", USER_V1)
        assert current_schema() == tenant_a.schema_name  # restored afterwards
        assert services.get_by_id(schema_id).schema == USER_V1
    assert services.get_version("tenant-made-value", 1).id == schema_id
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = %s",
            [SubjectVersion._meta.db_table],
        )
        assert {row[0] for row in cursor.fetchall()} == {"public"}


@pytest.mark.django_db
def test_the_api_answers_on_a_tenant_host(tenant_a, api, settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]
    status, body = api.register("users-value", USER_V1)
    assert status == 200
    try:
        response = api.client.get(f"/schema-registry/schemas/ids/{body['id']}",
                                  HTTP_HOST=tenant_host(tenant_a.schema_name))
    finally:
        # The tenant middleware leaves this thread's connection on the tenant's schema.
        activate_public_schema()
    assert response.status_code == 200
    assert response.json() == {"schema": USER_V1}


def _run_concurrently(count: int, work) -> list[BaseException]:
    """Run ``work(i)`` in ``count`` threads released together; return their failures."""
    barrier = threading.Barrier(count)
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            work(index)
        except BaseException as exc:  # collected and asserted on by the test
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return failures


def _numbered_schema(index: int) -> str:
    return json.dumps({"type": "record", "name": f"R{index}",
                       "fields": [{"name": "id", "type": "string"}]})


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_never_share_a_version_number():
    services.set_compatibility("busy-value", "NONE")
    failures = _run_concurrently(
        8, lambda i: services.register("busy-value", _numbered_schema(i))
    )
    assert failures == []
    assert services.list_versions("busy-value") == list(range(1, 9))


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_of_one_schema_share_one_id():
    ids: list[int] = []
    failures = _run_concurrently(
        6, lambda i: ids.append(services.register(f"s{i}-value", USER_V1))
    )
    assert failures == []
    assert len(set(ids)) == 1


@pytest.mark.django_db(transaction=True)
def test_imports_and_registrations_at_once_never_share_an_id():
    """Imports take the very ids the sequence hands out next, while new schemas register:
    whichever comes first has the id, and an import that comes second is refused with
    its clear error, never a database failure."""
    next_id = services.register("seed-value", _numbered_schema(100)) + 1
    services.set_mode("imports-value", "IMPORT")
    ids: list[int] = []

    def work(index: int) -> None:
        if index % 2:
            ids.append(services.register("imports-value", _numbered_schema(200 + index),
                                         schema_id=next_id + index // 2))
        else:
            ids.append(services.register(f"new{index}-value", _numbered_schema(300 + index)))

    failures = _run_concurrently(8, work)
    assert all(isinstance(failure, errors.OperationNotPermitted) for failure in failures), failures
    assert len(ids) + len(failures) == 8
    assert len(set(ids)) == len(ids)
