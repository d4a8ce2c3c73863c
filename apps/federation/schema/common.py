"""What every domain module shares: entity references, Money, PageInfo, the per-request
context, and how a degraded or failed source becomes a GraphQL error entry.

Root values of entity types are `Ref`s: an id, plus the entity when the resolver that
produced the reference already had it. Owned fields load the entity through the request's
loaders (one batch per type per level), so a module can hand out a reference to another
module's type without knowing how that type is fetched - the way a federation gateway does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import graphene
from graphql import GraphQLError, GraphQLResolveInfo
from graphql_sync_dataloaders import SyncFuture

from apps.adapters.services import EntityResult
from apps.federation.loaders import NOT_FOUND, SOURCE_UNAVAILABLE, Failure, Loaded, context_of

T = TypeVar("T")
R = TypeVar("R")

@dataclass(frozen=True)
class Ref:
    """An entity reference; ``preloaded`` saves a load when the producer had the entity."""

    id: str
    preloaded: EntityResult | None = None


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

