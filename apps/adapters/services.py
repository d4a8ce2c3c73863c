"""The adapters app's public API: a tenant's sources as data products.

A DataProduct is one SourceConnection's adapter behind the connection's circuit breaker,
retries for idempotent reads, and the three-level cache (L1 process, L2 Redis, L3 the
catalog's cache table). GraphQL loaders, sagas, polling and webhooks all read and write
sources through here, never through an adapter directly.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from django.utils import timezone
from opentelemetry import trace
from prometheus_client import Counter, Histogram

from apps.adapters import connection_cache
from apps.adapters.base import (
    AdapterError,
    CanonicalEntity,
    DataProductAdapter,
    EntityPage,
    EntityQuery,
    HealthState,
    HealthStatus,
    MalformedRecord,
    SourceConfig,
    SourceUnavailable,
)
from apps.adapters.declarative.description import Description, DescriptionError, Relation
from apps.adapters.declarative.store import (
    declared_descriptions,
    description_versions,
    probe_declared,
    save_description,
)
from apps.adapters.error_text import without_queries
from apps.adapters.models import ObservationKind, SourceConnection
from apps.adapters.records import entity_to_record, record_to_entity
from apps.adapters.registry import build_adapter
from apps.adapters.service_levels import (
    ServiceLevelReport,
    record_observation,
    service_level_reports,
)
from apps.catalog import services as catalog_services
from apps.catalog.contracts import SourceDetails
from apps.tenancy.services import record_audit
from dictamesh.cache import (
    CachedValue,
    SourceUnavailableNoCache,
    TieredCache,
    get_invalidation_bus,
)
from dictamesh.health.redact import redact_userinfo
from dictamesh.resilience import (
    CircuitOpenError,
    SourceBreaker,
    breaker_state,
    call_with_retries,
    get_breaker,
)
from dictamesh.tenancy import current_schema

tracer = trace.get_tracer(__name__)

T = TypeVar("T")
Commands = TypeVar("Commands")

SOURCE_REQUESTS = Counter("dictamesh_source_requests", "Calls to source adapters.",
                          ["tenant", "connection", "operation", "outcome"])
MALFORMED = Counter("dictamesh_source_malformed_records",
                    "Source records that did not map to the canonical model (skipped), "
                    "from any read: lookups, listings, polls and webhooks.",
                    ["tenant", "connection", "entity_type"])
SOURCE_LATENCY = Histogram("dictamesh_source_request_seconds",
                           "Duration of calls to source adapters (retries included).",
                           ["connection", "operation"])

__all__ = ["DataProduct", "Description", "DescriptionError", "EntityResult", "ListLookup",
           "ListResult", "Lookup", "NoSourceFor", "Relation", "ServiceLevelReport",
           "SourceUnavailableNoCache", "commands_for", "connect_source", "service_levels",
           "data_product_for", "data_product_named", "data_products", "declared_descriptions",
           "description_versions", "is_retryable", "save_description", "source_details"]


class NoSourceFor(LookupError):
    """No enabled source connection of the current tenant serves an entity type."""


@dataclass(frozen=True)
class Lookup:
    """What a batch read found, and why the other ids have no answer."""

    found: dict[str, EntityResult]  # fresh, or stale copies while the source is down
    malformed: dict[str, MalformedRecord]  # the source's record does not map
    unavailable: dict[str, SourceUnavailableNoCache]  # source down and no copy anywhere


@dataclass(frozen=True)
class EntityResult:
    """An entity as served to readers: from which level, and whether it is a stale copy."""

    entity: CanonicalEntity
    stale: bool
    age_seconds: float
    level: str


@dataclass(frozen=True)
class ListResult:
    """The entities of one filtered list (``field = value``), as served to readers: from
    which level, and whether it is a stale copy kept for a source outage."""

    entities: list[CanonicalEntity]
    stale: bool
    age_seconds: float
    level: str


@dataclass(frozen=True)
class ListLookup:
    """What a batch of filtered lists found, by filter value."""

    found: dict[str, ListResult]
    malformed: tuple[MalformedRecord, ...]  # records of this read's source call that did not map
    unavailable: dict[str, SourceUnavailableNoCache]  # source down and no copy anywhere


def list_type(entity_type: str, field: str) -> str:
    """The cache's name for lists of ``entity_type`` filtered by ``field`` (their keys are
    the field's values): they live beside the entities, at every level."""
    return f"{entity_type}{LIST_INFIX}{field}"


