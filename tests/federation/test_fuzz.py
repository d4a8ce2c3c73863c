"""Schemathesis fuzzes every root field of /graphql (queries and mutations, from the
unified schema) with a read key against the reference sources: no document or variables
may cause a server error, and every answer is GraphQL JSON."""

from __future__ import annotations

import schemathesis

from apps.federation.schema import unified_schema
from tests.federation.conftest import Api
from tests.fuzzing import APP, FUZZ, assert_no_server_error, connection_kept

graphql = schemathesis.graphql.from_file(str(unified_schema()))
graphql.app = APP


@graphql.parametrize()
@FUZZ
def test_graphql_never_answers_a_server_error(case, api: Api):
    with connection_kept():
        response = case.call(base_url=f"http://{api.host}/graphql",
                             headers={"Authorization": f"Bearer {api.key}"})
    assert_no_server_error(response)
    body = response.json()
    assert "errors" in body or "data" in body, body
