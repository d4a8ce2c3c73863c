"""The catalog's public API: the seed's five operations and their batch forms.

Admin actions, GraphQL resolvers and the catalog's event handler (``ingest.py``, which the
events app runs for the ``catalog`` consumer group) call these. The catalog's tables are
written here, with one exception: the L3 cache (``cache_status``), which the adapters' tiered
cache reads and writes through ``cache_store.py``. The outbox and the consumers' dedupe
record belong to the events app. Everything works in the current tenant's schema.
Writes are set-based SQL (one statement per batch) because the consumer ingests events in
batches and out-of-order safety must hold inside the database, not in Python. Reads marked
``@replica_read`` (graph traversal, lineage, event history) may be answered by a read
replica (``DATABASE_REPLICA_URLS``; ``dictamesh/database/replicas.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.db.models import Max, Sum
from django.utils import timezone
from opentelemetry import trace
from psycopg.types.json import Jsonb

from apps.catalog.cache_store import CatalogCacheStore
from apps.catalog.contracts import (
    DEFAULT_GRAPH_DEPTH,
    MAX_GRAPH_DEPTH,
    Direction,
    EntityKey,
    EntityLocation,
    EntityNotFound,
    EntityRegistration,
    GraphEdge,
    GraphNode,
    Hop,
    InvalidCuration,
    InvalidGraphQuery,
    LineageDirection,
    LineageEdge,
    LineageGraph,
    RegistrationOutcome,
    Relationship,
    RelationshipGraph,
    TopicActivity,
)
from apps.catalog.models import (
    CacheStatus,
    DataLineage,
    EntityCatalog,
    EntityRelationship,
    EventLog,
    RelationshipOrigin,
)
from apps.tenancy.services import record_audit
from dictamesh.bulk_copy import StagingTable
from dictamesh.database.replicas import read_connection, replica_read
from dictamesh.observability.db import db_operation

# --- Entity registry ----------------------------------------------------------------------

# Batches are copied into a staging table (binary COPY, see dictamesh.bulk_copy) and moved
# on by one statement: binding a thousand rows as parameters cost more Python time than
# the database spent on them.
_ENTITIES_STAGE = StagingTable("catalog_stage_entities", (
    ("t", "varchar"), ("i", "varchar"), ("s", "varchar"), ("a", "varchar"), ("v", "int8"),
    ("attrs", "jsonb"), ("d", "bool"), ("su", "timestamptz")))

_UPSERT_ENTITIES = f"""
WITH x AS ({_ENTITIES_STAGE.take()})
INSERT INTO entity_catalog (entity_type, entity_id, source_system, adapter, version,
                            attributes, is_deleted, source_updated_at, first_seen_at, updated_at)
SELECT t, i, s, a, v, attrs, d, su, now(), now() FROM x
ON CONFLICT (entity_type, entity_id) DO UPDATE SET
    source_system = EXCLUDED.source_system,
    adapter = EXCLUDED.adapter,
    version = EXCLUDED.version,
    attributes = EXCLUDED.attributes,
    is_deleted = EXCLUDED.is_deleted,
    source_updated_at = EXCLUDED.source_updated_at,
    updated_at = EXCLUDED.updated_at
WHERE entity_catalog.version < EXCLUDED.version
RETURNING entity_type, entity_id, (xmax = 0) AS created
"""  # noqa: S608 - interpolates our own staging table's name only


@contextmanager
def _staged(stage: StagingTable, rows: Sequence[Sequence[Any]]) -> Iterator[Any]:
    """A cursor after ``rows`` were copied into ``stage``, for the statement that consumes
    them; in the caller's transaction, or in a transaction of its own outside one."""
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        stage.load(cursor, rows)
        yield cursor


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as one list per column, for unnest()."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


