"""Each data product's service level: what its connection declares beside what the
platform observed over the last window (``SLA_OBSERVATION_WINDOW_SECONDS``).

- availability: the share of the source's observations (polls, health checks and webhook
  read-backs, each recorded as it happens) in which the source answered;
- freshness: the 95th percentile of how long a change took from the source (its event
  time) to the catalog (when the catalog recorded it), from the event log.

Either is None when the window holds nothing to measure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from apps.adapters.models import ObservationKind, SourceConnection, SourceObservation
from apps.catalog import services as catalog_services


@dataclass(frozen=True)
class ServiceLevelReport:
    name: str
    adapter: str
    health: str
    declared_freshness_seconds: int
    declared_availability: float
    observed_freshness_p95: float | None
    observed_availability: float | None
    observations: int


def record_observation(connection: SourceConnection, kind: ObservationKind, ok: bool,
                       detail: str = "") -> None:
    """Note that the platform reached (or failed to reach) the connection's source."""
    SourceObservation.objects.create(connection=connection, kind=kind, ok=ok,
                                     detail=detail[:1000])


def prune_observations() -> int:
    """Forget observations older than two windows; how many went."""
    older = timezone.now() - 2 * _window()
    deleted, _ = SourceObservation.objects.filter(observed_at__lt=older).delete()
    return deleted


def _window() -> timedelta:
    return timedelta(seconds=settings.SLA_OBSERVATION_WINDOW_SECONDS)


def service_level_reports(declared_defaults: dict[str, tuple[int, float]]
                          ) -> list[ServiceLevelReport]:
    """Every enabled connection's report, by name. ``declared_defaults``: each connection's
    adapter's own service level (freshness, availability), for what it does not declare."""
    since = timezone.now() - _window()
    connections = SourceConnection.objects.filter(enabled=True).annotate(
        seen=Count("observations", filter=Q(observations__observed_at__gte=since)),
        answered=Count("observations", filter=Q(observations__observed_at__gte=since,
                                                observations__ok=True)))
    reports = []
    for connection in connections:
        freshness, availability = declared_defaults[connection.name]
        reports.append(ServiceLevelReport(
            name=connection.name, adapter=connection.adapter,
            health=connection.health_state,
            declared_freshness_seconds=connection.declared_freshness_seconds or freshness,
            declared_availability=(availability if connection.declared_availability is None
                                   else connection.declared_availability),
            observed_freshness_p95=catalog_services.freshness_p95(connection.adapter, since),
            observed_availability=(connection.answered / connection.seen
                                   if connection.seen else None),
            observations=connection.seen))
    return reports
