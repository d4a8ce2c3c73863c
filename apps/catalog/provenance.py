"""Where an entity comes from, for the entity page: its source connections (through the
function ``settings.CATALOG_SOURCE_DETAILS`` names, since the connections belong to the
adapters above the catalog), its L3 cache record and the relationships that touch it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from apps.catalog.contracts import EntityKey, SourceDetails
from apps.catalog.models import CacheStatus, EntityRelationship


@cache
def _details_function() -> Callable[[str], list[SourceDetails]] | None:
    path: str = settings.CATALOG_SOURCE_DETAILS  # empty: no source details
    return import_string(path) if path else None


def source_details(source_system: str) -> list[SourceDetails]:
    """The connections behind a catalog source name (none when no function is set)."""
    function = _details_function()
    return function(source_system) if function is not None else []


# One request's answers of source_label (a list page names the same few sources on every
# row): set by `remembering_sources`, empty outside it.
_labels: ContextVar[dict[str, str] | None] = ContextVar("catalog_source_labels", default=None)


@contextmanager
def remembering_sources() -> Iterator[None]:
    token = _labels.set({})
    try:
        yield
    finally:
        _labels.reset(token)


def source_label(source_system: str) -> str:
    """A source as every page names it: its connection's name (the name the cache, the
    webhook URL and the metrics use), with the adapter behind it when that differs."""
    memo = _labels.get()
    if memo is not None and source_system in memo:
        return memo[source_system]
    names = [d.connection for d in source_details(source_system)]
    if not names or names == [source_system]:
        label = source_system
    else:
        label = f"{', '.join(names)} ({source_system})"
    if memo is not None:
        memo[source_system] = label
    return label


@dataclass(frozen=True)
class CacheRecord:
    fetched_at: datetime
    age_seconds: float
    expires_at: datetime | None
    invalidated: bool
    last_error: str
    last_error_at: datetime | None
    source_system: str
    admin_id: int


def cache_record(key: EntityKey) -> CacheRecord | None:
    row = CacheStatus.objects.filter(entity_type=key.entity_type,
                                     entity_id=key.entity_id).first()
    if row is None:
        return None
    return CacheRecord(row.fetched_at, (timezone.now() - row.fetched_at).total_seconds(),
                       row.expires_at, row.invalidated, row.last_error, row.last_error_at,
                       row.source_system, row.pk)


def relationship_ids(key: EntityKey) -> list[int]:
    """Every relationship, active or retired, with the entity at either end."""
    return list(EntityRelationship.objects.filter(
        Q(subject_entity_type=key.entity_type, subject_entity_id=key.entity_id)
        | Q(object_entity_type=key.entity_type, object_entity_id=key.entity_id),
    ).values_list("pk", flat=True))
