"""Schemathesis fuzzes every root field of /graphql (queries and mutations, from the
unified schema) with a write key against the reference sources: no document or variables
may cause a server error (nor an INTERNAL_SERVER_ERROR field error), and every answer is
GraphQL JSON. (Sagas the mutations start
are never run: their first step is queued when the test's transaction commits, which it
never does.)"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st

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


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["__typename", "id", "type"]) | st.text(max_size=8),
                      inner, max_size=4),
    max_leaves=8)
_REPRESENTATION = _JSON | st.fixed_dictionaries(
    {"__typename": st.sampled_from(["Customer", "Invoice", "Product", "Nope"]) | st.text(),
     "id": _JSON | st.text(max_size=300)})


@given(domain=st.sampled_from(["customers", "invoices", "products"]),
       representations=st.lists(_REPRESENTATION, max_size=4))
@FUZZ
def test_entities_take_any_representations_without_a_server_error(api: Api, domain,
                                                                 representations):
    query = ("query($r: [_Any!]!) { _entities(representations: $r) { __typename "
             "... on Customer { id } ... on Invoice { id } ... on Product { id } } }")
    if domain == "customers":  # each subgraph knows only its own entity types
        query = query.replace(" ... on Invoice { id } ... on Product { id }", "")
    elif domain == "products":
        query = query.replace(" ... on Customer { id } ... on Invoice { id }", "")
    response = api.post(query, {"r": representations}, path=f"/graphql/{domain}")
    assert response.status_code < 500, response.content[:300]
    codes = {(e.get("extensions") or {}).get("code") for e in response.json().get("errors", ())}
    assert "INTERNAL_SERVER_ERROR" not in codes, response.content[:300]
