"""The L3 level of the adapters' cache: canonical records in the tenant's `cache_status`
table (PostgreSQL), implementing dictamesh.cache's L3Store protocol."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from django.db import connection

from apps.catalog.models import CacheStatus
from dictamesh.cache import StoredEntry

_PUT = """
INSERT INTO cache_status (entity_type, entity_id, source_system, record, invalidated,
                          fetched_at, last_error)
SELECT %s, i, s, r::jsonb, false, f, ''
FROM unnest(%s::varchar[], %s::varchar[], %s::text[], %s::timestamptz[]) AS x(i, s, r, f)
ON CONFLICT (entity_type, entity_id) DO UPDATE SET
    source_system = EXCLUDED.source_system, record = EXCLUDED.record,
    invalidated = false, fetched_at = EXCLUDED.fetched_at
WHERE cache_status.fetched_at <= EXCLUDED.fetched_at
"""


_INVALIDATE = """
UPDATE cache_status SET invalidated = true
WHERE entity_type = %s AND NOT invalidated
  AND entity_id IN (SELECT jsonb_array_elements_text(%s::jsonb))
"""


class CatalogCacheStore:
    """L3 store. Entries keep their fetch time, so a stale copy always knows its age."""

    def get_many(self, entity_type: str, ids: Sequence[str]) -> Mapping[str, StoredEntry]:
        rows = CacheStatus.objects.filter(
            entity_type=entity_type, entity_id__in=list(ids), record__isnull=False
        ).values_list("entity_id", "record", "fetched_at", "invalidated")
        return {entity_id: StoredEntry(record, fetched_at, invalidated)
                for entity_id, record, fetched_at, invalidated in rows if record is not None}

    def put_many(self, entity_type: str, entries: Mapping[str, StoredEntry]) -> None:
        if not entries:
            return
        ids, sources, records, fetched = [], [], [], []
        for entity_id, entry in entries.items():
            ids.append(entity_id)
            sources.append(str(entry.value.get("source", "")))
            records.append(json.dumps(entry.value, default=str))
            fetched.append(entry.fetched_at)
        with connection.cursor() as cursor:
            cursor.execute(_PUT, [entity_type, ids, sources, records, fetched])

    def invalidate(self, entity_type: str, ids: Sequence[str]) -> None:
        """Mark the entries stale (kept for an outage). Runs after every consumer batch:
        the ids travel as one JSON text, not a thousand bound parameters, and entries
        that are stale already are not written again."""
        with connection.cursor() as cursor:
            cursor.execute(_INVALIDATE, [entity_type, json.dumps(list(ids))])

    def known_ids(self, entity_type: str, source_system: str) -> set[str]:
        """Every id of ``entity_type`` held for ``source_system`` (the connection name)."""
        return set(CacheStatus.objects.filter(entity_type=entity_type,
                                              source_system=source_system)
                   .values_list("entity_id", flat=True))

    def delete(self, entity_type: str, ids: Sequence[str]) -> None:
        """The entity is gone at its source: no copy of it may be served any more."""
        CacheStatus.objects.filter(entity_type=entity_type, entity_id__in=list(ids)).delete()
