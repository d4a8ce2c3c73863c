"""The execution context answers with loader futures exactly what graphql-core's own
execution answers with the same values at hand: the same data in the same order, the same
errors at the same paths, for generated queries over generated data - plain reads from
dicts and objects, nulls in non-null fields (propagated to the nearest nullable parent,
also from a deferred field), values that do not serialize, exceptions as values, resolvers
that raise, arguments, unions, and loader futures (pending, failing, in lists)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import graphene
import pytest
from graphql import ExecutionResult, execute, parse, validate
from graphql_sync_dataloaders import SyncDataLoader
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import queries

from apps.federation.executor import ExecutionContext


class Money(graphene.ObjectType):
    amount = graphene.String(required=True)
    currency = graphene.String()


class Product(graphene.ObjectType):
    id = graphene.ID(required=True)
    name = graphene.String()
    stock = graphene.Int()


class _AtHand:
    """What graphql-core's own execution is given instead of a loader: the values."""

    def __init__(self, catalog: dict[str, Any]) -> None:
        self.catalog = catalog

    def load(self, sku: str) -> Any:
        return self.catalog.get(sku)


def _products(info: Any) -> SyncDataLoader | _AtHand:
    context = info.context
    if "products" not in context:
        def batch(skus: list[str]) -> list[Any]:
            return [context["catalog"].get(sku) for sku in skus]
        context["products"] = _AtHand(context["catalog"]) if context["at_hand"] else \
            SyncDataLoader(batch)
    return context["products"]


class Item(graphene.ObjectType):
    line = graphene.Int(required=True)
    quantity = graphene.Int()
    price = graphene.Field(Money)
    tags = graphene.List(graphene.NonNull(graphene.String))
    product = graphene.Field(Product)
    required_product = graphene.Field(graphene.NonNull(Product))
    products = graphene.List(Product)
    label = graphene.String(upper=graphene.Boolean())

    @staticmethod
    def resolve_product(item: Any, info: Any) -> Any:
        return _products(info).load(_get(item, "sku"))

    @staticmethod
    def resolve_required_product(item: Any, info: Any) -> Any:
        return _products(info).load(_get(item, "sku"))

    @staticmethod
    def resolve_products(item: Any, info: Any) -> Any:
        return [_products(info).load(sku) for sku in _get(item, "skus") or ()]

    @staticmethod
    def resolve_label(item: Any, info: Any, upper: bool = False) -> Any:
        label = _get(item, "label")
        if label == "raise":
            raise ValueError("the label resolver failed")
        return label.upper() if upper and isinstance(label, str) else label


def _get(source: Any, name: str) -> Any:
    return source.get(name) if isinstance(source, dict) else getattr(source, name, None)


class Thing(graphene.Union):
    class Meta:
        types = (Item, Product)

    @classmethod
    def resolve_type(cls, instance: Any, info: Any) -> Any:
        return Product if _get(instance, "kind") == "product" else Item


class Query(graphene.ObjectType):
    items = graphene.List(Item)
    required_items = graphene.NonNull(graphene.List(graphene.NonNull(Item)))
    things = graphene.List(Thing)
    first_product = graphene.Field(Product)

    @staticmethod
    def resolve_items(root: Any, info: Any) -> Any:
        return root["items"]

    @staticmethod
    def resolve_required_items(root: Any, info: Any) -> Any:
        return root["items"]

    @staticmethod
    def resolve_things(root: Any, info: Any) -> Any:
        return root["items"] + [dict(p, kind="product") for p in root["catalog"].values()
                                if isinstance(p, dict)]

    @staticmethod
    def resolve_first_product(root: Any, info: Any) -> Any:
        return _products(info).load("p1")


SCHEMA = graphene.Schema(query=Query)

# Values a field may hold: fine ones, null, ones its scalar refuses, an exception.
INTS = st.sampled_from([1, 7, None, "seven", ValueError("a broken int")])
STRINGS = st.sampled_from(["a", "b c", 12, None, ValueError("a broken string")])
PRODUCTS = st.one_of(
    st.none(), st.just(KeyError("no such product")),
    st.fixed_dictionaries({"id": st.sampled_from(["p1", "p2", None]), "name": STRINGS,
                           "stock": INTS}))
