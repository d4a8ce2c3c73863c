"""The L3 level of the adapters' cache: canonical records in the tenant's `cache_status`
table (PostgreSQL), implementing dictamesh.cache's L3Store protocol."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from django.db import connection

from apps.catalog.models import CacheStatus
from dictamesh.cache import StoredEntry

# The entries travel as one JSON array of {i, s, r, f}: as a text[] of records, psycopg's
# client-side array literal escaped every quote of every record with a regex substitution:
# a third of a cold 100-customer query's CPU time (~800 records, bench/bench_graphql.py).
_PUT = """
INSERT INTO cache_status (entity_type, entity_id, source_system, record, invalidated,
                          fetched_at, last_error)
SELECT %s, i, s, r, false, f, ''
FROM jsonb_to_recordset(%s::jsonb) AS x(i varchar, s varchar, r jsonb, f timestamptz)
ON CONFLICT (entity_type, entity_id) DO UPDATE SET
    source_system = EXCLUDED.source_system, record = EXCLUDED.record,
    invalidated = false, fetched_at = EXCLUDED.fetched_at
WHERE cache_status.fetched_at <= EXCLUDED.fetched_at
"""

_LISTS_HOLDING = """
SELECT entity_type, entity_id FROM cache_status
WHERE entity_type LIKE %s AND record -> 'ids' ?| %s::text[]
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
        rows = [{"i": entity_id, "s": str(entry.value.get("source", "")), "r": entry.value,
                 "f": entry.fetched_at.isoformat()} for entity_id, entry in entries.items()]
        with connection.cursor() as cursor:
            cursor.execute(_PUT, [entity_type, json.dumps(rows, default=str)])

    def invalidate(self, entity_type: str, ids: Sequence[str]) -> None:
        """Mark the entries stale (kept for an outage). Runs after every consumer batch:
        the ids travel as one JSON text, not a thousand bound parameters, and entries
        that are stale already are not written again."""
        with connection.cursor() as cursor:
            cursor.execute(_INVALIDATE, [entity_type, json.dumps(list(ids))])

    def list_types(self, prefix: str) -> list[str]:
        """The cached list types whose names start with ``prefix`` (e.g. ``invoice.by.``)."""
        return list(CacheStatus.objects.filter(entity_type__startswith=prefix)
                    .order_by().values_list("entity_type", flat=True).distinct())

    def lists_holding(self, prefix: str, member_ids: Sequence[str]) -> dict[str, list[str]]:
        """The keys of cached lists (types starting with ``prefix``) whose member ``ids``
        include any of ``member_ids``, by list type."""
        if not member_ids:
            return {}
        holding: dict[str, list[str]] = {}
        with connection.cursor() as cursor:
            cursor.execute(_LISTS_HOLDING, [prefix.replace("%", r"\%").replace("_", r"\_") + "%",
                                            list(member_ids)])
            for kind, key in cursor.fetchall():
                holding.setdefault(kind, []).append(key)
        return holding

    def known_ids(self, entity_type: str, source_system: str) -> set[str]:
        """Every id of ``entity_type`` held for ``source_system`` (the connection name)."""
        return set(CacheStatus.objects.filter(entity_type=entity_type,
                                              source_system=source_system)
                   .values_list("entity_id", flat=True))

    def delete(self, entity_type: str, ids: Sequence[str]) -> None:
        """The entity is gone at its source: no copy of it may be served any more."""
        CacheStatus.objects.filter(entity_type=entity_type, entity_id__in=list(ids)).delete()