@db_operation("register_entities")
def register_entities(registrations: Iterable[EntityRegistration]) -> list[RegistrationOutcome]:
    """Insert or advance entities; an older or equal version never overwrites a newer one.

    Returns the entries that changed. Within one batch the highest version of a key wins.
    """
    newest: dict[EntityKey, EntityRegistration] = {}
    for registration in registrations:
        current = newest.get(registration.key)
        if current is None or registration.version > current.version:
            newest[registration.key] = registration
    if not newest:
        return []
    rows = [(r.entity_type, r.entity_id, r.source_system, r.adapter, r.version,
             r.attributes, r.deleted, r.source_updated_at)
            for r in newest.values()]
    with _staged(_ENTITIES_STAGE, rows) as cursor:
        cursor.execute(_UPSERT_ENTITIES)
        return [RegistrationOutcome(EntityKey(t, i), created) for t, i, created in cursor]


def register_entity(registration: EntityRegistration) -> RegistrationOutcome | None:
    """Register one entity; None when the catalog already holds this or a newer version."""
    outcomes = register_entities([registration])
    return outcomes[0] if outcomes else None


@db_operation("get_entity_location")
def get_entity_location(entity_type: str, entity_id: str) -> EntityLocation:
    """Which source and adapter own an entity, and how fresh the catalog's copy is."""
    entry = EntityCatalog.objects.filter(entity_type=entity_type, entity_id=entity_id).first()
    if entry is None:
        raise EntityNotFound(f"The catalog has no {entity_type} {entity_id!r}.")
    cache = CacheStatus.objects.filter(entity_type=entity_type, entity_id=entity_id).first()
    return EntityLocation(
        key=EntityKey(entity_type, entity_id),
        source_system=entry.source_system,
        adapter=entry.adapter,
        version=entry.version,
        is_deleted=entry.is_deleted,
        catalog_updated_at=entry.updated_at,
        age_seconds=(timezone.now() - entry.updated_at).total_seconds(),
        cache_fetched_at=cache.fetched_at if cache else None,
        cache_expires_at=cache.expires_at if cache else None,
    )


# --- Relationship graph -------------------------------------------------------------------

_RELATIONSHIPS_STAGE = StagingTable("catalog_stage_relationships", (
    ("st", "varchar"), ("si", "varchar"), ("rt", "varchar"), ("ot", "varchar"),
    ("oi", "varchar"), ("ss", "varchar")))

_INSERT_RELATIONSHIPS = f"""
WITH x AS ({_RELATIONSHIPS_STAGE.take()})
INSERT INTO entity_relationships (subject_entity_type, subject_entity_id, relationship_type,
    object_entity_type, object_entity_id, origin, source_system, created_by, created_at,
    retired_by)
SELECT st, si, rt, ot, oi, %s, ss, %s, now(), '' FROM x
ON CONFLICT (subject_entity_type, subject_entity_id, relationship_type, object_entity_type,
             object_entity_id) WHERE retired_at IS NULL
DO NOTHING
RETURNING id, subject_entity_type, subject_entity_id, relationship_type, object_entity_type,
          object_entity_id, origin
"""  # noqa: S608 - interpolates our own staging table's name only


@db_operation("record_relationships")
def record_relationships(
    relationships: Iterable[Relationship],
    origin: str = RelationshipOrigin.DERIVED,
    recorded_by: str = "",
) -> list[GraphEdge]:
    """Record edges (idempotent: an active identical edge is kept); returns the new ones."""
    unique = list(dict.fromkeys(relationships))
    if not unique:
        return []
    rows = [(rel.subject.entity_type, rel.subject.entity_id, rel.relationship_type,
             rel.object.entity_type, rel.object.entity_id, rel.source_system)
            for rel in unique]
    with _staged(_RELATIONSHIPS_STAGE, rows) as cursor:
        cursor.execute(_INSERT_RELATIONSHIPS, [origin, recorded_by])
        return [_edge(row) for row in cursor]


def record_relationship(
    relationship: Relationship, origin: str = RelationshipOrigin.DERIVED, recorded_by: str = ""
) -> GraphEdge | None:
    """Record one edge; None when an identical active edge exists already."""
    created = record_relationships([relationship], origin=origin, recorded_by=recorded_by)
    return created[0] if created else None


def _require_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidCuration("Say why: a curator's change needs a reason, kept in the audit "
                              "log and in lineage.")
    return reason


