"""The catalog subgraph: `CatalogEntity @key(type id)` and the catalog's root fields."""

from __future__ import annotations

import sys

import graphene
from graphene_federation import key

from apps.federation.schema.catalog import CatalogEntityFields, CatalogQueries, EventPageFields
from apps.federation.schema.common import EntityBase, PageInfoFields
from apps.federation.schema.search import SearchQueries, search_union
from apps.federation.schema.sources import SourceQueries


class PageInfo(PageInfoFields, graphene.ObjectType):
    class Meta:
        description = PageInfoFields.__doc__


@key("type id")
class CatalogEntity(CatalogEntityFields, graphene.ObjectType):
    class Meta:
        description = CatalogEntityFields.__doc__


class EventPage(EventPageFields, graphene.ObjectType):
    pass


@key("id")
class Customer(EntityBase, graphene.ObjectType):
    """A customer `search` found; its fields are the customers subgraph's."""


@key("id")
class Product(EntityBase, graphene.ObjectType):
    """A product `search` found; its fields are the products subgraph's."""


@key("id")
class Invoice(EntityBase, graphene.ObjectType):
    """An invoice `search` found; its fields are the invoices subgraph's."""


SearchResult = search_union(sys.modules[__name__])


class Query(CatalogQueries, SourceQueries, SearchQueries, graphene.ObjectType):
    pass


TYPES = [PageInfo, CatalogEntity, EventPage, Customer, Product, Invoice, SearchResult]
