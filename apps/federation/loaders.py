"""The request's DataLoaders: one instance per request and key (Saleor's habit), so every
field of a level that asks for entities of one type lands in one batch.

Sync, not async - decided deliberately. Sources are reached through `DataProduct`, which is
synchronous (requests sessions, the breaker, the three-level cache, Django's ORM for L3),
and our views run under WSGI. Async execution would mean a thread hop (`sync_to_async`) per
batch plus an event loop per request for no concurrency we could use; graphql-sync-dataloaders
keeps execution in the request thread and still defers each level's loads to one batch call.
For 100 customers -> invoices -> items -> products, sync loaders make 1 customer call,
1 product call and one invoice call per page of the batched customer filter (2 for 100
customers with ~3 invoices each, as tests/federation/test_nested_query.py asserts); the
graphql-core execution overhead over the raw data fetch is small (bench/bench_graphql.py).

`Customer.invoices` asks for every customer of a level at once: each customer's invoices are
a cached list (`DataProduct.list_by`: L1, L2, L3, ended by change events, served stale with
their age during an outage), and the missing ones come from one `list_all` of the invoices
filtered by those customer ids (the adapter knows how the source takes such a list, its
largest page and how many pages to follow). Its pages are the only calls beyond one per
type per level, and with the API's largest page they are few.

Futures are few: a root list is one future (`schema.common.gather`), its entities' invoice
lists are loaded with it (`register_prefetch`), the products their items name are loaded
with those (`prefetch_products`), and a reference to another entity is one future for the
object rather than one per field (`schema.common.reference`). A 100-customer nested query
resolves ~5,000 fields with 101 futures (1,330 before).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from graphql import (
    GraphQLError,
    GraphQLResolveInfo,
)
from graphql_sync_dataloaders import SyncDataLoader
from opentelemetry import trace

from apps.adapters.base import AdapterError, MalformedRecord
from apps.adapters.services import (
    EntityResult,
    NoSourceFor,
    SourceUnavailableNoCache,
    data_product_for,
)
from dictamesh.resilience import CircuitOpenError

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

# Error codes in `extensions.code`; the message always says what the consumer can do.
SOURCE_UNAVAILABLE = "SOURCE_UNAVAILABLE"
MALFORMED_SOURCE_RECORD = "MALFORMED_SOURCE_RECORD"
NOT_FOUND = "NOT_FOUND"
INVALID_ARGUMENT = "INVALID_ARGUMENT"
SOURCE_ERROR = "SOURCE_ERROR"


@dataclass(frozen=True)
class Failure:
    """Why an entity could not be served."""

    code: str
    message: str


@dataclass(frozen=True)
class Loaded:
    """One key's answer from a loader: the entity, a failure, or neither (not found)."""

    result: EntityResult | None = None
    failure: Failure | None = None

    @property
    def degraded(self) -> bool:
        """Whether serving this needs an error entry (failed, not found, or stale)."""
        return self.failure is not None or self.result is None or self.result.stale


@dataclass
class RequestContext:
    """``info.context``: the request, the caller, the request's loaders and the error
    entries resolvers add for data that was served degraded (or not at all)."""

    request: HttpRequest | None
    scope: str = ""
    loaders: dict[str, Any] = field(default_factory=dict)
    degraded: list[GraphQLError] = field(default_factory=list)
    reported: set[tuple[str | int, ...]] = field(default_factory=set)
    #: entities this request already holds, by (entity type, id): loaded along with
    #: another batch (an invoice batch's products), so their fields need no loader
    known: dict[tuple[str, str], Loaded] = field(default_factory=dict)
    #: entity types whose entities a batch should fetch along with its own, see
    #: :func:`invoices_by_customer_loader`
    prefetch: set[str] = field(default_factory=set)
    #: lists this request already holds, by (loader key, key): loaded for a whole level
    #: when its parents were (see ``schema.common.prefetch_selected``)
    lists: dict[tuple[str, str], Any] = field(default_factory=dict)


def context_of(info: GraphQLResolveInfo) -> RequestContext:
    context = info.context
    if not isinstance(context, RequestContext):
        raise TypeError("Execute DictaMesh schemas with a RequestContext as context_value.")
    return context


