"""``postgres_connections_active{state}``: the database's sessions of this database, read
from ``pg_stat_activity`` when Prometheus scrapes (one cheap query per scrape).

Counted by the server, so the figure is right however many processes (gunicorn workers,
Celery workers, consumers) hold connections: a per-process counter could not be.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db import connections
from django.db.utils import DatabaseError
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

_QUERY = """SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND backend_type = 'client backend'
            GROUP BY 1"""


class PostgresConnectionsCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "postgres_connections_active",
            "Sessions connected to the platform's database, by state (pg_stat_activity).",
            labels=["state"])
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute(_QUERY)
                rows = cursor.fetchall()
        except DatabaseError:
            return  # the database is down: /readyz says so; no made-up zero here
        for state, count in rows:
            family.add_metric([str(state)], float(count))
        yield family
