"""The data-product contract every source adapter implements (the seed's
DataProductAdapter, in Python), and the canonical shapes it speaks.

An adapter knows one source's API and how its records map to canonical entities; it knows
nothing of caching, circuit breaking, tenants or Kafka. Those wrap it (see
`apps/adapters/services.py`), so a new source is one package implementing this class.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol, runtime_checkable

from apps.catalog.contracts import source_lineage_node
from dictamesh.events.payload import PayloadRelationship


class AdapterError(Exception):
    """Base of adapter failures; ``retryable`` tells the resilience layer what to do."""

    retryable = False


class SourceUnavailable(AdapterError):
    """The source did not answer usefully (down, timeout, 5xx, circuit open)."""

    retryable = True


class SourceRateLimited(SourceUnavailable):
    def __init__(self, message: str, retry_after_seconds: float) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class SourceAuthError(AdapterError):
    """The source rejected our credentials: fix the connection, retrying will not help."""


class MalformedRecord(AdapterError):
    """A source record does not fit the canonical mapping; the message names the field."""

    def __init__(self, message: str, record_id: str | None = None) -> None:
        super().__init__(message)
        self.record_id = record_id


class UnknownEntityType(AdapterError):
    pass


class InvalidQuery(AdapterError):
    """The caller asked for something this source cannot answer (a filter the API lacks, a
    cursor another query issued): fix the call, retrying will not help."""


@dataclass(frozen=True)
class CanonicalEntity:
    """One entity in the canonical model: ids are the source's ids."""

    type: str
    id: str
    source: str
    version: int
    attributes: dict[str, Any]
    relationships: tuple[PayloadRelationship, ...] = ()
    fetched_at: datetime = field(default_factory=lambda: datetime.now(tz=UTC))


@dataclass(frozen=True)
class EntityQuery:
    """Entities by ids (all in one call, no pagination), or by filter, paginated.

    ``filters`` are canonical attribute equalities.
    """

    ids: Sequence[str] | None = None
    filters: Mapping[str, Any] = field(default_factory=dict)
    page_size: int = 100
    cursor: str | None = None  # opaque; None starts at the beginning


@dataclass(frozen=True)
class EntityPage:
    entities: list[CanonicalEntity]
    next_cursor: str | None  # None: this was the last page
    total: int | None = None
    #: records of this answer that did not map (skipped from ``entities``), so a caller
    #: can answer "malformed" for those ids instead of "not found"
    malformed: tuple[MalformedRecord, ...] = ()


