"""/healthz, /readyz and /metrics over the Django test client, on the real services."""

from __future__ import annotations

import pytest


@pytest.fixture
def patient_checks(settings):
    """The production probe timeout is 2 s; a busy machine's broker can take longer to answer
    a metadata request, which would fail a check a test expects to pass. (Not for tests of a
    dependency that is down for good: they would wait out the whole timeout.)"""
    settings.HEALTH_CHECK_TIMEOUT_SECONDS = 30


def test_healthz_answers_without_touching_dependencies(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_200_with_every_dependency_up(client, kafka_bootstrap, patient_checks):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["failed"] == []
    assert set(body["checks"]) >= {"postgres", "redis", "kafka"}
    assert all(check["status"] == "ok" for check in body["checks"].values())


@pytest.mark.django_db
def test_readyz_is_503_naming_redis_when_redis_is_unreachable(client, settings, kafka_bootstrap,
                                                               patient_checks):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["failed"] == ["redis"]
    assert body["checks"]["redis"]["status"] == "fail"
    assert "Connection" in body["checks"]["redis"]["detail"]
    assert body["checks"]["postgres"]["status"] == "ok"


@pytest.mark.django_db
def test_readyz_names_kafka_when_no_broker_answers(client, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = ["127.0.0.1:1"]
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["kafka"]
    from prometheus_client import REGISTRY  # what the ReadinessFailing alert reads

    assert REGISTRY.get_sample_value("dictamesh_readiness_check_up", {"check": "kafka"}) == 0
    assert REGISTRY.get_sample_value("dictamesh_readiness_check_up", {"check": "postgres"}) == 1


@pytest.mark.django_db
def test_metrics_are_exposed_in_prometheus_format(client):
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert "django_http_requests_total_by_method_total" in text
    assert "# TYPE" in text