@transaction.atomic
def add_manual_relationship(relationship: Relationship, curator: str, *,
                            reason: str) -> GraphEdge | None:
    """A curator's edge, recorded as such in lineage and in the audit log with ``reason``
    (required: InvalidCuration when blank). None when an identical active edge exists."""
    reason = _require_reason(reason)
    edge = record_relationship(relationship, origin=RelationshipOrigin.MANUAL,
                               recorded_by=curator)
    if edge is not None:
        track_lineage(f"curator:{curator}", f"entity:{relationship.subject}",
                      f"added relationship {relationship.relationship_type} -> "
                      f"{relationship.object}",
                      origin=RelationshipOrigin.MANUAL, recorded_by=curator,
                      details={"relationship_id": edge.id, "reason": reason})
        record_audit("relationship.added", object_type="relationship", object_id=edge.id,
                     actor=curator, after=str(relationship),
                     detail={"relationship": str(relationship), "reason": reason})
    return edge


@transaction.atomic
def retire_relationship(relationship_id: int, curator: str, *, reason: str) -> bool:
    """Retire an active edge by hand (kept for history, no longer traversed), with
    ``reason`` (required) in lineage and the audit log; False when it is not active."""
    reason = _require_reason(reason)
    edge = (EntityRelationship.objects.select_for_update()
            .filter(pk=relationship_id, retired_at__isnull=True).first())
    if edge is None:
        return False
    edge.retired_at = timezone.now()
    edge.retired_by = curator
    edge.save(update_fields=["retired_at", "retired_by"])
    described = (f"{edge.subject_entity_type}:{edge.subject_entity_id} "
                 f"{edge.relationship_type} {edge.object_entity_type}:{edge.object_entity_id}")
    track_lineage(f"curator:{curator}",
                  f"entity:{edge.subject_entity_type}:{edge.subject_entity_id}",
                  f"retired relationship {edge.relationship_type} -> "
                  f"{edge.object_entity_type}:{edge.object_entity_id}",
                  origin=RelationshipOrigin.MANUAL, recorded_by=curator,
                  details={"relationship_id": edge.id, "reason": reason})
    record_audit("relationship.retired", object_type="relationship", object_id=edge.id,
                 actor=curator, before={"retired_at": None},
                 after={"retired_at": edge.retired_at},
                 detail={"relationship": described, "reason": reason})
    return True


# One walk: (node, depth, edge) rows. UNION drops repeated rows, so a cycle is walked at
# most max_depth times and the recursion always ends; nodes are reported at their
# shallowest depth, each once. Nodes (with what the catalog knows of them) and edges come
# back as one JSON document: one round trip, however many types the graph spans.
_WALK_GRAPH = """
WITH RECURSIVE walk(node_type, node_id, depth, edge_id) AS (
    SELECT %(type)s::varchar, %(id)s::varchar, 0, NULL::bigint
  UNION
    SELECT step.node_type, step.node_id, walk.depth + 1, step.edge_id
    FROM walk
    CROSS JOIN LATERAL (
        SELECT r.object_entity_type, r.object_entity_id, r.id
        FROM entity_relationships r
        WHERE %(outgoing)s AND r.retired_at IS NULL
          AND r.subject_entity_type = walk.node_type AND r.subject_entity_id = walk.node_id
          AND (%(types)s::varchar[] IS NULL OR r.relationship_type = ANY(%(types)s))
        UNION ALL
        SELECT r.subject_entity_type, r.subject_entity_id, r.id
        FROM entity_relationships r
        WHERE %(incoming)s AND r.retired_at IS NULL
          AND r.object_entity_type = walk.node_type AND r.object_entity_id = walk.node_id
          AND (%(types)s::varchar[] IS NULL OR r.relationship_type = ANY(%(types)s))
    ) AS step(node_type, node_id, edge_id)
    WHERE walk.depth < %(max_depth)s
),
nodes AS (
    SELECT node_type, node_id, min(depth) AS depth FROM walk GROUP BY node_type, node_id
)
SELECT
    (SELECT coalesce(json_agg(json_build_array(
                n.node_type, n.node_id, n.depth, e.source_system, e.version, e.attributes)
             ORDER BY n.depth, n.node_type, n.node_id), '[]')
     FROM nodes n
     LEFT JOIN entity_catalog e ON e.entity_type = n.node_type AND e.entity_id = n.node_id),
    (SELECT coalesce(json_agg(json_build_array(
                r.id, r.subject_entity_type, r.subject_entity_id, r.relationship_type,
                r.object_entity_type, r.object_entity_id, r.origin) ORDER BY r.id), '[]')
     FROM entity_relationships r
     WHERE r.id IN (SELECT edge_id FROM walk WHERE edge_id IS NOT NULL))
"""