class ChangeType(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"


@dataclass(frozen=True)
class SourceChange:
    """A change the source reports (or that polling detects) for one entity."""

    change_type: ChangeType
    entity_type: str
    entity_id: str
    entity: CanonicalEntity | None  # None for deletions
    occurred_at: datetime
    changed_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChangeBatch:
    """Changes since a cursor, and the cursor to resume from once they are safely stored."""

    changes: list[SourceChange]
    cursor: str | None
    complete: bool  # False: the source has more; poll again straight away


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str  # "string", "integer", "decimal", "datetime", "boolean", "money", "list"
    required: bool = True
    description: str = ""


@dataclass(frozen=True)
class EntitySchema:
    entity_type: str
    version: int
    key: str
    fields: tuple[FieldSpec, ...]


@dataclass(frozen=True)
class ServiceLevel:
    freshness_seconds: int  # how stale the platform lets this data get
    availability: float  # e.g. 0.995
    latency_p99_ms: int


@dataclass(frozen=True)
class Lineage:
    """Where the adapter's data comes from: lineage nodes upstream of each entity type."""

    upstream: Mapping[str, str]  # entity type -> lineage node, e.g. "source:directus/customer"


class HealthState(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True)
class HealthStatus:
    state: HealthState
    detail: str = ""
    latency_ms: float | None = None


@dataclass(frozen=True)
class SourceConfig:
    """What an adapter instance needs to reach its source (from a SourceConnection row)."""

    name: str  # the connection's name, unique per tenant
    base_url: str
    credentials: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    connect_timeout: float = 2.0
    read_timeout: float = 5.0


class DataProductAdapter(abc.ABC):
    """The contract. Implementations raise the AdapterError subclasses above, never
    transport exceptions, so the resilience layer can decide what to retry."""

    #: the source's one name: its registry key, the source segment of its topic names
    #: (<domain>.<name>.entity_changed), events' and the catalog's ``source``, and its
    #: lineage nodes; e.g. "directus"
    name: ClassVar[str]
    #: the canonical entity types this adapter owns, e.g. ("customer",)
    entity_types: ClassVar[tuple[str, ...]]
    #: the domain, for topic names (<domain>.<source>.entity_changed), e.g. "customers"
    domain: ClassVar[str]

    #: the largest page the source serves (``list_all`` asks for it)
    max_page_size: ClassVar[int] = 100
    #: pages ``list_all`` follows before it answers with what it has
    max_listing_pages: ClassVar[int] = 20

    def __init__(self, config: SourceConfig) -> None:
        self.config = config

    def check_entity_type(self, entity_type: str) -> None:
        if entity_type not in self.entity_types:
            raise UnknownEntityType(
                f"Adapter {self.name!r} serves {', '.join(self.entity_types)}, "
                f"not {entity_type!r}.")

    @abc.abstractmethod
    def get_entity(self, entity_type: str, entity_id: str) -> CanonicalEntity | None:
        """One entity, or None when the source has no such entity."""

    @abc.abstractmethod
    def query_entities(self, entity_type: str, query: EntityQuery) -> EntityPage:
        """With ``query.ids``: those entities in as few source calls as the API allows
        (one where it can), missing ids simply absent. Otherwise one page of the entities
        matching ``query.filters``; follow ``next_cursor`` for the rest."""

    def list_all(self, entity_type: str, filters: Mapping[str, Any]) -> EntityPage:
        """Every entity matching ``filters``, in as few calls as the source allows: its
        largest pages, followed up to :meth:`listing_pages`. ``next_cursor`` is set when
        that budget ran out first (the rest was left unread)."""
        def read_page(cursor: str | None) -> EntityPage:
            return self.query_entities(entity_type, EntityQuery(
                filters=filters, page_size=self.max_page_size, cursor=cursor))

        return read_pages(read_page, self.listing_pages(filters))

    def listing_pages(self, filters: Mapping[str, Any]) -> int:
        """How many pages :meth:`list_all` may read for ``filters``."""
        return self.max_listing_pages

    @abc.abstractmethod
    def get_schema(self, entity_type: str) -> EntitySchema: ...

    @abc.abstractmethod
    def get_sla(self) -> ServiceLevel: ...

    def get_lineage(self) -> Lineage:
        """Each entity type comes from this source's node (named by the catalog, so the
        catalog consumer's lineage edges start at the same node)."""
        return Lineage({entity_type: source_lineage_node(self.name, entity_type)
                        for entity_type in self.entity_types})

    @abc.abstractmethod
    def stream_changes(self, cursor: str | None) -> Iterator[ChangeBatch]:
        """Changes since ``cursor`` (None: from the beginning), in batches, each with the
        cursor to store after it. Deletions are reported only when the source says so."""

    @abc.abstractmethod
    def health_check(self) -> HealthStatus: ...

    def get_metrics(self) -> dict[str, Any]:
        """Adapter-specific figures; request counts and latencies are measured around it."""
        return {}


def read_pages(read_page: Callable[[str | None], EntityPage], max_pages: int) -> EntityPage:
    """Every page ``read_page(cursor)`` serves, from the first (cursor None) on, at most
    ``max_pages`` of them, as one page: its ``next_cursor`` is set when more pages were
    left unread."""
    entities: list[CanonicalEntity] = []
    malformed: list[MalformedRecord] = []
    cursor: str | None = None
    for _ in range(max_pages):
        page = read_page(cursor)
        entities += page.entities
        malformed += page.malformed
        cursor = page.next_cursor
        if cursor is None:
            break
    return EntityPage(entities, cursor, None, tuple(malformed))


@runtime_checkable
class WebhookReceiver(Protocol):
    """An adapter whose source pushes changes (e.g. Directus Flows)."""

    def verify_webhook(self, headers: Mapping[str, str], secret: str) -> bool:
        """True when the request carries the connection's shared secret."""

    def changes_from_webhook(self, body: Mapping[str, Any]) -> list[SourceChange]:
        """The changes a webhook body reports (reading items back from the source)."""
