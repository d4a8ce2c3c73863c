"""The invoices domain: `Invoice @key(id)` and its items, owned by the e-commerce source.

It extends `Customer` (by key) with `invoices` and refers to `Customer` and `Product` by
key; their own fields are the customers and products modules' business.
"""

from __future__ import annotations

from typing import Any

import graphene
from graphql import GraphQLError, GraphQLResolveInfo

from apps.federation.loaders import (
    MALFORMED_SOURCE_RECORD,
    CustomerInvoices,
    context_of,
    invoices_by_customer_loader,
)
from apps.federation.schema.common import Money, Ref, failure_error, money, then
from apps.federation.schema.connections import (
    DEFAULT_PAGE_SIZE,
    FilterField,
    canonical_filters,
    connection_fields,
    edge_fields,
    invalid_argument,
    read_page,
    timestamp_text,
)
from apps.federation.schema.graphs import graph_type
from apps.federation.schema.meta import meta_field
from apps.federation.schema.resolvers import attribute, entity_field

ENTITY = "invoice"


def _amount(value: Any, attributes: dict[str, Any]) -> dict[str, str] | None:
    return money(value, attributes.get("currency"))


def _items(value: Any, attributes: dict[str, Any]) -> list[dict[str, Any]]:
    currency = attributes.get("currency")
    return [{"line": item.get("line"), "sku": item.get("sku"),
             "quantity": item.get("quantity"),
             "unit_price": money(item.get("unit_price"), currency),
             "total": money(item.get("total"), currency)}
            for item in value or ()]


def _customer(value: Any, attributes: dict[str, Any]) -> Ref | None:
    return Ref(str(value)) if value is not None else None


class InvoiceFields:
    meta = meta_field(ENTITY)
    invoice_number = graphene.String(resolver=attribute(ENTITY, "invoice_number"))
    customer = graphene.Field(graph_type("Customer"),
                              resolver=attribute(ENTITY, "customer_id", _customer))
    status = graphene.String(resolver=attribute(ENTITY, "status"),
                             description="open, paid or cancelled")
    currency = graphene.String(resolver=attribute(ENTITY, "currency"))
    total = graphene.Field(Money, resolver=attribute(ENTITY, "total", _amount))
    items = graphene.List(graph_type("InvoiceItem"), resolver=attribute(ENTITY, "items", _items))
    created_at = graphene.String(resolver=attribute(ENTITY, "created_at"))
    updated_at = graphene.String(resolver=attribute(ENTITY, "updated_at"))


class InvoiceItemFields:
    line = graphene.Int(required=True, description="1-based position on the invoice.")
    product = graphene.Field(graph_type("Product"))
    quantity = graphene.Int()
    unit_price = graphene.Field(Money)
    total = graphene.Field(Money)

    @staticmethod
    def resolve_product(item: dict[str, Any], info: GraphQLResolveInfo) -> Ref | None:
        return Ref(item["sku"]) if item.get("sku") else None


def _listed(info: GraphQLResolveInfo, answer: CustomerInvoices) -> list[Ref]:
    """A customer's invoices. The batch's malformed invoices are reported once per request,
    without a path: the broken record may not even say whose invoice it is, so no
    customer's list can honestly hold a null for it."""
    if answer.failure is not None:
        raise failure_error(answer.failure)
    context = context_of(info)
    for bad in answer.unplaced:
        key = ("unplaced-invoice", bad.record_id or str(bad))
        if key not in context.reported:
            context.reported.add(key)
            context.degraded.append(GraphQLError(
                f"An invoice left out of the customers' invoices: {bad}. Fix the invoice at "
                "its source.", extensions={"code": MALFORMED_SOURCE_RECORD}))
    return [Ref(result.entity.id, result) for result in answer.invoices]


class CustomerInvoiceFields:
    invoices = graphene.List(graph_type("Invoice"),
                             description="Every invoice billed to the customer.")

    @staticmethod
    def resolve_invoices(ref: Ref, info: GraphQLResolveInfo) -> Any:
        return then(invoices_by_customer_loader(info).load(str(ref.id)),
                    lambda answer: _listed(info, answer))


class ProductReference:
    """Items refer to products by key (SKU); the products module resolves them."""


InvoicePageFields = connection_fields("Invoice")
InvoiceEdgeFields = edge_fields("Invoice")


class InvoiceFilter(graphene.InputObjectType):
    """Invoices to list; every field given must match (the source applies them)."""

    customer_id = graphene.ID(description="Billed to this customer.")
    status = graphene.String(description="open, paid, refunded or cancelled")
    created_after = graphene.DateTime(description="Created strictly after this moment.")


INVOICE_FILTERS = {"customer_id": FilterField("customer_id"),
                   "status": FilterField("status"),
                   "created_after": FilterField("created_at__gt", timestamp_text)}


def resolve_invoices(root: Any, info: GraphQLResolveInfo, first: int = DEFAULT_PAGE_SIZE,
                     after: str | None = None, customer_id: str | None = None,
                     filter: dict[str, Any] | None = None) -> dict[str, Any]:  # noqa: A002
    filters = canonical_filters(filter, INVOICE_FILTERS)
    if customer_id is not None:
        if filters.get("customer_id", customer_id) != customer_id:
            raise invalid_argument("`customerId` and `filter.customerId` name different "
                                   "customers: use `filter.customerId` alone.")
        filters["customer_id"] = customer_id
    return read_page(ENTITY, filters, first, after)


class InvoiceQueries:
    invoice = entity_field("Invoice", ENTITY, "An invoice by id; null if there is none.")
    invoices = graphene.Field(
        graph_type("InvoicePage"), filter=InvoiceFilter(),
        customer_id=graphene.ID(deprecation_reason="Use `filter: {customerId}`."),
        first=graphene.Int(default_value=DEFAULT_PAGE_SIZE), after=graphene.String(),
        resolver=resolve_invoices, required=True,
        description="Invoices matching `filter`, a page at a time (most recently changed "
                    "last); pass pageInfo.endCursor as `after` for the next page.")
