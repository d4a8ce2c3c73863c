"""Query limits: every oversized or forbidden query is refused before any resolver runs.

``_run`` follows the /graphql view's order: parse with the token limit, validate with the
limits, and execute only a document with no errors. A resolver records each call, so a
refusal is proven to have happened before execution.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import graphene
import pytest
from graphql import GraphQLError, execute_sync, get_introspection_query

from apps.federation.limits import QueryLimits, check_batch, parse_limited, validate_limits
from apps.tenancy.graphql_limits import LIMIT_SPECS

CALLS: list[str] = []


class Item(graphene.ObjectType):
    id = graphene.ID()
    name = graphene.String()
    child = graphene.Field(lambda: Item)
    children = graphene.List(lambda: Item, first=graphene.Int())

    def resolve_child(self, info: Any) -> Item:
        CALLS.append("child")
        return Item(id="c", name="child")

    def resolve_children(self, info: Any, first: int = 2) -> list[Item]:
        CALLS.append("children")
        return [Item(id=str(n), name="child") for n in range(first)]


class Query(graphene.ObjectType):
    item = graphene.Field(Item, id=graphene.ID())
    items = graphene.List(Item, first=graphene.Int(), ids=graphene.List(graphene.ID))

    def resolve_item(self, info: Any, id: str = "1") -> Item:
        CALLS.append("item")
        return Item(id=id, name="item")

    def resolve_items(self, info: Any, first: int = 2, ids: list[str] | None = None) -> list:
        CALLS.append("items")
        return [Item(id=i, name="item") for i in (ids or [str(n) for n in range(first)])]


SCHEMA = graphene.Schema(query=Query).graphql_schema
DEFAULTS = QueryLimits()


@pytest.fixture(autouse=True)
def _no_calls_yet():
    CALLS.clear()


def _run(source: str, limits: QueryLimits = DEFAULTS,
         variables: dict[str, Any] | None = None) -> tuple[Any, list[GraphQLError]]:
    try:
        document = parse_limited(source, limits)
    except GraphQLError as error:
        return None, [error]
    errors = validate_limits(SCHEMA, document, limits, variables)
    if errors:
        return None, errors
    result = execute_sync(SCHEMA, document, variable_values=variables)
    return result.data, list(result.errors or [])


def _code(error: GraphQLError) -> str | None:
    return (error.extensions or {}).get("code")


def _refused(source: str, code: str, limits: QueryLimits = DEFAULTS,
             variables: dict[str, Any] | None = None) -> list[GraphQLError]:
    data, errors = _run(source, limits, variables)
    assert data is None
    assert code in {_code(error) for error in errors}, errors
    assert CALLS == [], "a resolver ran before the query was refused"
    return errors


def _nested(levels: int) -> str:
    """``{ item { child { child ... { id } } } }`` with ``levels`` field levels."""
    return "{ item " + "{ child " * (levels - 2) + "{ id }" + " }" * (levels - 2) + " }"


def test_a_query_within_the_limits_runs():
    data, errors = _run(_nested(15))
    assert errors == []
    assert data["item"]["child"]["child"] is not None
    assert "item" in CALLS


def test_a_depth_20_query_is_refused():
    errors = _refused(_nested(20), "QUERY_TOO_DEEP")
    assert "15 levels" in errors[0].message


def test_a_fragment_named_schema_does_not_hide_depth():
    body = "{ child " * 18 + "{ id }" + " }" * 18
    source = ("query { item { ...__schema } }\n"
              f"fragment __schema on Item {body}")
    _refused(source, "QUERY_TOO_DEEP", QueryLimits(introspection=True))


def test_depth_counts_through_nested_fragments_and_inline_fragments():
    source = """
    query { item { ...A } }
    fragment A on Item { child { child { ...B } } }
    fragment B on Item { ... on Item { child { child { child { ...C } } } } }
    fragment C on Item { child { child { child { child { child { child { child { child {
      child { id } } } } } } } } } }
    """
    _refused(source, "QUERY_TOO_DEEP")


def test_500_aliases_are_refused():
    source = "{ " + " ".join(f"a{n}: item {{ id }}" for n in range(500)) + " }"
    errors = _refused(source, "TOO_MANY_ALIASES")
    assert "500 aliases" in errors[0].message


def test_aliases_in_fragments_count():
    fragment = " ".join(f"a{n}: id" for n in range(30))
    source = f"{{ x: item {{ ...F }} y: item {{ ...F }} }} fragment F on Item {{ {fragment} }}"
    _refused(source, "TOO_MANY_ALIASES")


@pytest.mark.parametrize(
    "source",
    [
        "{ items(first: 100) { children(first: 100) { id } } }",
        "{ items { children { children { children { id } } } } }",  # default size 10
        "query($n: Int = 100) { items(first: $n) { children(first: $n) { id name } } }",
    ],
    ids=["explicit-first", "default-list-size", "variable-default"],
)
def test_an_over_cost_list_query_is_refused(source):
    errors = _refused(source, "QUERY_TOO_COSTLY")
    assert "first" in errors[0].message


def test_cost_follows_variables_and_id_lists():
    source = "query($n: Int = 100) { items(first: $n) { children(first: $n) { id name } } }"
    data, errors = _run(source, variables={"n": 3})
    assert errors == []
    assert len(data["items"]) == 3
    CALLS.clear()
    ids = ", ".join(f'"{n}"' for n in range(60))
    _refused(f"{{ items(ids: [{ids}]) {{ children(first: 100) {{ id }} }} }}",
             "QUERY_TOO_COSTLY")
    CALLS.clear()
    data, errors = _run('{ items(ids: ["1", "2"]) { children(first: 100) { id } } }')
    assert errors == []


def test_a_fragment_bomb_is_refused_without_being_expanded():
    # F<k> doubles F<k-1>: 2**60 items once expanded; measuring it must stay linear.
    fragments = ["fragment F0 on Item { id }"] + [
        f"fragment F{k} on Item {{ child {{ ...F{k - 1} }} other: child {{ ...F{k - 1} }} }}"
        for k in range(1, 61)
    ]
    source = "{ item { ...F60 } } " + " ".join(fragments)
    errors = _refused(source, "QUERY_TOO_COSTLY", QueryLimits(max_depth=100))
    assert all(_code(error) != "GRAPHQL_VALIDATION_FAILED" for error in errors)


def test_a_batch_over_the_limit_is_refused():
    check_batch([{"query": "{ item { id } }"}] * 10, DEFAULTS)
    with pytest.raises(GraphQLError) as caught:
        check_batch([{"query": "{ item { id } }"}] * 11, DEFAULTS)
    assert _code(caught.value) == "BATCH_TOO_LARGE"
    assert "at most 10" in caught.value.message
    with pytest.raises(GraphQLError):
        check_batch([], DEFAULTS)


def test_an_undefined_fragment_gets_the_standard_error():
    errors = _refused("{ item { ...Missing } }", "GRAPHQL_VALIDATION_FAILED")
    assert errors[0].message == "Unknown fragment 'Missing'."


def test_a_fragment_cycle_gets_the_standard_error():
    source = ("{ item { ...A } } fragment A on Item { child { ...B } } "
              "fragment B on Item { child { ...A } }")
    errors = _refused(source, "GRAPHQL_VALIDATION_FAILED")
    assert any("within itself" in error.message for error in errors)


@pytest.mark.parametrize(
    "source",
    [
        "{ __schema { types { name } } }",
        '{ item { id } __type(name: "Item") { name } }',
        '{ item { ...F } } fragment F on Item { child { id } } '
        'fragment G on Query { __type(name: "Item") { name } } query Two { ...G }',
        "{ ...Hidden } fragment Hidden on Query { __schema { queryType { name } } }",
    ],
    ids=["schema", "type", "in-unused-fragment", "in-fragment"],
)
def test_introspection_is_refused_when_disabled(source):
    _refused(source, "INTROSPECTION_DISABLED")


def test_typename_is_not_introspection():
    data, errors = _run("{ __typename item { __typename id } }")
    assert errors == []
    assert data["item"]["__typename"] == "Item"


def test_suggestions_do_not_leak_the_schema_when_introspection_is_off():
    errors = _refused("{ item { nam } }", "GRAPHQL_VALIDATION_FAILED")
    assert "Did you mean" not in errors[0].message
    data, errors = _run("{ item { nam } }", QueryLimits(introspection=True))
    assert "Did you mean" in errors[0].message


def test_the_standard_introspection_query_fits_the_default_limits():
    data, errors = _run(get_introspection_query(descriptions=True),
                        QueryLimits(introspection=True))
    assert errors == []
    assert data["__schema"]["queryType"]["name"] == "Query"


def test_too_many_tokens_is_refused_before_parsing_completes():
    source = "{ " + " ".join(f"f{n}: id" for n in range(3000)) + " }"
    errors = _refused(source, "QUERY_TOO_LARGE")
    assert "5000 tokens" in errors[0].message
    _refused("#" * 10 + "\n" * 5 + "{ id }" + " " * 400_000, "QUERY_TOO_LARGE")


def test_a_syntax_error_is_a_parse_failure():
    errors = _refused("{ item { id }", "GRAPHQL_PARSE_FAILED")
    assert errors[0].locations
    _refused("", "GRAPHQL_PARSE_FAILED")


def test_absurd_nesting_is_refused_at_parse_time():
    _refused("{ a " * 3000 + "}" * 3000, "QUERY_TOO_DEEP", QueryLimits(max_tokens=20_000))


def test_the_tenant_override_keys_match_the_query_limits():
    assert {f.name for f in fields(QueryLimits)} == set(LIMIT_SPECS) - {"rate_limit_per_minute"}


def _entities_cost(count: int) -> int:
    from apps.federation.query_measure import QueryMeasurer
    from apps.federation.schema import subgraph_schema

    schema = subgraph_schema("customers").graphql_schema
    document = parse_limited(
        "query($r: [_Any!]!) { _entities(representations: $r) "
        "{ ... on Customer { id email } } }", DEFAULTS)
    [operation] = document.definitions
    representations = [{"__typename": "Customer", "id": str(n)} for n in range(count)]
    measurer = QueryMeasurer(schema, {}, {"r": representations}, depth_cap=20)
    return measurer.operation(operation).cost  # type: ignore[arg-type]


def test_an_entities_query_costs_per_representation_sent():
    # A gateway sends one representation per entity it needs: 3 cost 3 x (id + email),
    # 300 cost 300 x, not an assumed 10 either way.
    assert _entities_cost(3) == 1 + 3 * 2
    assert _entities_cost(300) == 1 + 300 * 2
