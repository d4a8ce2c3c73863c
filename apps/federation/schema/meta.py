"""`_meta` on every entity type: where the entity's data came from and how fresh it is.

Answered from the same load as the entity's other fields (the preloaded result, or the
level's batch), so asking for it costs no source call of its own. Responses that read it
are not kept in the response cache: an age frozen in a cached answer would be wrong.
"""

from __future__ import annotations

from typing import Any

import graphene

from apps.adapters.services import EntityResult
from apps.federation.schema.resolvers import from_result


class EntityMeta(graphene.ObjectType):
    """Where an entity was read from, and how old that reading is."""

    source = graphene.String(required=True,
                             description="The source connection the entity comes from.")
    fetched_at = graphene.String(required=True, description="When it was read from the "
                                                            "source (ISO 8601).")
    age_seconds = graphene.Float(required=True, description="Seconds since then.")
    stale = graphene.Boolean(required=True, description="True: a cached copy served because "
                                                       "the source is unavailable.")
    served_from = graphene.String(required=True, description="l1 (this process), l2 (Redis), "
                                                            "l3 (the catalog's cache) or "
                                                            "source (read for this request).")


def meta_of(result: EntityResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {"source": result.entity.source, "fetched_at": result.entity.fetched_at.isoformat(),
            "age_seconds": round(result.age_seconds, 3), "stale": result.stale,
            "served_from": result.level}


def meta_field(entity_type: str) -> graphene.Field:
    """The `_meta` field of ``entity_type``'s GraphQL type."""
    return graphene.Field(EntityMeta, name="_meta", resolver=from_result(entity_type, meta_of),
                          description="Where this entity was read from and how fresh it is.")