def failure_of(entity_type: str, exc: Exception) -> Failure:
    """What a source exception means for the API consumer."""
    if isinstance(exc, NoSourceFor):
        return Failure(SOURCE_ERROR, str(exc))
    if isinstance(exc, CircuitOpenError | SourceUnavailableNoCache) or getattr(
            exc, "retryable", False):
        return Failure(SOURCE_UNAVAILABLE,
                       f"The {entity_type} source is unavailable and nothing is cached "
                       f"({exc}). Retry later.")
    return Failure(SOURCE_ERROR, f"The {entity_type} source refused the request: {exc}")


def load_entities(entity_type: str, ids: Sequence[str]) -> list[Loaded]:
    """One `DataProduct.get_entities` call for all ``ids``, as one Loaded per id, in order."""
    try:
        lookup = data_product_for(entity_type).get_entities(entity_type, ids)
    except (AdapterError, CircuitOpenError, NoSourceFor) as exc:
        failure = failure_of(entity_type, exc)
        return [Loaded(failure=failure) for _ in ids]
    # A source that is down still answers from its caches; the rest fail.
    missing = {key: failure_of(entity_type, exc) for key, exc in lookup.unavailable.items()}
    return [_one(entity_type, key, lookup.found, lookup.malformed, missing) for key in ids]


def _one(entity_type: str, key: str, found: dict[str, EntityResult],
         malformed: dict[str, MalformedRecord], missing: dict[str, Failure]) -> Loaded:
    if key in malformed:
        return Loaded(failure=Failure(
            MALFORMED_SOURCE_RECORD,
            f"The source's {entity_type} {key!r} does not fit the canonical model: "
            f"{malformed[key]}. Fix the record at its source."))
    if key in missing:
        return Loaded(failure=missing[key])
    return Loaded(result=found.get(key))


class CustomerInvoices:
    """A customer's invoices, or why they could not be listed; ``unplaced``: the malformed
    invoices of the batch this answer came from, whose customer cannot be known;
    ``stale_age``: the age in seconds of a cached list served while the source is down."""

    def __init__(self, invoices: list[EntityResult] | None = None,
                 failure: Failure | None = None,
                 unplaced: list[MalformedRecord] | None = None,
                 stale_age: float | None = None) -> None:
        self.invoices = invoices or []
        self.failure = failure
        self.unplaced = unplaced or []
        self.stale_age = stale_age


def load_invoices_by_customer(customer_ids: Sequence[str]) -> list[CustomerInvoices]:
    """Every customer's invoices, as cached lists (see `DataProduct.list_by`), the missing
    ones from ONE filtered listing of all of them, in the order asked.

    A malformed invoice of the batch cannot be told apart by customer (its customer id may
    be the very field that is broken), so each customer's ``unplaced`` lists them all and
    the field reports them once per request instead of guessing an owner."""
    asked = list(dict.fromkeys(customer_ids))
    try:
        lookup = data_product_for("invoice").list_by("invoice", "customer_id", asked)
    except (AdapterError, CircuitOpenError, NoSourceFor) as exc:
        failure = failure_of("invoice", exc)
        return [CustomerInvoices(failure=failure) for _ in customer_ids]
    unplaced = list(lookup.malformed)
    answers: dict[str, CustomerInvoices] = {}
    for key in asked:
        listed = lookup.found.get(key)
        if listed is None:
            down = lookup.unavailable.get(key)
            answers[key] = CustomerInvoices(failure=failure_of("invoice", down)) \
                if down is not None else CustomerInvoices(unplaced=unplaced)
            continue
        answers[key] = CustomerInvoices(
            [EntityResult(entity, listed.stale, listed.age_seconds, listed.level)
             for entity in listed.entities], unplaced=unplaced,
            stale_age=listed.age_seconds if listed.stale else None)
    return [answers[key] for key in customer_ids]


def prefetch_products(context: RequestContext, answers: list[CustomerInvoices]) -> None:
    """Load the products the invoices' items name, in one batch, into ``context.known``:
    item fields then resolve without a loader future per item (one level less)."""
    skus = sorted({str(item["sku"]) for answer in answers for invoice in answer.invoices
                   for item in invoice.entity.attributes.get("items") or ()
                   if isinstance(item, dict) and item.get("sku")
                   and ("product", str(item["sku"])) not in context.known})
    if not skus:
        return
    batch = _traced_batch("entity:product", lambda ids: load_entities("product", ids))
    for sku, loaded in zip(skus, batch(skus), strict=True):
        context.known[("product", sku)] = loaded