MONEY = st.one_of(st.none(), st.fixed_dictionaries({"amount": STRINGS, "currency": STRINGS}))
SKUS = st.sampled_from(["p1", "p2", "p3"])


@st.composite
def items(draw: st.DrawFn) -> Any:
    fields = {"line": draw(INTS), "quantity": draw(INTS), "price": draw(MONEY),
              "tags": draw(st.one_of(st.none(), st.lists(STRINGS, max_size=3))),
              "sku": draw(SKUS), "skus": draw(st.lists(SKUS, max_size=3)),
              "label": draw(st.sampled_from(["x", None, "raise"]))}
    # graphene's default resolver reads dicts by key and other objects by attribute
    return fields if draw(st.booleans()) else SimpleNamespace(**fields)


DATA = st.fixed_dictionaries({
    "items": st.lists(items(), max_size=4),
    "catalog": st.fixed_dictionaries({"p1": PRODUCTS, "p2": PRODUCTS, "p3": PRODUCTS}),
})


def _answer(query: str, data: dict[str, Any], deferred: bool) -> Any:
    """Ours, with loader futures (``deferred``), or graphql-core's, with the values."""
    document = parse(query)
    assert not validate(SCHEMA.graphql_schema, document)
    result = execute(SCHEMA.graphql_schema, document, root_value=data,
                     context_value={"catalog": data["catalog"], "at_hand": not deferred},
                     execution_context_class=ExecutionContext if deferred else None)
    assert isinstance(result, ExecutionResult)
    errors = sorted((e.message, tuple(e.path or ()), tuple(map(tuple, e.locations or ())))
                    for e in result.errors or ())
    # As JSON text: the order of the fields is part of the answer.
    return json.dumps(result.data), errors


def _inside_null(data: Any, path: tuple[Any, ...]) -> bool:
    """Whether an ancestor of the field at ``path`` is null in ``data``: a non-null error
    propagated to it."""
    for key in path[:-1]:
        if data is None:
            return True
        data = data[key]
    return data is None


def _assert_same_answer(query: str, data: dict[str, Any]) -> list[Any]:
    """The same data, and the same errors wherever the answer still holds the field's
    parent. Inside a parent a non-null error nulled, which errors are reported depends on
    the order fields finish in (a field waiting on a loader finishes later; graphql-js
    differs from graphql-core's sync execution the same way): there the data must agree,
    the errors may not."""
    ours, theirs = _answer(query, data, deferred=True), _answer(query, data, deferred=False)
    assert ours[0] == theirs[0]
    answer = json.loads(ours[0])
    assert [e for e in ours[1] if not _inside_null(answer, e[1])] == \
        [e for e in theirs[1] if not _inside_null(answer, e[1])]
    assert bool(ours[1]) == bool(theirs[1])
    return ours[1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=queries(str(SCHEMA)), data=DATA)
def test_generated_queries_answer_as_graphql_core_does(query: str, data: dict[str, Any]) -> None:
    _assert_same_answer(query, data)


@pytest.mark.parametrize("query", [
    "{ items { line quantity price { amount currency } tags label(upper: true) "
    "product { id name stock } products { id name } } }",
    "{ requiredItems { line requiredProduct { id name } } }",
    "{ things { __typename ... on Item { line } ... on Product { id name } } }",
    "{ firstProduct { id name } items { a: line b: line product { id } } }",
])
def test_known_shapes_with_broken_values_answer_as_graphql_core_does(query: str) -> None:
    broken = {"line": None, "quantity": "seven", "price": {"amount": None, "currency": 1},
              "tags": ["a", None], "sku": "p3", "skus": ["p1", "p3", "p2"], "label": "raise"}
    data = {"items": [broken, SimpleNamespace(**dict(broken, line=3, sku="p1")),
                      dict(broken, line=ValueError("a broken int"), sku="p2")],
            "catalog": {"p1": {"id": "p1", "name": "One", "stock": 2},
                        "p2": KeyError("no such product"), "p3": None}}
    assert _assert_same_answer(query, data), "the data was meant to produce errors"
