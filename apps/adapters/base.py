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

    def __init__(self, message: str, record_id: str | None = None,
                 entity_type: str | None = None) -> None:
        super().__init__(message)
        self.record_id = record_id
        self.entity_type = entity_type


class UnknownEntityType(AdapterError):
    pass


class RequestRejected(AdapterError):
    """The source refused this request (a 4xx other than auth and rate limits): sending it
    again will not help. ``status``, ``code`` and ``details`` are the source's own."""

    def __init__(self, message: str, *, status: int, code: str = "",
                 details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.details = status, code, dict(details or {})


class InsufficientStock(RequestRejected):
    """Some SKUs have fewer units than asked; nothing was reserved. ``shortages`` lists
    {"sku", "requested", "available"} as the source reported them."""

    def __init__(self, shortages: list[dict[str, Any]]) -> None:
        self.shortages = shortages
        named = ", ".join(f"{item.get('sku')} (asked {item.get('requested')}, "
                          f"{item.get('available')} available)" for item in shortages)
        super().__init__(f"Not enough stock to reserve: {named or 'the source named no SKU'}.",
                         status=409, code="insufficient_stock", details={"items": shortages})

    @property
    def skus(self) -> list[str]:
        return [str(item.get("sku")) for item in self.shortages]


class PaymentDeclined(RequestRejected):
    """The payment provider declined the charge; the invoice stays open and the same
    charge may be tried again later (or the saga compensates)."""

    def __init__(self, invoice_id: str, rejection: RequestRejected) -> None:
        super().__init__(f"Payment for invoice {invoice_id} was declined ({rejection.code}): "
                         f"{rejection}", status=rejection.status, code=rejection.code,
                         details=rejection.details)
        self.invoice_id = invoice_id


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

    ``filters`` are canonical attribute equalities (``{"status": "paid"}``), and the
    comparisons a source can push down: ``<attribute>__gt`` (strictly after, for
    timestamps as ISO 8601 text), ``<attribute>__icontains`` (a substring, any case) and
    ``in_stock`` (a boolean: units above 0, or none). An adapter refuses a filter its source
    cannot apply (InvalidQuery) rather than filtering in Python.
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
class IdListing:
    """Every id the source holds of one entity type, or as many as were read before the
    listing had to stop (``complete`` False: then no absence may be read as a deletion)."""

    ids: frozenset[str]
    complete: bool


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
    #: told of every malformed record the adapter skips, whatever the read (the platform
    #: counts them per connection); None: nobody listens
    on_malformed: Callable[[MalformedRecord], None] | None = None

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

    #: pages :meth:`list_ids` reads at most before it answers an incomplete listing
    max_id_listing_pages: ClassVar[int] = 1000

    def list_ids(self, entity_type: str) -> IdListing:
        """Every id of ``entity_type`` the source holds, for finding deletions. The default
        reads the full listing page by page; a source whose API can list keys alone should
        say so here, since this runs every few polls. A record that does not map still
        exists: its id counts."""
        self.check_entity_type(entity_type)

        def read_page(cursor: str | None) -> EntityPage:
            return self.query_entities(entity_type, EntityQuery(
                page_size=self.max_page_size, cursor=cursor))

        listing = read_pages(read_page, self.max_id_listing_pages)
        ids = {entity.id for entity in listing.entities}
        ids.update(error.record_id for error in listing.malformed if error.record_id)
        # A malformed record without a readable id might be any cached entity.
        named = all(error.record_id for error in listing.malformed)
        return IdListing(frozenset(ids), listing.next_cursor is None and named)

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


# -- write commands (for sagas) -------------------------------------------------------------
#
# A source that accepts writes implements one of these protocols besides the contract above.
# Every command takes an optional ``timeout``: seconds to wait for the source's answer
# (connect and read), so a saga step can bound a hung call; None keeps the connection's
# own timeouts. A timed-out write may still have been applied by the source: retry it with
# the same idempotency key, which the source applies at most once.
#
# Errors, and whether sending the same command again can help (see
# ``apps.adapters.services.is_retryable``):
#   retryable -- SourceUnavailable and its subclasses: no answer at all (connection refused
#                or reset, timeout), a 5xx, a 429 (SourceRateLimited, with Retry-After);
#                and an open circuit (the source was failing: try again after a backoff).
#   permanent -- RequestRejected (a 4xx: InsufficientStock 409, PaymentDeclined 402, an
#                invoice in the wrong state 409, a validation error 422, an idempotency
#                key reused with another request 422), SourceAuthError (401/403),
#                MalformedRecord (an answer that does not map), InvalidQuery (a bad
#                argument caught before any call).


@dataclass(frozen=True)
class Reservation:
    """Units of stock set aside until released."""

    id: str
    status: str  # "active" or "released"
    items: Mapping[str, int]  # SKU -> units
    idempotency_key: str | None


@dataclass(frozen=True)
class Charge:
    """A successful charge: the invoice, now paid, and the payment's id at the platform."""

    invoice: CanonicalEntity
    payment_id: str


@dataclass(frozen=True)
class Refund:
    """A successful refund of a whole charge: the invoice, now refunded, and the refund's id
    (and the refunded payment's, when the platform names one)."""

    invoice: CanonicalEntity
    refund_id: str
    payment_id: str | None


@runtime_checkable
class StockReservations(Protocol):
    """A source that sets stock aside for an order (the products source)."""

    def reserve_stock(self, items: Mapping[str, int], idempotency_key: str, *,
                      timeout: float | None = None) -> str:
        """Reserve ``items`` (SKU -> units), all or nothing; the reservation's id. The same
        key again returns the first reservation. InsufficientStock when stock is short."""

    def release_reservation(self, reservation_id: str, *,
                            timeout: float | None = None) -> None:
        """Put a reservation's units back; releasing a released or unknown one does
        nothing, so a compensation can always run it again."""

    def get_reservation(self, reservation_id: str, *,
                        timeout: float | None = None) -> Reservation | None:
        """The reservation, or None when the source has no such reservation."""


@runtime_checkable
class InvoicePayments(Protocol):
    """A source that bills customers and takes their payments (the e-commerce source)."""

    def create_invoice(self, customer_id: str, items: Sequence[Mapping[str, Any]],
                       idempotency_key: str, *,
                       timeout: float | None = None) -> CanonicalEntity:
        """An open invoice for ``items`` ([{"sku", "quantity", "unit_price"?}]); the same
        key again returns the first invoice."""

    def cancel_invoice(self, invoice_id: str, *,
                       timeout: float | None = None) -> CanonicalEntity:
        """Cancel an open or refunded invoice; cancelling a cancelled one again is fine.
        A paid invoice must be refunded first (RequestRejected 409 "invalid_state")."""

    def charge_invoice(self, invoice_id: str, idempotency_key: str, *,
                       timeout: float | None = None) -> Charge:
        """Charge an open invoice; the same key again replays the first success.
        PaymentDeclined when the card is declined (the invoice stays open)."""

    def refund_charge(self, invoice_id: str, idempotency_key: str, *,
                      timeout: float | None = None) -> Refund:
        """Refund a paid invoice's whole charge; the same key again replays the first
        success. An invoice that is not paid: RequestRejected 409 "invalid_state"."""