def guarded(name: str, batch: Callable[[list[Any]], list[Any]]
            ) -> Callable[[list[Any]], list[Any]]:
    """``batch``, but an exception it raises becomes an error for each of its keys.

    graphql-sync-dataloaders runs batches outside any field's error handling: an
    exception there escaped `execute` and turned the whole request into a 500. As an
    error value per key, it becomes a field error of exactly the fields that asked."""

    def run(keys: list[Any]) -> list[Any]:
        try:
            return batch(keys)
        except GraphQLError as exc:
            return [exc] * len(keys)
        except Exception:  # noqa: BLE001 - any failure is reported per key, not raised
            reference = uuid.uuid4().hex[:12]
            log.exception("loader %s failed for %d keys (ref %s)", name, len(keys), reference)
            error = GraphQLError(
                f"Internal error while loading this data (reference {reference}); retry, "
                "and report the reference if it persists.",
                extensions={"code": "INTERNAL_SERVER_ERROR"})
            return [error] * len(keys)

    return run


def _loader(info: GraphQLResolveInfo, key: str,
            batch: Callable[[list[Any]], list[Any]]) -> SyncDataLoader:
    loaders = context_of(info).loaders
    loader = loaders.get(key)
    if loader is None:
        loader = loaders[key] = SyncDataLoader(guarded(key, _traced_batch(key, batch)))
    return loader


def _traced_batch(key: str, batch: Callable[[list[Any]], list[Any]]
                  ) -> Callable[[list[Any]], list[Any]]:
    """``batch`` in a span of its own with the number of keys: a trace shows how many
    loads each level folded into one source call."""
    name = f"dataloader {key}"

    def run(keys: list[Any]) -> list[Any]:
        with tracer.start_as_current_span(
                name, attributes={"graphql.dataloader.key_count": len(keys)}):
            return batch(keys)
    return run


def entity_loader(info: GraphQLResolveInfo, entity_type: str) -> SyncDataLoader:
    """The request's loader of ``entity_type`` by id (values: Loaded)."""
    return _loader(info, f"entity:{entity_type}",
                   lambda ids: load_entities(entity_type, ids))


INVOICES_BY_CUSTOMER = "invoices-by-customer"


def _invoices_batch(context: RequestContext) -> Callable[[list[str]], list[Any]]:
    def batch(customer_ids: list[str]) -> list[CustomerInvoices]:
        answers = load_invoices_by_customer(customer_ids)
        if "product" in context.prefetch:
            prefetch_products(context, answers)
        return answers

    return batch


def invoices_by_customer_loader(info: GraphQLResolveInfo,
                                with_products: bool = False) -> SyncDataLoader:
    """The request's loader of invoices by customer id (values: CustomerInvoices).
    ``with_products``: the caller selects the items' products, so the batch loads them too
    (once any caller of the batch asks, the whole batch does)."""
    context = context_of(info)
    if with_products:
        context.prefetch.add("product")
    return _loader(info, INVOICES_BY_CUSTOMER, _invoices_batch(context))


def prefetch_invoices_by_customer(context: RequestContext, customer_ids: list[str],
                                  with_products: bool) -> None:
    """Every customer's invoices in one batch now, into ``context.lists`` (values:
    CustomerInvoices, or the batch's error): their fields then resolve without a loader
    future per customer. The batch is the loader's, traced and guarded the same way."""
    if with_products:
        context.prefetch.add("product")
    wanted = [key for key in dict.fromkeys(customer_ids)
              if (INVOICES_BY_CUSTOMER, key) not in context.lists]
    if not wanted:
        return
    batch = guarded(INVOICES_BY_CUSTOMER,
                    _traced_batch(INVOICES_BY_CUSTOMER, _invoices_batch(context)))
    for key, answer in zip(wanted, batch(wanted), strict=True):
        context.lists[(INVOICES_BY_CUSTOMER, key)] = answer
