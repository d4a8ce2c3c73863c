"""Directus' global query parameters over an in-memory collection.

`filter` (JSON, or the `filter[field][_op]=value` bracket form), `fields`, `sort`, `limit`,
`offset`, `page`, `search` and `meta`, with the answers Directus 10.13 gives a field the
collection does not have (seen against a real instance, admin and non-admin tokens alike): in
`fields` it is left out, in `filter` it is 400 INVALID_QUERY "Invalid filter key", in `sort` it
is a 500 (Directus sends the column to the database). Directus 11 refuses any of them with a
403 first (see `referenced_fields`). Any other malformed parameter is 400 INVALID_QUERY.
Comparisons follow SQL as Directus runs it on PostgreSQL: null matches no comparison, nulls
sort last ascending and first descending.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from devtools.reference.clock import canonical_ts

Record = dict[str, Any]
Predicate = Callable[[Record], bool]

INTEGER, STRING, TIMESTAMP = "integer", "string", "timestamp"
DEFAULT_LIMIT = 100
META_KEYS = ("total_count", "filter_count")


class InvalidQuery(Exception):
    """400 INVALID_QUERY; the message is Directus' `reason`."""


class UnknownSortField(Exception):
    """Sorting by a field the collection does not have: Directus answers 500."""


@dataclass(frozen=True)
class ItemsQuery:
    fields: tuple[str, ...]
    predicate: Predicate | None
    sort: tuple[tuple[str, bool], ...]  # (field, descending)
    limit: int | None  # None: every item
    offset: int
    meta: frozenset[str]


def parse(params: Mapping[str, list[str]], schema: Mapping[str, str],
          collection: str) -> ItemsQuery:
    """The query for `GET /items/{collection}`; raises InvalidQuery or UnknownSortField."""
    predicate = (_compile(_filter_param(params), schema, collection) if _has_filter(params)
                 else None)
    search = _last(params, "search")
    if search:
        searching = _search_predicate(search, schema)
        predicate = searching if predicate is None else _all_of([predicate, searching])
    limit = _integer(params, "limit", minimum=-1)
    limit = DEFAULT_LIMIT if limit is None else limit
    page = _integer(params, "page", minimum=1)
    offset = _integer(params, "offset", minimum=0) or 0
    if page is not None and limit != -1:
        offset = (page - 1) * limit
    return ItemsQuery(
        fields=parse_fields(params, schema),
        predicate=predicate,
        sort=tuple(_sort(params, schema)),
        limit=None if limit == -1 else limit,
        offset=offset,
        meta=_meta(params),
    )


def referenced_fields(params: Mapping[str, list[str]]) -> list[str]:
    """Every field a query names, in `fields`, `sort` and `filter` (in that order), for
    Directus 11, which checks them all before running anything."""
    names = [name for name in _list_param(params, "fields") if name != "*"]
    names += [name.removeprefix("-") for name in _list_param(params, "sort")]
    if _has_filter(params):
        with contextlib.suppress(InvalidQuery):  # parse() says what is wrong with it
            names += _filter_keys(_filter_param(params))
    return names


def _filter_keys(node: Any) -> list[str]:
    if isinstance(node, list):
        return [key for child in node for key in _filter_keys(child)]
    if not isinstance(node, dict):
        return []
    keys: list[str] = []
    for key, value in node.items():
        keys += _filter_keys(value) if key in ("_and", "_or") else (
            [] if key.startswith("_") else [key])
    return keys


def parse_fields(params: Mapping[str, list[str]], schema: Mapping[str, str]) -> tuple[str, ...]:
    """The fields to serve: a field the collection lacks is left out, not refused, as
    Directus does for an admin token (a drifted collection shows as items without it)."""
    names = _list_param(params, "fields") or ["*"]
    if "*" in names:
        return tuple(schema)
    return tuple(dict.fromkeys(name for name in names if name in schema))


def run(items: Iterable[Record], query: ItemsQuery) -> tuple[list[Record], int]:
    """The page of items the query selects, and how many items matched before paging."""
    matched = [item for item in items if query.predicate is None or query.predicate(item)]
    for field, descending in reversed(query.sort):
        # Python's sort is stable, so sorting by each key from the last one builds the order;
        # ties keep the primary-key order the items arrive in.
        matched.sort(key=_sort_key(field), reverse=descending)
    end = None if query.limit is None else query.offset + query.limit
    return matched[query.offset:end], len(matched)


def _sort_key(field: str) -> Callable[[Record], tuple[bool, Any]]:
    """Nulls after values, as PostgreSQL sorts them ascending (and before, descending)."""
    def key(item: Record) -> tuple[bool, Any]:
        value = item[field]
        return (value is None, 0 if value is None else value)
    return key


def project(item: Record, fields: tuple[str, ...]) -> Record:
    return {name: item[name] for name in fields if name in item}


# -- parameters --------------------------------------------------------------------------------

