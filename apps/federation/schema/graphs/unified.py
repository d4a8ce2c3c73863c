"""The unified graph, what `/graphql` serves: every domain's fields on one set of types
(no federation directives; it is not a subgraph).

Value types without federation directives (`InvoiceItem`, `InvoicePage`, `EventPage`) are
the same classes as in their subgraphs: `graph_type` references resolve per graph anyway.
"""

from __future__ import annotations

import graphene

from apps.federation.schema.catalog import CatalogEntityFields, CatalogQueries
from apps.federation.schema.common import EntityBase, PageInfoFields
from apps.federation.schema.customers import CustomerFields, CustomerQueries
from apps.federation.schema.graphs.catalog import EventPage
from apps.federation.schema.graphs.invoices import InvoiceItem, InvoicePage
from apps.federation.schema.invoices import (
    CustomerInvoiceFields,
    InvoiceFields,
    InvoiceQueries,
)
from apps.federation.schema.products import ProductFields, ProductQueries


class PageInfo(PageInfoFields, graphene.ObjectType):
    class Meta:
        description = PageInfoFields.__doc__


class Customer(CustomerFields, CustomerInvoiceFields, EntityBase, graphene.ObjectType):
    pass


class Product(ProductFields, EntityBase, graphene.ObjectType):
    pass


class Invoice(InvoiceFields, EntityBase, graphene.ObjectType):
    pass


class CatalogEntity(CatalogEntityFields, graphene.ObjectType):
    class Meta:
        description = CatalogEntityFields.__doc__


class Query(CustomerQueries, ProductQueries, InvoiceQueries, CatalogQueries,
            graphene.ObjectType):
    pass


TYPES = [PageInfo, Customer, Product, Invoice, InvoiceItem, InvoicePage, CatalogEntity,
         EventPage]
