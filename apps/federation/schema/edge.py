"""Checks on what a caller hands the API, made before anything reaches a source or the
database: ids (every argument of type ``ID``, anywhere in the schema) and the
representations given to ``_entities``. A bad value is a field error with
``extensions.code`` BAD_USER_INPUT that says what to send instead, never an exception
deep in a loader (an empty id used to stop the whole request in the entity cache, a NUL
byte in PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    get_named_type,
)

BAD_USER_INPUT = "BAD_USER_INPUT"
#: longer than any source's key; bounds what one id can make a cache key or a query carry
MAX_ID_LENGTH = 256


def bad_input(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": BAD_USER_INPUT})


def id_problem(value: Any) -> str | None:
    """Why ``value`` is not an id the API accepts, or None if it is one."""
    if not isinstance(value, str) or not value:
        return "an id must be a non-empty string"
    if len(value) > MAX_ID_LENGTH:
        return f"an id has at most {MAX_ID_LENGTH} characters"
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        return "an id may not contain control characters (such as NUL)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON's \ud800 escape can carry
        return "an id must be valid Unicode text"
    return None


def check_id(where: str, value: Any) -> None:
    """Raise BAD_USER_INPUT naming ``where`` (e.g. "ids[3]") unless ``value`` is an id."""
    problem = id_problem(value)
    if problem is not None:
        raise bad_input(f"`{where}` is not a valid id ({problem}); send the id as the "
                        "source shows it, e.g. \"42\".")


def _id_arguments(field: GraphQLField) -> list[tuple[str, str]]:
    """``(graphql name, resolver keyword)`` of the field's arguments of type ID or [ID]."""
    return [(name, argument.out_name or name) for name, argument in field.args.items()
            if get_named_type(argument.type) is GraphQLID]


class IdArgumentsMiddleware:
    """graphql-core middleware: refuses bad ids in any ID argument before the resolver
    runs. The ID arguments of each field are worked out once per schema field."""

    def __init__(self) -> None:
        # keyed by the type object: the unified graph and a subgraph share type names
        self._known: dict[tuple[Any, str], list[tuple[str, str]]] = {}

    def resolve(self, next_: Callable[..., Any], root: Any, info: GraphQLResolveInfo,
                **args: Any) -> Any:
        if args:
            key = (info.parent_type, info.field_name)
            arguments = self._known.get(key)
            if arguments is None:
                field = info.parent_type.fields[info.field_name]
                arguments = self._known[key] = _id_arguments(field)
            for name, keyword in arguments:
                value = args.get(keyword)
                if isinstance(value, list):
                    for index, item in enumerate(value):
                        check_id(f"{name}[{index}]", item)
                elif value is not None:
                    check_id(name, value)
        return next_(root, info, **args)


def checked_representations(representations: Any,
                            key_fields: dict[str, frozenset[str]]) -> None:
    """Refuse ``_entities`` representations that are not ``{"__typename": <entity type of
    this subgraph>, "id": <id>, <other key fields>: <text>}``; a gateway sends exactly
    these. ``key_fields``: the text fields each entity type may be keyed by."""
    if not isinstance(representations, list):
        raise bad_input("`representations` must be a list of {\"__typename\", \"id\"} "
                        "objects.")
    for index, representation in enumerate(representations):
        where = f"representations[{index}]"
        if not isinstance(representation, dict):
            raise bad_input(f"`{where}` must be an object {{\"__typename\", \"id\"}}.")
        typename = representation.get("__typename")
        allowed = key_fields.get(typename) if isinstance(typename, str) else None
        if allowed is None:
            raise bad_input(f"`{where}.__typename` must name an entity type of this "
                            f"subgraph: one of {', '.join(sorted(key_fields))}.")
        extra = sorted(set(representation) - allowed - {"__typename"})
        if extra:
            raise bad_input(f"`{where}` has unexpected field(s) {', '.join(map(str, extra))}; "
                            f"{typename} is identified by {', '.join(sorted(allowed))}.")
        check_id(f"{where}.id", representation.get("id"))
        for name in sorted(set(representation) & allowed - {"id"}):
            check_id(f"{where}.{name}", representation[name])


def _key_fields(entity_union: Any) -> dict[str, frozenset[str]]:
    """Each entity type's text fields (ID or String): what a representation may carry."""
    return {member.name: frozenset(name for name, field in member.fields.items()
                                   if get_named_type(field.type) in (GraphQLID, GraphQLString))
            for member in getattr(entity_union, "types", ())}


def guard_entities(schema: GraphQLSchema) -> None:
    """Check ``_entities``' representations (:func:`checked_representations`) before
    graphene-federation's resolver, which indexes and instantiates them unchecked (a
    missing `__typename` was a KeyError, an unknown one an AttributeError: 500-like
    INTERNAL_SERVER_ERRORs with a logged traceback)."""
    query = schema.query_type
    field = query.fields.get("_entities") if query is not None else None
    if field is None or field.resolve is None:
        return
    key_fields = _key_fields(get_named_type(field.type))
    resolve = field.resolve

    def checked(root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        checked_representations(args.get("representations"), key_fields)
        return resolve(root, info, **args)

    field.resolve = checked


ID_ARGUMENTS = IdArgumentsMiddleware()