#: list types are ``<entity type>.by.<field>``
LIST_INFIX = ".by."


def _is_retryable(exc: BaseException) -> bool:
    return bool(getattr(exc, "retryable", False))


class DataProduct:
    def __init__(self, connection: SourceConnection, tenant: str) -> None:
        self.connection = connection
        self.tenant = tenant
        self.adapter: DataProductAdapter = build_adapter(connection.adapter, SourceConfig(
            name=connection.name, base_url=connection.base_url,
            credentials=connection.credentials, options=connection.options,
        ))
        self.adapter.on_malformed = self._count_malformed
        self.breaker: SourceBreaker = get_breaker(tenant, connection.name)
        self._l3 = catalog_services.l3_cache_store()
        self.cache = TieredCache(
            self._l3,
            unavailable_errors=(SourceUnavailable, CircuitOpenError),
            bus=get_invalidation_bus(),
        )

    @property
    def name(self) -> str:
        return self.connection.name

    def _count_malformed(self, error: MalformedRecord) -> None:
        types = self.adapter.entity_types
        entity_type = error.entity_type or (types[0] if len(types) == 1 else "unknown")
        MALFORMED.labels(self.tenant, self.name, entity_type).inc()

    def call(self, operation: str, fn: Callable[..., T], *args: Any,
             idempotent: bool = True) -> T:
        """``fn(*args)`` against the source: through the breaker, retried if idempotent,
        counted and timed."""
        started = time.perf_counter()
        outcome = "ok"
        # One span per call, retries inside it: the HTTP spans of each attempt are its
        # children, so a trace shows which source call a request waited on.
        with tracer.start_as_current_span(
            f"source {self.name}.{operation}", kind=trace.SpanKind.CLIENT,
            attributes={"dictamesh.tenant": self.tenant, "dictamesh.source": self.name,
                        "dictamesh.adapter": self.connection.adapter,
                        "dictamesh.operation": operation},
        ) as span:
            try:
                return call_with_retries(lambda: self.breaker.call(fn, *args),
                                         is_retryable=_is_retryable, idempotent=idempotent)
            except CircuitOpenError:
                outcome = "circuit_open"
                raise
            except AdapterError as exc:
                outcome = type(exc).__name__
                raise
            finally:
                span.set_attribute("dictamesh.outcome", outcome)
                SOURCE_REQUESTS.labels(self.tenant, self.name, operation, outcome).inc()
                SOURCE_LATENCY.labels(self.name, operation).observe(
                    time.perf_counter() - started)

    # --- reads, through the cache ---------------------------------------------------------

    def get_entities(self, entity_type: str, ids: Sequence[str]) -> Lookup:
        """The entities found, by id; one source call at most for all that no level holds.

        When the source is down, stale copies are served and ids with no copy anywhere are
        in ``unavailable``; ids whose source record does not map are in ``malformed``.
        """
        self.adapter.check_entity_type(entity_type)
        malformed: dict[str, MalformedRecord] = {}

        def load(missing: list[str]) -> dict[str, dict[str, Any]]:
            page = self.call("query_entities", self.adapter.query_entities, entity_type,
                             EntityQuery(ids=missing))
            for error in page.malformed:  # counted as the adapter reported them
                if error.record_id is not None:
                    malformed[error.record_id] = error
            return {e.id: entity_to_record(e) for e in page.entities}

        found, unavailable = self._read_through(entity_type, ids, load)
        return Lookup(
            found={entity_id: EntityResult(record_to_entity(value.value), value.stale,
                                           value.age_seconds, value.level)
                   for entity_id, value in found.items()},
            malformed=malformed, unavailable=unavailable)

    def _read_through(self, kind: str, keys: Sequence[str],
                      load: Callable[[list[str]], Mapping[str, Mapping[str, Any]]]
                      ) -> tuple[dict[str, CachedValue], dict[str, SourceUnavailableNoCache]]:
        """The cache's answer for ``keys``; while the source is down, what any level holds
        and, apart, the keys nothing holds."""
        try:
            return self.cache.get_many(kind, keys, load), {}
        except SourceUnavailableNoCache as exc:
            return dict(exc.available), dict.fromkeys(exc.ids, exc)

    def get_entity(self, entity_type: str, entity_id: str) -> EntityResult | None:
        """The entity, None if the source has no such entity; MalformedRecord if its source
        record does not map."""
        lookup = self.get_entities(entity_type, [entity_id])
        if entity_id in lookup.malformed:
            raise lookup.malformed[entity_id]
        if entity_id in lookup.unavailable:
            raise lookup.unavailable[entity_id]
        return lookup.found.get(entity_id)

    def query(self, entity_type: str, query: EntityQuery) -> EntityPage:
        """A filtered page straight from the source (lists are not cached)."""
        self.adapter.check_entity_type(entity_type)
        return self.call("query_entities", self.adapter.query_entities, entity_type, query)

    def list_all(self, entity_type: str, filters: Mapping[str, Any]) -> EntityPage:
        """Every entity matching ``filters``, straight from the source, in the adapter's
        largest pages up to its page budget (``next_cursor`` set if that ran out)."""
        self.adapter.check_entity_type(entity_type)
        return self.call("list_all", self.adapter.list_all, entity_type, filters)

    def list_by(self, entity_type: str, field: str, values: Sequence[str]) -> ListLookup:
        """The entities whose ``field`` equals each of ``values``: one list per value,
        cached like entities (L1, L2, L3; fresh for CACHE_FRESH_SECONDS, ended early by
        change events through :meth:`invalidate_lists`), the missing ones read in ONE
        listing filtered by all of them. While the source is down, cached lists are served
        stale with their age; values with no copy anywhere are in ``unavailable``.

        A listing cut short by the adapter's page budget is served but not kept: a later
        read would take a partial list for the whole one."""
        self.adapter.check_entity_type(entity_type)
        malformed: list[MalformedRecord] = []
        kind = list_type(entity_type, field)

        def load(missing: list[str]) -> dict[str, dict[str, Any]]:
            listing = self.call("list_all", self.adapter.list_all, entity_type,
                                {field: missing})
            malformed.extend(listing.malformed)
            grouped: dict[str, list[CanonicalEntity]] = {value: [] for value in missing}
            for entity in listing.entities:
                members = grouped.get(str(entity.attributes.get(field)))
                if members is not None:
                    members.append(entity)
            if listing.next_cursor is not None:
                cut_short.extend(missing)
            return {value: {"ids": [e.id for e in members],
                            "entities": [entity_to_record(e) for e in members]}
                    for value, members in grouped.items()}

        cut_short: list[str] = []
        found, unavailable = self._read_through(kind, values, load)
        if cut_short:
            self.cache.invalidate_many(kind, cut_short)
        return ListLookup(
            found={value: ListResult([record_to_entity(r) for r in cached.value["entities"]],
                                     cached.stale, cached.age_seconds, cached.level)
                   for value, cached in found.items()},
            malformed=tuple(malformed), unavailable=unavailable)

    def invalidate(self, entity_type: str, ids: Sequence[str]) -> None:
        self.cache.invalidate_many(entity_type, list(ids))

    def invalidate_lists(self, entity_type: str,
                         changed: Mapping[str, Mapping[str, Any] | None]) -> None:
        """Forget the cached lists a change of these entities can alter: those that held
        them (removed, moved, or changed inside the list), and those their attributes after
        the change put them in (``changed``: id -> attributes, None when deleted)."""
        held = self._l3.lists_holding(entity_type + LIST_INFIX, list(changed))
        for kind in self._l3.list_types(entity_type + LIST_INFIX):
            field = kind[len(entity_type + LIST_INFIX):]
            keys = set(held.get(kind, ()))
            keys.update(str(attributes[field]) for attributes in changed.values()
                        if attributes and attributes.get(field) not in (None, ""))
            if keys:
                self.cache.invalidate_many(kind, sorted(keys))

    # --- health ---------------------------------------------------------------------------

    def check_health(self) -> HealthStatus:
        """Ask the source (bypassing the breaker: a health check must see the truth) and
        record the answer on the connection for the admin and /readyz."""
        try:
            status = self.adapter.health_check()
        except AdapterError as exc:
            status = HealthStatus(HealthState.DOWN, str(exc))
        state = breaker_state(self.tenant, self.name)
        # Client errors quote the URL they failed on: never keep a user:password from it.
        detail = redact_userinfo(without_queries(status.detail or ""))
        if state.state != "closed":
            detail = f"circuit {state.state}; {detail}".strip("; ")
        SourceConnection.objects.filter(pk=self.connection.pk).update(
            health_state=status.state.value, health_detail=detail,
            health_checked_at=timezone.now())
        record_observation(self.connection, ObservationKind.HEALTH,
                           status.state is not HealthState.DOWN, detail)
        return status


