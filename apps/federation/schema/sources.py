"""`sources`: the current tenant's data products, each with its health and its service
level as declared (on the source connection, or the adapter's own) beside what the platform
observed (see apps/adapters/service_levels.py). Live values: never response-cached."""

from __future__ import annotations

from typing import Any

import graphene
from graphql import GraphQLResolveInfo

from apps.adapters import services as adapter_services

LIVE_TYPES = frozenset({"DataSource", "ServiceLevel"})


class ServiceLevel(graphene.ObjectType):
    """What a data product promises, and what was measured over the observation window."""

    declared_freshness_seconds = graphene.Int(
        required=True, description="A change at the source shows within this many seconds.")
    observed_freshness_p95 = graphene.Float(
        description="95th percentile of seconds from a change at the source to the catalog; "
                    "null when no change was seen in the window.")
    declared_availability = graphene.Float(required=True, description="e.g. 0.995")
    observed_availability = graphene.Float(
        description="Share of polls, health checks and webhook read-backs the source "
                    "answered; null when none were made in the window.")
    observations = graphene.Int(required=True,
                                description="How many polls, health checks and webhook "
                                            "read-backs the window holds.")


class DataSource(graphene.ObjectType):
    """One source connection of the tenant: a data product."""

    name = graphene.String(required=True)
    adapter = graphene.String(required=True)
    health = graphene.String(required=True, description="healthy, degraded, down or unknown "
                                                        "(as last checked)")
    sla = graphene.Field(ServiceLevel, required=True)


def resolve_sources(root: Any, info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    return [{"name": report.name, "adapter": report.adapter, "health": report.health,
             "sla": report} for report in adapter_services.service_levels()]


class SourceQueries:
    sources = graphene.List(graphene.NonNull(DataSource), required=True,
                            resolver=resolve_sources,
                            description="The tenant's data products, with their declared "
                                        "and observed service levels.")
