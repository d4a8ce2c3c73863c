"""Schemathesis fuzzes every root field of /graphql (queries and mutations, from the
unified schema) with a write key against the reference sources: no document or variables
may cause a server error (nor an INTERNAL_SERVER_ERROR field error), and every answer is
GraphQL JSON. (Sagas the mutations start
are never run: their first step is queued when the test's transaction commits, which it
never does.)"""

from __future__ import annotations

import pytest
import schemathesis

from apps.federation.schema import unified_schema
from apps.tenancy.api_keys import create_api_key
from tests.federation.conftest import Api
from tests.fuzzing import APP, FUZZ, assert_no_server_error, connection_kept

graphql = schemathesis.graphql.from_file(str(unified_schema()))
graphql.app = APP


@pytest.fixture
def write_key(api: Api) -> str:
    return create_api_key(api.tenant, "fuzzer", ["write"])[1]


@graphql.parametrize()
@FUZZ
def test_graphql_never_answers_a_server_error(case, api: Api, write_key: str):
    with connection_kept():
        response = case.call(base_url=f"http://{api.host}/graphql",
                             headers={"Authorization": f"Bearer {write_key}"})
    assert_no_server_error(response)
    body = response.json()
    assert "errors" in body or "data" in body, body
    # a server failure masked as a field error is a server error too
    internal = [e for e in body.get("errors", ())
                if (e.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR"]
    assert not internal, internal