# One DataProduct per connection and process: adapters keep HTTP sessions (connection
# pools) and caches keep their L1; a changed connection row gets a new instance.
_data_products: dict[tuple[str, int], tuple[Any, DataProduct]] = {}
_data_products_lock = threading.Lock()


def _data_product(connection: SourceConnection) -> DataProduct:
    tenant = current_schema()
    key = (tenant, connection.pk)
    with _data_products_lock:
        cached = _data_products.get(key)
        if cached is not None and cached[0] == connection.updated_at:
            return cached[1]
        data_product = DataProduct(connection, tenant)
        _data_products[key] = (connection.updated_at, data_product)
        return data_product


def connect_source(name: str, adapter: str, base_url: str, credentials: dict[str, str],
                   options: dict[str, Any] | None = None,
                   polling_interval_seconds: int = 60,
                   probe: bool = True) -> tuple[SourceConnection, bool]:
    """Create or update a source connection of the current tenant; True if created. A
    described source is probed live first (DescriptionError names what does not fit)
    unless ``probe`` is off (for a setup that starts the source later; its first poll and
    health check then tell)."""
    existing = SourceConnection.objects.filter(name=name).first()
    created = existing is None
    before = None if existing is None else _connection_summary(existing)
    secrets_changed = existing is None or existing.credentials != credentials
    connection = existing or SourceConnection(name=name)
    connection.adapter = adapter
    connection.base_url = base_url
    connection.options = options or {}
    connection.polling_interval_seconds = polling_interval_seconds
    connection.set_credentials(credentials)
    connection.full_clean()
    probe_declared(connection, probe=probe)
    connection.save()
    # Whether the credentials changed, never a digest of them: a hash of a short secret
    # could be brute-forced from the audit log.
    record_audit("source_connection.created" if created else "source_connection.changed",
                 object_type="source_connection", object_id=name, before=before,
                 after=_connection_summary(connection),
                 detail={"adapter": adapter, "base_url": redact_userinfo(base_url),
                         "credentials_changed": secrets_changed})
    return connection, created