def _last(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values else None


def _list_param(params: Mapping[str, list[str]], name: str) -> list[str]:
    """`name=a,b` or `name[]=a&name[]=b`, both of which Directus accepts."""
    raw = [*params.get(name, []), *params.get(f"{name}[]", [])]
    return [part.strip() for value in raw for part in value.split(",") if part.strip()]


def _integer(params: Mapping[str, list[str]], name: str, minimum: int) -> int | None:
    value = _last(params, name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise InvalidQuery(f'"{name}" must be an integer') from None
    if number < minimum:
        raise InvalidQuery(f'"{name}" must be greater than or equal to {minimum}')
    return number


def _sort(params: Mapping[str, list[str]], schema: Mapping[str, str]) -> list[tuple[str, bool]]:
    keys = [(name.removeprefix("-"), name.startswith("-"))
            for name in _list_param(params, "sort")]
    if any(name not in schema for name, _ in keys):
        raise UnknownSortField
    return keys


def _meta(params: Mapping[str, list[str]]) -> frozenset[str]:
    wanted = set(_list_param(params, "meta"))
    return frozenset(META_KEYS) if "*" in wanted else frozenset(wanted & set(META_KEYS))


_BRACKET = re.compile(r"\[([^\[\]]*)\]")


def _has_filter(params: Mapping[str, list[str]]) -> bool:
    return any(key == "filter" or key.startswith("filter[") for key in params)


def _filter_param(params: Mapping[str, list[str]]) -> Any:
    raw = _last(params, "filter")
    if raw is not None:
        try:
            return json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            raise InvalidQuery("Filter is not valid JSON") from None
    tree: dict[str, Any] = {}
    for key, values in params.items():
        if key.startswith("filter["):
            path = _BRACKET.findall(key[len("filter"):])
            node = tree
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = values[-1]
    return _arrays(tree)


def _arrays(node: Any) -> Any:
    """Bracket objects keyed 0, 1, ... are arrays (`filter[_or][0][...]`)."""
    if not isinstance(node, dict):
        return node
    converted = {key: _arrays(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


# -- filters -----------------------------------------------------------------------------------

def _all_of(predicates: list[Predicate]) -> Predicate:
    return lambda item: all(predicate(item) for predicate in predicates)


def _any_of(predicates: list[Predicate]) -> Predicate:
    return lambda item: any(predicate(item) for predicate in predicates)


def _compile(node: Any, schema: Mapping[str, str], collection: str) -> Predicate:
    if not isinstance(node, dict):
        raise InvalidQuery("Filter must be an object")
    predicates = []
    for key, value in node.items():
        if key in ("_and", "_or"):
            if not isinstance(value, list):
                raise InvalidQuery(f'"{key}" must be an array of filters')
            children = [_compile(child, schema, collection) for child in value]
            predicates.append(_all_of(children) if key == "_and" else _any_of(children))
        elif key.startswith("_"):
            raise InvalidQuery(f'"{key}" is not a valid filter operator')
        else:
            if key not in schema:
                raise InvalidQuery(f'Invalid filter key "{key}" on "{collection}"')
            rules = value if isinstance(value, dict) else {"_eq": value}  # shorthand for _eq
            predicates.extend(_operator(key, schema[key], op, arg) for op, arg in rules.items())
    return _all_of(predicates)


def _coerce(kind: str, value: Any) -> Any:
    """The filter value as the column's type, as the database would cast it."""
    if value is None:
        return None
    try:
        if kind == INTEGER:
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if kind == TIMESTAMP:
            return canonical_ts(str(value))
    except ValueError:
        raise InvalidQuery(f"{value!r} is not a valid {kind}") from None
    return str(value)


def _truthy(value: Any) -> bool:
    return value not in (False, "false", "0", 0)


def _values(kind: str, value: Any) -> list[Any]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise InvalidQuery("_in, _nin and _between take an array or a comma-separated list")
    return [_coerce(kind, item) for item in items]


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "_gt": lambda a, b: a > b, "_gte": lambda a, b: a >= b,
    "_lt": lambda a, b: a < b, "_lte": lambda a, b: a <= b,
}
_TEXT_TESTS: dict[str, Callable[[str, str], bool]] = {
    "_contains": lambda a, b: b in a,
    "_ncontains": lambda a, b: b not in a,
    "_icontains": lambda a, b: b.lower() in a.lower(),
    "_starts_with": lambda a, b: a.startswith(b),
    "_ends_with": lambda a, b: a.endswith(b),
}


def _operator(field: str, kind: str, op: str, arg: Any) -> Predicate:
    if op in ("_null", "_nnull"):
        # Directus applies `_null: false` as no condition at all.
        if not _truthy(arg):
            return lambda item: True
        wants_null = op == "_null"
        return lambda item: (item.get(field) is None) == wants_null
    if op in ("_eq", "_neq"):
        target = _coerce(kind, arg)
        if target is None:  # `_eq: null` is IS NULL, `_neq: null` IS NOT NULL
            return lambda item: (item.get(field) is None) == (op == "_eq")
        equal = op == "_eq"
        return lambda item: item.get(field) is not None and (item[field] == target) == equal
    if op in ("_in", "_nin"):
        targets = set(_values(kind, arg))
        inside = op == "_in"
        return lambda item: item.get(field) is not None and (item[field] in targets) == inside
    if op == "_between":
        bounds = _values(kind, arg)
        if len(bounds) != 2:
            raise InvalidQuery("_between takes two values")
        low, high = bounds
        return lambda item: item.get(field) is not None and low <= item[field] <= high
    if op in _COMPARISONS:
        compare, target = _COMPARISONS[op], _coerce(kind, arg)
        return lambda item: (item.get(field) is not None and target is not None
                             and compare(item[field], target))
    if op in _TEXT_TESTS:
        test, needle = _TEXT_TESTS[op], str(arg)
        return lambda item: item.get(field) is not None and test(str(item[field]), needle)
    raise InvalidQuery(f'"{op}" is not a valid filter operator')


def _search_predicate(term: str, schema: Mapping[str, str]) -> Predicate:
    """Directus' `search`: substring in text fields, equality in number fields."""
    needle = term.lower()
    texts = [name for name, kind in schema.items() if kind == STRING]
    number = int(term) if term.strip().lstrip("-").isdigit() else None
    numbers = [name for name, kind in schema.items() if kind == INTEGER]

    def matches(item: Record) -> bool:
        if number is not None and any(item.get(name) == number for name in numbers):
            return True
        return any(needle in str(item.get(name) or "").lower() for name in texts)

    return matches