@db_operation("query_relationship_graph")
@replica_read
def query_relationship_graph(
    entity_type: str,
    entity_id: str,
    direction: Direction = "outgoing",
    relationship_types: Sequence[str] | None = None,
    max_depth: int = DEFAULT_GRAPH_DEPTH,
) -> RelationshipGraph:
    """The entity's neighbourhood up to ``max_depth`` hops (cycle-safe, each node once).

    Nodes the catalog has not seen yet are returned unresolved.
    """
    if direction not in ("outgoing", "incoming", "both"):
        raise InvalidGraphQuery(
            f"direction must be outgoing, incoming or both, not {direction!r}")
    if not 1 <= max_depth <= MAX_GRAPH_DEPTH:
        raise InvalidGraphQuery(f"max_depth must be between 1 and {MAX_GRAPH_DEPTH}, "
                                f"not {max_depth}.")
    params: dict[str, Any] = {
        "type": entity_type, "id": entity_id, "max_depth": max_depth,
        "outgoing": direction in ("outgoing", "both"),
        "incoming": direction in ("incoming", "both"),
        "types": list(relationship_types) if relationship_types else None,
    }
    with read_connection().cursor() as cursor:
        cursor.execute(_WALK_GRAPH, params)
        nodes, edges = cursor.fetchone()
    return RelationshipGraph(
        root=EntityKey(entity_type, entity_id),
        direction=direction,
        max_depth=max_depth,
        nodes=[GraphNode(key=EntityKey(t, i), depth=depth, resolved=version is not None,
                         source_system=source, version=version, attributes=attributes)
               for t, i, depth, source, version, attributes in nodes],
        edges=[_edge(row) for row in edges],
    )


def catalogued_types(entity_types: Iterable[str]) -> set[str]:
    """Those of ``entity_types`` of which the catalog holds at least one entity."""
    wanted = list(set(entity_types))
    if not wanted:
        return set()
    return {t for t in wanted
            if EntityCatalog.objects.filter(entity_type=t).exists()}  # each an index probe


@replica_read
def related_subjects(subject_type: str, relationship_type: str, object_type: str,
                     object_ids: Sequence[str]) -> dict[str, list[str]]:
    """The subjects of active ``subject_type --relationship_type--> object_type`` edges
    that end at ``object_ids``, by object id (ids sorted; objects without one absent): a
    reverse lookup in one query, e.g. the supplier of each of a page of products."""
    found: dict[str, list[str]] = {}
    rows = EntityRelationship.objects.filter(
        subject_entity_type=subject_type, relationship_type=relationship_type,
        object_entity_type=object_type, object_entity_id__in=list(object_ids),
        retired_at__isnull=True,
    ).order_by("subject_entity_id").values_list("object_entity_id", "subject_entity_id")
    for object_id, subject_id in rows:
        found.setdefault(object_id, []).append(subject_id)
    return found


_ENDS = {"outgoing": ("subject", "object"), "incoming": ("object", "subject")}


