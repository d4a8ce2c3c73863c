"""What every domain module shares: entity references, Money, PageInfo, the per-request
context, and how a degraded or failed source becomes a GraphQL error entry.

Root values of entity types are `Ref`s: an id, plus the entity when the resolver that
produced the reference already had it. Owned fields load the entity through the request's
loaders (one batch per type per level), so a module can hand out a reference to another
module's type without knowing how that type is fetched - the way a federation gateway does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import graphene
from graphql import FieldNode, GraphQLError, GraphQLResolveInfo
from graphql_sync_dataloaders import SyncFuture

from apps.adapters.services import EntityResult
from apps.federation.loaders import (
    NOT_FOUND,
    SOURCE_UNAVAILABLE,
    Failure,
    Loaded,
    RequestContext,
    context_of,
    entity_loader,
)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Ref:
    """An entity reference; ``preloaded`` saves a load when the producer had the entity,
    ``loaded`` is the whole outcome when the producer loaded it (see :func:`reference`):
    the entity's fields then answer from it without a loader future each."""

    id: str
    preloaded: EntityResult | None = None
    loaded: Loaded | None = None


def then(value: SyncFuture | T, fn: Callable[[T], R]) -> SyncFuture | R:
    """``fn`` applied to a loader's future (or a plain value), as a future the deferred
    execution context can wait on. The first future of a batch carries the callback that
    dispatches the batch; the chained future must carry it too or the batch never runs."""
    if not isinstance(value, SyncFuture):
        return fn(value)
    chained = SyncFuture()
    chained.deferred_callback = value.deferred_callback

    def settle() -> None:
        try:
            chained.set_result(fn(value.result()))
        except Exception as exc:  # noqa: BLE001 - handed to graphql-core as the field's error
            chained.set_exception(exc)

    if value.done():
        settle()
    else:
        value.add_done_callback(settle)
    return chained


def gather(values: Sequence[SyncFuture | T], fn: Callable[[list[T]], R]) -> SyncFuture | R:
    """``fn`` applied to the results of several loads, as ONE future (or at once when none
    is pending): a list resolves with one deferred completion instead of one per item.
    A pending future's batch callback travels with it, as in :func:`then`."""
    pending = [value for value in values if isinstance(value, SyncFuture) and not value.done()]
    if not pending:
        return fn([value.result() if isinstance(value, SyncFuture) else value
                   for value in values])
    combined = SyncFuture()
    combined.deferred_callback = next(
        (f.deferred_callback for f in pending if f.deferred_callback is not None), None)
    remaining = [len(pending)]

    def one_done() -> None:
        remaining[0] -= 1
        if remaining[0]:
            return
        try:
            combined.set_result(fn([value.result() if isinstance(value, SyncFuture) else value
                                    for value in values]))
        except Exception as exc:  # noqa: BLE001 - handed to graphql-core as the field's error
            combined.set_exception(exc)

    for future in pending:
        future.add_done_callback(one_done)
    return combined


#: fields every reference answers without its entity being loaded
_KEY_FIELDS = frozenset({"id", "__typename"})


def selects_only_key(info: GraphQLResolveInfo) -> bool:
    """Whether the field being resolved selects nothing of its object but ``id`` (and
    ``__typename``): a reference then needs no load. Fragments count as more."""
    for node in info.field_nodes:
        for selection in node.selection_set.selections if node.selection_set else ():
            if not isinstance(selection, FieldNode) or selection.name.value not in _KEY_FIELDS:
                return False
    return True


def selects_path(info: GraphQLResolveInfo | list[FieldNode], names: Sequence[str]) -> bool:
    """Whether the field being resolved (or a list of its ``FieldNode``s) selects ``names``
    (a path of field names below it) and, at its end, more than the key. Fragments along
    the way count as selecting."""
    # (GraphQLResolveInfo is a named tuple: only a list is taken for nodes)
    nodes: list[Any] = list(info if isinstance(info, list) else info.field_nodes)
    for name in names:
        below: list[Any] = []
        for node in nodes:
            for selection in node.selection_set.selections if node.selection_set else ():
                if not isinstance(selection, FieldNode):
                    return True
                if selection.name.value == name:
                    below.append(selection)
        if not below:
            return False
        nodes = below
    return any(not isinstance(selection, FieldNode) or selection.name.value not in _KEY_FIELDS
               for node in nodes
               for selection in (node.selection_set.selections if node.selection_set else ()))


#: (entity type, field name) -> what loads that field for a whole level of entities at once
#: (``prefetch(context, field_nodes, ids)``), registered by the module owning the field
Prefetch = Callable[[RequestContext, list[FieldNode], list[str]], None]
_PREFETCHES: dict[tuple[str, str], Prefetch] = {}


def register_prefetch(entity_type: str, field_name: str, prefetch: Prefetch) -> None:
    """Have ``prefetch`` load ``field_name`` of every ``entity_type`` a root list returns,
    right after the list loads: the field then resolves from ``RequestContext.lists``
    instead of with a loader future per entity."""
    _PREFETCHES[(entity_type, field_name)] = prefetch


