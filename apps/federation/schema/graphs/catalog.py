"""The catalog subgraph: `CatalogEntity @key(type id)` and the catalog's root fields."""

from __future__ import annotations

import graphene
from graphene_federation import key

from apps.federation.schema.catalog import CatalogEntityFields, CatalogQueries, EventPageFields
from apps.federation.schema.common import PageInfoFields
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


class Query(CatalogQueries, SourceQueries, graphene.ObjectType):
    pass


TYPES = [PageInfo, CatalogEntity, EventPage]
