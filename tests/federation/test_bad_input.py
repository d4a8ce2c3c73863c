"""Bad input to /graphql is a client error with a clear message, never a 500: ids checked
at the edge, deep or oversized bodies, malformed `_entities` representations, loader
failures as field errors, and expensive documents refused by the cheap limits first."""

from __future__ import annotations

import logging
import time

import graphene
import pytest
from graphql import ExecutionResult, execute, parse, specified_rules, validate
from graphql_sync_dataloaders import SyncDataLoader

from apps.federation.executor import ExecutionContext
from apps.federation.limits import QueryLimits, parse_limited, validate_limits
from apps.federation.loaders import guarded
from apps.federation.schema import unified_schema
from apps.tenancy.api_keys import create_api_key
from tests.federation.conftest import Api


def _codes(body: dict) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", ())]


def test_an_empty_id_is_bad_user_input_not_a_crash(api: Api):
    response = api.post('{ invoice(id: "") { id } }')
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"invoice": None}
    assert _codes(body) == ["BAD_USER_INPUT"]
    assert "non-empty" in body["errors"][0]["message"]


def test_a_nul_byte_in_an_id_list_is_bad_user_input_naming_the_index(api: Api):
    response = api.post('{ customers(ids: ["1", "a\\u0000b"]) { id } }')
    assert response.status_code == 200
    body = response.json()
    assert _codes(body) == ["BAD_USER_INPUT"]
    assert "`ids[1]`" in body["errors"][0]["message"]
    # the same id through variables is caught the same way
    via_variables = api.post("query($i: [ID!]!) { customers(ids: $i) { id } }",
                             {"i": ["x" * 300]})
    assert _codes(via_variables.json()) == ["BAD_USER_INPUT"]


def test_good_ids_still_answer(api: Api):
    body = api.query('{ customers(ids: ["1", "2"]) { id } }')
    assert body == {"data": {"customers": [{"id": "1"}, {"id": "2"}]}}


def test_a_body_nested_100000_deep_is_a_400(api: Api):
    deep = b"[" * 100_000 + b"]" * 100_000
    response = api.client.post("/graphql", data=deep, content_type="application/json",
                               HTTP_HOST=api.host, HTTP_AUTHORIZATION=f"Bearer {api.key}")
    assert response.status_code == 400
    assert _codes(response.json()) == ["BAD_REQUEST"]
    assert "nests deeper" in response.json()["errors"][0]["message"]


def test_variables_nested_past_the_limit_are_a_400(api: Api):
    nested: object = "1"
    for _ in range(100):
        nested = [nested]
    response = api.post("query($i: [ID!]!) { customers(ids: $i) { id } }", {"i": nested})
    assert response.status_code == 400