@db_operation("related_through")
def related_through(start_type: str, start_ids: Sequence[str],
                    path: Sequence[Hop]) -> dict[str, list[str]]:
    """The entities at the end of ``path`` from each of ``start_ids``, by start id (ids
    sorted and distinct; starts that reach nothing absent), in ONE query over active
    edges, e.g. the products a page of customers bought: customer <-billed_to- invoice
    -has_item-> invoice_item -references-> product."""
    if not path:
        raise InvalidGraphQuery("A path has at least one hop.")
    # Only table aliases and the fixed column names of _ENDS are spliced in; every value
    # is a parameter.
    conditions, params = [], []
    previous_type = start_type
    for n, hop in enumerate(path):
        near, far = _ENDS[hop.direction]
        conditions.append(f"e{n}.relationship_type = %s AND e{n}.{near}_entity_type = %s "
                          f"AND e{n}.{far}_entity_type = %s AND e{n}.retired_at IS NULL")
        if n:
            reached = _ENDS[path[n - 1].direction][1]
            conditions.append(f"e{n}.{near}_entity_id = e{n - 1}.{reached}_entity_id")
        params += [hop.relationship_type, previous_type, hop.entity_type]
        previous_type = hop.entity_type
    start_column = f"e0.{_ENDS[path[0].direction][0]}_entity_id"
    end_column = f"e{len(path) - 1}.{_ENDS[path[-1].direction][1]}_entity_id"
    tables = ", ".join(f"entity_relationships e{n}" for n in range(len(path)))
    sql = (f"SELECT DISTINCT {start_column}, {end_column} FROM {tables} "  # noqa: S608
           f"WHERE {start_column} = ANY(%s) AND {' AND '.join(conditions)} ORDER BY 1, 2")
    found: dict[str, list[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(start_ids), *params])
        for start, end in cursor.fetchall():
            found.setdefault(start, []).append(end)
    return found


def _edge(row: Sequence[Any]) -> GraphEdge:
    edge_id, s_type, s_id, rel_type, o_type, o_id, origin = row
    return GraphEdge(edge_id, EntityKey(s_type, s_id), rel_type, EntityKey(o_type, o_id), origin)


# --- Lineage ------------------------------------------------------------------------------

_UPSERT_LINEAGE = """
INSERT INTO data_lineage (upstream, downstream, transformation, origin, recorded_by, details,
                          first_seen_at, last_seen_at, times_seen)
SELECT u, d, t, %s, %s, %s::jsonb, now(), now(), n
FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::bigint[]) AS x(u, d, t, n)
ON CONFLICT (upstream, downstream, transformation) DO UPDATE SET
    last_seen_at = EXCLUDED.last_seen_at,
    times_seen = data_lineage.times_seen + EXCLUDED.times_seen,
    details = CASE WHEN EXCLUDED.details ? 'last_trace_id'
        THEN data_lineage.details || jsonb_build_object('last_trace_id',
                                                        EXCLUDED.details -> 'last_trace_id')
        ELSE data_lineage.details END
"""


def track_lineage(
    upstream: str,
    downstream: str,
    transformation: str,
    origin: str = RelationshipOrigin.DERIVED,
    recorded_by: str = "",
    details: dict[str, Any] | None = None,
    times_seen: int = 1,
) -> None:
    """Record that data flows from ``upstream`` to ``downstream`` through a transformation."""
    track_lineage_edges([(upstream, downstream, transformation, times_seen)], origin=origin,
                        recorded_by=recorded_by, details=details)


@db_operation("track_lineage_edges")
def track_lineage_edges(
    edges: Iterable[tuple[str, str, str, int]],
    origin: str = RelationshipOrigin.DERIVED,
    recorded_by: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """Batch form of :func:`track_lineage`: (upstream, downstream, transformation, count)."""
    counts: dict[tuple[str, str, str], int] = {}
    for upstream, downstream, transformation, seen in edges:
        key = (upstream, downstream, transformation)
        counts[key] = counts.get(key, 0) + seen
    if not counts:
        return
    rows = [(*edge, seen) for edge, seen in counts.items()]
    # The trace of the latest observation: from a lineage edge to the events that made it.
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        details = {**(details or {}), "last_trace_id": format(span.trace_id, "032x")}
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_LINEAGE, [origin, recorded_by, json.dumps(details or {}),
                                         *_columns(rows, 4)])


_WALK_LINEAGE = """
WITH RECURSIVE walk(node, hops, edge_id) AS (
    SELECT %(node)s::varchar, 0, NULL::bigint
  UNION
    SELECT step.node, walk.hops + 1, step.edge_id
    FROM walk
    CROSS JOIN LATERAL (
        SELECT l.upstream, l.id FROM data_lineage l
        WHERE %(upstream)s AND l.downstream = walk.node
        UNION ALL
        SELECT l.downstream, l.id FROM data_lineage l
        WHERE %(downstream)s AND l.upstream = walk.node
    ) AS step(node, edge_id)
    WHERE walk.hops < %(depth)s
)
SELECT node, min(hops), array_remove(array_agg(DISTINCT edge_id), NULL)
FROM walk GROUP BY node
"""


