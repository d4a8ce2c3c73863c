"""The unified graph, what `/graphql` serves: every domain's fields on one set of types
(no federation directives; it is not a subgraph).

Value types without federation directives (`InvoiceItem`, `InvoicePage`, `EventPage`,
`SagaPage`) are the same classes as in their subgraphs: `graph_type` references resolve per
graph anyway.
"""

from __future__ import annotations

import sys

import graphene

from apps.federation.schema.audit import AuditQueries
from apps.federation.schema.catalog import CatalogEntityFields, CatalogQueries
from apps.federation.schema.common import EntityBase, PageInfoFields
from apps.federation.schema.customers import CustomerFields, CustomerQueries
from apps.federation.schema.graphs.catalog import EventPage
from apps.federation.schema.graphs.customers import CustomerConnection, CustomerEdge
from apps.federation.schema.graphs.invoices import InvoiceEdge, InvoiceItem, InvoicePage
from apps.federation.schema.graphs.products import ProductConnection, ProductEdge
from apps.federation.schema.graphs.sagas import SagaPage
from apps.federation.schema.invoices import (
    CustomerInvoiceFields,
    InvoiceFields,
    InvoiceQueries,
)
from apps.federation.schema.products import ProductFields, ProductQueries
from apps.federation.schema.related import CustomerProductFields, ProductInvoiceFields
from apps.federation.schema.sagas import SagaFields, SagaMutations, SagaQueries, SagaStep
from apps.federation.schema.search import SearchQueries, search_union
from apps.federation.schema.sources import SourceQueries


class PageInfo(PageInfoFields, graphene.ObjectType):
    class Meta:
        description = PageInfoFields.__doc__


class Customer(CustomerFields, CustomerInvoiceFields, CustomerProductFields, EntityBase,
               graphene.ObjectType):
    pass


class Product(ProductFields, ProductInvoiceFields, EntityBase, graphene.ObjectType):
    pass


class Invoice(InvoiceFields, EntityBase, graphene.ObjectType):
    pass


class CatalogEntity(CatalogEntityFields, graphene.ObjectType):
    class Meta:
        description = CatalogEntityFields.__doc__


class Saga(SagaFields, graphene.ObjectType):
    class Meta:
        description = SagaFields.__doc__


SearchResult = search_union(sys.modules[__name__])


class Query(CustomerQueries, ProductQueries, InvoiceQueries, CatalogQueries, SagaQueries,
            AuditQueries, SourceQueries, SearchQueries, graphene.ObjectType):
    pass


class Mutation(SagaMutations, graphene.ObjectType):
    """Writes: each starts a saga (needs a key with the write scope)."""


TYPES = [PageInfo, Customer, Product, Invoice, InvoiceItem, InvoicePage, CatalogEntity,
         EventPage, Saga, SagaStep, SagaPage, CustomerEdge, CustomerConnection, ProductEdge,
         ProductConnection, InvoiceEdge]