def prefetch_selected(info: GraphQLResolveInfo, entity_type: str, ids: list[str]) -> None:
    """Run the registered prefetches of the fields the root field selects on its entities
    (fields under fragments are left to their loaders)."""
    if not ids:
        return
    selected: dict[str, list[FieldNode]] = {}
    for node in info.field_nodes:
        for selection in node.selection_set.selections if node.selection_set else ():
            if isinstance(selection, FieldNode) and \
                    (entity_type, selection.name.value) in _PREFETCHES:
                selected.setdefault(selection.name.value, []).append(selection)
    for name, nodes in selected.items():
        _PREFETCHES[(entity_type, name)](context_of(info), nodes, ids)


def reference(info: GraphQLResolveInfo, entity_type: str, entity_id: str) -> Any:
    """A reference to another entity, resolved the cheapest way: from what the request
    already holds (``RequestContext.known``), bare when only its key is selected, else
    through the request's loader as ONE future for the object (its fields then answer
    without a future each)."""
    loaded = context_of(info).known.get((entity_type, entity_id))
    if loaded is not None:
        return Ref(entity_id, loaded.result, loaded)
    if selects_only_key(info):
        return Ref(entity_id)
    return then(entity_loader(info, entity_type).load(entity_id),
                lambda loaded: Ref(entity_id, loaded.result, loaded))


def failure_error(failure: Failure, path: list[str | int] | None = None) -> GraphQLError:
    return GraphQLError(failure.message, path=path, extensions={"code": failure.code})


def stale_error(entity_type: str, result: EntityResult,
                path: list[str | int]) -> GraphQLError:
    age = round(result.age_seconds, 1)
    return GraphQLError(
        f"The {entity_type} source is unavailable; this {entity_type} is a cached copy "
        f"{age} s old. Retry later for current data.", path=path,
        extensions={"code": SOURCE_UNAVAILABLE, "stale": True, "ageSeconds": age})


def report(info: GraphQLResolveInfo, entity_type: str, loaded: Loaded,
           path: list[str | int] | None = None) -> None:
    """Add the error entry ``loaded`` calls for, once per object (``path``: the object's,
    by default the parent of the field being resolved)."""
    if path is None:
        path = info.path.prev.as_list() if info.path.prev else info.path.as_list()
    context = context_of(info)
    key = tuple(path)
    if key in context.reported:
        return
    error: GraphQLError | None = None
    if loaded.failure is not None:
        error = failure_error(loaded.failure, path)
    elif loaded.result is None:
        error = GraphQLError(f"No {entity_type} has this id at its source.", path=path,
                             extensions={"code": NOT_FOUND})
    elif loaded.result.stale:
        error = stale_error(entity_type, loaded.result, path)
    if error is not None:
        context.reported.add(key)
        context.degraded.append(error)


def checked(info: GraphQLResolveInfo, entity_type: str, loaded: Loaded,
            path: list[str | int]) -> Ref | None:
    """A root field's answer for one loaded id: a Ref (stale copies flagged), or None with
    an error entry for a failure; None silently when the source has no such entity."""
    if loaded.failure is not None:
        context_of(info).degraded.append(failure_error(loaded.failure, path))
        return None
    if loaded.result is None:
        return None
    report(info, entity_type, loaded, path)
    return Ref(loaded.result.entity.id, loaded.result)


class EntityBase:
    """What every entity type keyed by `id` has in every graph: its key, and `_entities`
    support."""

    id = graphene.ID(required=True)

    def _resolve_reference(self, info: graphene.ResolveInfo) -> Any:
        # The representation itself (its type tells `_Entity` which member it is): owned
        # fields load the entity through the request's loaders, one batch for all of them.
        return self


class Money(graphene.ObjectType):
    """An amount in a currency; the amount is a decimal string, never a float."""

    amount = graphene.String(required=True, description="Decimal string, e.g. \"12.50\".")
    currency = graphene.String(required=True, description="ISO 4217 code.")


class PageInfoFields:
    """Where a page ends; built once per schema (graphene-federation marks each schema's
    PageInfo @shareable itself, and cannot do that twice to one class)."""

    end_cursor = graphene.String(description="Pass as `after` for the next page.")
    has_next_page = graphene.Boolean(required=True)


def money(amount: Any, currency: Any) -> dict[str, str] | None:
    if amount is None or currency is None:
        return None
    return {"amount": str(amount), "currency": str(currency)}



def union_by_key(name: str, description: str, members: dict[str, type],
                 key_of: Callable[[Any], str]) -> type[graphene.Union]:
    """A union of ``members``, the member of a value named by ``key_of(value)``.

    Made per call rather than declared once: a union's members must be the classes of the
    graph being built (each graph has its own), fixed when the union class is created.
    """
    def resolve_type(cls: type, instance: Any, info: GraphQLResolveInfo) -> Any:
        return members[key_of(instance)]

    meta = type("Meta", (), {"types": tuple(members.values()), "description": description})
    return type(name, (graphene.Union,), {"Meta": meta, "__doc__": description,
                                          "resolve_type": classmethod(resolve_type)})