@db_operation("query_lineage")
@replica_read
def query_lineage(
    node: str, direction: LineageDirection = "both", depth: int = 3
) -> LineageGraph:
    """What feeds ``node`` (upstream) and what it feeds (downstream), up to ``depth`` hops."""
    if direction not in ("upstream", "downstream", "both"):
        raise InvalidGraphQuery(
            f"direction must be upstream, downstream or both, not {direction!r}")
    if not 1 <= depth <= MAX_GRAPH_DEPTH:
        raise InvalidGraphQuery(f"depth must be between 1 and {MAX_GRAPH_DEPTH}, not {depth}.")
    with read_connection().cursor() as cursor:
        cursor.execute(_WALK_LINEAGE, {
            "node": node, "depth": depth,
            "upstream": direction in ("upstream", "both"),
            "downstream": direction in ("downstream", "both"),
        })
        walked = cursor.fetchall()
    edge_ids = {edge_id for *_, ids in walked for edge_id in ids}
    edges = [
        LineageEdge(e.upstream, e.downstream, e.transformation, e.origin, e.times_seen,
                    e.last_seen_at)
        for e in DataLineage.objects.filter(pk__in=edge_ids).order_by("pk")
    ]
    return LineageGraph(node=node, direction=direction, depth=depth,
                        nodes={name: hops for name, hops, _ in walked}, edges=edges)


# --- Event log ----------------------------------------------------------------------------

_EVENTS_STAGE = StagingTable("catalog_stage_events", (
    ("ei", "uuid"), ("et", "varchar"), ("ty", "varchar"), ("id", "varchar"), ("v", "int8"),
    ("s", "varchar"), ("cf", "jsonb"), ("p", "jsonb"), ("ts", "timestamptz"),
    ("tp", "varchar"), ("pa", "int4"), ("o", "int8"), ("tr", "varchar")))

_APPEND_EVENTS = f"""
WITH x AS ({_EVENTS_STAGE.take()})
INSERT INTO event_log (event_id, event_type, entity_type, entity_id, entity_version,
    source_system, changed_fields, payload, event_timestamp, recorded_at, topic, partition,
    "offset", trace_id)
SELECT ei, et, ty, id, v, s, cf, p, ts, now(), tp, pa, o, tr FROM x
ON CONFLICT (event_id) DO NOTHING
"""  # noqa: S608 - interpolates our own staging table's name only


_JSON_NULL = Jsonb(None)


def _uuid(value: UUID | str) -> UUID:
    """COPY takes UUID objects only; callers may give the text form, as the ORM allowed."""
    return value if isinstance(value, UUID) else UUID(str(value))


@db_operation("append_events")
def append_events(entries: Sequence[dict[str, Any]]) -> int:
    """Append events to the immutable log (a repeated event_id is ignored); returns how many
    were new. Each entry has the EventLog fields by name."""
    if not entries:
        return 0
    rows = [(_uuid(e["event_id"]), e["event_type"], e["entity_type"], e["entity_id"],
             e["entity_version"], e["source_system"], e.get("changed_fields", []),
             # JSON null, as before: the column's NULL would mean "not recorded"
             _JSON_NULL if e.get("payload") is None else e["payload"],
             e["event_timestamp"], e.get("topic", ""), e.get("partition"), e.get("offset"),
             e.get("trace_id", ""))
            for e in entries]
    with _staged(_EVENTS_STAGE, rows) as cursor:
        cursor.execute(_APPEND_EVENTS)
        return cursor.rowcount


