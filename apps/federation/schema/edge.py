"""Checks on what a caller hands the API, made before anything reaches a source or the
database: ids and strings (every argument of type ``ID`` or ``String``, in input objects
too: see ``guard_arguments``, applied to every schema as it is built) and the
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
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    default_field_resolver,
    get_named_type,
    get_nullable_type,
)
from graphql.pyutils import Undefined

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
    return text_problem(value)


def text_problem(value: Any) -> str | None:
    """Why the string ``value`` cannot be stored or sent on (PostgreSQL refuses NUL, UTF-8
    a lone surrogate, which JSON's \\ud800 escape can carry), or None."""
    if not isinstance(value, str):
        return None
    if "\x00" in value:
        return "text may not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "text must be valid Unicode (no lone surrogates)"
    return None


def check_id(where: str, value: Any) -> None:
    """Raise BAD_USER_INPUT naming ``where`` (e.g. "ids[3]") unless ``value`` is an id."""
    problem = id_problem(value)
    if problem is not None:
        raise bad_input(f"`{where}` is not a valid id ({problem}); send the id as the "
                        "source shows it, e.g. \"42\".")


def _holds_text(input_type: Any, seen: frozenset[str] = frozenset()) -> bool:
    """Whether values of ``input_type`` can contain an ID or a String (through lists and
    input objects; ``seen`` stops at input types that contain themselves)."""
    named = get_named_type(input_type)
    if named in (GraphQLID, GraphQLString):
        return True
    if isinstance(named, GraphQLInputObjectType) and named.name not in seen:
        return any(_holds_text(field.type, seen | {named.name})
                   for field in named.fields.values())
    return False


def _text_arguments(field: GraphQLField) -> list[tuple[str, str, Any]]:
    """``(graphql name, resolver keyword, type)`` of the arguments that can hold ids or
    strings."""
    return [(name, argument.out_name or name, argument.type)
            for name, argument in field.args.items() if _holds_text(argument.type)]


def _check_value(where: str, input_type: Any, value: Any) -> None:
    """Check every id and string in ``value``, an argument value of ``input_type`` as
    coerced."""
    if value is None:
        return
    nullable = get_nullable_type(input_type)
    if isinstance(nullable, GraphQLList):
        for index, item in enumerate(value):
            _check_value(f"{where}[{index}]", nullable.of_type, item)
    elif nullable is GraphQLID:
        check_id(where, value)
    elif nullable is GraphQLString and (problem := text_problem(value)) is not None:
        raise bad_input(f"`{where}` is not usable ({problem}).")
    elif isinstance(nullable, GraphQLInputObjectType) and isinstance(value, dict):
        for name, field in nullable.fields.items():
            _check_value(f"{where}.{name}", field.type, value.get(field.out_name or name))


def _defaults(field: GraphQLField) -> dict[str, Any]:
    """Resolver keyword -> default value, of the arguments that have a non-null default."""
    return {argument.out_name or name: argument.default_value
            for name, argument in field.args.items()
            if argument.default_value is not Undefined and argument.default_value is not None}


def guard_arguments(schema: GraphQLSchema) -> None:
    """Wrap the resolver of every field with ID or String arguments, or arguments with a
    default, before it runs: bad ids (and strings no database or source can take) are
    refused, and an explicit null for an argument with a default means that default
    (`sagas(first: null)` reached the resolver as None and failed on a comparison).
    Done once per schema, at build time: other fields keep their resolver untouched (no
    per-field cost, unlike an execution middleware)."""
    for named in schema.type_map.values():
        if not isinstance(named, GraphQLObjectType) or named.name.startswith("__"):
            continue
        for field in named.fields.values():
            texts, defaults = _text_arguments(field), _defaults(field)
            if texts or defaults:
                field.resolve = _guarded(field.resolve or default_field_resolver, texts,
                                         defaults)


def _guarded(resolve: Callable[..., Any], texts: list[tuple[str, str, Any]],
             defaults: dict[str, Any]) -> Callable[..., Any]:
    def checked(root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        for keyword, default in defaults.items():
            if keyword in args and args[keyword] is None:
                args[keyword] = default
        for name, keyword, input_type in texts:
            _check_value(name, input_type, args.get(keyword))
        return resolve(root, info, **args)

    return checked


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

