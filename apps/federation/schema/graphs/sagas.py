"""The sagas subgraph: `Saga @key(id)`, its root queries and the mutations that start
sagas (business transactions across sources, owned by the saga engine)."""

from __future__ import annotations

import graphene
from graphene_federation import key

from apps.federation.schema.common import PageInfoFields
from apps.federation.schema.sagas import (
    SagaFields,
    SagaMutations,
    SagaPageFields,
    SagaQueries,
    SagaStep,
)


class PageInfo(PageInfoFields, graphene.ObjectType):
    class Meta:
        description = PageInfoFields.__doc__


@key("id")
class Saga(SagaFields, graphene.ObjectType):
    class Meta:
        description = SagaFields.__doc__


class SagaPage(SagaPageFields, graphene.ObjectType):
    pass


class Query(SagaQueries, graphene.ObjectType):
    pass


class Mutation(SagaMutations, graphene.ObjectType):
    pass


TYPES = [PageInfo, Saga, SagaStep, SagaPage]