# The same expression as the index of migration 0006, so that the index serves the query
# (the text's query is a scalar subquery: a value the index condition can take).
# Each word of the text (split at spaces) is parsed as the attributes were: its tokens must
# follow each other (so "SKU-00007", parsed as 'sku' '-00007', is not found in "F2024-000075
# SKU-00012"), the last of them as a prefix ('ada' finds 'Ada Almeida'); every word must
# match. An email or a decimal stays one token.
_SEARCH = """
WITH words AS (
    SELECT word, n FROM unnest(%s::text[]) WITH ORDINALITY AS t(word, n)
), phrases AS (
    SELECT n, string_agg(quote_literal(lexeme) || ':*', ' <-> ' ORDER BY positions[1])
               AS phrase
    FROM words, unnest(to_tsvector('simple', word))
    GROUP BY n
), q AS (
    SELECT to_tsquery('simple', string_agg('(' || phrase || ')', ' & ')) AS query
    FROM phrases
)
SELECT c.entity_type, c.entity_id
FROM entity_catalog c
WHERE NOT c.is_deleted AND c.entity_type = ANY(%s)
  AND jsonb_to_tsvector('simple'::regconfig, c.attributes, '["string"]'::jsonb)
      @@ (SELECT query FROM q)
ORDER BY ts_rank(jsonb_to_tsvector('simple'::regconfig, c.attributes, '["string"]'::jsonb),
                 (SELECT query FROM q)) DESC, c.entity_type, c.entity_id
LIMIT %s
"""
#: words of a search text that count (a longer text is cut)
MAX_SEARCH_WORDS = 10


@db_operation("search_entities")
def search_entities(text: str, entity_types: Sequence[str], limit: int) -> list[EntityKey]:
    """The entities of ``entity_types`` whose string attributes hold every word of
    ``text`` (see above), best match first; none for a text without words."""
    words = text.split()[:MAX_SEARCH_WORDS]
    with connection.cursor() as cursor:
        cursor.execute(_SEARCH, [words, list(entity_types), limit])
        return [EntityKey(entity_type, entity_id) for entity_type, entity_id in cursor]


@db_operation("freshness_p95")
def freshness_p95(source_system: str, since: datetime) -> float | None:
    """The 95th percentile, in seconds, of how long the changes of ``source_system`` that
    happened since ``since`` took to reach the catalog (recorded_at - event_timestamp);
    None when there were none."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY "
            "extract(epoch FROM recorded_at - event_timestamp)) FROM event_log "
            "WHERE source_system = %s AND event_timestamp >= %s", [source_system, since])
        value = cursor.fetchone()[0]
    return None if value is None else round(float(value), 3)


@transaction.atomic
@db_operation("purge_event_log")
def purge_event_log(older_than: timedelta, *, dry_run: bool = False) -> int:
    """The retention job's own path: delete events recorded before now - ``older_than``
    (with ``dry_run``: count them)."""
    cutoff: datetime = timezone.now() - older_than
    if dry_run:
        return EventLog.objects.filter(recorded_at__lt=cutoff).count()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL dictamesh.event_log_retention = 'on'")
        try:
            cursor.execute("DELETE FROM event_log WHERE recorded_at < %s", [cutoff])
            return cursor.rowcount
        finally:
            # Switch it off again at once: when called inside a caller's transaction the
            # setting would otherwise last until that transaction ends.
            cursor.execute("SET LOCAL dictamesh.event_log_retention = 'off'")


@db_operation("entity_events")
@replica_read
def entity_events(entity_type: str, entity_id: str, limit: int = 50) -> list[EventLog]:
    """The entity's most recent events, newest first."""
    return list(EventLog.objects.filter(entity_type=entity_type, entity_id=entity_id)
                .order_by("-event_timestamp", "-id")[:limit])


def topic_activity(topic: str) -> TopicActivity:
    """How many events of ``topic`` the catalog applied and when it last did, read from the
    lineage edges out of the topic (a few rows, however long the event log)."""
    found = DataLineage.objects.filter(upstream=f"topic:{topic}").aggregate(
        events=Sum("times_seen"), last=Max("last_seen_at"))
    return TopicActivity(topic, found["events"] or 0, found["last"])


def l3_cache_store() -> CatalogCacheStore:
    """The adapters' L3 cache level: canonical records in this tenant's ``cache_status``."""
    return CatalogCacheStore()
