"""Schemathesis fuzzes every operation of the registry's OpenAPI description
(apps/catalog/schema_registry/openapi.yaml) against the real views and PostgreSQL: no
request may cause a server error, and every error is Confluent-style JSON."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis

from tests.fuzzing import APP, FUZZ, assert_no_server_error, connection_kept
from tests.schema_registry.conftest import basic_auth

OPENAPI = Path(__file__).resolve().parents[2] / "apps/catalog/schema_registry/openapi.yaml"
registry = schemathesis.openapi.from_path(OPENAPI)
registry.app = APP
registry.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE,
                                         schemathesis.GenerationMode.NEGATIVE])


@pytest.fixture
def authorization(staff_user) -> dict[str, str]:
    return {"Authorization": basic_auth(staff_user.username)}


@pytest.mark.django_db
@registry.parametrize()
@FUZZ
def test_the_registry_never_answers_a_server_error(case, authorization):
    with connection_kept():
        response = case.call(headers=authorization)
    assert_no_server_error(response)
    if response.status_code >= 400:
        assert set(response.json()) == {"error_code", "message"}, response.text[:300]
