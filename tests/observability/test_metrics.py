"""/metrics: the specification's names, and one sum over all gunicorn workers."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from dictamesh.observability.metrics import MULTIPROC_ENV, exposition_registry


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.mark.django_db
def test_requests_are_timed_by_route_and_postgres_sessions_are_counted():
    client = Client()
    before = _samples(client.get("/metrics").content.decode())
    assert client.get("/admin/login/").status_code == 200
    after = _samples(client.get("/metrics").content.decode())
    key = ("http_request_duration_seconds_count", (
        ("method", "GET"), ("route", "admin/login/"), ("status", "2xx"), ("tenant", "public")))
    assert after[key] == before.get(key, 0) + 1
    # The scrape's own query is an active session of this database.
    assert after[("postgres_connections_active", (("state", "active"),))] >= 1


def test_a_scrape_sums_the_samples_of_every_worker_process(tmp_path, monkeypatch):
    """What gunicorn's workers do (config/gunicorn.py sets the directory): each process
    writes its own file; the exposition adds them up."""
    worker = ("from prometheus_client import Counter, Histogram\n"
              "Counter('dm_test_answers', 'answers').inc(3)\n"
              "Histogram('dm_test_seconds', 'time', ['query']).labels('q').observe(0.2)\n")
    for _ in range(2):
        subprocess.run([sys.executable, "-c", worker], check=True, timeout=60,
                       env={MULTIPROC_ENV: str(tmp_path), "PATH": ""})
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    registry = exposition_registry()
    assert registry.get_sample_value("dm_test_answers_total") == 6
    assert registry.get_sample_value("dm_test_seconds_count", {"query": "q"}) == 2
