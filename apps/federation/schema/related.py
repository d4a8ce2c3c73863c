"""Fields no single source can answer: `Customer.products` (what a customer bought) and
`Product.invoices` (which invoices hold a product).

No source knows either: the invoice API lists invoices by customer but not by product, and
the products API knows nothing of customers. The catalog's relationship graph does (the
invoices' `billed_to`, `has_item` and `references` edges), so each field is, per level of
the query, ONE catalog query for every object of the level, then ONE read of the entities
it names through their data product (and its caches):

    Customer.products:  customer <-billed_to- invoice -has_item-> invoice_item
                                                      -references-> product
    Product.invoices:   product <-references- invoice_item <-has_item- invoice

The catalog keeps an edge until a change retires it, so `Product.invoices` keeps only the
invoices whose current record still holds the product; `Customer.products` answers what
the graph knows (checking it would cost the invoice reads this field exists to spare).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import graphene
from graphql import GraphQLError, GraphQLResolveInfo

from apps.catalog import services as catalog_services
from apps.catalog.contracts import Hop
from apps.federation.loaders import Failure, Loaded, _loader, context_of, load_entities
from apps.federation.schema.common import Ref, failure_error, then
from apps.federation.schema.graphs import graph_type

CUSTOMER_PRODUCTS = (Hop("billed_to", "invoice", "incoming"),
                     Hop("has_item", "invoice_item", "outgoing"),
                     Hop("references", "product", "outgoing"))
PRODUCT_INVOICES = (Hop("references", "invoice_item", "incoming"),
                    Hop("has_item", "invoice", "incoming"))


@dataclass
class Related:
    """One object's related entities, and the failures met loading some of them."""

    refs: list[Ref] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


def related_batch(start_type: str, path: Sequence[Hop], end_type: str,
                  still_related: Callable[[Any, str], bool] | None = None
                  ) -> Callable[[list[str]], list[Related]]:
    """The batch function of a related field: one catalog query for all ``keys``, one
    load of every entity it names; ``still_related(entity, key)`` drops those whose
    current record no longer points at the key."""

    def batch(keys: list[str]) -> list[Related]:
        found = catalog_services.related_through(start_type, keys, path)
        ends = sorted({end for ends in found.values() for end in ends})
        loaded = dict(zip(ends, load_entities(end_type, ends), strict=True)) if ends else {}
        answers = []
        for key in keys:
            related = Related()
            for end in found.get(key, ()):
                answer: Loaded = loaded[end]
                if answer.failure is not None:
                    related.failures.append(answer.failure)
                elif answer.result is not None and (
                        still_related is None or still_related(answer.result.entity, key)):
                    related.refs.append(Ref(end, answer.result))
            answers.append(related)
        return answers

    return batch


def _holds_product(invoice: Any, sku: str) -> bool:
    return any(item.get("sku") == sku for item in invoice.attributes.get("items") or ())


def related_resolver(name: str, batch: Callable[[list[str]], list[Related]]) -> Any:
    """The resolver of a related field: the refs it found; the entities that could not be
    loaded are left out, with one error entry at the field saying why."""

    def settle(info: GraphQLResolveInfo, related: Related) -> list[Ref]:
        if related.failures:
            first = related.failures[0]
            error = failure_error(first, info.path.as_list())
            context_of(info).degraded.append(GraphQLError(
                f"{len(related.failures)} related entities left out: {first.message}",
                path=error.path, extensions=error.extensions))
        return related.refs

    def resolve(ref: Ref, info: GraphQLResolveInfo) -> Any:
        return then(_loader(info, name, batch).load(str(ref.id)),
                    lambda related: settle(info, related))

    return resolve


class CustomerProductFields:
    products = graphene.List(
        graphene.NonNull(graph_type("Product")),
        resolver=related_resolver("customer-products", related_batch(
            "customer", CUSTOMER_PRODUCTS, "product")),
        description="Every product on the customer's invoices (from the catalog's "
                    "relationship graph), by SKU.")


class ProductInvoiceFields:
    invoices = graphene.List(
        graphene.NonNull(graph_type("Invoice")),
        resolver=related_resolver("product-invoices", related_batch(
            "product", PRODUCT_INVOICES, "invoice", _holds_product)),
        description="Every invoice with an item of this product (from the catalog's "
                    "relationship graph, checked against the invoices), by id.")