def _connection_summary(connection: SourceConnection) -> dict[str, Any]:
    return {"adapter": connection.adapter, "base_url": connection.base_url,
            "options": connection.options, "interval": connection.polling_interval_seconds}


def source_details(source_system: str) -> list[SourceDetails]:
    """The current tenant's connections that send entities under ``source_system`` (the
    source segment of their events: the adapter's name), for the catalog's entity page
    (``settings.CATALOG_SOURCE_DETAILS``). URLs and errors lose any credentials."""
    connections = SourceConnection.objects.filter(adapter=source_system).order_by("name")
    return [SourceDetails(
        connection=c.name, adapter=c.adapter, connection_id=c.pk,
        url=redact_userinfo(c.base_url), enabled=c.enabled, health=c.health_state,
        health_detail=redact_userinfo(c.health_detail), health_checked_at=c.health_checked_at,
        last_polled_at=c.last_polled_at, last_poll_error=redact_userinfo(c.last_poll_error),
        last_webhook_at=c.last_webhook_at) for c in connections]


def data_products() -> list[DataProduct]:
    """The data products of every enabled source connection of the current tenant."""
    connections = connection_cache.enabled_connections(
        lambda: list(SourceConnection.objects.filter(enabled=True)))
    return [_data_product(c) for c in connections]


