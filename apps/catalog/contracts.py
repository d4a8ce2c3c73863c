"""The catalog's data contracts: what callers pass to and get from `services.py`.

Frozen dataclasses with no Django in them, so adapters, GraphQL resolvers and consumers
share one vocabulary without touching catalog models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Direction = Literal["outgoing", "incoming", "both"]
LineageDirection = Literal["upstream", "downstream", "both"]

DEFAULT_GRAPH_DEPTH = 5
MAX_GRAPH_DEPTH = 10


def source_lineage_node(source: str, entity_type: str) -> str:
    """The lineage node of one source's entities of a type, e.g. `source:directus/customer`:
    the one place that names it, for adapters (`get_lineage`) and the catalog consumer.
    ``source`` is the source segment of topic names (an adapter's ``name``)."""
    return f"source:{source}/{entity_type}"


class CatalogError(Exception):
    """A catalog request that cannot be served; the message says why."""


class EntityNotFound(CatalogError):
    pass


class InvalidGraphQuery(CatalogError):
    pass


class InvalidCuration(CatalogError):
    """A curator's change that cannot be made as asked (e.g. without a reason)."""


@dataclass(frozen=True)
class EntityKey:
    entity_type: str
    entity_id: str

    def __str__(self) -> str:
        return f"{self.entity_type}:{self.entity_id}"


@dataclass(frozen=True)
class EntityRegistration:
    entity_type: str
    entity_id: str
    source_system: str
    version: int
    attributes: dict[str, Any] = field(default_factory=dict)
    adapter: str = ""
    deleted: bool = False
    source_updated_at: datetime | None = None

    @property
    def key(self) -> EntityKey:
        return EntityKey(self.entity_type, self.entity_id)


@dataclass(frozen=True)
class RegistrationOutcome:
    key: EntityKey
    created: bool  # False: an existing entry moved to a newer version


@dataclass(frozen=True)
class Relationship:
    subject: EntityKey
    relationship_type: str
    object: EntityKey
    source_system: str = ""


@dataclass(frozen=True)
class GraphNode:
    key: EntityKey
    depth: int
    resolved: bool  # the catalog has seen this entity
    source_system: str | None = None
    version: int | None = None
    attributes: dict[str, Any] | None = None


@dataclass(frozen=True)
class GraphEdge:
    id: int
    subject: EntityKey
    relationship_type: str
    object: EntityKey
    origin: str


@dataclass(frozen=True)
class RelationshipGraph:
    root: EntityKey
    direction: Direction
    max_depth: int
    nodes: list[GraphNode]
    edges: list[GraphEdge]


@dataclass(frozen=True)
class EntityLocation:
    key: EntityKey
    source_system: str
    adapter: str
    version: int
    is_deleted: bool
    catalog_updated_at: datetime
    age_seconds: float  # how long ago the catalog's copy was last updated
    cache_fetched_at: datetime | None
    cache_expires_at: datetime | None


@dataclass(frozen=True)
class LineageEdge:
    upstream: str
    downstream: str
    transformation: str
    origin: str
    times_seen: int
    last_seen_at: datetime


@dataclass(frozen=True)
class LineageGraph:
    node: str
    direction: LineageDirection
    depth: int
    nodes: dict[str, int]  # node -> hops from the start
    edges: list[LineageEdge]


@dataclass(frozen=True)
class Hop:
    """One step along the relationship graph: follow ``relationship_type`` edges to
    ``entity_type`` entities, ``outgoing`` (from the edges' subjects to their objects) or
    ``incoming`` (from objects back to subjects)."""

    relationship_type: str
    entity_type: str
    direction: Literal["outgoing", "incoming"]


@dataclass(frozen=True)
class SourceDetails:
    """A source connection as the catalog's pages show it. The adapters' layer fills it
    (``settings.CATALOG_SOURCE_DETAILS`` names the function: the catalog sits below the
    adapters and cannot import them)."""

    connection: str  # the connection's name: the source's one name on every page
    adapter: str
    connection_id: int
    url: str  # without credentials
    enabled: bool
    health: str
    health_detail: str
    health_checked_at: datetime | None
    last_polled_at: datetime | None
    last_poll_error: str
    last_webhook_at: datetime | None


@dataclass(frozen=True)
class TopicActivity:
    topic: str
    events: int  # applied by the catalog
    last_seen_at: datetime | None
