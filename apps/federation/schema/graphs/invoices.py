"""The invoices subgraph: `Invoice @key(id)` and its items, plus key-only `Customer` (with
its `invoices`) and `Product` (what items refer to), which other subgraphs own."""

from __future__ import annotations

import graphene
from graphene_federation import key

from apps.federation.schema.common import EntityBase, PageInfoFields
from apps.federation.schema.invoices import (
    CustomerInvoiceFields,
    InvoiceEdgeFields,
    InvoiceFields,
    InvoiceItemFields,
    InvoicePageFields,
    InvoiceQueries,
    ProductReference,
)
from apps.federation.schema.related import ProductInvoiceFields


class PageInfo(PageInfoFields, graphene.ObjectType):
    class Meta:
        description = PageInfoFields.__doc__


@key("id")
class Invoice(InvoiceFields, EntityBase, graphene.ObjectType):
    pass


class InvoiceItem(InvoiceItemFields, graphene.ObjectType):
    pass


class InvoiceEdge(InvoiceEdgeFields, graphene.ObjectType):
    pass


class InvoicePage(InvoicePageFields, graphene.ObjectType):
    """A page of invoices (a Relay-style connection)."""


@key("id")
class Customer(CustomerInvoiceFields, EntityBase, graphene.ObjectType):
    pass


@key("id")
class Product(ProductReference, ProductInvoiceFields, EntityBase, graphene.ObjectType):
    class Meta:
        description = ProductReference.__doc__


class Query(InvoiceQueries, graphene.ObjectType):
    pass


TYPES = [PageInfo, Invoice, InvoiceItem, InvoiceEdge, InvoicePage, Customer, Product]