def service_levels() -> list[ServiceLevelReport]:
    """Each enabled source's declared service level beside the observed one (see
    ``apps.adapters.service_levels``)."""
    defaults = {}
    for data_product in data_products():
        declared = data_product.adapter.get_sla()
        defaults[data_product.name] = (declared.freshness_seconds, declared.availability)
    return service_level_reports(defaults)


def data_product_named(name: str) -> DataProduct:
    """The data product of the current tenant's source connection ``name``."""
    connection = SourceConnection.objects.filter(name=name).first()
    if connection is None:
        raise NoSourceFor(f"Tenant {current_schema()!r} has no source connection {name!r}.")
    return _data_product(connection)


def data_product_for(entity_type: str) -> DataProduct:
    """The data product (of whichever source) that serves ``entity_type`` for the current
    tenant."""
    for data_product in data_products():
        if entity_type in data_product.adapter.entity_types:
            return data_product
    raise NoSourceFor(
        f"No enabled source of tenant {current_schema()!r} serves {entity_type!r}: add a "
        "source connection for it in the admin (Adapters → Source connections).")


# --- write commands (for sagas) -------------------------------------------------------------

def commands_for(entity_type: str, protocol: type[Commands]) -> Commands:
    """The write commands of the current tenant's source that serves ``entity_type`` and
    implements ``protocol`` (one of the protocols in ``apps.adapters.base``), e.g.
    ``commands_for("invoice", InvoicePayments).charge_invoice(invoice_id, key, timeout=5)``.

    Each command goes through the connection's circuit breaker and is counted and timed
    like a read, but is never retried here: the caller (a saga step) owns its retry policy
    and its idempotency key. Which errors are worth retrying: :func:`is_retryable`.
    Raises NoSourceFor when no enabled source serves ``entity_type`` with those commands.
    """
    serving = [data_product for data_product in data_products()
               if entity_type in data_product.adapter.entity_types]
    for data_product in serving:
        if isinstance(data_product.adapter, protocol):
            return cast(Commands, _SourceCommands(data_product, protocol))
    sources = ", ".join(data_product.name for data_product in serving)
    raise NoSourceFor(
        f"No enabled source of tenant {current_schema()!r} serving {entity_type!r} accepts "
        f"{protocol.__name__} commands" + (f" ({sources} does not)." if sources else "."))


def is_retryable(exc: BaseException) -> bool:
    """Whether sending the same write command again (same idempotency key) may succeed.

    Retryable: no answer (connection refused or reset, a timeout), a 5xx, a 429
    (SourceRateLimited; honour its ``retry_after_seconds``), an open circuit (the source has
    been failing; try again after a backoff). Permanent: every 4xx (RequestRejected and its
    InsufficientStock, PaymentDeclined), refused credentials, an answer that does not map,
    a bad argument, and any error that is not an adapter's.
    """
    if isinstance(exc, CircuitOpenError):
        return True
    return isinstance(exc, AdapterError) and exc.retryable


class _SourceCommands:
    """A protocol's commands on one data product's adapter, each through ``DataProduct.call``
    (breaker, metrics) without retries."""

    def __init__(self, data_product: DataProduct, protocol: type) -> None:
        self._data_product = data_product
        self._commands = frozenset(name for name, value in vars(protocol).items()
                                   if callable(value) and not name.startswith("_"))

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in self._commands:
            raise AttributeError(f"{name!r} is not one of the commands {sorted(self._commands)}")
        method = getattr(self._data_product.adapter, name)

        def command(*args: Any, **kwargs: Any) -> Any:
            return self._data_product.call(name, functools.partial(method, *args, **kwargs),
                                           idempotent=False)

        return command

    def __repr__(self) -> str:
        return f"<{', '.join(sorted(self._commands))} of source {self._data_product.name!r}>"