def test_a_body_over_the_upload_limit_is_a_413_in_json(api: Api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post("{ " + "__typename " * 200 + "}")
    assert response.status_code == 413
    assert _codes(response.json()) == ["REQUEST_TOO_LARGE"]


@pytest.mark.parametrize(("representation", "fragment"), [
    ({"id": "1"}, "__typename"),
    ({"__typename": "Nope", "id": "1"}, "one of Customer"),
    ({"__typename": "Customer", "id": {"x": 1}}, "representations[0].id"),
    ({"__typename": "Customer", "id": "1", "shoe": 3}, "unexpected field(s) shoe"),
    ("Customer:1", "must be an object"),
])
def test_a_malformed_entities_representation_is_a_client_error(api: Api, caplog, representation,
                                                               fragment):
    query = ("query($r: [_Any!]!) { _entities(representations: $r) "
             "{ ... on Customer { id } } }")
    with caplog.at_level(logging.ERROR):
        response = api.post(query, {"r": [representation]}, path="/graphql/customers")
    # A field error of `_entities` (non-null): executed, so a 200 whose `data` is null.
    assert response.status_code == 200
    assert response.json()["data"] is None
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert fragment in error["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_well_formed_representation_still_resolves(api: Api):
    query = ("query($r: [_Any!]!) { _entities(representations: $r) "
             "{ ... on Customer { id } } }")
    body = api.query(query, {"r": [{"__typename": "Customer", "id": "1"}]},
                     path="/graphql/customers")
    assert body == {"data": {"_entities": [{"id": "1"}]}}


def test_a_failing_batch_becomes_field_errors_of_the_keys_that_asked(caplog):
    def explode(keys: list[str]) -> list[str]:
        raise RuntimeError(f"the source sent garbage for {keys}")

    class Query(graphene.ObjectType):
        broken = graphene.String(key=graphene.String())
        fine = graphene.String()

        def resolve_broken(root, info, key):
            loaders = info.context
            if "boom" not in loaders:
                loaders["boom"] = SyncDataLoader(guarded("boom", explode))
            return loaders["boom"].load(key)

        def resolve_fine(root, info):
            return "ok"

    schema = graphene.Schema(query=Query).graphql_schema
    with caplog.at_level(logging.ERROR):
        result = execute(schema, parse('{ a: broken(key: "1") b: broken(key: "2") fine }'),
                         context_value={}, execution_context_class=ExecutionContext)
    assert isinstance(result, ExecutionResult)
    assert result.data == {"a": None, "b": None, "fine": "ok"}
    errors = result.errors or []
    assert sorted(str((e.path or [""])[0]) for e in errors) == ["a", "b"]
    assert {(e.extensions or {}).get("code") for e in errors} == {"INTERNAL_SERVER_ERROR"}
    assert "reference" in errors[0].message
    assert any("loader boom failed" in r.getMessage() for r in caplog.records)


def _alias_conflict_document() -> str:
    """~14 KB: 450 fields under two aliases, each pair in conflict (different ids)."""
    return "{ " + " ".join(f'x{i % 2}: customer(id: "{i}") {{ id }}' for i in range(450)) + " }"


def _validated(source: str) -> tuple[list, float]:
    """validate_limits' errors for ``source`` at the default limits, and its CPU time."""
    limits = QueryLimits()
    document = parse_limited(source, limits)
    started = time.process_time()
    errors = validate_limits(unified_schema().graphql_schema, document, limits, None)
    return errors, time.process_time() - started


def test_an_alias_conflict_document_is_refused_before_the_field_merge_check():
    schema = unified_schema().graphql_schema
    source = _alias_conflict_document()
    assert len(source) > 13_000
    errors, ours = _validated(source)
    assert [e.extensions["code"] for e in errors] == ["TOO_MANY_ALIASES"]
    # graphql-core's own validation of the same document (what ran first before)
    started = time.process_time()
    standard = validate(schema, parse(source), rules=specified_rules)
    theirs = time.process_time() - started
    assert standard  # it does find the conflicts, at a price
    assert ours < 0.05, f"the cheap limits took {ours * 1000:.1f} ms of CPU"
    assert ours * 5 < theirs, (ours, theirs)


def test_the_alias_conflict_document_is_a_400_over_http(api: Api):
    response = api.post(_alias_conflict_document())
    assert response.status_code == 400
    assert _codes(response.json()) == ["TOO_MANY_ALIASES"]


def test_a_valid_query_repeating_one_field_900_times_is_answered(api: Api):
    response = api.post('{ customer(id: "1") { ' + "id " * 900 + "} }")
    assert response.status_code == 200, response.content
    assert response.json() == {"data": {"customer": {"id": "1"}}}
    repeated_roots = api.post("{ " + "__typename " * 900 + "}")
    assert repeated_roots.json() == {"data": {"__typename": "Query"}}


def test_conflicting_fields_without_aliases_are_refused_within_the_merge_budget():
    source = "{ " + " ".join(f'customer(id: "{i}") {{ id }}' for i in range(450)) + " }"
    errors, spent = _validated(source)
    assert [e.extensions["code"] for e in errors] == ["QUERY_TOO_COMPLEX"]
    assert "split the query" in errors[0].message
    # Bounded by the merge budget: about 0.1 s idle, 0.37 s once with the other core busy
    # (CPU time stretches under contention); graphql-core alone spends 2.4-5 s on such a
    # document.
    assert spent < 1.0, f"refusing it took {spent * 1000:.1f} ms of CPU"


def test_ids_inside_input_objects_are_checked_too(api: Api):
    _, write_key = create_api_key(api.tenant, "writer", ["write"])
    mutation = ("mutation($input: CreateInvoiceInput!) { createInvoice(input: $input) "
                "{ id } }")
    bad_line = {"customerId": "1", "idempotencyKey": "bad-line",
                "items": [{"productId": "SKU\u000000001", "quantity": 1}]}
    response = api.post(mutation, {"input": bad_line}, key=write_key)
    assert response.status_code == 200, response.content
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "`input.items[0].productId`" in error["message"]
    no_customer = {**bad_line, "customerId": "", "items": [{"productId": "SKU-00001",
                                                           "quantity": 1}]}
    response = api.post(mutation, {"input": no_customer}, key=write_key)
    assert "`input.customerId`" in response.json()["errors"][0]["message"]


def test_a_nul_in_a_string_argument_is_bad_user_input(api: Api):
    response = api.post('{ catalogEntity(type: "cust\\u0000omer", id: "1") { id } }')
    assert response.status_code == 200
    body = response.json()
    assert _codes(body) == ["BAD_USER_INPUT"]
    assert "`type`" in body["errors"][0]["message"]


def test_an_explicit_null_page_size_means_the_default(api: Api):
    body = api.query("{ sagas(first: null) { nodes { id } } }")
    assert body == {"data": {"sagas": {"nodes": []}}}


def test_an_explicit_null_depth_means_the_default(api: Api):
    body = api.query('{ relationshipGraph(type: "customer", id: "1", depth: null) '
                     "{ __typename } }")
    assert "errors" not in body, body
