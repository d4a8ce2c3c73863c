"""The wire contract over real HTTP, as a Kafka client's registry client sees it.

confluent-kafka is not a dependency, so ``requests`` plays its part: Basic credentials,
the registry content type, and the calls a serializer and deserializer make.
"""

from __future__ import annotations

import requests

from tests.schema_registry.conftest import CONTENT_TYPE, PASSWORD, USER_V1, USER_V2

HEADERS = {"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE}


def test_register_and_fetch_over_http(live_server, django_user_model, transactional_db):
    # Subjects without a tenant prefix are the platform's: a platform admin registers them.
    django_user_model.objects.create_superuser("producer", "", PASSWORD)
    django_user_model.objects.create_user("consumer", password=PASSWORD)
    base = f"{live_server.url}/schema-registry"
    producer = requests.Session()
    producer.auth = ("producer", PASSWORD)
    producer.headers.update(HEADERS)
    consumer = requests.Session()
    consumer.auth = ("consumer", PASSWORD)
    consumer.headers.update(HEADERS)

    registered = producer.post(f"{base}/subjects/orders-value/versions",
                               json={"schema": USER_V1}, timeout=10)
    assert registered.status_code == 200
    assert registered.headers["Content-Type"] == CONTENT_TYPE
    schema_id = registered.json()["id"]
    assert producer.post(f"{base}/subjects/orders-value/versions", json={"schema": USER_V2},
                         timeout=10).status_code == 200

    fetched = consumer.get(f"{base}/schemas/ids/{schema_id}", timeout=10)
    assert fetched.json() == {"schema": USER_V1}
    latest = consumer.get(f"{base}/subjects/orders-value/versions/latest", timeout=10).json()
    assert (latest["version"], latest["schema"]) == (2, USER_V2)

    refused = consumer.post(f"{base}/subjects/orders-value/versions",
                            json={"schema": USER_V1}, timeout=10)
    assert (refused.status_code, refused.json()["error_code"]) == (403, 40301)
    anonymous = requests.get(f"{base}/subjects", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
